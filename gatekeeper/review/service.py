"""Review decisions: what still stands between a photo and its release."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import rules
from consent.clock import school_today
from consent.models import Pupil, utcnow
from consent.services import pupil_facts
from gatekeeper.compliance import audit
from gatekeeper.models import AuditEvent, Event, Face, Photo, User
from gatekeeper.review import gate
from gatekeeper.screening.service import RegisterNow
from gatekeeper.states import PHOTO_RELEASABLE, FaceStatus, PhotoState, move
from gatekeeper.uploads.labels import purpose_label

RESOLUTIONS = ("pupil", "not_pupil", "blur")
# Every action a person takes on a photo or a person's rights: the DSL reads these.
MANUAL_DECISIONS = (
    "face_resolved", "photo_rejected", "photo_released", "post_withdrawn", "no_faces_confirmed",
    "user_created", "role_granted", "role_revoked", "user_deactivated", "user_reactivated",
)


class ReviewError(ValueError):
    """A review action that is not allowed; the message is fit to show the media lead."""


@dataclass(frozen=True)
class GateNow:
    """The gate for one photo and one purpose at this moment: the rule run again, people's
    decisions, and what still holds the photo back."""

    faces: list[gate.FaceNow]
    holds: list[gate.Hold]
    publishable: frozenset[int]

    @property
    def pupils(self) -> list[int]:
        return gate.pupils_shown(self.faces)


def gate_now(register: RegisterNow, photo: Photo, purpose: str) -> GateNow:
    """Run the screening rule again from the stored encodings, for `purpose`, against the
    register as it is now, and combine it with what people decided on each face."""
    decisions = register.decide_stored(photo, purpose)
    faces = [
        gate.FaceNow(f.index, d, f.blur, f.resolution, f.resolved_pupil_id)
        for f, d in zip(photo.faces, decisions, strict=True)
    ]
    publishable = register.publishable(purpose)
    found = gate.holds(faces, publishable, no_faces=photo.no_faces,
                       no_faces_confirmed=photo.no_faces_checked_at is not None)
    return GateNow(faces, found, publishable)


def hold_message(hold: gate.Hold, purpose: str) -> str:
    """A hold in words the media lead can act on."""
    n = (hold.face_index or 0) + 1
    if hold.code == gate.HOLD_BLOCKED:
        return _("Face %(n)d may be a pupil who must not be published for %(purpose)s: blur it "
                 "or reject the photo.", n=n, purpose=purpose_label(purpose))
    if hold.code == gate.HOLD_NAMED_NOT_PUBLISHABLE:
        return _("Face %(n)d is a pupil who may not be published for %(purpose)s: blur it.",
                 n=n, purpose=purpose_label(purpose))
    if hold.code == gate.HOLD_NO_FACES:
        return _("No faces were found: open the photo and confirm nobody is in it.")
    return _("Face %(n)d is unknown: say who it is, or blur it.", n=n)


def release_check(register: RegisterNow, photo: Photo,
                  purpose: str) -> tuple[list[str], GateNow | None]:
    """Reasons the photo cannot be released for `purpose` now (empty when it can), and the gate
    they come from (None when the photo is not waiting for release at all)."""
    if photo.status not in PHOTO_RELEASABLE:
        return [_("This photo is %(status)s.", status=photo.status.replace("_", " "))], None
    found = gate_now(register, photo, purpose)
    return [hold_message(h, purpose) for h in found.holds], found


def release_blockers(register: RegisterNow, photo: Photo, purpose: str) -> list[str]:
    """Reasons the photo cannot be released for `purpose` now; empty when it can."""
    return release_check(register, photo, purpose)[0]


def bulk_ready(register: RegisterNow, photo: Photo) -> bool:
    """May be ticked for a release together with others: nothing holds it for its own purpose,
    and faces were found (a photo with none is always released on its own, after a look)."""
    return not photo.no_faces and not release_blockers(register, photo, photo.purpose)


def confirm_no_faces(session: Session, photo: Photo, user: User) -> None:
    """A person opened a photo in which no face was found and says nobody is in it."""
    if photo.status != PhotoState.NO_FACES:
        raise ReviewError(_("Faces were found in this photo."))
    photo.no_faces_checked_by_id, photo.no_faces_checked_at = user.id, utcnow()
    audit.record(session, "no_faces_confirmed", school_id=photo.school_id, actor=user,
                 subject=photo)


def blur_boxes(photo: Photo) -> list[tuple[int, int, int, int]]:
    """A photo's faces to blur (none for a clip, whose tracks move: blur_tracks)."""
    if photo.is_video:
        return []
    return [(f.top, f.right, f.bottom, f.left) for f in photo.faces if f.blur]


