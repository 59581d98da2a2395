"""Naming the faces of one event in groups: at a sports day the same children are in hundreds of
photos, so the faces waiting for a person are grouped by likeness (review/groups.py) and a person
says once who a group is ("these are Grace Patel", "not pupils", "blur them all").

A group's answer goes to each of its faces through the same decision as one face
(service.resolve_face), so the rule still decides every face: a named pupil's consent applies, a
face the rule blocks can only be blurred, and a group holding a face that may be a protected pupil
cannot be named at all. Functions take a session; the caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.clock import school_date
from consent.models import Pupil
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.renderings import (
    PREVIEW_SIDE,
    THUMB_QUALITY,
    keep,
    render,
    rendering_name,
)
from gatekeeper.imaging.sanitise import crop_face
from gatekeeper.models import Face, Photo, User
from gatekeeper.review import gate
from gatekeeper.review.groups import group_by_likeness, suggested_pupil
from gatekeeper.review.service import (
    ReviewError,
    gate_now,
    resolve_face,
    waiting_photos,
)
from gatekeeper.screening.enrolment import (
    EnrolmentError,
    FaceTemplates,
    add_confirmed_reference,
)
from gatekeeper.screening.rule import face_vectors
from gatekeeper.screening.service import RegisterNow, stored_looks
from gatekeeper.states import PHOTO_OUT, FaceStatus
from gatekeeper.storage import RENDERINGS, Storage

FACE_CROP_SIDE = 160  # px: a face on the groups page, large enough to tell children apart
# What a person still has to decide about: the faces that hold a photo back.
WAITING = frozenset({gate.SHOWN_UNKNOWN, gate.SHOWN_BLOCKED})


@dataclass(frozen=True)
class Member:
    """A face of the event as the groups see it: waiting for a person, or already named."""

    face: Face
    outcome: str  # review/gate.py's SHOWN_ word
    encoding: np.ndarray | None
    pupil_id: int | None = None  # who it is, for a face cleared by the rule or named

    @property
    def waiting(self) -> bool:
        return self.outcome in WAITING


@dataclass(frozen=True)
class FaceGroup:
    number: int
    members: list[Member]  # the faces waiting for a person
    suggestion: int | None  # the pupil the named faces of the group agree on

    @property
    def blocked(self) -> bool:
        """Some face of the group may be a protected pupil: it can only be blurred."""
        return any(m.outcome == gate.SHOWN_BLOCKED for m in self.members)

    @property
    def photos(self) -> int:
        return len({m.face.photo_id for m in self.members})


def grouping_encodings(photo: Photo, register: RegisterNow) -> list[np.ndarray | None]:
    """Each face's dlib encoding, which GROUP_TOLERANCE was measured on (a clip's track: its
    best look, the first stored)."""
    return [None if looks == [] else np.asarray(face_vectors(looks[0]).encoding).reshape(-1)
            for looks in stored_looks(photo, register.cipher)]


def waiting_members(register: RegisterNow, photo: Photo) -> list[Member]:
    """Every face of a photo on the review queue, with what the gate shows on it now."""
    found = gate_now(register, photo, photo.purpose)
    members = []
    for face, now, encoding in zip(photo.faces, found.faces, grouping_encodings(photo, register),
                                   strict=True):
        outcome = gate.face_outcome(now, found.publishable)
        named = {gate.SHOWN_CLEARED: now.decision.pupil_id,
                 gate.SHOWN_NAMED: face.resolved_pupil_id}.get(outcome)
        members.append(Member(face, outcome, encoding, named))
    return members


def released_members(session: Session, register: RegisterNow, event_id: int) -> list[Member]:
    """The named faces of the event's photos already on their way out: they help to suggest."""
    photos = session.scalars(select(Photo).where(
        Photo.school_id == register.school_id, Photo.event_id == event_id,
        Photo.status.in_(PHOTO_OUT)))
    members = []
    for photo in photos:
        for face, encoding in zip(photo.faces, grouping_encodings(photo, register),
                                  strict=True):
            named = face.resolved_pupil_id if face.resolution == "pupil" else (
                face.pupil_id if face.status == FaceStatus.CLEARED else None)
            if named is not None and not face.blur:
                members.append(Member(face, gate.SHOWN_NAMED, encoding, named))
    return members


