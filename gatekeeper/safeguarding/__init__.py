"""The designated safeguarding lead's screens: the no-publish list, blocked photos and why."""
