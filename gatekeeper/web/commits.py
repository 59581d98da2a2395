"""Commit a change, or roll it back and tell the user why: the shape of most form posts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import flash

from gatekeeper.extensions import db
from gatekeeper.web.wording import say


class Outcome:
    """What `commit_or_flash` reports: true once the change is committed."""

    def __init__(self) -> None:
        self.ok = False

    def __bool__(self) -> bool:
        return self.ok


@contextmanager
def commit_or_flash(success: str | None, *, errors: tuple[type[Exception], ...],
                    category: str = "success") -> Iterator[Outcome]:
    """Run the block and commit, then flash `success` (if any) in `category`. On one of `errors`,
    raised by the block or the commit, roll back, flash the error (in the reader's language) as
    "danger" and carry on after the block; the outcome is then false. Any other exception passes
    through."""
    outcome = Outcome()
    try:
        yield outcome
        db.session.commit()
    except errors as error:
        db.session.rollback()
        flash(say(error), "danger")
        return
    outcome.ok = True
    if success:
        flash(success, category)
