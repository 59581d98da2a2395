"""Screening in the database: load the school's gallery and register, run the engine, store
faces."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import defaultdict
from collections.abc import Mapping
from functools import cached_property

import numpy as np
from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from consent.clock import school_today
from consent.models import Guardian, Pupil, ReferenceFace, utcnow
from consent.services import publishable_pupils
from consent.wording import message_of, to_record
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
from gatekeeper.imaging.mp4 import ClipRefused
from gatekeeper.models import ERROR_CHARS, Face, Photo
from gatekeeper.screening.clips import ClipAnalysis, analyse_clip
from gatekeeper.screening.engine import analyse_bytes
from gatekeeper.screening.events import event_candidates
from gatekeeper.screening.rule import (
    ENCODING_SIZE,
    FaceDecision,
    FaceVectors,
    Gallery,
    Reference,
    decide_faces,
    decide_tracks,
    families,
    older_pupils,
    photo_verdict,
)
from gatekeeper.states import PHOTO_SCREENABLE, PhotoState, check_transition
from gatekeeper.storage import app_storage

check_transition(PHOTO_SCREENABLE, PhotoState.SCREENING)  # claim_photo's update
# A clip's screening marks its claim alive this often, well inside worker/recovery.STALLED_AFTER.
CLAIM_REFRESH = dt.timedelta(minutes=1)


def load_gallery(session: Session, school_id: int, cipher, on: dt.date | None = None) -> Gallery:
    """Every enrolled reference face of the school's current pupils, decrypted for matching
    (not those sealed when their pupil left through an import), aged as on `on`."""
    rows = session.execute(
        select(ReferenceFace.pupil_id, Pupil.upn, ReferenceFace.encoding_encrypted,
               ReferenceFace.embedding_encrypted, ReferenceFace.taken_on)
        .join(Pupil, Pupil.id == ReferenceFace.pupil_id)
        .where(ReferenceFace.school_id == school_id, ReferenceFace.sealed_at.is_(None))
    ).all()
    return Gallery([
        Reference(pid, upn, open_encoding(cipher, sealed), open_sealed(cipher, embedding), taken)
        for pid, upn, sealed, embedding, taken in rows
    ], on=on or school_today())


def guardian_key(name: str, email: str | None, contact_key: str | None = None) -> str:
    """Who a guardian is, across the pupils they are recorded for: the MIS contact they were
    imported as (consent/contacts.py), else their email (two parents may share a name), else
    their name."""
    if contact_key:
        return contact_key
    return f"email:{email.strip()}" if email and email.strip() else name


def load_births(session: Session, school_id: int) -> dict[int, dt.date | None]:
    """Every current pupil's date of birth (None where the register has none)."""
    return dict(session.execute(
        select(Pupil.id, Pupil.date_of_birth)
        .where(Pupil.school_id == school_id, Pupil.left_on.is_(None))
    ).all())


def load_families(session: Session, school_id: int, births: Mapping[int, dt.date | None]
                  ) -> tuple[dict[int, set[int]], set[int]]:
    """Siblings (current pupils who share a guardian) and twins (siblings born the same day, by
    `births`: load_births)."""
    rows = session.execute(
        select(Guardian.pupil_id, Guardian.name, Guardian.email, Guardian.contact_key)
        .join(Pupil, Pupil.id == Guardian.pupil_id)
        .where(Guardian.school_id == school_id, Pupil.left_on.is_(None))
    ).all()
    guardians: dict[int, set[str]] = defaultdict(set)
    for pupil_id, name, email, contact in rows:
        guardians[pupil_id].add(guardian_key(name, email, contact))
    return families(guardians, births)


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
        return load_gallery(self.session, self.school_id, self.cipher, self.on)

    def publishable(self, purpose: str) -> frozenset[int]:
        if purpose not in self._publishable:
            self._publishable[purpose] = publishable_pupils(
                self.session, self.school_id, purpose, self.on)
        return self._publishable[purpose]

    @cached_property
    def births(self) -> dict[int, dt.date | None]:
        return load_births(self.session, self.school_id)

    @cached_property
    def older(self) -> set[int]:
        """Current pupils old enough to be matched as older (rule.older_pupils) on this date."""
        return older_pupils(self.births, self.on)

    @cached_property
    def families(self) -> tuple[dict[int, set[int]], set[int]]:
        """(pupil -> siblings at the school, pupils with a twin), from the guardians they share."""
        return load_families(self.session, self.school_id, self.births)

    def decide(self, encodings, purpose: str, candidates=None,
               lifted=None) -> list[FaceDecision]:
        """The rule for one photo's faces, for `purpose`, against this register; `candidates`:
        the pupils who may be cleared (an event's; None = the whole school); `lifted`: face
        index -> pupils the DSL said that face is not."""
        siblings, twins = self.families
        return decide_faces(list(encodings), self.gallery, self.publishable(purpose),
                            candidates=candidates, siblings=siblings, twins=twins,
                            older=self.older, lifted=lifted)

    def decide_tracks(self, looks, purpose: str, candidates=None,
                      lifted=None) -> list[FaceDecision]:
        """The rule for one clip's face tracks, each from its looks (rule.decide_tracks)."""
        siblings, twins = self.families
        return decide_tracks(list(looks), self.gallery, self.publishable(purpose),
                             candidates=candidates, siblings=siblings, twins=twins,
                             older=self.older, lifted=lifted)

    def decide_stored(self, photo: Photo, purpose: str) -> list[FaceDecision]:
        """The rule run again from the photo's stored encodings (aligned with photo.faces), or a
        clip's tracks from their looks, with the candidates of the photo's event, as at upload,
        and the DSL's lifted blocks."""
        candidates = self.candidates(photo.event_id)
        lifted = {i: f.lifted_pupil_ids for i, f in enumerate(photo.faces) if f.lifted_pupil_ids}
        if photo.is_video:
            return self.decide_tracks(stored_looks(photo, self.cipher), purpose, candidates,
                                      lifted)
        return self.decide(stored_encodings(photo, self.cipher), purpose, candidates, lifted)

    def candidates(self, event_id: int | None):
        if event_id not in self._candidates:
            self._candidates[event_id] = event_candidates(self.session, event_id)
        return self._candidates[event_id]