def blur_tracks(photo: Photo) -> list[list[tuple]]:
    """A clip's tracks to blur: each track's sampled (time, top, right, bottom, left)."""
    return [[tuple(sample) for sample in f.track.get("boxes", [])]
            for f in photo.faces if f.blur]


def resolve_face(
    session: Session, face: Face, resolution: str, user: User, pupil: Pupil | None = None
) -> None:
    """A person's decision on one face; the consent rules still decide a named pupil."""
    if resolution not in RESOLUTIONS:
        raise ReviewError(_("Unknown decision."))
    if face.status == FaceStatus.BLOCKED and resolution != "blur":
        raise ReviewError(_("A blocked face can only be blurred."))
    if face.status == FaceStatus.CLEARED and resolution != "blur":
        raise ReviewError(_("This face is already cleared."))
    if resolution == "pupil" and (pupil is None or pupil.school_id != face.school_id):
        raise ReviewError(_("Choose a pupil of this school."))
    face.resolution, face.resolved_by_id, face.resolved_at = resolution, user.id, utcnow()
    if resolution != "blur":  # a blur keeps who the face was said to be, for the DSL
        face.resolved_pupil_id = pupil.id if resolution == "pupil" else None
    face.blur = resolution == "blur"
    if resolution == "pupil" and not publishable(pupil, face.photo):
        face.status = FaceStatus.BLOCKED  # the register decides, as if the matcher had found them
        # A photo already on its way out stays as it is: the gate holds its post before posting.
        if face.photo.status in PHOTO_RELEASABLE - {PhotoState.BLOCKED}:
            move(face.photo, PhotoState.BLOCKED)
    audit.record(session, "face_resolved", school_id=face.school_id, actor=user, subject=face,
                 detail={"photo_id": face.photo_id, "resolution": resolution,
                         "pupil_id": face.resolved_pupil_id, "status": face.status})


def publishable(pupil: Pupil, photo: Photo, on: dt.date | None = None) -> bool:
    return rules.decide(pupil_facts(pupil), photo.purpose, on or school_today()).ok


def reject_photo(session: Session, photo: Photo, user: User, reason: str) -> None:
    if photo.status not in PHOTO_RELEASABLE:
        raise ReviewError(_("This photo is %(status)s.", status=photo.status.replace("_", " ")))
    move(photo, PhotoState.REJECTED)
    audit.record(session, "photo_rejected", school_id=photo.school_id, actor=user, subject=photo,
                 detail={"reason": reason})


def review_queue(session: Session, school_id: int) -> list[tuple[Event | None, list[Photo]]]:
    """Photos waiting for a person, grouped by event (newest event first)."""
    photos = session.scalars(
        select(Photo)
        .where(Photo.school_id == school_id, Photo.status.in_(PHOTO_RELEASABLE))
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


def manual_decisions(session: Session, school_id: int, limit: int = 200) -> list[AuditEvent]:
    """The latest decisions people made (not the system), newest first."""
    return list(session.scalars(
        select(AuditEvent)
        .where(AuditEvent.school_id == school_id, AuditEvent.action.in_(MANUAL_DECISIONS))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    ))
