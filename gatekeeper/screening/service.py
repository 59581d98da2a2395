"""Screening in the database: load the school's gallery and register, run the engine, store faces."""

from __future__ import annotations

import datetime as dt

from flask import current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Pupil, ReferenceFace, utcnow
from consent.services import publishable_pupils
from gatekeeper import audit
from gatekeeper.crypto import app_cipher, open_encoding, seal_encoding
from gatekeeper.extensions import db
from gatekeeper.models import Face, Photo
from gatekeeper.screening.rule import Gallery, Reference, decide_faces, photo_verdict
from gatekeeper.storage import app_storage

SCREENABLE = ("uploaded", "screening", "failed")


def load_gallery(session: Session, school_id: int, cipher) -> Gallery:
    """Every enrolled reference face of the school's current pupils, decrypted for matching."""
    rows = session.execute(
        select(ReferenceFace.pupil_id, Pupil.upn, ReferenceFace.encoding_encrypted)
        .join(Pupil, Pupil.id == ReferenceFace.pupil_id)
        .where(ReferenceFace.school_id == school_id)
    ).all()
    return Gallery([Reference(pid, upn, open_encoding(cipher, sealed)) for pid, upn, sealed in rows])


def screen_analysis(session: Session, school_id: int, analysis, purpose: str, on: dt.date, cipher):
    """Decide every face of an analysed image against the register as it is on `on`."""
    gallery = load_gallery(session, school_id, cipher)
    publishable = publishable_pupils(session, school_id, purpose, on)
    decisions = decide_faces([f.encoding for f in analysis.faces], gallery, publishable)
    return decisions, photo_verdict(decisions)


def store_faces(photo: Photo, analysis, decisions, cipher) -> None:
    photo.faces.clear()
    for index, (face, decision) in enumerate(zip(analysis.faces, decisions, strict=True)):
        photo.faces.append(
            Face(
                school_id=photo.school_id,
                index=index,
                top=face.box.top,
                right=face.box.right,
                bottom=face.box.bottom,
                left=face.box.left,
                score=float(face.score),
                status=decision.status,
                pupil_id=decision.pupil_id,
                distance=decision.distance,
                encoding_encrypted=None
                if face.encoding is None
                else seal_encoding(cipher, face.encoding),
            )
        )


def screen_stored_photo(photo_id: int) -> str | None:
    """The screening task: safe to run twice (a photo already screened is left as it is)."""
    from gatekeeper.images import ImageRefused
    from gatekeeper.screening.engine import analyse_bytes

    session = db.session
    photo = session.get(Photo, photo_id)
    if photo is None or photo.status not in SCREENABLE:
        return None
    photo.status, photo.screen_attempts = "screening", photo.screen_attempts + 1
    session.commit()
    try:
        analysis = analyse_bytes(app_storage().read("originals", photo.uuid))
    except ImageRefused as refused:
        return refuse_photo(session, photo, str(refused))
    except Exception:
        # Left as "failed" (never stuck in "screening"); Huey retries it, and a person sees it.
        session.rollback()
        photo.status, photo.error = "failed", "screening failed; it will be retried"
        session.commit()
        raise
    return record_verdict(session, photo, analysis)


def refuse_photo(session: Session, photo: Photo, reason: str) -> str:
    photo.status, photo.error = "rejected", reason[:300]
    audit.record(session, "photo_refused", school_id=photo.school_id, subject=photo,
                 detail={"reason": photo.error})
    session.commit()
    return photo.status


def record_verdict(session: Session, photo: Photo, analysis) -> str:
    cipher = app_cipher()
    decisions, verdict = screen_analysis(
        session, photo.school_id, analysis, photo.purpose, utcnow().date(), cipher
    )
    store_faces(photo, analysis, decisions, cipher)
    photo.width, photo.height = analysis.width, analysis.height
    photo.status, photo.no_faces, photo.error = verdict, not analysis.faces, None
    photo.screened_at = utcnow()
    audit.record(session, "photo_screened", school_id=photo.school_id, subject=photo,
                 detail={"verdict": verdict, "faces": len(decisions),
                         "statuses": [d.status for d in decisions]})
    session.commit()
    current_app.logger.info("photo %s screened: %s", photo.id, verdict)
    return verdict
