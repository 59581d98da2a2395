"""Authentication rules: password check, lockout after repeated failures, audit of every attempt."""

from __future__ import annotations

import datetime as dt
import uuid

from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from consent.models import utcnow
from gatekeeper import audit
from gatekeeper.models import User

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
# Checked against when the email is unknown, so a missing account takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt, salted


def authenticate(session: Session, email: str, password: str, address: str):
    """Return (user, "") on success, else (None, a message that does not reveal which part was wrong)."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    now = utcnow()
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        audit.record(session, "login_failed", detail={"email": email[:254], "address": address})
        session.commit()
        return None, _("Email or password not recognised.")
    if user.locked_until and user.locked_until > now:
        audit.record(session, "login_locked", actor=user, detail={"address": address})
        session.commit()
        return None, _("Too many failed attempts. Try again in 15 minutes.")
    if not user.active or not check_password_hash(user.password_hash, password):
        user.failed_logins += 1
        if user.failed_logins >= MAX_FAILED_LOGINS:
            user.locked_until, user.failed_logins = now + LOCKOUT, 0
        audit.record(session, "login_failed", actor=user, detail={"address": address})
        session.commit()
        return None, _("Email or password not recognised.")
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, "login", actor=user, detail={"address": address})
    session.commit()
    return user, ""


def sign_out(session: Session, user: User, school_id: int | None) -> None:
    """End every session of this user by rotating the token their cookies carry."""
    user.session_token = uuid.uuid4().hex
    audit.record(session, "logout", actor=user, school_id=school_id)
    session.commit()
