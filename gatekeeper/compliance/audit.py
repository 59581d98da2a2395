"""The audit trail: every login, upload, verdict, release and publication is a row, chained by hash.

The chain is keyed: each row's hash is an HMAC-SHA256 under the audit key, a file kept outside the
database like the biometric key. Whoever can write the database but not read that file can neither
edit a row nor rewrite the rows after it to match. Rows written before the key existed (plain
SHA-256) are accepted only as the start of the trail, never after a keyed row.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import logging.handlers
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.config import read_or_create_secret
from gatekeeper.models import AuditEvent, User

AUDIT_CHAIN_LOCK = 0x6B617564  # PostgreSQL advisory lock key held by whoever appends to the chain
VERIFY_BATCH = 1000
AUDIT_KEY_FILE = "audit.key"
AUDIT_KEY_VARIABLE = "GATEKEEPER_AUDIT_KEY_FILE"  # to keep the key somewhere else still
TRAIL_PAGE = 100  # events a page of a trail shows
AUDIT_ANCHOR_FILE = "audit.anchor"  # id and hash of the last verified row, kept in the instance


def key_path(instance: Path) -> Path:
    """Where the audit key lives: the instance folder unless the environment names a file."""
    return Path(os.environ.get(AUDIT_KEY_VARIABLE) or Path(instance) / AUDIT_KEY_FILE)


def instance_key(instance: Path) -> bytes:
    return read_or_create_secret(key_path(instance), lambda: secrets.token_hex(32).encode())


def app_key() -> bytes:
    return instance_key(current_app.config["INSTANCE"])


def _content(prev_hash: str, event: AuditEvent) -> bytes:
    return json.dumps(
        [
            prev_hash,
            event.school_id,
            event.actor_id,
            event.actor,
            event.action,
            event.subject_type,
            event.subject_id,
            event.detail_json,
            event.created_at.isoformat(),
        ],
        separators=(",", ":"),
    ).encode()


def legacy_hash(prev_hash: str, event: AuditEvent) -> str:
    """The unkeyed SHA-256 of rows written before the chain was keyed."""
    return hashlib.sha256(_content(prev_hash, event)).hexdigest()


def event_hash(prev_hash: str, event: AuditEvent, key: bytes | None = None) -> str:
    """The HMAC of one row's content together with the hash of the row before it."""
    return hmac.new(key if key is not None else app_key(), _content(prev_hash, event),
                    hashlib.sha256).hexdigest()


def record(
    session: Session,
    action: str,
    *,
    school_id: int | None = None,
    actor: User | str | None = None,
    subject: object | None = None,
    detail: dict | None = None,
) -> AuditEvent:
    """Add an audit row to the session (the caller's transaction commits it)."""
    if isinstance(actor, User):
        actor_id, actor_label = actor.id, actor.email
    else:
        actor_id, actor_label = None, actor or "system"
    event = AuditEvent(
        school_id=school_id,
        actor_id=actor_id,
        actor=actor_label,
        action=action,
        subject_type=type(subject).__name__.lower() if subject is not None else "",
        subject_id=str(getattr(subject, "id", "") or "") if subject is not None else "",
        detail_json=json.dumps(detail or {}, sort_keys=True, default=str),
        created_at=utcnow(),
    )
    lock_chain(session)
    session.add(event)
    session.flush()  # on SQLite the insert takes the write lock: the row before ours is final
    previous = session.scalar(
        select(AuditEvent.hash).where(AuditEvent.id < event.id)
        .order_by(AuditEvent.id.desc()).limit(1)
    )
    event.prev_hash = previous or ""
    event.hash = event_hash(event.prev_hash, event, app_key())
    return event


def trail(session: Session, place, action: str = "", before_id: int | None = None,
          limit: int | None = TRAIL_PAGE) -> list[AuditEvent]:
    """The events `place` (a condition on AuditEvent) chooses, newest first, a page at a time
    (limit None: all of them), of one action or all."""
    query = select(AuditEvent).where(place)
    if action:
        query = query.where(AuditEvent.action == action)
    if before_id:
        query = query.where(AuditEvent.id < before_id)
    return list(session.scalars(query.order_by(AuditEvent.id.desc()).limit(limit)))


