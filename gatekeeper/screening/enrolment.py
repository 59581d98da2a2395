"""Enrolling reference faces: exactly one clear face per photo, biometric consent required; each
reference dated, at most five per pupil (the oldest retire), lookalikes reported at once."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent import services
from consent.clock import school_today
from consent.importer import YEAR_GROUPS
from consent.models import Pupil, ReferenceFace
from consent.wording import N_, message_of
from gatekeeper.compliance import audit
from gatekeeper.compliance.crypto import app_cipher, seal_encoding, seal_optional
from gatekeeper.imaging.dates import taken_on as exif_date
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.models import User
from gatekeeper.review.rescreen import name_blocked_faces, register_changed
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.engine import ReferenceRefused, reference_vectors
from gatekeeper.screening.rule import MATCHINGS
from gatekeeper.screening.service import load_gallery

MAX_REFERENCE_PHOTOS = t.MAX_REFERENCES_PER_PUPIL
# A date further back than this is a camera whose clock was never set, not a reference's age.
OLDEST_PLAUSIBLE_YEARS = 20


class EnrolmentError(ValueError):
    """A reference photo was refused; nothing was enrolled."""


@dataclass
class Enrolled:
    """What an enrolment did: references added, old ones retired to keep five, and the pupils
    whose references now lie within the blocking distance of this pupil's (never cleared as
    each other)."""

    added: int
    retired: int = 0
    lookalikes: list[tuple[Pupil, float]] = field(default_factory=list)
    taken_on: list[dt.date] = field(default_factory=list)  # each new reference's date


def enrol_pupil(session: Session, school_id: int, upn: str, photos: list[Path], by: str,
                taken: dt.date | None = None) -> Enrolled:
    """Enrol 1-5 reference photos for a pupil; all of them or none. `taken`: when the photos
    were taken (default: each photo's own EXIF date, else today)."""

    if not 1 <= len(photos) <= MAX_REFERENCE_PHOTOS:
        raise EnrolmentError(N_("give 1 to %(n)d reference photos", n=MAX_REFERENCE_PHOTOS))
    today = school_today()
    if taken is not None and taken > today:
        raise EnrolmentError(N_("the photos cannot have been taken after today (%(date)s)",
                                date=today.strftime("%d/%m/%Y")))
    pupil = services.find_pupil(session, school_id, upn)
    cipher = app_cipher()
    sealed = []
    for path in photos:
        data = path.read_bytes()
        try:
            vectors = reference_vectors(data)
        except (ReferenceRefused, ImageRefused) as refused:
            raise EnrolmentError(N_("%(file)s: %(reason)s", file=path.name,
                                    reason=message_of(refused))) from None
        sealed.append((seal_encoding(cipher, vectors.encoding),
                       seal_optional(cipher, vectors.embedding), cipher.encrypt(data),
                       taken or plausible_date(exif_date(data), today)))
    for sealed_encoding, sealed_embedding, sealed_photo, photo_date in sealed:
        services.add_reference_face(
            session, pupil, sealed_encoding=sealed_encoding, sealed_embedding=sealed_embedding,
            sealed_photo=sealed_photo, face_height_px=0, created_by=by, taken_on=photo_date,
            require_consent=current_app.config["REQUIRE_BIOMETRIC_CONSENT"],
        )
    retired = retire_oldest(session, pupil)
    audit.record(session, "faces_enrolled", school_id=school_id, actor=by, subject=pupil,
                 detail={"upn": pupil.upn, "photos": len(sealed), "retired": retired,
                         "taken_on": sorted({str(row[-1]) for row in sealed})})
    found = lookalikes_of(session, pupil, cipher)
    if found:
        audit.record(session, "lookalikes_found", school_id=school_id, actor=by, subject=pupil,
                     detail={"upn": pupil.upn, "lookalikes": [p.upn for p, _ in found]})
    # A newly enrolled pupil may be protected, or a lookalike of someone already cleared.
    register_changed(session, school_id, [pupil.id])
    return Enrolled(len(sealed), retired, found, [row[-1] for row in sealed])


def plausible_date(found: dt.date | None, today: dt.date) -> dt.date:
    """The photo's own date when a camera could have meant it, else today."""
    if found is None or found > today or (today - found).days > OLDEST_PLAUSIBLE_YEARS * 366:
        return today
    return found


def retire_oldest(session: Session, pupil: Pupil) -> int:
    """Keep the pupil's MAX_REFERENCES_PER_PUPIL newest references; delete the rest."""
    faces = session.scalars(select(ReferenceFace).where(
        ReferenceFace.pupil_id == pupil.id, ReferenceFace.sealed_at.is_(None))).all()
    newest_first = sorted(faces, key=lambda f: (f.taken_on or dt.date.min, f.id), reverse=True)
    if len(faces) > t.MAX_REFERENCES_PER_PUPIL:  # a face only a retiring one matched stays named
        name_blocked_faces(session, pupil.school_id, [pupil.id])
    for face in newest_first[t.MAX_REFERENCES_PER_PUPIL:]:
        session.delete(face)
    session.flush()
    return max(0, len(faces) - t.MAX_REFERENCES_PER_PUPIL)


def blocking_distance(gallery) -> float:
    """Lookalikes lie within the blocking distance of the distance the gallery matches by."""
    return MATCHINGS[gallery.embedding].loose


def lookalikes_of(session: Session, pupil: Pupil, cipher) -> list[tuple[Pupil, float]]:
    """The pupils whose references lie within the lookalike distance of this pupil's, nearest
    first."""
    gallery = load_gallery(session, pupil.school_id, cipher)
    pairs = [(b if a == pupil.id else a, d)
             for a, b, d in gallery.lookalike_pairs_of(pupil.id, blocking_distance(gallery))]
    return [(session.get(Pupil, other), d) for other, d in pairs]


@dataclass(frozen=True)
class Lookalike:
    first: Pupil
    second: Pupil
    distance: float


def lookalike_list(session: Session, school_id: int) -> list[Lookalike]:
    """Every pair of current pupils whose references lie within the lookalike distance, nearest
    first: neither is ever cleared automatically as the other."""
    gallery = load_gallery(session, school_id, app_cipher())
    return [Lookalike(session.get(Pupil, a), session.get(Pupil, b), d)
            for a, b, d in gallery.lookalike_pairs(blocking_distance(gallery))]


@dataclass(frozen=True)
class DueReference:
    pupil: Pupil
    newest: dt.date | None  # None: enrolled before references were dated
    count: int


def due_for_reenrolment(session: Session, school_id: int,
                        on: dt.date | None = None) -> list[DueReference]:
    """Current pupils whose newest reference was taken more than REENROL_AFTER_DAYS ago, oldest
    first: children change, and an old reference clears less (thresholds.py)."""
    on = on or school_today()
    rows = session.execute(
        select(ReferenceFace.pupil_id, ReferenceFace.taken_on)
        .join(Pupil, Pupil.id == ReferenceFace.pupil_id)
        .where(ReferenceFace.school_id == school_id, ReferenceFace.sealed_at.is_(None),
               Pupil.left_on.is_(None))
    ).all()
    dates: dict[int, list[dt.date | None]] = {}
    for pupil_id, taken in rows:
        dates.setdefault(pupil_id, []).append(taken)
    cutoff = on - dt.timedelta(days=t.REENROL_AFTER_DAYS)
    due = []
    for pupil_id, taken in dates.items():
        newest = max((d for d in taken if d is not None), default=None)
        if newest is None or newest < cutoff:
            due.append(DueReference(session.get(Pupil, pupil_id), newest, len(taken)))
    return sorted(due, key=lambda d: (d.newest or dt.date.min, d.pupil.last_name))


# A photo named by its pupil's UPN (a school photographer's or the MIS's export): the UPN, then
# optionally a separator and anything (A123456789012-2.jpg for a second photo).
UPN_NAMED = re.compile(r"([A-Za-z]\d{11}[0-9A-Za-z])(?:[-_ .(].*)?")
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".heic", ".heif", ".webp"}


