"""A trust's own screens: its admin's schools, heads and counts; its DPO's audit trail and subject
access."""
