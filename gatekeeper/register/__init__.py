"""The consent register's screens: pupils, consent, the import, the no-publish list (the rules live
in consent/)."""