@dataclass
class FolderPhotos:
    by_upn: dict[str, list[Path]] = field(default_factory=dict)
    unnamed: list[str] = field(default_factory=list)


def photos_by_upn(folder: Path) -> FolderPhotos:
    """The photos of a folder by the UPN that names them (a file UPN.jpg, or any photo in a
    folder named by the UPN), in name order; hidden files are left out."""
    found = FolderPhotos()
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue
        if path.suffix.lower() not in PHOTO_SUFFIXES:
            found.unnamed.append(str(relative))
            continue
        named = (UPN_NAMED.fullmatch(path.stem) or
                 (UPN_NAMED.fullmatch(relative.parts[0]) if len(relative.parts) > 1 else None))
        if named is None:
            found.unnamed.append(str(relative))
            continue
        found.by_upn.setdefault(named.group(1).upper(), []).append(path)
    return found


def awaiting_reference(session: Session, school_id: int) -> list[Pupil]:
    """Pupils on roll with written biometric consent and no reference photo yet, by year group
    and name: what is left to enrol (until then a face of theirs is never cleared)."""
    allowed = services.may_enrol_by_pupil(session, school_id)
    enrolled = set(session.scalars(select(ReferenceFace.pupil_id).where(
        ReferenceFace.school_id == school_id, ReferenceFace.sealed_at.is_(None))))
    pupils = session.scalars(select(Pupil).where(
        Pupil.school_id == school_id, Pupil.left_on.is_(None),
        Pupil.id.in_([pupil_id for pupil_id, ok in allowed.items() if ok])))
    order = {year: index for index, year in enumerate(YEAR_GROUPS)}
    return sorted((p for p in pupils if p.id not in enrolled),
                  key=lambda p: (order.get(p.year_group, len(order)), p.last_name, p.first_name))


