"""Every life cycle in one place: the states of photos, posts and takedowns, the groups the rest of
the code asks about, and the moves between states that are allowed.

The columns stay plain strings: a StrEnum member is equal to its value, so rows read back from the
database compare equal to the members, and members are written as their values. Pure: this module
imports nothing from the application.

A row changes state through `move(row, new)`, which raises InvalidTransition when the table below
does not allow the move. A bulk SQL update that moves rows checks its moves with
`check_transition(old, new)` (at import time, or before it runs).
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class PhotoState(StrEnum):
    """Photo.status (DESIGN.md): uploaded → screening → {blocked | needs_review | cleared |
    no_faces} → queued → published, with rejected, failed (retried) and withdrawn."""

    UPLOADED = "uploaded"
    SCREENING = "screening"
    FAILED = "failed"
    BLOCKED = "blocked"
    NEEDS_REVIEW = "needs_review"
    CLEARED = "cleared"
    NO_FACES = "no_faces"
    QUEUED = "queued"
    PUBLISHED = "published"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class MediaKind(StrEnum):
    """Photo.kind: a still photo or a video clip. Not a life cycle: a clip rides the photo's
    states, gate, posting queue and takedown; each of its face tracks is one Face row."""

    PHOTO = "photo"
    VIDEO = "video"


class FaceStatus(StrEnum):
    """Face.status: the rule's decision on one face (or a person's naming of it). Not a life cycle:
    it is decided afresh whenever the register changes, so it has no table of moves."""

    CLEARED = "cleared"
    BLOCKED = "blocked"
    UNKNOWN = "unknown"


class PostState(StrEnum):
    """Post.state: queued → publishing → published, with failed (retried), held and withdrawn."""

    QUEUED = "queued"
    PUBLISHING = "publishing"
    PUBLISHED = "published"
    FAILED = "failed"
    HELD = "held"
    WITHDRAWN = "withdrawn"


class TakedownState(StrEnum):
    """Takedown.state: pending (for the adapter) → done, or manual (for a person) → done."""

    PENDING = "pending"
    MANUAL = "manual"
    DONE = "done"


class LiftState(StrEnum):
    """BlockLift.state: a media lead asks the DSL whether a blocked face is really the protected
    pupil (requested); the DSL says it is not (lifted) or may be (declined); a lift can be taken
    back (revoked). Only a lifted row takes the pupil out of that face's decision."""

    REQUESTED = "requested"
    LIFTED = "lifted"
    DECLINED = "declined"
    REVOKED = "revoked"


P, F, T, L = PhotoState, PostState, TakedownState, LiftState

# --- Groups -----------------------------------------------------------------------------------

# A worker may claim these for screening ("screening" belongs to the worker that claimed it).
PHOTO_SCREENABLE = frozenset({P.UPLOADED, P.FAILED})
# Screening was started and may have lost its worker or its queue message.
PHOTO_STALLABLE = frozenset({P.UPLOADED, P.SCREENING, P.FAILED})
# Screened and waiting for a person: may be reviewed, released or rejected, and is screened again.
PHOTO_RELEASABLE = frozenset({P.BLOCKED, P.NEEDS_REVIEW, P.CLEARED, P.NO_FACES})
# Waiting for a person and not blocked: the head's "waiting" figure.
PHOTO_WAITING = PHOTO_RELEASABLE - {P.BLOCKED}
# On its way out or out: a school record, whose original is kept.
PHOTO_OUT = frozenset({P.QUEUED, P.PUBLISHED})
# Released at some time: no longer the uploader's to delete.
PHOTO_RELEASED = PHOTO_OUT | {P.WITHDRAWN}
# The end of the life cycle: nothing moves a photo out of these.
PHOTO_ENDED = frozenset({P.REJECTED, P.WITHDRAWN})
# Never released (or withdrawn): the original is deleted after the retention period.
PHOTO_UNRELEASED = frozenset(PhotoState) - PHOTO_OUT - {P.REJECTED}

# On its way out or out: at most one per photo and account (a tuple: models.py spells it in SQL).
POST_LIVE = (F.QUEUED, F.PUBLISHING, F.FAILED, F.HELD, F.PUBLISHED)
# Never handed to a publisher as far as the state says (a failed post never claimed was never sent).
POST_NOT_YET_OUT = frozenset({F.QUEUED, F.FAILED, F.HELD})
# Handed to a publisher: it may be out there.
POST_MAY_BE_OUT = frozenset({F.PUBLISHING, F.PUBLISHED})
# Nothing more for the publisher to do: out, pulled, or stopped for a person.
POST_SETTLED = frozenset({F.PUBLISHED, F.WITHDRAWN, F.HELD})
# Shown as upcoming on the posting queue.
POST_UPCOMING = frozenset({F.QUEUED, F.PUBLISHING})