def actions(session: Session, place) -> list[str]:
    """The actions recorded among the events `place` chooses (what a trail can be filtered by)."""
    return list(session.scalars(select(AuditEvent.action).where(place).distinct()
                                .order_by(AuditEvent.action)))


def lock_chain(session: Session) -> None:
    """Serialise writers of the chain until commit, so two transactions never share a
    predecessor."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": AUDIT_CHAIN_LOCK})


@dataclass
class ChainReport:
    rows: int = 0
    last_id: int = 0
    last_hash: str = ""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _problem(event: AuditEvent, what: str) -> str:
    """One problem, naming the row where the chain breaks and what that row claims to be."""
    return f"row {event.id}: {what} [{event.action} at {event.created_at:%Y-%m-%d %H:%M:%S}]"


def verify_chain(session: Session, anchor: tuple[int, str] | None = None,
                 key: bytes | None = None) -> ChainReport:
    """Recompute every row's HMAC and link; an edited, inserted or deleted row breaks the chain,
    and each problem names the row where it breaks.

    `anchor` is (id, hash) of a row seen by an earlier verification: it must still be there,
    unchanged, which also catches rows cut from the end of the trail since then.
    """
    key = key if key is not None else app_key()
    report, prev_hash, anchor_seen, keyed = ChainReport(), "", anchor is None, False
    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=VERIFY_BATCH)
    for event in session.scalars(query):
        if event.prev_hash != prev_hash:
            report.problems.append(_problem(event, f"does not follow row "
                                            f"{report.last_id or 'start'} (a row was deleted, "
                                            "inserted or edited)"))
        if hmac.compare_digest(event.hash, event_hash(event.prev_hash, event, key)):
            keyed = True
        elif keyed or event.hash != legacy_hash(event.prev_hash, event):
            report.problems.append(_problem(event, "content does not match its HMAC (edited, "
                                            "or written without the audit key)"))
        if anchor and event.id == anchor[0]:
            anchor_seen = True
            if event.hash != anchor[1]:
                report.problems.append(_problem(event, "differs from the last verified trail"))
        report.rows, report.last_id, prev_hash = report.rows + 1, event.id, event.hash
        report.last_hash = event.hash
        session.expunge(event)
    if not anchor_seen:
        report.problems.append(f"row {anchor[0]}: verified before, now missing (rows were deleted)")
    return report


def sign_anchor(key: bytes, ident: int, digest: str) -> str:
    """The anchor line: the last verified row, with an HMAC so a file writer cannot forge it."""
    mac = hmac.new(key, f"anchor:{ident}:{digest}".encode(), hashlib.sha256).hexdigest()
    return f"{ident} {digest} {mac}"


def read_signed_anchor(key: bytes, line: str) -> tuple[int, str] | None:
    """(id, hash) of a genuine anchor line; AnchorForged when its HMAC does not match."""
    ident, digest, mac = (line.strip().split(" ") + ["", "", ""])[:3]
    if not ident.isdigit():
        return None
    genuine = sign_anchor(key, int(ident), digest)
    if not mac or not hmac.compare_digest(genuine, f"{ident} {digest} {mac}"):
        raise AnchorForged("the anchor file is not one Gatekeeper signed (changed, or left by an "
                           "older version: check the trail, then remove the file)")
    return int(ident), digest


SYSLOG_SOCKET = "/dev/log"


def anchor_externally(instance: Path, ident: int, digest: str) -> bool:
    """Put the chain's head in the system log, out of the instance's and database's reach;
    False where this machine has no system log socket."""
    if not Path(SYSLOG_SOCKET).exists():
        return False
    handler = logging.handlers.SysLogHandler(address=SYSLOG_SOCKET)
    try:
        record = logging.LogRecord("gatekeeper.audit", logging.NOTICE if hasattr(
            logging, "NOTICE") else logging.WARNING, __file__, 0,
            "gatekeeper audit head %s: row %d %s", (str(instance), ident, digest), None)
        handler.emit(record)
    finally:
        handler.close()
    return True


class AnchorForged(ValueError):
    """The anchor of the last verification is not one Gatekeeper wrote."""