def event_groups(session: Session, register: RegisterNow, event_id: int) -> list[FaceGroup]:
    """The faces of the event still waiting for a person, grouped by likeness, largest group
    first; a face too small to compare is a group of its own."""
    members = [m for photo in waiting_photos(session, register.school_id, event_id)
               for m in waiting_members(register, photo)]
    members += released_members(session, register, event_id)
    comparable = sorted((m for m in members if m.encoding is not None),
                        key=lambda m: (m.face.top - m.face.bottom, m.face.id))
    found = []
    for indices in group_by_likeness([m.encoding for m in comparable]):
        group = [comparable[i] for i in indices]
        waiting = sorted((m for m in group if m.waiting), key=lambda m: m.face.id)
        if waiting:
            found.append((waiting, suggested_pupil([m.pupil_id for m in group if not m.waiting])))
    found += [([m], None) for m in members if m.encoding is None and m.waiting]
    found.sort(key=lambda g: -len(g[0]))
    return [FaceGroup(n, waiting, suggestion) for n, (waiting, suggestion) in
            enumerate(found, start=1)]


def name_group(session: Session, register: RegisterNow, event_id: int, face_ids: list[int],
               resolution: str, user: User, pupil: Pupil | None = None) -> int:
    """One person's word on the ticked faces of a group, given to each face; all or nothing.
    Returns how many faces were decided."""
    chosen = set(face_ids)
    if not chosen:
        raise ReviewError(_("Tick at least one face."))
    waiting = {m.face.id: (m, group) for group in event_groups(session, register, event_id)
               for m in group.members}
    if not chosen <= waiting.keys():
        raise ReviewError(_("Someone has decided about some of these faces meanwhile: look at "
                            "the groups again."))
    if resolution != "blur" and any(waiting[i][1].blocked for i in chosen):
        raise ReviewError(_("A face in this group may be a protected pupil: blur them all, or "
                            "decide about the others photo by photo."))
    photos = [waiting[i][0].face.photo_id for i in chosen]
    if resolution == "pupil" and len(set(photos)) < len(photos):
        raise ReviewError(_("Two of the ticked faces are in one photo, and a pupil is in a photo "
                            "once: untick the one who is someone else."))
    for face_id in sorted(chosen):
        resolve_face(session, waiting[face_id][0].face, resolution, user, pupil, register,
                     group=min(chosen))
    return len(chosen)


def keep_as_reference(session: Session, storage: Storage, face: Face, user: User) -> Pupil:
    """A face a person named as a pupil becomes one more reference of that pupil (biometric
    consent only): later photos of them are matched against it too."""
    if face.resolution != "pupil" or face.blur or face.encoding_encrypted is None:
        raise ReviewError(_("Only a face a person named as a pupil can become a reference."))
    pupil = session.get(Pupil, face.resolved_pupil_id)
    try:
        crop = crop_face(storage.read("originals", face.photo.uuid), tuple(face.box),
                         max_side=FACE_CROP_SIDE * 2)
        taken = face.photo.event.date if face.photo.event else school_date(face.photo.created_at)
        templates = FaceTemplates(face.encoding_encrypted, face.embedding_encrypted,
                                  face.bottom - face.top, taken)
        add_confirmed_reference(session, pupil, templates, crop, user,
                                {"photo_id": face.photo_id, "face": face.index + 1})
    except (EnrolmentError, ImageRefused, OSError) as refused:
        raise ReviewError(str(refused)) from None
    return pupil


def face_picture(storage: Storage, face: Face) -> bytes:
    """One face cut from the photo's cached preview (not decoded from the original again), and
    kept beside it: a groups page shows hundreds, and shows them again after every answer."""
    photo = face.photo
    name = f"{rendering_name(photo, PREVIEW_SIDE, THUMB_QUALITY, [face.box])}-face"
    if storage.exists(RENDERINGS, name):
        return storage.read(RENDERINGS, name)
    preview = render(storage, photo, PREVIEW_SIDE, THUMB_QUALITY, ())
    data = crop_face(preview, tuple(face.box), box_space=(photo.width, photo.height),
                     max_side=FACE_CROP_SIDE, quality=THUMB_QUALITY)
    keep(storage, name, data, photo)
    return data

