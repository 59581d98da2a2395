"""A row of the current school, or 404: another school's ids are not confirmed to exist."""

from __future__ import annotations

from typing import TypeVar

from flask import abort, g

from gatekeeper.extensions import db

Row = TypeVar("Row")


def school_row(model: type[Row], ident: int | None) -> Row:
    """The `model` row with this id if it belongs to the current school (`g.school_id`); a missing
    id, an unknown one and another school's all answer 404, never 403."""
    row = db.session.get(model, ident) if ident is not None else None
    if row is None or row.school_id != g.school_id:  # type: ignore[attr-defined]
        abort(404)
    return row
