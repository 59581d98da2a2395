"""Register changes as the app performs them: the consent service, then audit, then takedown.

The web screens and the CLI both come through here, so every route into the register leaves the
same audit trail and pulls the same posts.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from consent import services
from gatekeeper import audit


def set_consent(
    session: Session, school_id: int, upn: str, purpose: str, status: str, *, given_by: str,
    recorded_by: str, expires_on: dt.date | None = None, source: str = "paper", actor=None,
    purposes=None, **extra,
):
    pupil = services.find_pupil(session, school_id, upn)
    record = services.record_consent(
        session, pupil, purpose, status, given_by=given_by, recorded_by=recorded_by,
        expires_on=expires_on, source=source, purposes=purposes or services.rules.DEFAULT_PURPOSES,
        **extra,
    )
    audit.record(session, "consent_recorded", school_id=school_id, actor=actor or recorded_by,
                 subject=record, detail={"upn": pupil.upn, "purpose": purpose, "status": status,
                                         "source": source})
    if status != "granted":
        from gatekeeper.publishing.takedown import pull_posts_showing

        pull_posts_showing(session, pupil.id, f"consent {status} for {purpose}", purpose=purpose,
                           requested_by=actor or recorded_by)
    return record


def add_nopublish(session: Session, school_id: int, upn: str, *, category: str, note: str,
                  added_by: str, actor=None, **dates):
    pupil = services.find_pupil(session, school_id, upn)
    entry = services.add_nopublish(session, pupil, category=category, note=note,
                                   added_by=added_by, **dates)
    # The reason stays out of the audit detail: only the DSL may read it, on the entry itself.
    audit.record(session, "nopublish_added", school_id=school_id, actor=actor or added_by,
                 subject=entry, detail={"upn": pupil.upn})
    from gatekeeper.publishing.takedown import pull_posts_showing

    pull_posts_showing(session, pupil.id, "added to the no-publish list",
                       requested_by=actor or added_by)
    return entry


def remove_nopublish(session: Session, school_id: int, upn: str, *, removed_by: str, reason: str,
                     actor=None) -> int:
    pupil = services.find_pupil(session, school_id, upn)
    closed = services.remove_nopublish(session, pupil, removed_by=removed_by, reason=reason)
    audit.record(session, "nopublish_removed", school_id=school_id, actor=actor or removed_by,
                 subject=pupil, detail={"upn": pupil.upn})
    return closed
