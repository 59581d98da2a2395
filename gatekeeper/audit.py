"""The audit trail: every login, upload, verdict, release and publication is a row, chained by hash."""

from __future__ import annotations

import hashlib
import json

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.models import AuditEvent, User


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
    previous = session.scalar(select(AuditEvent.hash).order_by(AuditEvent.id.desc()).limit(1))
    session.add(event)
    event.prev_hash = previous or ""
    event.hash = event_hash(event.prev_hash, event)
    return event
