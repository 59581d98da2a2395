"""When the register changes, every photo that is not yet published is decided again.

A grant withdrawn or refused, a consent that lapsed, a pupil's objection, a no-publish entry, a
pupil leaving or a protected pupil newly enrolled: each can turn a face that cleared into one that
must be blocked, and not only on the faces that were cleared as that pupil (a lookalike of a
protected child cleared as someone else is the case that matters). So the rule runs again, in the
background, from the stored encodings of every unpublished photo of the school; every post on its
way out is held when the gate no longer lets it through, and every post that is (or may be) out is
taken down when a face in it is now blocked or within the blocking distance of a changed pupil.

Register changes mark the session (`register_changed`); worker/tasks.py queues the work once the
change is committed, so the worker sees it and a rolled-back change queues nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import and_, event, or_, select
from sqlalchemy.orm import Session

from consent.clock import school_today
from consent.models import ConsentRecord, utcnow
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.models import Photo, Post
from gatekeeper.publishing.service import HELD_CONSENT, hold_post, post_hold_reason
from gatekeeper.publishing.takedown import take_down
from gatekeeper.review.service import gate_now, settle_photo
from gatekeeper.screening.rule import MATCHINGS
from gatekeeper.screening.service import RegisterNow, stored_looks
from gatekeeper.states import (
    PHOTO_RELEASABLE,
    POST_LIVE,
    POST_MAY_BE_OUT,
    FaceStatus,
    PhotoState,
    PostState,
)

PENDING_KEY = "gatekeeper.register_changed"  # session.info: school id -> pupil ids changed
REQUESTED_BY = "register change"


@dataclass
class Rescreened:
    photos_changed: list[int] = field(default_factory=list)
    posts_held: list[int] = field(default_factory=list)
    posts_taken_down: list[int] = field(default_factory=list)


def register_changed(session: Session, school_id: int, pupil_ids: Iterable[int] = ()) -> None:
    """Mark a register change: once the session commits, the school is screened again."""
    session.info.setdefault(PENDING_KEY, {}).setdefault(school_id, set()).update(pupil_ids)


def take_pending(session: Session) -> dict[int, set[int]]:
    """The register changes this session committed (school id -> pupil ids), taken once."""
    return session.info.pop(PENDING_KEY, None) or {}


@event.listens_for(Session, "after_rollback")
def _forget_rescreens(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)


def rescreen_school(session: Session, school_id: int, changed: Iterable[int] = (),
                    register: RegisterNow | None = None) -> Rescreened:
    """Decide every unpublished photo of the school again and hold or take down what must not go
    out; the caller commits."""
    register = register or RegisterNow(session, school_id)
    changed, done = set(changed), Rescreened()
    photos = session.scalars(select(Photo).where(
        Photo.school_id == school_id, Photo.status.in_(PHOTO_RELEASABLE),
        Photo.purged_at.is_(None)))
    for photo in photos:
        if redecide_photo(session, register, photo):
            done.photos_changed.append(photo.id)
    posts = session.scalars(select(Post).where(
        Post.school_id == school_id, Post.state.in_(POST_LIVE)).order_by(Post.id))
    for post in posts:
        recheck_post(session, register, post, changed, done)
    return done


def may_be_out():
    """Live posts handed to a publisher at least once: they may be out there."""
    return and_(Post.state.in_(POST_LIVE),
                or_(Post.state.in_(POST_MAY_BE_OUT), Post.claimed_at.is_not(None)))


def take_down_blocked_posts(session: Session, school_id: int) -> list[int]:
    """Take down every post of the school that may be out and that the gate, with the register
    as it is now, stops (as a rescreen would); the caller commits. Returns the posts."""
    register, done = RegisterNow(session, school_id), Rescreened()
    posts = session.scalars(select(Post).where(Post.school_id == school_id, may_be_out())
                            .order_by(Post.id))
    for post in posts:
        recheck_post(session, register, post, set(), done)
    return done.posts_taken_down


def take_down_forbidden(session: Session) -> list[int]:
    """The recovery sweep: a register change whose rescreen could not be queued (the queue down
    at its commit) left posts up that must come down. Every school's posts that may be out are
    judged by the register as it is now and those it stops are taken down, each school committed
    (a withdrawn post is never found again). Returns the posts."""
    schools = list(session.scalars(select(Post.school_id).where(may_be_out()).distinct()))
    taken = []
    for school_id in schools:
        taken += take_down_blocked_posts(session, school_id)
        session.commit()  # the commit queues the deletions (worker/tasks.queue_takedowns)
    return taken


BLOCKED_NAMED = frozenset({FaceStatus.BLOCKED})  # what is named before references go
LEAVER_NAMED = frozenset({FaceStatus.BLOCKED, FaceStatus.CLEARED})  # ... and before one leaves


def name_blocked_faces(session: Session, school_id: int, pupil_ids: Iterable[int], *,
                       leavers: Iterable[int] = ()) -> int:
    """Before these pupils' reference faces go (leaving, a biometric "no", a deletion), every face
    the rule blocks as one of them, in a photo waiting for review or queued (its post held, and
    taken back to review later), is named as them: without the references the rule can no longer
    match the face, which would turn unknown or clear as a lookalike, and a protected child's
    photo could then be released. Named, the face stays blocked while they may not be published
    (only a blur or a rejection lets the photo go). For `leavers` (named with the rest), a face
    cleared as them is named too: a pupil who has left may not be published. One pass over the
    photos for all of them. Audited; returns how many faces were named. The caller removes the
    references and commits."""
    leaving = set(leavers)
    pupils = set(pupil_ids) | leaving
    if not pupils:
        return 0
    register, named = RegisterNow(session, school_id), 0
    photos = session.scalars(select(Photo).where(
        Photo.school_id == school_id, Photo.status.in_(PHOTO_RELEASABLE | {PhotoState.QUEUED}),
        Photo.purged_at.is_(None)).order_by(Photo.id))
    for photo in photos:
        found = gate_now(register, photo, photo.purpose)
        for face, now in zip(photo.faces, found.faces, strict=True):
            pupil = now.decision.pupil_id
            named_when = LEAVER_NAMED if pupil in leaving else BLOCKED_NAMED
            if (now.decision.status not in named_when or pupil not in pupils
                    or face.resolved_pupil_id == pupil):
                continue
            if face.resolution != "blur":  # a person's earlier word (another pupil, "not a
                # pupil") was said before the rule blocked the face: the block stands
                face.resolution, face.resolved_at, face.resolved_by_id = "pupil", utcnow(), None
            face.resolved_pupil_id = pupil  # a blur keeps who the face was, for its undo
            audit.record(session, "face_named_before_references_removed", school_id=school_id,
                         subject=face, detail={"photo_id": photo.id, "face": face.index + 1,
                                               "pupil_id": pupil, "by": REQUESTED_BY})
            named += 1
    session.flush()
    return named


def redecide_photo(session: Session, register: RegisterNow, photo: Photo) -> bool:
    """Store the gate's fresh decision on every face of the photo (the rule with people's
    decisions, as the review page shows it); True when its status moved, audited."""
    was = photo.status
    if not settle_photo(session, register, photo):
        return False
    audit.record(session, "photo_rescreened", school_id=photo.school_id, subject=photo,
                 detail={"was": was, "now": photo.status, "by": REQUESTED_BY})
    return True


def recheck_post(session: Session, register: RegisterNow, post: Post, changed: set[int],
                 done: Rescreened) -> None:
    """Hold a post not yet out that the gate would stop now; take down one that may be out when
    a face in it is blocked now or close to a changed pupil who may not be published."""

    found = gate_now(register, post.photo, post.account.purpose)
    gone = bool(set(post.pupil_ids) - found.publishable)
    near = near_changed(register, post.photo, changed - found.publishable)
    reason = HELD_CONSENT if near else post_hold_reason(found.holds, gone)
    if post.state in POST_MAY_BE_OUT or post.claimed_at is not None:
        if reason == HELD_CONSENT:  # something unknown that was out stays for a person to judge
            take_down(session, post, reason, requested_by=REQUESTED_BY)
            done.posts_taken_down.append(post.id)
    elif post.state != PostState.HELD and reason:
        if hold_post(session, post, reason):
            done.posts_held.append(post.id)
        elif post.state != PostState.WITHDRAWN:  # a worker took it meanwhile: judged as it is now
            recheck_post(session, register, post, changed, done)


def near_changed(register: RegisterNow, photo: Photo, pupils: set[int]) -> bool:
    """Is any unblurred face of the photo within the blocking distance of one of `pupils`?"""
    gallery = register.gallery
    if not pupils or not len(gallery):
        return False
    mask = np.isin(gallery.pupil_ids, np.fromiter(pupils, np.int64, len(pupils)))
    if not mask.any():
        return False
    looks = stored_looks(photo, register.cipher)
    gallery = gallery.for_faces([look for track in looks for look in track])  # one distance
    loose = MATCHINGS[gallery.embedding].loose
    for face, track in zip(photo.faces, looks, strict=True):
        for look in [] if face.blur else track:  # a clip's track: each of its looks
            if (gallery.distances(look)[mask] <= loose).any():
                return True
    return False


def rescreen_in_own_session(school_id: int, pupil_ids: Iterable[int],
                            on: dt.date | None = None) -> dict[str, list[int]]:
    """The task's work, in a session of its own: it may run straight after another session's
    commit (the queue's immediate mode), which must not be disturbed."""

    with Session(db.engine) as session:
        done = rescreen_school(session, school_id, pupil_ids, RegisterNow(session, school_id, on))
        session.commit()
    return {"photos": done.photos_changed, "held": done.posts_held,
            "taken_down": done.posts_taken_down}


def lapsed_yesterday(session: Session, on: dt.date) -> dict[int, list[int]]:
    """Per school, the pupils with a grant whose last day was the day before `on`."""
    rows = session.execute(select(ConsentRecord.school_id, ConsentRecord.pupil_id).where(
        ConsentRecord.status == "granted", ConsentRecord.expires_on == on - dt.timedelta(days=1)))
    lapsed: dict[int, list[int]] = {}
    for school_id, pupil_id in rows:
        lapsed.setdefault(school_id, []).append(pupil_id)
    return lapsed


def rescreen_lapsed(on: dt.date | None = None) -> int:
    """The daily task: every school with a grant that lapsed yesterday is screened again."""

    on = on or school_today()
    with Session(db.engine) as session:
        lapsed = lapsed_yesterday(session, on)
    for school_id, pupil_ids in lapsed.items():
        rescreen_in_own_session(school_id, pupil_ids, on)
    return len(lapsed)
