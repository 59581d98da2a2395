"""Enrolling reference faces: exactly one clear face per photo, biometric consent required."""

from __future__ import annotations

from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from consent import services
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import app_cipher, seal_encoding, seal_optional
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.review.rescreen import register_changed
from gatekeeper.screening.engine import ReferenceRefused, reference_vectors

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
            vectors = reference_vectors(data)
        except (ReferenceRefused, ImageRefused) as refused:
            raise EnrolmentError(f"{path.name}: {refused}") from None
        sealed.append((seal_encoding(cipher, vectors.encoding),
                       seal_optional(cipher, vectors.embedding), cipher.encrypt(data)))
    for sealed_encoding, sealed_embedding, sealed_photo in sealed:
        services.add_reference_face(
            session, pupil, sealed_encoding=sealed_encoding, sealed_embedding=sealed_embedding,
            sealed_photo=sealed_photo, face_height_px=0, created_by=by,
            require_consent=current_app.config["REQUIRE_BIOMETRIC_CONSENT"],
        )
    audit.record(session, "faces_enrolled", school_id=school_id, actor=by, subject=pupil,
                 detail={"upn": pupil.upn, "photos": len(sealed)})
    # A newly enrolled pupil may be protected, or a lookalike of someone already cleared.
    register_changed(session, school_id, [pupil.id])
    return len(sealed)
