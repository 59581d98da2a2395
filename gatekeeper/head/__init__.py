"""The head's screens: the school's official accounts, who may release, staff and roles."""