def stored_encodings(photo: Photo, cipher) -> list[FaceVectors | None]:
    """Each face's stored vectors (aligned with photo.faces; None: not encoded or purged)."""
    return [None if f.encoding_encrypted is None else FaceVectors(
        open_encoding(cipher, f.encoding_encrypted), open_sealed(cipher, f.embedding_encrypted))
        for f in photo.faces]


def stored_looks(photo: Photo, cipher) -> list[list[FaceVectors | np.ndarray]]:
    """Each face's looks: a photo face's one FaceVectors, a clip track's dlib encodings (clips
    are matched by dlib: their looks have no MobileFaceNet embedding); none: unknown."""
    if not photo.is_video:
        return [[] if vectors is None else [vectors]
                for vectors in stored_encodings(photo, cipher)]
    return [[] if f.encoding_encrypted is None
            else list(open_encoding(cipher, f.encoding_encrypted).reshape(-1, ENCODING_SIZE))
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
        if photo.is_video:
            analysis = analyse_clip(app_storage().path("originals", photo.uuid),
                                    claim_keeper(photo_id, attempt))
        else:
            analysis = analyse_bytes(app_storage().read("originals", photo.uuid))
    except ClipRefused as refused:
        return refuse_photo(session, photo, attempt, refused.worded())
    except ImageRefused as refused:
        return refuse_photo(session, photo, attempt, message_of(refused))
    except Exception:
        fail_attempt(session, photo, attempt)
        raise
    try:
        return record_verdict(session, photo, attempt, analysis)
    except Exception:  # e.g. a biometric key that does not open the references
        fail_attempt(session, photo, attempt)
        raise


def fail_attempt(session: Session, photo: Photo, attempt: int) -> None:
    """Left as "failed" (never stuck in "screening"); Huey retries it, and a person sees it."""
    session.rollback()
    if finish(session, photo, attempt, status=PhotoState.FAILED,
              error="screening failed; it will be retried"):
        session.commit()


def claim_keeper(photo_id: int, attempt: int):
    """For a clip, which may take minutes: a callable that marks this attempt's claim as alive at
    most every CLAIM_REFRESH (in its own transaction), so the stalled-work sweep leaves it be."""
    last = time.monotonic()

    def still_working() -> None:
        nonlocal last
        if time.monotonic() - last < CLAIM_REFRESH.total_seconds():
            return
        with Session(db.engine) as own:
            own.execute(update(Photo).where(
                Photo.id == photo_id, Photo.status == PhotoState.SCREENING,
                Photo.screen_attempts == attempt).values(updated_at=utcnow()))
            own.commit()
        last = time.monotonic()

    return still_working


def refuse_photo(session: Session, photo: Photo, attempt: int, reason: str) -> str | None:
    """Refused by the worker: the reason is kept so that the uploader's page can say it in their
    language (Photo.refusal); the audit keeps its English."""
    if not finish(session, photo, attempt, status=PhotoState.REJECTED,
                  error=to_record(reason, ERROR_CHARS)):
        return None
    audit.record(session, "photo_refused", school_id=photo.school_id, subject=photo,
                 detail={"reason": str(reason)[:ERROR_CHARS]})
    session.commit()
    return PhotoState.REJECTED


def screen_clip_analysis(session: Session, school_id: int, analysis: ClipAnalysis, purpose: str,
                         on: dt.date, cipher, candidates=None):
    """Decide every face track of an analysed clip against the register as it is on `on`."""
    register = RegisterNow(session, school_id, on, cipher)
    looks = [[encoding for _time, encoding in track.encodings] for track in analysis.tracks]
    decisions = register.decide_tracks(looks, purpose, candidates)
    return decisions, photo_verdict(decisions)


def store_tracks(photo: Photo, analysis: ClipAnalysis, decisions, cipher) -> None:
    """One Face row per track: the best look's box, every sample's box and time, the looks."""
    photo.faces.clear()
    for index, (track, decision) in enumerate(zip(analysis.tracks, decisions, strict=True)):
        time, box = track.best_look()
        photo.faces.append(Face(
            school_id=photo.school_id, index=index, top=box.top, right=box.right,
            bottom=box.bottom, left=box.left,
            score=float(max(score for _t, _b, score in track.samples)),
            status=decision.status, pupil_id=decision.pupil_id, distance=decision.distance,
            encoding_encrypted=seal_looks(cipher, [e for _t, e in track.encodings]),
            track_json=json.dumps({"boxes": track.boxes(), "best": round(time, 3),
                                   "looks": [round(t, 3) for t, _e in track.encodings]}),
        ))


def seal_looks(cipher, encodings: list[np.ndarray]) -> bytes | None:
    return seal_encoding(cipher, np.stack(encodings)) if encodings else None


def record_verdict(session: Session, photo: Photo, attempt: int, analysis) -> str | None:
    cipher = app_cipher()
    screen = screen_clip_analysis if photo.is_video else screen_analysis
    decisions, verdict = screen(
        session, photo.school_id, analysis, photo.purpose, school_today(), cipher,
        candidates=event_candidates(session, photo.event_id),
    )
    (store_tracks if photo.is_video else store_faces)(photo, analysis, decisions, cipher)
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
