"""The gate: what blocks a release, what each face shows, re-screening when the register changes,
the review screens."""
