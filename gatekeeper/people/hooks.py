"""What every request of a signed-in person goes through: their own password and a second factor
first, and the current school named on every page."""

from __future__ import annotations

from flask import Flask, g, has_request_context, redirect, request, url_for
from flask_login import current_user

from consent.models import School
from gatekeeper.extensions import db
from gatekeeper.people import (
    auth_views,
    models,  # noqa: F401  (the tables are part of the metadata)
    second_factor,
)
from gatekeeper.people.models import Trust

# What a user whose password someone else chose may still open before choosing their own.
OPEN_WHILE_PASSWORD_MUST_CHANGE = frozenset({
    "account.password", "auth.logout", "auth.login", "auth.set_language", "static",
    "bootstrap.static",
})


# What a user whose role needs a second factor may open before enrolling one.
OPEN_WHILE_SECOND_FACTOR_MISSING = frozenset({
    "account.second_factor_page", "auth.logout", "auth.login", "auth.code", "auth.set_language",
    "static", "bootstrap.static",
})


def init_people(app: Flask) -> None:
    app.before_request(require_own_password)
    app.before_request(require_second_factor)
    app.context_processor(school_globals)


def require_own_password():
    """A password set by someone else is changed before anything else is done with it."""
    if (current_user.is_authenticated and current_user.must_change_password
            and request.endpoint not in OPEN_WHILE_PASSWORD_MUST_CHANGE
            and not (request.endpoint or "").startswith("welcome.")):
        return redirect(url_for("account.password"))
    return None


def require_second_factor():
    """A role that needs a second factor opens nothing else until one is enrolled."""
    if (current_user.is_authenticated and not current_user.must_change_password
            and request.endpoint not in OPEN_WHILE_SECOND_FACTOR_MISSING
            and not (request.endpoint or "").startswith("welcome.")
            and second_factor.required_for(current_user)
            and not second_factor.enrolled(db.session, current_user)):
        return redirect(url_for("account.second_factor_page"))
    return None


def school_globals() -> dict:
    """The current school (named on every page) and the user's other schools, for the switcher;
    the trusts they hold a role at, for the trust switcher."""

    school_id = getattr(g, "school_id", None)
    if not has_request_context() or not current_user.is_authenticated:  # an email renders too
        return {"current_school": None, "my_schools": [], "my_trusts": []}
    my_trusts = [db.session.get(Trust, ident) for ident in getattr(g, "trust_ids", [])]
    # A session signed in by a school's own accounts opens that school alone: no switcher.
    pinned = auth_views.pinned_school() is not None
    if not school_id:
        return {"current_school": None, "my_schools": [], "my_trusts": my_trusts}
    idents = [school_id] if pinned else current_user.school_ids()
    schools = [db.session.get(School, ident) for ident in idents]
    return {"current_school": db.session.get(School, school_id),
            "my_schools": [s for s in schools if s is not None], "my_trusts": my_trusts}
