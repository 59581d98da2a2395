"""Retention: originals that were never released are deleted after a period, rejected ones sooner;
leavers' biometric templates are deleted (those an import sealed once its grace period is over),
with the templates of faces in kept photos matched or named as them;
the audit trail is never purged here (kept at least a year).

Run daily by the periodic task and on demand by `gatekeeper purge`. Safe to run twice.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.importer import LEAVER_GRACE_DAYS
from consent.models import Pupil, ReferenceFace, utcnow
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.models import Face, Photo, Post, Takedown
from gatekeeper.people.auth import forget_old_failures
from gatekeeper.states import PHOTO_ENDED, PHOTO_UNRELEASED, PhotoState, TakedownState, move
from gatekeeper.storage import Storage, app_storage

DEFAULT_RETENTION_DAYS = 30  # unreleased originals (Config.RETENTION_DAYS overrides)
# refused or rejected originals (Config.REJECTED_RETENTION_DAYS)
DEFAULT_REJECTED_RETENTION_DAYS = 7
AUDIT_MINIMUM_DAYS = 365  # the audit trail is kept at least this long; Gatekeeper never deletes it
PURGED_NOTE = "original deleted after the retention period"


@dataclass
class PurgeReport:
    photos: int = 0
    templates: int = 0
    login_failures: int = 0

    def line(self) -> str:
        return (f"purged originals={self.photos} leaver_templates={self.templates} "
                f"old_login_failures={self.login_failures}")


def due_photos(session: Session, now: dt.datetime, retention_days: int, rejected_days: int):
    unreleased = (Photo.status.in_(PHOTO_UNRELEASED)
                  & (Photo.created_at <= now - dt.timedelta(days=retention_days)))
    rejected = ((Photo.status == PhotoState.REJECTED)
                & (Photo.created_at <= now - dt.timedelta(days=rejected_days)))
    # A takedown still open (an adapter trying, or a person asked to remove the post by hand)
    # needs the picture: the media lead's task shows a small copy of what was posted. Its period
    # counts from when the last of its takedowns closed, not from the upload.
    taking_down = select(Post.photo_id).join(Takedown, Takedown.post_id == Post.id).where(
        Takedown.state.in_((TakedownState.PENDING, TakedownState.MANUAL)))
    closed_late = select(Post.photo_id).join(Takedown, Takedown.post_id == Post.id).where(
        Takedown.done_at > now - dt.timedelta(days=retention_days))
    return session.scalars(
        select(Photo).where(Photo.purged_at.is_(None), unreleased | rejected,
                            Photo.id.not_in(taking_down), Photo.id.not_in(closed_late))
        .order_by(Photo.id)
    ).all()


def purge_photo(session: Session, storage: Storage, photo: Photo, now: dt.datetime) -> None:
    """Delete the original, its renderings and its faces' templates; keep the row for the record."""
    storage.delete_photo(photo.uuid)
    session.execute(update(Face).where(Face.photo_id == photo.id)
                    .values(encoding_encrypted=None, embedding_encrypted=None))
    was = photo.status
    if photo.status not in PHOTO_ENDED:
        move(photo, PhotoState.REJECTED)  # fail closed: nothing without an original can be released
    photo.error, photo.purged_at = PURGED_NOTE, now
    audit.record(session, "photo_purged", school_id=photo.school_id, subject=photo,
                 detail={"status_was": was})


def delete_leaver_templates(session: Session, now: dt.datetime,
                            grace_days: int = LEAVER_GRACE_DAYS) -> int:
    """Delete leavers' templates: at once, except those an import sealed (kept for an undo until
    the grace period is over); a sealed face is deleted after it whoever the pupil is now."""
    not_sealed = (ReferenceFace.sealed_at.is_(None) & Pupil.left_on.is_not(None)
                  & (Pupil.left_on <= now.date()))
    grace_over = ReferenceFace.sealed_at <= now - dt.timedelta(days=grace_days)
    rows = session.execute(
        select(ReferenceFace, Pupil).join(Pupil, Pupil.id == ReferenceFace.pupil_id)
        .where(not_sealed | grace_over)
    ).all()
    for face, _pupil in rows:
        session.delete(face)
    session.flush()
    matched = forget_leavers_in_photos(session, now)
    leavers = {pupil.id: pupil for _, pupil in rows}
    for pupil_id in sorted(set(leavers) | set(matched)):
        pupil = leavers.get(pupil_id) or session.get(Pupil, pupil_id)
        audit.record(session, "biometric_deleted", school_id=pupil.school_id, subject=pupil,
                     detail={"reason": "left the school", "photo_faces": matched.get(pupil_id, 0)})
    return len(rows)


def forget_leavers_in_photos(session: Session, now: dt.datetime) -> dict[int, int]:
    """The templates of faces in kept photos matched or named as a leaver whose references are
    gone are the leaver's biometric data too: deleted (the face stays, unknown to any later
    screening, which then sends it to a person). Returns how many, per pupil."""
    gone = set(session.scalars(select(Pupil.id).where(
        Pupil.left_on.is_not(None), Pupil.left_on <= now.date(),
        ~select(ReferenceFace.id).where(ReferenceFace.pupil_id == Pupil.id).exists())))
    if not gone:
        return {}
    faces = session.execute(select(Face.id, Face.resolved_pupil_id, Face.pupil_id).where(
        Face.pupil_id.in_(gone) | Face.resolved_pupil_id.in_(gone),
        Face.encoding_encrypted.is_not(None) | Face.embedding_encrypted.is_not(None))).all()
    session.execute(update(Face).where(Face.id.in_([face_id for face_id, _, _ in faces]))
                    .values(encoding_encrypted=None, embedding_encrypted=None)
                    .execution_options(synchronize_session=False))
    counts: dict[int, int] = {}
    for _, named, matched in faces:  # a person's naming says whose face it is before the match
        pupil_id = named if named in gone else matched
        counts[pupil_id] = counts.get(pupil_id, 0) + 1
    return counts


def purge(session: Session, storage: Storage, retention_days: int = DEFAULT_RETENTION_DAYS,
          rejected_days: int = DEFAULT_REJECTED_RETENTION_DAYS,
          now: dt.datetime | None = None, grace_days: int = LEAVER_GRACE_DAYS) -> PurgeReport:
    """Apply the retention rules once; each photo is committed on its own (a crash loses
    nothing)."""
    if retention_days < 1 or rejected_days < 0 or grace_days < 0:
        raise ValueError("retention periods must be positive")
    now, report = now or utcnow(), PurgeReport()
    for photo in due_photos(session, now, retention_days, rejected_days):
        purge_photo(session, storage, photo, now)
        session.commit()
        report.photos += 1
    report.templates = delete_leaver_templates(session, now, grace_days)
    report.login_failures = forget_old_failures(session, now)
    session.commit()
    return report


def app_purge() -> PurgeReport:
    """The purge with this app's settings and storage."""


    config = current_app.config
    return purge(db.session, app_storage(),
                 int(config.get("RETENTION_DAYS", DEFAULT_RETENTION_DAYS)),
                 int(config.get("REJECTED_RETENTION_DAYS", DEFAULT_REJECTED_RETENTION_DAYS)),
                 grace_days=int(config.get("LEAVER_GRACE_DAYS", LEAVER_GRACE_DAYS)))
