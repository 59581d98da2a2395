"""The `gatekeeper` command line, a stable contract (DESIGN.md): the group in base, one module per
command family."""

from gatekeeper.cli import ops, people, register, screening
from gatekeeper.cli.base import main

for family in (screening, ops, register, people):
    family.register(main)

__all__ = ["main"]
