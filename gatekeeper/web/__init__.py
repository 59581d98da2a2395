"""What every screen shares: the blueprint guard, a school's row or 404, commit-or-flash, headers
and throttles."""
