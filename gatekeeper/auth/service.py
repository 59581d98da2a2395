"""Authentication rules: password check, lockout after repeated failures, audit of every attempt."""

from __future__ import annotations

import datetime as dt
import uuid

from flask_babel import gettext as _
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from consent.models import utcnow
from gatekeeper import audit
from gatekeeper.models import LoginFailure, User

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
# Per address, across all accounts: a school's staff share one NAT address, so this is set well
# above what a staffroom mistypes in a quarter of an hour, and far below what guessing needs.
MAX_FAILURES_PER_ADDRESS = 30
ADDRESS_WINDOW = dt.timedelta(minutes=15)
# Checked against when the email is unknown, so a missing account takes as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def hash_password(password: str) -> str:
    return generate_password_hash(password)  # scrypt, salted


def authenticate(session: Session, email: str, password: str, address: str):
    """Return (user, "") on success, else (None, a message that does not reveal which part was wrong)."""
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    now = utcnow()
    if address_throttled(session, address, now):
        audit.record(session, "login_throttled", actor=user, detail={"address": address})
        session.commit()
        return None, _("Too many failed sign-ins from this network. Try again in 15 minutes.")
    if user is None:
        check_password_hash(_DUMMY_HASH, password)
        session.add(LoginFailure(address=address[:64], created_at=now))
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
        session.add(LoginFailure(address=address[:64], created_at=now))
        audit.record(session, "login_failed", actor=user, detail={"address": address})
        session.commit()
        return None, _("Email or password not recognised.")
    user.failed_logins, user.locked_until = 0, None
    audit.record(session, "login", actor=user, detail={"address": address})
    session.commit()
    return user, ""


def address_throttled(session: Session, address: str, now: dt.datetime) -> bool:
    """True when this address failed too often lately, whichever accounts it tried."""
    recent = session.scalar(
        select(func.count()).select_from(LoginFailure).where(
            LoginFailure.address == address[:64], LoginFailure.created_at > now - ADDRESS_WINDOW
        )
    )
    return (recent or 0) >= MAX_FAILURES_PER_ADDRESS


def forget_old_failures(session: Session, now: dt.datetime) -> int:
    """Drop failures older than the window (they no longer count); returns how many."""
    result = session.execute(delete(LoginFailure).where(LoginFailure.created_at <= now - ADDRESS_WINDOW))
    return result.rowcount or 0


def sign_out(session: Session, user: User, school_id: int | None) -> None:
    """End every session of this user by rotating the token their cookies carry."""
    user.session_token = uuid.uuid4().hex
    audit.record(session, "logout", actor=user, school_id=school_id)
    session.commit()
