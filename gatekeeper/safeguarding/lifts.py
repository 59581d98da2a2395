"""Lifting a block: the DSL's word that a blocked face is not one protected pupil.

A face is blocked when a protected pupil is a plausible match. At school size a plausible match is
sometimes a stranger, and only the DSL, who alone knows the protected children, may say so: a
media lead asks, the DSL compares the face with that pupil's reference photos and either lifts
the block for that pupil on that face or keeps it. The face is then decided again without that
pupil (another protected pupil may still block it). Both people are in the audit trail.
"""

from __future__ import annotations

import numpy as np
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import Pupil, ReferenceFace, utcnow
from gatekeeper.compliance import audit
from gatekeeper.models import BlockLift, Face, Photo, User
from gatekeeper.review.rescreen import redecide_photo, register_changed
from gatekeeper.review.service import gate_now
from gatekeeper.screening.service import RegisterNow, stored_looks
from gatekeeper.states import PHOTO_RELEASABLE, FaceStatus, LiftState, move


class LiftError(ValueError):
    """A lift that cannot be asked for or given; the message is fit to show."""


def blocking_pupil(register: RegisterNow, face: Face) -> int | None:
    """The protected pupil the rule blocks this face for now (None when it is not blocked)."""
    found = gate_now(register, face.photo, face.photo.purpose)
    decision = found.faces[face.index].decision
    return decision.pupil_id if decision.status == FaceStatus.BLOCKED else None


def nearest_look(register: RegisterNow, face: Face, pupil_id: int | None) -> float | None:
    """For a clip's track, the time of its look nearest the pupil: the one the block stands on,
    which the DSL must see before saying "this is not them" (a track may hold two people, and its
    largest sighting may be the other one). None for a photo, or when nothing is to be found."""
    photo = face.photo
    times = face.track.get("looks", []) if photo.is_video else []
    if not times or pupil_id is None:
        return None
    looks = stored_looks(photo, register.cipher)[photo.faces.index(face)]
    gallery = register.gallery.for_faces(looks)
    mine = gallery.pupil_ids == pupil_id
    if len(looks) != len(times) or not mine.any():
        return None
    return float(times[int(np.argmin([gallery.distances(look)[mine].min() for look in looks]))])


def open_request(session: Session, face: Face, pupil_id: int) -> BlockLift | None:
    return session.scalar(select(BlockLift).where(
        BlockLift.face_id == face.id, BlockLift.pupil_id == pupil_id,
        BlockLift.state == LiftState.REQUESTED))


def ask_dsl(session: Session, face: Face, user: User) -> BlockLift:
    """A media lead asks the DSL whether the blocked face is really the pupil it is blocked for
    (the media lead is not told who that is)."""
    if face.photo.status not in PHOTO_RELEASABLE:
        raise LiftError(_("This photo is no longer waiting for review."))
    pupil_id = blocking_pupil(RegisterNow(session, face.school_id), face)
    if pupil_id is None:
        raise LiftError(_("This face is not blocked by a protected pupil now."))
    if open_request(session, face, pupil_id) is not None:
        raise LiftError(_("The DSL has already been asked about this face."))
    lift = BlockLift(school_id=face.school_id, face_id=face.id, pupil_id=pupil_id,
                     state=LiftState.REQUESTED, requested_by_id=user.id, requested_at=utcnow())
    session.add(lift)
    audit.record(session, "block_lift_requested", school_id=face.school_id, actor=user,
                 subject=face, detail={"photo_id": face.photo_id, "face": face.index + 1})
    return lift


