"""The second factor: a TOTP authenticator (RFC 6238, pyotp) and single-use recovery codes.

Required for every role that opens pupils' data or decides what is published. A code works once
(the last accepted time step is kept), guesses are counted before they are checked (insert, then
count, so parallel guesses cannot pass the limit), the secret is sealed with the instance key and
recovery codes are kept only as hashes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time

import pyotp
from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import app_cipher
from gatekeeper.models import User
from gatekeeper.people.models import CodeAttempt, RecoveryCode, SecondFactor, TrustMembership
from gatekeeper.people.passwords import end_sessions

# Every role that sees pupils' data, the no-publish list or the audit trail, or releases photos.
REQUIRED_FOR = frozenset({"head", "dsl", "media_lead", "admin", "trust_admin", "dpo"})
ISSUER = "Gatekeeper"
STEP_S = 30
# One step either side: a phone clock a little off still works; nothing wider.
VALID_WINDOW = 1
RECOVERY_CODES = 10
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i to misread on paper
RECOVERY_GROUPS, RECOVERY_GROUP_LEN = 3, 4
MAX_CODE_FAILURES = 5  # per account within CODE_LOCKOUT, then every code is refused until it ends
CODE_LOCKOUT = dt.timedelta(minutes=15)
PENDING, FAILED, OK = "pending", "failed", "ok"


class CodeRefused(ValueError):
    """A code that does not sign in; the message is fit to show."""


def required_for(user: User) -> bool:
    """Whether any role the user holds (at a school or a trust) needs a second factor."""
    roles = {m.role for m in user.memberships if m.suspended_at is None}
    return bool(roles & REQUIRED_FOR) or bool(trust_roles(user) & REQUIRED_FOR)


def trust_roles(user: User) -> set[str]:
    session = Session.object_session(user)
    if session is None:
        return set()
    return set(session.scalars(select(TrustMembership.role).where(
        TrustMembership.user_id == user.id, TrustMembership.suspended_at.is_(None))))


def factor_of(session: Session, user: User) -> SecondFactor | None:
    return session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))


def enrolled(session: Session, user: User) -> bool:
    factor = factor_of(session, user)
    return factor is not None and factor.enrolled_at is not None


def seal(secret: str) -> bytes:
    return app_cipher().encrypt(secret.encode())


def secret_of(factor: SecondFactor) -> str:
    return app_cipher().decrypt(factor.secret_sealed).decode()


def pending_secret(session: Session, user: User) -> str:
    """The secret being enrolled (made on first asking, kept until confirmed, so a reload shows the
    same QR code); refused once enrolled: a new device means a reset first."""
    factor = factor_of(session, user)
    if factor is not None and factor.enrolled_at is not None:
        raise CodeRefused(_("You already have a second factor."))
    if factor is None:
        secret = pyotp.random_base32()
        session.add(SecondFactor(user_id=user.id, secret_sealed=seal(secret)))
        session.flush()
        return secret
    return secret_of(factor)


def provisioning_uri(user: User, secret: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def current_step(now: float | None = None) -> int:
    return int(time.time() if now is None else now) // STEP_S


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step (within the window) whose code this is, else None."""
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return None
    totp, step = pyotp.TOTP(secret), current_step(now)
    for candidate in range(step - VALID_WINDOW, step + VALID_WINDOW + 1):
        if hmac.compare_digest(totp.at(candidate * STEP_S), code):
            return candidate
    return None


def confirm_enrolment(session: Session, user: User, code: str) -> list[str]:
    """Enrol the pending secret once a first code proves the authenticator holds it; every other
    session of the user ends (it never passed this factor). Returns the recovery codes, shown
    once."""
    factor = factor_of(session, user)
    if factor is None or factor.enrolled_at is not None:
        raise CodeRefused(_("Open the enrolment page again."))
    step = matching_step(secret_of(factor), code)
    if step is None:
        raise CodeRefused(_("That code is not right. Check the time on your phone and try again."))
    factor.enrolled_at, factor.last_step = utcnow(), step
    end_sessions(user)
    audit.record(session, "second_factor_enrolled", actor=user, subject=user)
    return new_recovery_codes(session, user)


