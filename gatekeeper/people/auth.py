"""Authentication rules: password check, throttles that hold under parallel attempts and do not
reveal which accounts exist, audit of every attempt."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import ipaddress
import uuid

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import LoginFailure, User

MAX_FAILED_LOGINS = 5  # per account from one address, then that address waits LOCKOUT
LOCKOUT = dt.timedelta(minutes=15)
# Per address, across all accounts: a school's staff share one NAT address, so this is set well
# above what a staffroom mistypes in a quarter of an hour, and far below what guessing needs.
MAX_FAILURES_PER_ADDRESS = 30
ADDRESS_WINDOW = dt.timedelta(minutes=15)
# Per account from anywhere: beyond MAX_FAILED_LOGINS each further attempt waits twice as long as
# the last (1 s, 2 s, 4 s ... up to MAX_DELAY), which slows guessing from many addresses to a few
# tries an hour. An address that signed in to the account before is exempt, so a stranger's
# failures cannot lock the head out of their own computer.
FIRST_DELAY_S = 1
MAX_DELAY = dt.timedelta(minutes=5)
KNOWN_ADDRESS_DAYS = 30
# The per-address limits count an IPv6 network as one address: whoever holds one address of a
# /64 (a home's or a school's network) holds them all, and could take a new one for each guess.
IPV6_NETWORK_BITS = 64
PENDING, FAILED, REFUSED, OK, CLEARED = "pending", "failed", "refused", "ok", "cleared"
COUNTED = (PENDING, FAILED, REFUSED)  # an attempt still being checked counts as a failure
RESET_REQUEST = "reset"  # a request for a reset link (resets.py): never counted as a failure
# scrypt with werkzeug's default cost (N=2^15, r=8, p=1: about 0.1 s and 32 MB a check). The test
# configuration lowers it (PASSWORD_HASH_METHOD) so the suite's thousands of sign-ins do not spend
# minutes hashing; a stored hash carries its own cost, so checking is the same code either way.
PASSWORD_HASH_METHOD = "scrypt:32768:8:1"


def hash_method() -> str:
    return current_app.config.get("PASSWORD_HASH_METHOD", PASSWORD_HASH_METHOD)


def hash_password(password: str) -> str:
    return generate_password_hash(password, method=hash_method())  # salted


@functools.cache
def dummy_hash(method: str) -> str:
    """Checked against when the email is unknown or the attempt is refused, so every answer costs
    the same hash and takes the same time."""
    return generate_password_hash("not-a-real-password", method=method)


def account_key(email: str) -> str:
    """A keyed hash of the typed email: throttles and the audit trail never hold the text."""
    secret = str(current_app.secret_key or "").encode()
    return hmac.new(secret, b"login:" + email.strip().lower().encode(), hashlib.sha256).hexdigest()


def network_of(address: str) -> str:
    """What the per-address limits count by: the address, or an IPv6 address's /64 network."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:192.0.2.1 is an IPv4 address
    if ip.version == 4 or mapped is not None:
        return str(mapped or ip)
    return str(ipaddress.ip_network((ip, IPV6_NETWORK_BITS), strict=False))


def authenticate(session: Session, email: str, password: str, address: str):
    """Return (user, "") on success, else (None, a message that does not reveal which part was
    wrong, nor whether the account exists). Every path runs one password hash."""
    key, network, address = account_key(email), network_of(address), address[:64]
    user = session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    dummy = dummy_hash(hash_method())
    stored = (user.password_hash, user.active) if user is not None else (dummy, False)
    attempt_id, refusal = begin_attempt(session, key, network)
    # No connection is held while the slow hash runs (begin_attempt ended its transaction).
    password_ok = check_password_hash(dummy if refusal else stored[0], password)
    genuine = user is not None and not refusal and stored[1]
    detail = {"address": address, "email_hash": key[:16]}
    if refusal:
        finish_attempt(session, attempt_id, REFUSED)
        audit.record(session, refusal[0], actor=user, detail=detail)
        session.commit()
        return None, refusal[1]
    if not (genuine and password_ok):
        finish_attempt(session, attempt_id, FAILED)
        audit.record(session, "login_failed", actor=user, detail=detail)
        session.commit()
        return None, _("Email or password not recognised.")
    finish_attempt(session, attempt_id, OK)
    clear_failures(session, key, network, attempt_id)
    audit.record(session, "login", actor=user, detail={"address": address})
    session.commit()
    return user, ""


def recheck_password(session: Session, user: User, password: str, address: str) -> str:
    """Empty when the signed-in user typed their password right, else why not (to show). Counted,
    throttled and committed as a sign-in is (per account and per address), so a form that asks
    for it again is no way to guess it from a session left open."""
    key, network = account_key(user.email), network_of(address)
    attempt_id, refusal = begin_attempt(session, key, network)
    detail = {"address": address[:64]}
    if refusal:
        finish_attempt(session, attempt_id, REFUSED)
        audit.record(session, "password_change_throttled", actor=user, subject=user,
                     detail={**detail, "limit": refusal[0]})
        message = refusal[1]
    elif not check_password_hash(user.password_hash, password):
        finish_attempt(session, attempt_id, FAILED)
        audit.record(session, "password_change_failed", actor=user, subject=user, detail=detail)
        message = _("Your current password is not right.")
    else:
        finish_attempt(session, attempt_id, OK)
        clear_failures(session, key, network, attempt_id)
        message = ""
    session.commit()  # the attempt stands whatever becomes of the change
    return message


