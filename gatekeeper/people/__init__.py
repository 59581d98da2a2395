"""People and schools: sign-in, invitations, passwords, roles, the school's details and the current
school."""