# --- Allowed moves ----------------------------------------------------------------------------

TRANSITIONS: dict[type[StrEnum], dict[StrEnum, frozenset[StrEnum]]] = {
    PhotoState: {
        # claimed by a worker (screening/service.py); purged after the retention period
        P.UPLOADED: frozenset({P.SCREENING, P.REJECTED}),
        # the verdict, an unreadable file refused, a crash or a stalled claim, or purged meanwhile
        P.SCREENING: PHOTO_RELEASABLE | {P.FAILED, P.REJECTED},
        # claimed again; or purged
        P.FAILED: frozenset({P.SCREENING, P.REJECTED}),
        # screened again (review/rescreen.py) or a face named as an unpublishable pupil; released;
        # rejected by a person or purged
        **{s: (PHOTO_RELEASABLE - {s}) | {P.QUEUED, P.REJECTED} for s in PHOTO_RELEASABLE},
        # its post published, or withdrawn; or back to a person, its post stopped before any
        # publisher saw it (publishing/service.py back_to_review; the gate then says the rest)
        P.QUEUED: frozenset({P.PUBLISHED, P.WITHDRAWN, P.NEEDS_REVIEW}),
        # its post taken down
        P.PUBLISHED: frozenset({P.WITHDRAWN}),
        P.REJECTED: frozenset(),
        P.WITHDRAWN: frozenset(),
    },
    PostState: {
        # claimed by a worker; held by the gate before posting; withdrawn
        F.QUEUED: frozenset({F.PUBLISHING, F.HELD, F.WITHDRAWN}),
        # the publisher's outcome; a stale claim taken over by another worker (publishing again);
        # held by the gate when a stale claim is looked at again; withdrawn while out
        F.PUBLISHING: frozenset({F.PUBLISHED, F.FAILED, F.PUBLISHING, F.HELD, F.WITHDRAWN}),
        # tried again after the backoff; held; withdrawn
        F.FAILED: frozenset({F.PUBLISHING, F.HELD, F.WITHDRAWN}),
        # a held post waits for a person, who may only take it down
        F.HELD: frozenset({F.WITHDRAWN}),
        # taken down
        F.PUBLISHED: frozenset({F.WITHDRAWN}),
        F.WITHDRAWN: frozenset(),
    },
    TakedownState: {
        # deleted by the adapter; handed to a person; reopened before it was carried out
        T.PENDING: frozenset({T.DONE, T.MANUAL, T.PENDING}),
        # a person confirms; reopened (the post was published again after the takedown)
        T.MANUAL: frozenset({T.DONE, T.PENDING}),
        # reopened (a worker finished publishing a post that was withdrawn meanwhile)
        T.DONE: frozenset({T.PENDING}),
    },
    LiftState: {
        # the DSL answers the media lead's question; or it is closed, its face split in two
        L.REQUESTED: frozenset({L.LIFTED, L.DECLINED, L.REVOKED}),
        # the DSL takes the lift back: the pupil blocks the face again
        L.LIFTED: frozenset({L.REVOKED}),
        # asked again later, with a new row
        L.DECLINED: frozenset(),
        L.REVOKED: frozenset(),
    },
}
# The column each machine lives in.
FIELDS = {PhotoState: "status", PostState: "state", TakedownState: "state", LiftState: "state"}
NAMES = {PhotoState: "photo", PostState: "post", TakedownState: "takedown", LiftState: "block lift"}


class InvalidTransition(ValueError):
    """A move the life cycle does not allow."""


def check_transition(old: str | Iterable[str] | None, new: StrEnum) -> None:
    """Raise InvalidTransition unless `new`'s machine allows old → new, for `old` one state or
    every state of a collection (the WHERE of a bulk update)."""
    machine = type(new)
    olds = [old] if old is None or isinstance(old, str) else list(old)
    for value in olds:
        try:
            state = machine(value)
        except ValueError:
            raise InvalidTransition(
                f"{NAMES[machine]}: {value!r} is not a state, cannot move to {new}") from None
        if new not in TRANSITIONS[machine][state]:
            raise InvalidTransition(f"{NAMES[machine]} cannot move from {state} to {new}")


def move(row, new: StrEnum) -> None:
    """Set the row's state to `new` (Photo.status, Post.state or Takedown.state, by the type of
    `new`), or raise InvalidTransition naming both states when the move is not allowed."""
    field = FIELDS[type(new)]
    check_transition(getattr(row, field), new)
    setattr(row, field, new)