def begin_attempt(session: Session, key: str, address: str) -> tuple[int, tuple[str, str] | None]:
    """Record the attempt (committed), then count: the limits see every attempt already begun."""
    attempt = LoginFailure(address=address, account_key=key, outcome=PENDING, created_at=utcnow())
    session.add(attempt)
    session.commit()
    refusal = throttle(session, key, address, attempt.id, utcnow())
    session.commit()  # no read transaction is held while the slow hash runs
    return attempt.id, refusal


def throttle(session: Session, key: str, address: str, attempt_id: int, now: dt.datetime):
    """(audit action, message) when this attempt must not check a password, else None."""
    if _count(session, now - ADDRESS_WINDOW, address=address) > MAX_FAILURES_PER_ADDRESS:
        return "login_throttled", _("Too many failed sign-ins from this network. "
                                    "Try again in 15 minutes.")
    if _count(session, now - LOCKOUT, address=address, key=key) > MAX_FAILED_LOGINS:
        return "login_locked", _("Too many failed attempts. Try again in 15 minutes.")
    if not known_address(session, key, address, now) and waiting(session, key, attempt_id, now):
        return "login_delayed", _("Too many failed attempts. Wait a few minutes and try again.")
    return None


def _count(session: Session, since: dt.datetime, *, address: str, key: str | None = None) -> int:
    query = select(func.count()).select_from(LoginFailure).where(
        LoginFailure.address == address, LoginFailure.created_at > since,
        LoginFailure.outcome.in_(COUNTED))
    if key is not None:
        query = query.where(LoginFailure.account_key == key)
    return session.scalar(query) or 0


def waiting(session: Session, key: str, attempt_id: int, now: dt.datetime) -> bool:
    """True while the account's progressive delay since its previous attempt is running."""
    earlier = session.scalars(select(LoginFailure.created_at).where(
        LoginFailure.account_key == key, LoginFailure.id != attempt_id,
        LoginFailure.created_at > now - LOCKOUT, LoginFailure.outcome.in_(COUNTED),
    ).order_by(LoginFailure.created_at.desc()).limit(MAX_FAILED_LOGINS + 12)).all()
    if len(earlier) < MAX_FAILED_LOGINS:
        return False
    return now - earlier[0] < progressive_delay(len(earlier) + 1)


def progressive_delay(attempts: int) -> dt.timedelta:
    """How long attempt number `attempts` in the window waits after the one before it."""
    beyond = attempts - MAX_FAILED_LOGINS - 1
    return min(dt.timedelta(seconds=FIRST_DELAY_S * 2 ** min(beyond, 16)), MAX_DELAY)


def known_address(session: Session, key: str, address: str, now: dt.datetime) -> bool:
    """Whether this address signed in to this account lately."""
    return session.scalar(select(LoginFailure.id).where(
        LoginFailure.account_key == key, LoginFailure.address == address,
        LoginFailure.outcome == OK,
        LoginFailure.created_at > now - dt.timedelta(days=KNOWN_ADDRESS_DAYS)).limit(1)) is not None


def finish_attempt(session: Session, attempt_id: int, outcome: str) -> None:
    session.execute(update(LoginFailure).where(LoginFailure.id == attempt_id)
                    .values(outcome=outcome))


def clear_failures(session: Session, key: str, address: str, attempt_id: int) -> None:
    """A success from an address forgives that address's earlier failures for the account (only),
    and only when it was the one attempt there: beside attempts begun with it or after it (a
    burst of guesses carrying the right password), forgiving would give the rest a fresh budget."""
    mine = (LoginFailure.account_key == key, LoginFailure.address == address)
    alongside = session.scalar(select(LoginFailure.id).where(
        *mine, LoginFailure.id != attempt_id,
        (LoginFailure.id > attempt_id) | (LoginFailure.outcome == PENDING)).limit(1))
    if alongside is not None:
        return
    session.execute(update(LoginFailure).where(
        *mine, LoginFailure.id < attempt_id,
        LoginFailure.outcome.in_((FAILED, REFUSED))).values(outcome=CLEARED))


def forget_old_failures(session: Session, now: dt.datetime) -> int:
    """Drop attempts that no longer count (successes are kept to know an address); how many."""
    result = session.execute(delete(LoginFailure).where(
        LoginFailure.created_at <= now - ADDRESS_WINDOW, LoginFailure.outcome != OK))
    old_successes = session.execute(delete(LoginFailure).where(
        LoginFailure.created_at <= now - dt.timedelta(days=KNOWN_ADDRESS_DAYS)))
    return (result.rowcount or 0) + (old_successes.rowcount or 0)


def sign_out(session: Session, user: User, school_id: int | None) -> None:
    """End every session of this user by rotating the token their cookies carry."""
    user.session_token = uuid.uuid4().hex
    audit.record(session, "logout", actor=user, school_id=school_id)
    session.commit()


def end_every_session(session: Session, user: User, reason: str) -> None:
    """End every session of the user at once (password change, deactivation, a lost device):
    every session carries the user's token, and a new token no longer matches any of them."""
    user.session_token = uuid.uuid4().hex
    audit.record(session, "sessions_ended", actor=user, detail={"reason": reason})
