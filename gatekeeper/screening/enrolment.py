"""Enrolling reference faces: exactly one clear face per photo, biometric consent required."""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from consent import services
from consent.models import Pupil
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import app_cipher, seal_encoding
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.models import User
from gatekeeper.review.rescreen import register_changed
from gatekeeper.screening.engine import ReferenceRefused, reference_encoding

MAX_REFERENCE_PHOTOS = 5


class EnrolmentError(ValueError):
    """A reference photo was refused; nothing was enrolled."""


def enrol_pupil(session: Session, school_id: int, upn: str, photos: list[Path], by: str) -> int:
    """Enrol 1-5 reference photos for a pupil; all of them or none."""

    if not 1 <= len(photos) <= MAX_REFERENCE_PHOTOS:
        raise EnrolmentError(f"give 1 to {MAX_REFERENCE_PHOTOS} reference photos")
    pupil = services.find_pupil(session, school_id, upn)
    cipher = app_cipher()
    sealed = []
    for path in photos:
        data = path.read_bytes()
        try:
            encoding = reference_encoding(data)
        except (ReferenceRefused, ImageRefused) as refused:
            raise EnrolmentError(f"{path.name}: {refused}") from None
        sealed.append((seal_encoding(cipher, encoding), cipher.encrypt(data)))
    for sealed_encoding, sealed_photo in sealed:
        services.add_reference_face(
            session, pupil, sealed_encoding=sealed_encoding, sealed_photo=sealed_photo,
            face_height_px=0, created_by=by,
            require_consent=current_app.config["REQUIRE_BIOMETRIC_CONSENT"],
        )
    audit.record(session, "faces_enrolled", school_id=school_id, actor=by, subject=pupil,
                 detail={"upn": pupil.upn, "photos": len(sealed)})
    # A newly enrolled pupil may be protected, or a lookalike of someone already cleared.
    register_changed(session, school_id, [pupil.id])
    return len(sealed)


def may_add_reference(session: Session, pupil: Pupil) -> bool:
    """Whether a confirmed face may become one more reference of the pupil: written biometric
    consent with no objection, still at the school, and room for another."""
    return (pupil.left_on is None and services.biometric_decision(session, pupil).ok
            and services.reference_face_count(session, pupil.id) < MAX_REFERENCE_PHOTOS)


def add_confirmed_reference(session: Session, pupil: Pupil, sealed_encoding: bytes,
                            face_jpeg: bytes, face_height_px: int, by: User,
                            detail: dict) -> None:
    """A face a person confirmed as the pupil (named in a photo) kept as one more reference,
    with biometric consent only; audited, and the school screened again."""
    if not may_add_reference(session, pupil):
        raise EnrolmentError(_("%(name)s cannot have another reference face: it needs written "
                               "biometric consent, and at most %(n)d are kept.",
                               name=pupil.full_name, n=MAX_REFERENCE_PHOTOS))
    services.add_reference_face(
        session, pupil, sealed_encoding=sealed_encoding,
        sealed_photo=app_cipher().encrypt(face_jpeg),
        face_height_px=face_height_px, created_by=by.email,
        require_consent=current_app.config["REQUIRE_BIOMETRIC_CONSENT"],
    )
    audit.record(session, "face_added_as_reference", school_id=pupil.school_id, actor=by,
                 subject=pupil, detail={"upn": pupil.upn, **detail})
    register_changed(session, pupil.school_id, [pupil.id])
