"""Review decisions: what still stands between a photo and its release."""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from consent.models import Pupil, utcnow
from gatekeeper import audit
from gatekeeper.models import Face, Photo, User

RELEASABLE = ("cleared", "needs_review", "blocked")
RESOLUTIONS = ("pupil", "not_pupil", "blur")


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
    if resolution == "pupil" and (pupil is None or pupil.school_id != face.school_id):
        raise ReviewError(_("Choose a pupil of this school."))
    face.resolution, face.resolved_by_id, face.resolved_at = resolution, user.id, utcnow()
    face.resolved_pupil_id = pupil.id if resolution == "pupil" else None
    face.blur = resolution == "blur"
    audit.record(session, "face_resolved", school_id=face.school_id, actor=user, subject=face,
                 detail={"photo_id": face.photo_id, "resolution": resolution,
                         "pupil_id": face.resolved_pupil_id})


def reject_photo(session: Session, photo: Photo, user: User, reason: str) -> None:
    photo.status = "rejected"
    audit.record(session, "photo_rejected", school_id=photo.school_id, actor=user, subject=photo,
                 detail={"reason": reason})
