"""Passwords: the length rule, changing one's own, and a temporary one that must be changed."""

from __future__ import annotations

import uuid

from flask_babel import gettext as _
from sqlalchemy import update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import User
from gatekeeper.people.auth import hash_password, recheck_password
from gatekeeper.people.models import PasswordReset

MIN_PASSWORD = 12
# scrypt's cost grows with the input: a cap keeps one request from tying up a worker.
MAX_PASSWORD = 200


class PasswordError(ValueError):
    """A password that cannot be used; the message says why in one line."""


def check_new_password(password: str, confirm: str) -> None:
    """Refuse a password that is too short or too long, or typed differently twice."""
    if len(password) < MIN_PASSWORD or len(password) > MAX_PASSWORD:
        raise PasswordError(_("A password must be %(low)d to %(high)d characters long.",
                              low=MIN_PASSWORD, high=MAX_PASSWORD))
    if password != confirm:
        raise PasswordError(_("The two passwords are not the same."))


def end_sessions(user: User) -> None:
    """Every signed-in copy of this user's cookie stops working at its next request."""
    user.session_token = uuid.uuid4().hex


def set_password(session: Session, user: User, password: str, *, chosen_by_user: bool) -> None:
    """Store a new password, end every session and use up every reset link still open (one mailed
    before the change must not choose the password after it); a password chosen by someone else
    must be changed."""
    user.password_hash = hash_password(password)
    user.must_change_password = not chosen_by_user
    user.failed_logins, user.locked_until = 0, None
    end_sessions(user)
    session.execute(update(PasswordReset).where(
        PasswordReset.user_id == user.id, PasswordReset.used_at.is_(None)).values(used_at=utcnow()))


def change_own_password(session: Session, user: User, current: str, new: str, confirm: str,
                        address: str) -> None:
    """The signed-in user replaces their password, proving they know the current one (a wrong
    one is a failed sign-in from this address)."""
    refused = recheck_password(session, user, current[:MAX_PASSWORD], address)
    if refused:
        raise PasswordError(refused)
    check_new_password(new, confirm)
    if check_password_hash(user.password_hash, new):
        raise PasswordError(_("Choose a password different from the one you have now."))
    set_password(session, user, new, chosen_by_user=True)
    audit.record(session, "password_changed", actor=user, subject=user)
