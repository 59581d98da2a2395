"""What stands between a photo and one account, now: the rule run again plus people's decisions.

Pure: plain data in, holds out. The screening rule is run again from the faces' stored encodings
for the account's purpose and the register as it is at that moment (at release, and again just
before a publisher is called); this module then combines that fresh verdict with what people
decided on each face. A person can settle an unknown face (who it is, or not a pupil, or blur);
nobody but the register can settle a blocked one, except by blurring it.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from gatekeeper.screening.rule import FaceDecision
from gatekeeper.states import FaceStatus

# Why a photo may not go to an account now (one code per hold; the service words them).
HOLD_BLOCKED = "blocked"  # the rule, run now, finds a protected pupil within the loose tolerance
HOLD_UNKNOWN = "unknown"  # nobody is sure who it is, and no person has said
HOLD_NAMED_NOT_PUBLISHABLE = "named_not_publishable"  # a person named an unpublishable pupil
HOLD_NO_FACES = "no_faces"  # no face was found and no person has confirmed the photo


@dataclass(frozen=True)
class FaceNow:
    """One face of the photo: the rule's fresh decision and what people decided about it."""

    index: int
    decision: FaceDecision
    blur: bool = False
    resolution: str | None = None  # pupil | not_pupil | blur
    resolved_pupil_id: int | None = None


@dataclass(frozen=True)
class Hold:
    code: str
    face_index: int | None = None
    upn: str | None = None


def face_hold(face: FaceNow, publishable: Collection[int]) -> Hold | None:
    """Why this face holds the photo back, or None when it is settled."""
    if face.blur:
        return None
    if face.decision.status == FaceStatus.BLOCKED:
        return Hold(HOLD_BLOCKED, face.index, face.decision.upn)
    if face.resolution == "pupil":
        if face.resolved_pupil_id in publishable:
            return None
        return Hold(HOLD_NAMED_NOT_PUBLISHABLE, face.index)
    if face.decision.status == FaceStatus.CLEARED or face.resolution == "not_pupil":
        return None
    return Hold(HOLD_UNKNOWN, face.index)


def holds(faces: Sequence[FaceNow], publishable: Collection[int], *, no_faces: bool,
          no_faces_confirmed: bool) -> list[Hold]:
    """Every reason the photo may not be released or posted now; empty when it may."""
    found = [h for h in (face_hold(f, publishable) for f in faces) if h is not None]
    if no_faces and not faces and not no_faces_confirmed:
        found.append(Hold(HOLD_NO_FACES))
    return found


def pupils_shown(faces: Sequence[FaceNow]) -> list[int]:
    """Every pupil the photo shows unblurred, by the rule or by a person's word."""
    shown = set()
    for face in faces:
        if face.blur:
            continue
        if face.decision.status == FaceStatus.CLEARED and face.decision.pupil_id is not None:
            shown.add(face.decision.pupil_id)
        if face.resolution == "pupil" and face.resolved_pupil_id is not None:
            shown.add(face.resolved_pupil_id)
    return sorted(shown)


def shown_status(face: FaceNow, publishable: Collection[int]) -> FaceStatus:
    """The status a face shows now: blocked when the rule or a named pupil says so."""
    hold = face_hold(face, publishable)
    if hold is not None and hold.code in (HOLD_BLOCKED, HOLD_NAMED_NOT_PUBLISHABLE):
        return FaceStatus.BLOCKED
    return face.decision.status
