"""Password reset by email: a one-time link, good for an hour, for an active account.

The web page gives the same answer whether or not the address has an account: it only queues
the request, and the worker decides (gatekeeper.people.emails).
"""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import LoginFailure, User
from gatekeeper.people import tokens, trusts
from gatekeeper.people.auth import ADDRESS_WINDOW, RESET_REQUEST, account_key, network_of
from gatekeeper.people.invitations import account_for
from gatekeeper.people.models import PasswordReset
from gatekeeper.people.passwords import check_new_password, set_password

RESET_LIFETIME = dt.timedelta(hours=1)
# A mailbox is not flooded by someone typing another person's address again and again.
RESETS_PER_HOUR = 3
# Per network address, across accounts, within auth.ADDRESS_WINDOW: someone asking for address
# after address from one network is stopped; a staffroom behind one address asks far fewer.
RESETS_PER_ADDRESS = 10
TOKEN_PURPOSE = "password-reset"


class ResetRefused(Exception):
    """The link opens nothing: not genuine, used or expired. `status` is the HTTP reply."""

    def __init__(self, message: str, status: int = 404):
        super().__init__(message)
        self.status = status


def request_reset(session: Session, email: str, address: str) -> bool:
    """Whether a request for a reset link from this address may go on to the worker. Recorded
    (committed), then counted, as a sign-in attempt is, so parallel requests cannot pass the cap;
    audited when refused. The page answers the same either way."""
    key, network, now = account_key(email), network_of(address), utcnow()
    session.add(LoginFailure(address=network, account_key=key, outcome=RESET_REQUEST,
                             created_at=now))
    session.commit()
    asked = session.scalar(select(func.count()).select_from(LoginFailure).where(
        LoginFailure.address == network, LoginFailure.outcome == RESET_REQUEST,
        LoginFailure.created_at > now - ADDRESS_WINDOW)) or 0
    if asked > RESETS_PER_ADDRESS:
        audit.record(session, "password_reset_throttled",
                     detail={"address": address[:64], "email_hash": key[:16]})
    session.commit()
    return asked <= RESETS_PER_ADDRESS


def issue_reset(session: Session, email: str, now: dt.datetime | None = None
                ) -> tuple[PasswordReset, str] | None:
    """A reset and its token for the account with this address, or None (no account, too many)."""
    now = now or utcnow()
    user = account_for(session, email.strip())
    if user is None or not user.active:
        return None
    recent = session.scalar(select(func.count()).select_from(PasswordReset).where(
        PasswordReset.user_id == user.id, PasswordReset.created_at > now - dt.timedelta(hours=1)))
    if (recent or 0) >= RESETS_PER_HOUR:
        audit.record(session, "password_reset_throttled", actor=user, subject=user)
        return None
    secret, digest = tokens.new_secret()
    reset = PasswordReset(user_id=user.id, token_hash=digest, created_at=now,
                          expires_at=now + RESET_LIFETIME)
    session.add(reset)
    session.flush()
    audit.record(session, "password_reset_issued", actor=user, subject=user)
    return reset, tokens.make_token(TOKEN_PURPOSE, reset.id, secret)


def open_reset(session: Session, token: str, now: dt.datetime | None = None) -> PasswordReset:
    """The reset a link opens, if genuine, unused and less than an hour old."""
    now = now or utcnow()
    try:
        row_id, secret = tokens.read_token(TOKEN_PURPOSE, token)
    except tokens.TokenRefused:
        raise ResetRefused(_("This link does not work. Check that you copied all of it.")) from None
    reset = session.get(PasswordReset, row_id)
    if reset is None or not tokens.matches(reset.token_hash, secret):
        raise ResetRefused(_("This link does not work. Check that you copied all of it."))
    if reset.used_at is not None:
        raise ResetRefused(_("This link has already been used. Ask for a new one."), 410)
    if reset.expires_at <= now or not reset.user.active:
        raise ResetRefused(_("This link has expired. Ask for a new one."), 410)
    return reset


def reset_place(session: Session, token: str) -> tuple[int | None, int | None]:
    """The first school and trust of the person a genuine reset link is for (its pages speak
    their language, as its email did)."""
    reset = tokens.genuine_row(session, PasswordReset, TOKEN_PURPOSE, token)
    return trusts.home_place(session, reset.user) if reset is not None else (None, None)


def complete_reset(session: Session, reset: PasswordReset, password: str, confirm: str) -> User:
    """Set the password the user chose; the link, and every other open link of theirs
    (set_password), is used up."""
    check_new_password(password, confirm)
    used = session.execute(update(PasswordReset).where(
        PasswordReset.id == reset.id, PasswordReset.used_at.is_(None)).values(used_at=utcnow()))
    if used.rowcount != 1:  # another request used it first
        raise ResetRefused(_("This link has already been used. Ask for a new one."), 410)
    user = reset.user
    set_password(session, user, password, chosen_by_user=True)
    audit.record(session, "password_reset", actor=user, subject=user)
    return user
