"""The audit trail: every login, upload, verdict, release and publication is a row, chained by hash."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.models import AuditEvent, User

AUDIT_CHAIN_LOCK = 0x6B617564  # PostgreSQL advisory lock key held by whoever appends to the chain
VERIFY_BATCH = 1000


def event_hash(prev_hash: str, event: AuditEvent) -> str:
    """The hash of one row's content together with the hash of the row before it."""
    content = json.dumps(
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
    )
    return hashlib.sha256(content.encode()).hexdigest()


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
        select(AuditEvent.hash).where(AuditEvent.id < event.id).order_by(AuditEvent.id.desc()).limit(1)
    )
    event.prev_hash = previous or ""
    event.hash = event_hash(event.prev_hash, event)
    return event


def lock_chain(session: Session) -> None:
    """Serialise writers of the chain until commit, so two transactions never share a predecessor."""
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


def verify_chain(session: Session, anchor: tuple[int, str] | None = None) -> ChainReport:
    """Recompute every row's hash and link; an edited, inserted or deleted row breaks the chain.

    `anchor` is (id, hash) of a row seen by an earlier verification: it must still be there,
    unchanged, which also catches rows cut from the end of the trail since then.
    """
    report, prev_hash, anchor_seen = ChainReport(), "", anchor is None
    query = select(AuditEvent).order_by(AuditEvent.id).execution_options(yield_per=VERIFY_BATCH)
    for event in session.scalars(query):
        if event.prev_hash != prev_hash:
            report.problems.append(f"row {event.id}: does not follow row {report.last_id or 'start'}"
                                   " (a row was deleted, inserted or edited)")
        if event.hash != event_hash(event.prev_hash, event):
            report.problems.append(f"row {event.id}: content does not match its hash (edited)")
        if anchor and event.id == anchor[0]:
            anchor_seen = True
            if event.hash != anchor[1]:
                report.problems.append(f"row {event.id}: differs from the last verified trail")
        report.rows, report.last_id, prev_hash = report.rows + 1, event.id, event.hash
        report.last_hash = event.hash
        session.expunge(event)
    if not anchor_seen:
        report.problems.append(f"row {anchor[0]}: verified before, now missing (rows were deleted)")
    return report
