"""Screening in the database: load the school's gallery and register, run the engine, store faces."""

from __future__ import annotations

import datetime as dt
from functools import cached_property

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.clock import school_today
from consent.models import Pupil, ReferenceFace, utcnow
from consent.services import publishable_pupils
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import (
    app_cipher,
    open_encoding,
    open_sealed,
    seal_encoding,
    seal_optional,
)
from gatekeeper.extensions import db
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.models import Face, Photo
from gatekeeper.screening.engine import analyse_bytes
from gatekeeper.screening.events import event_candidates
from gatekeeper.screening.rule import (
    FaceDecision,
    FaceVectors,
    Gallery,
    Reference,
    decide_faces,
    photo_verdict,
)
from gatekeeper.states import PHOTO_SCREENABLE, PhotoState, check_transition
from gatekeeper.storage import app_storage

check_transition(PHOTO_SCREENABLE, PhotoState.SCREENING)  # claim_photo's update


def load_gallery(session: Session, school_id: int, cipher) -> Gallery:
    """Every enrolled reference face of the school's current pupils, decrypted for matching
    (not those sealed when their pupil left through an import)."""
    rows = session.execute(
        select(ReferenceFace.pupil_id, Pupil.upn, ReferenceFace.encoding_encrypted,
               ReferenceFace.embedding_encrypted)
        .join(Pupil, Pupil.id == ReferenceFace.pupil_id)
        .where(ReferenceFace.school_id == school_id, ReferenceFace.sealed_at.is_(None))
    ).all()
    return Gallery([
        Reference(pid, upn, open_encoding(cipher, sealed), open_sealed(cipher, embedding))
        for pid, upn, sealed, embedding in rows
    ])


class RegisterNow:
    """The school's register at one moment, loaded once however many photos are decided against
    it: the gallery of reference faces and, per purpose, who is publishable on that date."""

    def __init__(self, session: Session, school_id: int, on: dt.date | None = None, cipher=None):
        self.session, self.school_id = session, school_id
        self.on = on or school_today()
        self.cipher = cipher or app_cipher()
        self._publishable: dict[str, frozenset[int]] = {}
        self._candidates: dict[int | None, object] = {}

    @cached_property
    def gallery(self) -> Gallery:
        return load_gallery(self.session, self.school_id, self.cipher)

    def publishable(self, purpose: str) -> frozenset[int]:
        if purpose not in self._publishable:
            self._publishable[purpose] = publishable_pupils(
                self.session, self.school_id, purpose, self.on)
        return self._publishable[purpose]

    def decide(self, encodings, purpose: str, candidates=None) -> list[FaceDecision]:
        """The rule for one photo's faces, for `purpose`, against this register; `candidates`:
        the pupils who may be cleared (an event's; None = the whole school)."""
        return decide_faces(list(encodings), self.gallery, self.publishable(purpose),
                            candidates=candidates)

    def decide_stored(self, photo: Photo, purpose: str) -> list[FaceDecision]:
        """The rule run again from the photo's stored encodings (aligned with photo.faces),
        with the candidates of the photo's event, as at upload."""
        return self.decide(stored_encodings(photo, self.cipher), purpose,
                           self.candidates(photo.event_id))

    def candidates(self, event_id: int | None):
        if event_id not in self._candidates:
            self._candidates[event_id] = event_candidates(self.session, event_id)
        return self._candidates[event_id]


def stored_encodings(photo: Photo, cipher) -> list[FaceVectors | None]:
    """Each face's stored vectors (aligned with photo.faces; None: not encoded or purged)."""
    return [None if f.encoding_encrypted is None else FaceVectors(
        open_encoding(cipher, f.encoding_encrypted), open_sealed(cipher, f.embedding_encrypted))
        for f in photo.faces]


def screen_analysis(session: Session, school_id: int, analysis, purpose: str, on: dt.date, cipher,
                    candidates=None):
    """Decide every face of an analysed image against the register as it is on `on`;
    `candidates`: the pupils who may be cleared (an event's; None = the whole school)."""
    register = RegisterNow(session, school_id, on, cipher)
    decisions = register.decide([f.vectors for f in analysis.faces], purpose, candidates)
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
                embedding_encrypted=seal_optional(cipher, face.embedding),
            )
        )


def claim_photo(session: Session, photo_id: int) -> int | None:
    """Take a photo for screening; returns this attempt's number, or None when it is not ours to
    screen (already screened, purged, or being screened by another worker)."""
    taken = session.execute(
        update(Photo)
        .where(Photo.id == photo_id, Photo.status.in_(PHOTO_SCREENABLE), Photo.purged_at.is_(None))
        .values(status=PhotoState.SCREENING, screen_attempts=Photo.screen_attempts + 1,
                updated_at=utcnow())
    )
    session.commit()
    if taken.rowcount != 1:
        return None
    return session.scalar(select(Photo.screen_attempts).where(Photo.id == photo_id))


def finish(session: Session, photo: Photo, attempt: int, **values) -> bool:
    """Write the outcome only if this attempt still holds the photo (recovery may have handed it
    to another worker meanwhile); otherwise discard everything this attempt wrote."""
    check_transition(PhotoState.SCREENING, values["status"])
    done = session.execute(
        update(Photo)
        .where(Photo.id == photo.id, Photo.status == PhotoState.SCREENING,
               Photo.screen_attempts == attempt)
        .values(updated_at=utcnow(), **values)
    )
    if done.rowcount != 1:
        session.rollback()
        return False
    return True


def screen_stored_photo(photo_id: int) -> str | None:
    """The screening task: safe to run twice, and never two workers on one photo."""

    session = db.session
    attempt = claim_photo(session, photo_id)
    if attempt is None:
        return None
    photo = session.get(Photo, photo_id)
    try:
        analysis = analyse_bytes(app_storage().read("originals", photo.uuid))
    except ImageRefused as refused:
        return refuse_photo(session, photo, attempt, str(refused))
    except Exception:
        # Left as "failed" (never stuck in "screening"); Huey retries it, and a person sees it.
        session.rollback()
        if finish(session, photo, attempt, status=PhotoState.FAILED,
                  error="screening failed; it will be retried"):
            session.commit()
        raise
    return record_verdict(session, photo, attempt, analysis)


def refuse_photo(session: Session, photo: Photo, attempt: int, reason: str) -> str | None:
    if not finish(session, photo, attempt, status=PhotoState.REJECTED, error=reason[:300]):
        return None
    audit.record(session, "photo_refused", school_id=photo.school_id, subject=photo,
                 detail={"reason": reason[:300]})
    session.commit()
    return PhotoState.REJECTED


def record_verdict(session: Session, photo: Photo, attempt: int, analysis) -> str | None:
    cipher = app_cipher()
    decisions, verdict = screen_analysis(
        session, photo.school_id, analysis, photo.purpose, school_today(), cipher,
        candidates=event_candidates(session, photo.event_id),
    )
    store_faces(photo, analysis, decisions, cipher)
    session.flush()
    if not finish(session, photo, attempt, status=verdict, no_faces=verdict == PhotoState.NO_FACES,
                  error=None,
                  width=analysis.width, height=analysis.height, screened_at=utcnow()):
        return None
    audit.record(session, "photo_screened", school_id=photo.school_id, subject=photo,
                 detail={"verdict": verdict, "faces": len(decisions),
                         "statuses": [d.status for d in decisions]})
    session.commit()
    current_app.logger.info("photo %s screened: %s", photo.id, verdict)
    return verdict
