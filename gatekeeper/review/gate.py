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
from gatekeeper.states import FaceStatus, PhotoState

# Why a photo may not go to an account now (one code per hold; the service words them).
HOLD_BLOCKED = "blocked"  # the rule, run now, finds a protected pupil within the loose tolerance
HOLD_UNKNOWN = "unknown"  # nobody is sure who it is, and no person has said
HOLD_NAMED_NOT_PUBLISHABLE = "named_not_publishable"  # a person named an unpublishable pupil
HOLD_NO_FACES = "no_faces"  # no face was found and no person has confirmed the photo
HOLD_SHOWN_TWICE = "shown_twice"  # one pupil on two unblurred faces: one of them is someone else
HOLDS_THAT_BLOCK = frozenset({HOLD_BLOCKED, HOLD_NAMED_NOT_PUBLISHABLE})

# What a face shows a person now: the rule's fresh decision together with people's word on it.
SHOWN_BLURRED = "blurred"  # will be blurred: holds nothing, whoever it is
SHOWN_BLOCKED = "blocked"  # a protected pupil by the rule, or named as a pupil who may not be shown
SHOWN_NAMED = "named"  # a person said which pupil, and that pupil may be published
SHOWN_NOT_PUPIL = "not_pupil"  # a person said it is nobody of the school's
SHOWN_CLEARED = "cleared"  # the rule cleared it as a publishable pupil
SHOWN_UNKNOWN = "unknown"  # waiting for a person


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
    found += shown_twice(faces)
    if no_faces and not faces and not no_faces_confirmed:
        found.append(Hold(HOLD_NO_FACES))
    return found


def shown_as(face: FaceNow) -> int | None:
    """The pupil an unblurred face shows: a person's word, else the rule's clearing."""
    if face.blur:
        return None
    if face.resolution == "pupil":
        return face.resolved_pupil_id
    if face.resolution is None and face.decision.status == FaceStatus.CLEARED:
        return face.decision.pupil_id
    return None


def shown_twice(faces: Sequence[FaceNow]) -> list[Hold]:
    """A hold on every face after the first that shows a pupil already shown on another face of
    the photo: one pupil is in a photo once, so one of the two is someone else (a twin, a sibling
    with no reference photo). The rule never clears a pupil twice; people's naming can."""
    seen: set[int] = set()
    found = []
    for face in faces:
        pupil = shown_as(face)
        if pupil is not None and pupil in seen:
            found.append(Hold(HOLD_SHOWN_TWICE, face.index))
        elif pupil is not None:
            seen.add(pupil)
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
    """The status a face shows now: blocked when the rule or a named pupil says so (blurred or
    not: the blur hides the face, it does not change who it is)."""
    if named_not_publishable(face, publishable):
        return FaceStatus.BLOCKED
    return face.decision.status


def named_not_publishable(face: FaceNow, publishable: Collection[int]) -> bool:
    """A person said the face is a pupil who may not be published (before any blur)."""
    return (face.resolution in ("pupil", "blur") and face.resolved_pupil_id is not None
            and face.resolved_pupil_id not in publishable)


def face_outcome(face: FaceNow, publishable: Collection[int]) -> str:
    """What the face shows a person now (one of the SHOWN_ words)."""
    if face.blur:
        return SHOWN_BLURRED
    hold = face_hold(face, publishable)
    if hold is not None and hold.code in HOLDS_THAT_BLOCK:
        return SHOWN_BLOCKED
    if face.resolution == "pupil":
        return SHOWN_NAMED
    if face.resolution == "not_pupil":
        return SHOWN_NOT_PUPIL
    if face.decision.status == FaceStatus.CLEARED:
        return SHOWN_CLEARED
    return SHOWN_UNKNOWN


def verdict(found: Sequence[Hold], *, no_faces: bool) -> PhotoState:
    """The photo's status from what holds it now: blocked before anything else, a photo with no
    face found stays "no faces found" (a person's look is recorded beside it), then whether
    anything still waits for a person."""
    codes = {h.code for h in found}
    if codes & HOLDS_THAT_BLOCK:
        return PhotoState.BLOCKED
    if no_faces:
        return PhotoState.NO_FACES
    return PhotoState.NEEDS_REVIEW if codes else PhotoState.CLEARED
