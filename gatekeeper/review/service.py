"""Review decisions: what still stands between a photo and its release."""

from __future__ import annotations

import datetime as dt

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import rules
from consent.models import Pupil, utcnow
from consent.services import pupil_facts
from gatekeeper import audit
from gatekeeper.models import AuditEvent, Event, Face, OfficialAccount, Photo, Post, User

RELEASABLE = ("cleared", "needs_review", "blocked")
RESOLUTIONS = ("pupil", "not_pupil", "blur")
QUEUE_STATES = RELEASABLE
# Every action a person takes on a photo or a person's rights: the DSL reads these.
MANUAL_DECISIONS = (
    "face_resolved", "photo_rejected", "photo_released", "post_withdrawn",
    "user_created", "role_granted", "role_revoked", "user_deactivated", "user_reactivated",
)


class ReviewError(ValueError):
    """A review action that is not allowed; the message is fit to show the media lead."""


def face_settled(face: Face) -> bool:
    """A face no longer stops a release: cleared, blurred, or resolved by a person."""
    if face.blur:
        return True
    if face.status == "blocked":
        return False  # no override of a block: blur it, reject the photo, or change the register
    return face.status == "cleared" or face.resolution in ("pupil", "not_pupil")


def release_blockers(photo: Photo) -> list[str]:
    """Reasons the photo cannot be released yet; empty when it can."""
    if photo.status not in RELEASABLE:
        return [_("This photo is %(status)s.", status=photo.status.replace("_", " "))]
    reasons = []
    for face in photo.faces:
        if not face_settled(face):
            reasons.append(
                _("Face %(n)d is blocked: blur it or reject the photo.", n=face.index + 1)
                if face.status == "blocked"
                else _("Face %(n)d is unknown: say who it is, or blur it.", n=face.index + 1)
            )
    return reasons


def pupils_shown(photo: Photo) -> list[int]:
    """Every pupil identified in the photo and not blurred: consent is re-checked for these."""
    ids = []
    for face in photo.faces:
        if face.blur:
            continue
        if face.status == "cleared" and face.pupil_id:
            ids.append(face.pupil_id)
        elif face.resolution == "pupil" and face.resolved_pupil_id:
            ids.append(face.resolved_pupil_id)
    return sorted(set(ids))


def blur_boxes(photo: Photo) -> list[tuple[int, int, int, int]]:
    return [(f.top, f.right, f.bottom, f.left) for f in photo.faces if f.blur]


def resolve_face(
    session: Session, face: Face, resolution: str, user: User, pupil: Pupil | None = None
) -> None:
    """A person's decision on one face; the consent rules still decide a named pupil."""
    if resolution not in RESOLUTIONS:
        raise ReviewError(_("Unknown decision."))
    if face.status == "blocked" and resolution != "blur":
        raise ReviewError(_("A blocked face can only be blurred."))
    if face.status == "cleared" and resolution != "blur":
        raise ReviewError(_("This face is already cleared."))
    if resolution == "pupil" and (pupil is None or pupil.school_id != face.school_id):
        raise ReviewError(_("Choose a pupil of this school."))
    face.resolution, face.resolved_by_id, face.resolved_at = resolution, user.id, utcnow()
    if resolution != "blur":  # a blur keeps who the face was said to be, for the DSL
        face.resolved_pupil_id = pupil.id if resolution == "pupil" else None
    face.blur = resolution == "blur"
    if resolution == "pupil" and not publishable(pupil, face.photo):
        face.status = "blocked"  # the register decides, as if the matcher had found this pupil
        face.photo.status = "blocked"
    audit.record(session, "face_resolved", school_id=face.school_id, actor=user, subject=face,
                 detail={"photo_id": face.photo_id, "resolution": resolution,
                         "pupil_id": face.resolved_pupil_id, "status": face.status})


def publishable(pupil: Pupil, photo: Photo, on: dt.date | None = None) -> bool:
    return rules.decide(pupil_facts(pupil), photo.purpose, on or utcnow().date()).ok


def reject_photo(session: Session, photo: Photo, user: User, reason: str) -> None:
    if photo.status not in RELEASABLE:
        raise ReviewError(_("This photo is %(status)s.", status=photo.status.replace("_", " ")))
    photo.status = "rejected"
    audit.record(session, "photo_rejected", school_id=photo.school_id, actor=user, subject=photo,
                 detail={"reason": reason})


def review_queue(session: Session, school_id: int) -> list[tuple[Event | None, list[Photo]]]:
    """Photos waiting for a person, grouped by event (newest event first)."""
    photos = session.scalars(
        select(Photo)
        .where(Photo.school_id == school_id, Photo.status.in_(QUEUE_STATES))
        .order_by(Photo.event_id.desc(), Photo.id)
    ).all()
    groups: dict[int | None, list[Photo]] = {}
    for photo in photos:
        groups.setdefault(photo.event_id, []).append(photo)
    return [(session.get(Event, event_id) if event_id else None, group)
            for event_id, group in groups.items()]


def search_pupils(session: Session, school_id: int, text: str, limit: int = 20) -> list[Pupil]:
    """Current pupils whose first or last name starts with the words typed."""
    query = select(Pupil).where(Pupil.school_id == school_id, Pupil.left_on.is_(None))
    for word in text.split()[:3]:
        pattern = word.replace("%", "").replace("_", "") + "%"
        query = query.where(Pupil.first_name.ilike(pattern) | Pupil.last_name.ilike(pattern))
    return list(session.scalars(query.order_by(Pupil.last_name, Pupil.first_name).limit(limit)))


def release_photos(
    session: Session, photos: list[Photo], account: OfficialAccount, caption: str, user: User,
    scheduled_at: dt.datetime | None = None,
) -> list[Post]:
    """Release several photos with one caption: all or none (the caller commits or rolls back)."""
    from gatekeeper.publishing.service import ReleaseError, release_post

    if not photos:
        raise ReleaseError(_("Choose at least one photo."))
    posts = []
    for photo in photos:
        try:
            posts.append(release_post(session, photo, account, caption, user, scheduled_at))
        except ReleaseError as error:
            raise ReleaseError(_("Photo %(n)d: %(why)s", n=photo.id, why=str(error))) from None
    return posts


def manual_decisions(session: Session, school_id: int, limit: int = 200) -> list[AuditEvent]:
    """The latest decisions people made (not the system), newest first."""
    return list(session.scalars(
        select(AuditEvent)
        .where(AuditEvent.school_id == school_id, AuditEvent.action.in_(MANUAL_DECISIONS))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    ))