def may_add_reference(session: Session, pupil: Pupil) -> bool:
    """Whether a confirmed face may become one more reference of the pupil: written biometric
    consent with no objection, and still at the school (the oldest reference retires to keep
    MAX_REFERENCES_PER_PUPIL)."""
    return pupil.left_on is None and services.biometric_decision(session, pupil).ok


def add_confirmed_reference(session: Session, pupil: Pupil, face: FaceTemplates,
                            face_jpeg: bytes, by: User, detail: dict) -> None:
    """A face a person confirmed as the pupil (named in a photo) kept as one more reference,
    dated by its photo, with biometric consent only; audited, and the school screened again."""
    if not may_add_reference(session, pupil):
        raise EnrolmentError(_("%(name)s cannot have another reference face: it needs written "
                               "biometric consent.", name=pupil.full_name))
    services.add_reference_face(
        session, pupil, sealed_encoding=face.encoding, sealed_embedding=face.embedding,
        sealed_photo=app_cipher().encrypt(face_jpeg), face_height_px=face.height_px,
        created_by=by.email, taken_on=face.taken_on,
        require_consent=current_app.config["REQUIRE_BIOMETRIC_CONSENT"],
    )
    retired = retire_oldest(session, pupil)
    audit.record(session, "face_added_as_reference", school_id=pupil.school_id, actor=by,
                 subject=pupil, detail={"upn": pupil.upn, "retired": retired, **detail})
    register_changed(session, pupil.school_id, [pupil.id])


@dataclass(frozen=True)
class FaceTemplates:
    """A screened face's sealed templates, its height and the day its photo was taken."""

    encoding: bytes
    embedding: bytes | None
    height_px: int
    taken_on: dt.date