def lift_block(session: Session, face: Face, pupil: Pupil, dsl: User) -> BlockLift:
    """The DSL says the face is not `pupil`: the face is decided again without them."""
    if pupil.school_id != face.school_id:
        raise LiftError(_("Choose a pupil of this school."))
    if face.photo.status not in PHOTO_RELEASABLE:
        raise LiftError(_("This photo is no longer waiting for review."))
    register = RegisterNow(session, face.school_id)
    if blocking_pupil(register, face) != pupil.id:
        raise LiftError(_("%(name)s does not block this face now.", name=pupil.full_name))
    lift = open_request(session, face, pupil.id)
    if lift is None:
        lift = BlockLift(school_id=face.school_id, face_id=face.id, pupil_id=pupil.id,
                         state=LiftState.LIFTED)
        face.lifts.append(lift)
    else:
        move(lift, LiftState.LIFTED)
    lift.decided_by_id, lift.decided_at = dsl.id, utcnow()
    audit.record(session, "block_lifted", school_id=face.school_id, actor=dsl, subject=face,
                 detail={"photo_id": face.photo_id, "face": face.index + 1, "pupil_id": pupil.id,
                         "asked_by": lift.requested_by.email if lift.requested_by else None})
    session.flush()
    session.expire(face, ["lifts"])
    redecide_photo(session, RegisterNow(session, face.school_id), face.photo)
    return lift


def decide(session: Session, lift: BlockLift, dsl: User, state: LiftState, event: str) -> None:
    """Move the request on as the DSL decided, and audit it with the face and the pupil."""
    move(lift, state)
    lift.decided_by_id, lift.decided_at = dsl.id, utcnow()
    audit.record(session, event, school_id=lift.school_id, actor=dsl, subject=lift.face,
                 detail={"photo_id": lift.face.photo_id, "face": lift.face.index + 1,
                         "pupil_id": lift.pupil_id})


def keep_block(session: Session, lift: BlockLift, dsl: User) -> None:
    """The DSL answers the media lead: the face may be that pupil, so it stays blocked."""
    decide(session, lift, dsl, LiftState.DECLINED, "block_lift_declined")


def revoke_lift(session: Session, lift: BlockLift, dsl: User) -> None:
    """The DSL takes a lift back: the pupil blocks the face again wherever the photo is."""
    decide(session, lift, dsl, LiftState.REVOKED, "block_lift_revoked")
    # Held, pulled or taken down like any register change (the photo may be queued by now).
    register_changed(session, lift.school_id, [lift.pupil_id])


def requests(session: Session, school_id: int) -> list[BlockLift]:
    """Questions waiting for the DSL that an answer still decides, oldest first: about a photo
    still waiting for review, whose face the pupil asked about blocks now. One released or
    rejected meanwhile, or a pupil who no longer blocks the face, needs no answer (the DSL would
    otherwise have to say "it may be them" to clear it away); the question is back if the photo
    returns to review or the pupil blocks the face again."""
    asked = session.scalars(
        select(BlockLift).join(Face, Face.id == BlockLift.face_id)
        .join(Photo, Photo.id == Face.photo_id)
        .where(BlockLift.school_id == school_id, BlockLift.state == LiftState.REQUESTED,
               Photo.status.in_(PHOTO_RELEASABLE))
        .order_by(BlockLift.id)).all()
    register = RegisterNow(session, school_id)
    return [lift for lift in asked if blocking_pupil(register, lift.face) == lift.pupil_id]


def lifts_in_force(session: Session, school_id: int, limit: int = 100) -> list[BlockLift]:
    """Blocks the DSL has lifted and not taken back, newest first."""
    return list(session.scalars(select(BlockLift).where(
        BlockLift.school_id == school_id, BlockLift.state == LiftState.LIFTED)
        .order_by(BlockLift.id.desc()).limit(limit)))


def reference_photo_ids(session: Session, pupil: Pupil) -> list[int]:
    """The pupil's reference faces that kept their photo, newest first."""
    return list(session.scalars(select(ReferenceFace.id).where(
        ReferenceFace.pupil_id == pupil.id, ReferenceFace.sealed_at.is_(None),
        ReferenceFace.photo_encrypted.is_not(None)).order_by(ReferenceFace.id.desc())))
