"""Who takes part in an event: the pupils clearing may consider for the event's photos."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.groups import member_ids
from consent.models import Pupil
from gatekeeper.models import Event


def event_candidates(session: Session, event_id: int | None) -> frozenset[int] | None:
    """Pupil ids of the event's year groups and of the school's groups (classes, clubs) it names,
    or None (the whole school) for a photo outside any event or an event that names none. Every
    other face is unknown to clearing; the whole school's protected pupils still block (see
    rule.decide_faces)."""
    event = session.get(Event, event_id) if event_id else None
    if event is None or not (event.year_group_list or event.group_id_list):
        return None
    years = set(session.scalars(
        select(Pupil.id).where(Pupil.school_id == event.school_id,
                               Pupil.year_group.in_(event.year_group_list))
    )) if event.year_group_list else set()
    # A group that is gone names nobody: never the whole school in its place.
    return frozenset(years | member_ids(session, event.school_id, event.group_id_list))
