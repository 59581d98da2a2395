"""Release and publish: the queue between a cleared photo and an official account.

Exactly once: a worker claims a post with one conditional UPDATE (queued → publishing) and
commits before it calls the publisher; it writes the outcome after. A worker killed between the
two leaves the post in "publishing"; once the claim is stale another worker hands it to the
publisher again with the same idempotency key, and the destination answers with the post it
already made (webhook receivers must honour the key; WordPress finds it by slug; the outbox
rewrites the same two files).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from flask_babel import gettext as _
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from consent.clock import school_date
from consent.models import Pupil, School, utcnow
from consent.wording import from_record, to_record
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.imaging.mp4 import verify_clean as verify_clean_clip
from gatekeeper.imaging.renderings import render, render_clip
from gatekeeper.imaging.sanitise import verify_clean
from gatekeeper.models import OfficialAccount, Photo, Post, User, move_from_read
from gatekeeper.publishing.accounts import account_publisher, may_release
from gatekeeper.publishing.adapters import VIDEO_TYPE, PublishError, Release
from gatekeeper.publishing.captions import caption_refusal, check_caption
from gatekeeper.publishing.takedown import reopen_takedown, take_down
from gatekeeper.review import gate
from gatekeeper.review.service import (
    blur_boxes,
    blur_tracks,
    gate_now,
    release_check,
    settle_photo,
)
from gatekeeper.screening.clips import SAMPLE_EVERY
from gatekeeper.screening.service import RegisterNow
from gatekeeper.states import (
    PHOTO_RELEASABLE,
    POST_LIVE,
    POST_SETTLED,
    PhotoState,
    PostState,
    check_transition,
    move,
)
from gatekeeper.storage import app_storage
from gatekeeper.web.wording import say

log = logging.getLogger(__name__)

PUBLISH_MAX_ATTEMPTS = 5
BACKOFF_BASE = dt.timedelta(minutes=1)  # 1, 2, 4, 8 minutes between attempts
BACKOFF_MAX = dt.timedelta(hours=1)
STALE_CLAIM = dt.timedelta(minutes=10)  # far longer than one publish; then the worker is gone
DOUBLE_TAP = dt.timedelta(minutes=1)  # a refused release this soon after one's own is a second tap
# The form gives minutes: the minute it is now, sent a minute later, is no mistyped date.
POST_AT_GRACE = dt.timedelta(minutes=2)
HELD_CONSENT = "a pupil in the photo is no longer publishable"
HELD_UNKNOWN = "a face in the photo is no longer identified: review the photo again"
HELD_NO_FACES = "no faces were found and nobody has confirmed the photo"
REASON_CHARS = 500  # Post.last_error: a hold's reason as a record, or its English cut to this
BACK_TO_REVIEW = "taken back to review before it was posted"
NEVER_SENT = (PostState.QUEUED, PostState.HELD)  # with no claim: no publisher has seen the post
# The bulk updates below: take_for_release, claim (a stale claim is taken over), finish.
check_transition(PHOTO_RELEASABLE, PhotoState.QUEUED)
check_transition((PostState.QUEUED, PostState.FAILED, PostState.PUBLISHING), PostState.PUBLISHING)
check_transition(PostState.PUBLISHING, PostState.PUBLISHED)


class ReleaseError(ValueError):
    """The release was refused; the message is fit to show the media lead."""


class ScheduleError(ReleaseError):
    """The "Post at" time was refused; the message belongs beside that field."""


def check_post_at(scheduled_at: dt.datetime | None, now: dt.datetime) -> None:
    """Refuse a "Post at" time (naive UTC) that has passed: the post would go out at once."""
    if scheduled_at is not None and scheduled_at < now - POST_AT_GRACE:
        raise ScheduleError(_("The time to post at has passed: give a time still to come, or "
                              "leave it empty to post now."))


def register_names(session: Session, school_id: int) -> list[tuple[str, str]]:
    rows = session.execute(
        select(Pupil.first_name, Pupil.last_name).where(Pupil.school_id == school_id)
    )
    return [(first, last) for first, last in rows]


def release_post(
    session: Session,
    photo: Photo,
    account: OfficialAccount,
    caption: str,
    user: User,
    scheduled_at: dt.datetime | None = None,
    register: RegisterNow | None = None,
) -> Post:
    """Queue a reviewed photo for an official account; refuses with a reason, writing nothing.

    The screening rule runs again here, from the stored encodings, for the account's purpose and
    the register as it is now; the photo is taken with one conditional update, so two releases at
    the same moment make one post.
    """

    check_post_at(scheduled_at, utcnow())
    if account.school_id != photo.school_id:
        raise ReleaseError(_("Choose an official account of this school."))
    if account.approved_at is None or account.paused:
        raise ReleaseError(_("This account is not approved for posting, or is paused."))
    if not may_release(session, account, user):
        raise ReleaseError(_("The head has not authorised you to release to %(account)s.",
                             account=account.label))
    register = register or RegisterNow(session, photo.school_id)
    blockers, found = release_check(register, photo, account.purpose)
    if blockers:
        raise ReleaseError(" ".join(blockers))
    check = check_caption(caption, register_names(session, photo.school_id))
    if not check.ok:
        raise ReleaseError(_("Caption refused: %(why)s.", why="; ".join(map(say, check.errors))))
    shown = found.pupils
    take_for_release(session, photo)
    post = Post(
        school_id=photo.school_id,
        photo_id=photo.id,
        account_id=account.id,
        caption=caption.strip(),
        pupil_ids_json=json.dumps(shown),
        scheduled_at=scheduled_at or utcnow(),
        state=PostState.QUEUED,
        released_by_id=user.id,
    )
    session.add(post)
    session.flush()
    audit.record(session, "photo_released", school_id=photo.school_id, actor=user, subject=post,
                 detail={"photo_id": photo.id, "account": account.label, "pupils": shown,
                         "purpose": account.purpose, "warnings": list(check.warnings)})
    return post


def release_photos(
    session: Session, photos: list[Photo], account: OfficialAccount, caption: str, user: User,
    scheduled_at: dt.datetime | None = None,
) -> list[Post]:
    """Release several photos with one caption: all or none (the caller commits or rolls back).
    A photo in which no face was found is never part of a bulk release."""
    if not photos:
        raise ReleaseError(_("Choose at least one photo."))
    if len(photos) > 1 and any(p.no_faces for p in photos):
        raise ReleaseError(_("A photo in which no faces were found is released on its own, "
                             "after a person has looked at it."))
    register = RegisterNow(session, photos[0].school_id)
    posts = []
    for photo in photos:
        try:
            posts.append(release_post(session, photo, account, caption, user, scheduled_at,
                                      register))
        except ScheduleError:
            raise  # the time is the form's, not this photo's
        except ReleaseError as error:
            raise ReleaseError(_("Photo %(n)d: %(why)s", n=photo.id, why=str(error))) from None
    return posts


def released_just_now_by(session: Session, photos: list[Photo], user: User,
                         account_id: int | None, now: dt.datetime | None = None) -> bool:
    """Whether this person's own release put every photo in the queue for this account within
    DOUBLE_TAP: a refused second tap on Release is theirs, not someone else's (a release to
    another account is no second tap: it went nowhere)."""
    since = (now or utcnow()) - DOUBLE_TAP
    for photo in photos:
        post = session.scalar(select(Post).where(Post.photo_id == photo.id,
                                                 Post.state.in_(POST_LIVE))
                              .order_by(Post.id.desc()).limit(1))
        if (post is None or post.released_by_id != user.id or post.released_at < since
                or post.account_id != account_id):
            return False
    return bool(photos)


def take_for_release(session: Session, photo: Photo) -> None:
    """Move the photo to "queued" only if it is still waiting for release (one conditional
    UPDATE): of two releases at once, the second finds it taken and is refused."""

    taken = session.execute(
        update(Photo).where(Photo.id == photo.id, Photo.status.in_(PHOTO_RELEASABLE))
        .values(status=PhotoState.QUEUED, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    if taken != 1:
        raise ReleaseError(_("This photo has just been released by someone else."))
    move(photo, PhotoState.QUEUED)


def _due(now: dt.datetime):
    """Posts a worker may take now: due and queued, failed and past their backoff, or stale."""
    return or_(
        and_(Post.state == PostState.QUEUED, Post.scheduled_at <= now),
        and_(Post.state == PostState.FAILED, Post.next_attempt_at.is_not(None),
             Post.next_attempt_at <= now),
        and_(Post.state == PostState.PUBLISHING, Post.claimed_at < now - STALE_CLAIM),
    )


def may_still_arrive(post: Post, now: dt.datetime) -> bool:
    """Whether a worker may still be handing this post to its publisher (claimed lately, its
    outcome not back): withdrawn meanwhile, it may yet arrive there, and then comes down again."""
    return (post.external_id is None and post.claimed_at is not None
            and post.claimed_at >= now - STALE_CLAIM)


def not_taken_back():
    """Posts other than those taken back to review before any publisher saw them (a release that
    did not stand, and no takedown either)."""
    return Post.withdrawn_reason.is_distinct_from(BACK_TO_REVIEW)


def waits_for_a_person():
    """Posts nothing more happens to until a person acts: held, or failed with no attempt left."""
    return or_(Post.state == PostState.HELD,
               and_(Post.state == PostState.FAILED, Post.next_attempt_at.is_(None)))


def post_waits_for_queue() -> str:
    """What the media lead reads when a post is saved but its task could not be queued (the
    queue's Redis out of reach): the minute's sweep sends it once the queue is back."""
    return _("The queue cannot be reached just now: the post goes out at its time, or within a "
             "minute of the queue coming back.")


def due_post_ids(now: dt.datetime | None = None) -> list[int]:
    return list(db.session.scalars(
        select(Post.id).where(_due(now or utcnow())).order_by(Post.scheduled_at)
    ))


def backoff(attempts: int) -> dt.timedelta:
    """The wait after the `attempts`-th failure: doubling from BACKOFF_BASE, capped."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def post_hold_reason(holds, shown_not_publishable: bool) -> str | None:
    """Why a post may not go out now, from the gate's holds (see review.gate), or None."""

    codes = {h.code for h in holds}
    if shown_not_publishable or codes & {gate.HOLD_BLOCKED, gate.HOLD_NAMED_NOT_PUBLISHABLE}:
        return HELD_CONSENT
    if codes & {gate.HOLD_UNKNOWN, gate.HOLD_SHOWN_TWICE}:
        return HELD_UNKNOWN
    if gate.HOLD_NO_FACES in codes:
        return HELD_NO_FACES
    return None


def hold_reason(session: Session, post: Post, now: dt.datetime) -> str | None:
    """Immediately before posting: the whole rule again, from the stored encodings, for this
    account's purpose and the register as it is now; then the caption."""

    register = RegisterNow(session, post.school_id, school_date(now))
    found = gate_now(register, post.photo, post.account.purpose)
    reason = post_hold_reason(found.holds, bool(set(post.pupil_ids) - found.publishable))
    if reason:
        return reason
    check = check_caption(post.caption, register_names(session, post.school_id))
    return None if check.ok else caption_refusal(check)


def claim(session: Session, post_id: int, now: dt.datetime) -> bool:
    """Take the post for this worker (one conditional UPDATE, committed before anything is sent)."""
    taken = session.execute(
        update(Post).where(Post.id == post_id, _due(now))
        .values(state=PostState.PUBLISHING, attempts=Post.attempts + 1, claimed_at=now,
                next_attempt_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.commit()
    return taken == 1


def build_release(session: Session, post: Post) -> Release:
    account, photo = post.account, post.photo
    media_type = VIDEO_TYPE if photo.is_video else "image/jpeg"
    if photo.is_video:
        # The clip as the media lead previewed it (blurs, sound), at the account's size,
        # checked by its boxes once more.
        clip = render_clip(app_storage(), photo, account.max_side, blur_tracks(photo),
                           muted=photo.muted, hold=SAMPLE_EVERY)
        verify_clean_clip(clip)
        image = clip.read_bytes()
    else:
        # The very rendering the media lead previewed (same size, quality and blurs), checked again.
        image = render(app_storage(), photo, account.max_side, account.quality, blur_boxes(photo))
        verify_clean(image)
    upns = session.scalars(select(Pupil.upn).where(Pupil.id.in_(post.pupil_ids)))
    return Release(
        post_uuid=post.uuid,
        idempotency_key=post.idempotency_key,
        image=image,
        caption=post.caption,
        account=account.handle,
        platform=account.platform,
        purpose=account.purpose,
        pupils_cleared=sorted(upns),
        released_by=post.released_by.email if post.released_by else "",
        released_at=post.released_at.isoformat() + "Z",
        scheduled_at=post.scheduled_at.isoformat() + "Z",
        school=session.scalar(select(School.name).where(School.id == post.school_id)) or "",
        media_type=media_type,
    )


def publish_post(post_id: int, now: dt.datetime | None = None) -> str | None:
    """The publishing task: re-check, claim, hand to the publisher, record. Safe to re-run."""
    session, now = db.session, now or utcnow()
    post = session.get(Post, post_id)
    if post is None or post.state in POST_SETTLED:
        return post.state if post else None
    if session.scalar(select(Post.id).where(Post.id == post_id, _due(now))) is None:
        return "not_due"
    if post.account.paused or post.account.approved_at is None:
        return "paused"
    reason = hold_reason(session, post, now)
    if reason:
        return hold(session, post, reason)
    if not claim(session, post_id, now):
        return None  # another worker took it
    session.refresh(post)
    try:
        external_id = account_publisher(post.account).publish(build_release(session, post))
    except Exception as error:  # noqa: BLE001 - every failure is recorded and retried with backoff
        session.rollback()
        message = str(error) if isinstance(error, PublishError) else type(error).__name__
        if not isinstance(error, PublishError):
            log.exception("post %s could not be published", post_id)
        return record_failure(session, session.get(Post, post_id), message, now)
    return finish(session, post, external_id, now)


def hold(session: Session, post: Post, reason: str) -> str:
    """Hold the post, unless another worker took it first (that worker checked it itself)."""
    held = hold_post(session, post, reason)
    session.commit()
    return PostState.HELD if held else post.state


def hold_post(session: Session, post: Post, reason: str) -> bool:
    """Stop a post that is not yet out; the media lead sees why (the caller commits). False, and
    nothing written, when its state moved since this session read it (models.move_from_read),
    such as a hold written over a worker's claim of a post it was sending."""
    kept = to_record(reason, REASON_CHARS)  # a caption's refusal is said in the reader's language
    if not move_from_read(session, post, PostState.HELD, last_error=kept, next_attempt_at=None):
        return False
    audit.record(session, "post_held", school_id=post.school_id, subject=post,
                 detail={"reason": str(reason), "account": post.account.label})
    return True


def record_failure(session: Session, post: Post, message: str, now: dt.datetime) -> str:
    """Failed: try again after a backoff; after the last attempt it waits for the media lead.

    A post withdrawn while it was being sent stays withdrawn: queued again it would be published."""
    if post.state != PostState.PUBLISHING:
        return post.state
    gave_up = post.attempts >= PUBLISH_MAX_ATTEMPTS
    if not move_from_read(session, post, PostState.FAILED, last_error=message[:500],
                          next_attempt_at=None if gave_up else now + backoff(post.attempts)):
        session.commit()  # withdrawn or held meanwhile: it stays so, never queued again
        return post.state
    audit.record(session, "post_failed", school_id=post.school_id, subject=post,
                 detail={"error": post.last_error, "attempt": post.attempts,
                         "next_attempt_at": post.next_attempt_at, "gave_up": gave_up})
    session.commit()
    return PostState.FAILED


def finish(session: Session, post: Post, external_id: str, now: dt.datetime) -> str:
    """Write the outcome, unless the post was withdrawn while it was out (then delete it again) or
    another worker finished it first (then the second copy is recorded for the media lead)."""
    done = session.execute(
        update(Post).where(Post.id == post.id, Post.state == PostState.PUBLISHING)
        .values(state=PostState.PUBLISHED, published_at=now, external_id=external_id,
                last_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    session.expire(post)
    if done != 1 and post.state == PostState.WITHDRAWN:
        post.external_id = external_id
        reopen_takedown(session, post)
        session.commit()
        return post.state
    if done != 1 and post.state == PostState.HELD:  # held while out (a stale claim held again):
        post.external_id = external_id  # it is out now, so it comes down
        held_for = from_record(post.last_error)  # a takedown's reason is English text
        take_down(session, post, str(held_for or HELD_CONSENT), requested_by="gate")
        session.commit()
        return post.state
    if done != 1:  # another worker took the stale claim over and finished first: a second copy
        audit.record(session, "post_sent_twice", school_id=post.school_id, subject=post,
                     detail={"account": post.account.label, "external_id": external_id,
                             "kept": post.external_id})
        session.commit()
        return post.state
    move(post.photo, PhotoState.PUBLISHED)
    audit.record(session, "post_published", school_id=post.school_id, subject=post,
                 detail={"account": post.account.label, "external_id": external_id,
                         "attempt": post.attempts})
    session.commit()
    return PostState.PUBLISHED


def publish_due(now: dt.datetime | None = None) -> dict[int, str | None]:
    """Publish every post due at `now`, in this process (the periodic task fans out instead)."""
    return {post_id: publish_post(post_id, now) for post_id in due_post_ids(now)}


def retry_now(session: Session, post: Post, user: User) -> None:
    """The media lead asks for another attempt at a failed post."""
    if post.state != PostState.FAILED:
        raise ReleaseError(_("Only a failed post can be tried again."))
    post.next_attempt_at = utcnow()
    audit.record(session, "post_retry_requested", school_id=post.school_id, actor=user,
                 subject=post, detail={"attempts": post.attempts})


def back_to_review(session: Session, post: Post, user: User) -> None:
    """Stop a post no publisher has seen (held, or waiting for its time) and put its photo back
    on the review queue with every decision on its faces kept, to be released again once what
    held it is mended (a consent renewed, a face named) or with another caption or time. A post
    ever handed to a publisher may be out: it is taken down instead. The caller commits."""
    if post.state not in NEVER_SENT or post.claimed_at is not None:
        raise ReleaseError(_("This post may already have been sent: take it down instead."))
    was, photo = post.state, post.photo
    if not (move_from_read(session, post, PostState.WITHDRAWN, withdrawn_at=utcnow(),
                           withdrawn_reason=BACK_TO_REVIEW, next_attempt_at=None)
            and move_from_read(session, photo, PhotoState.NEEDS_REVIEW, updated_at=utcnow())):
        raise ReleaseError(_("This post has just changed: look at the queue again."))
    settle_photo(session, RegisterNow(session, photo.school_id), photo)  # the gate's verdict now
    audit.record(session, "post_withdrawn", school_id=post.school_id, actor=user, subject=post,
                 detail={"was": was, "reason": BACK_TO_REVIEW, "takedown": False,
                         "requested_by": user.email, "photo_status": photo.status})
