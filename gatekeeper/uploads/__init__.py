"""Staff uploads: the upload page, storing originals and queueing them for screening."""