def new_recovery_codes(session: Session, user: User) -> list[str]:
    """Replace the user's recovery codes with fresh ones; the plain codes are returned only here."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    codes = ["-".join("".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_GROUP_LEN))
                      for _ in range(RECOVERY_GROUPS)) for _ in range(RECOVERY_CODES)]
    session.add_all(RecoveryCode(user_id=user.id, code_hash=recovery_hash(code)) for code in codes)
    audit.record(session, "recovery_codes_issued", actor=user, subject=user,
                 detail={"count": len(codes)})
    return codes


def recovery_hash(code: str) -> str:
    return hashlib.sha256("".join(code.lower().split()).replace("-", "").encode()).hexdigest()


def check_code(session: Session, user: User, code: str) -> str:
    """Sign-in's second step: a TOTP code or a recovery code. Counted before it is checked;
    returns "totp" or "recovery", raises CodeRefused. Commits (the count must stand)."""
    attempt = CodeAttempt(user_id=user.id, outcome=PENDING, created_at=utcnow())
    session.add(attempt)
    session.commit()
    if failures(session, user, attempt.created_at) > MAX_CODE_FAILURES:
        finish(session, attempt, FAILED, "second_factor_locked", user)
        raise CodeRefused(_("Too many wrong codes. Try again in 15 minutes."))
    kind = use_totp(session, user, code) or use_recovery_code(session, user, code)
    if kind is None:
        finish(session, attempt, FAILED, "second_factor_failed", user)
        raise CodeRefused(_("That code is not right, or it has been used already."))
    finish(session, attempt, OK, "second_factor_passed", user, {"kind": kind})
    return kind


def failures(session: Session, user: User, now: dt.datetime) -> int:
    """Wrong codes (and ones still being checked) within the lockout window."""
    return session.scalar(select(func.count()).select_from(CodeAttempt).where(
        CodeAttempt.user_id == user.id, CodeAttempt.created_at > now - CODE_LOCKOUT,
        CodeAttempt.outcome.in_((PENDING, FAILED)))) or 0


def finish(session: Session, attempt: CodeAttempt, outcome: str, action: str, user: User,
           detail: dict | None = None) -> None:
    attempt.outcome = outcome
    audit.record(session, action, actor=user, subject=user, detail=detail)
    session.commit()


def use_totp(session: Session, user: User, code: str) -> str | None:
    """"totp" when the code is right and its step is newer than the last one used (exactly once,
    even under a race), else None."""
    factor = factor_of(session, user)
    if factor is None or factor.enrolled_at is None:
        return None
    step = matching_step(secret_of(factor), code)
    if step is None:
        return None
    newer = session.execute(update(SecondFactor).where(
        SecondFactor.id == factor.id,
        (SecondFactor.last_step.is_(None)) | (SecondFactor.last_step < step),
    ).values(last_step=step))
    return "totp" if newer.rowcount == 1 else None


def use_recovery_code(session: Session, user: User, code: str) -> str | None:
    used = session.execute(update(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.code_hash == recovery_hash(code),
        RecoveryCode.used_at.is_(None)).values(used_at=utcnow()))
    return "recovery" if used.rowcount == 1 else None


def recovery_codes_left(session: Session, user: User) -> int:
    return session.scalar(select(func.count()).select_from(RecoveryCode).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None))) or 0


def reset(session: Session, user: User, actor: User | str, school_id: int | None = None) -> None:
    """Forget the user's authenticator and recovery codes: they enrol again at their next sign-in,
    and every session of theirs ends now."""
    session.execute(delete(SecondFactor).where(SecondFactor.user_id == user.id))
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    end_sessions(user)
    audit.record(session, "second_factor_reset", school_id=school_id, actor=actor, subject=user)
