"""Takedown: when a pupil may no longer be published, pull what is queued and remove what is out.

Withdrawing a post is immediate and happens in the caller's transaction (no network there, so a
consent withdrawal never fails because a website is down). A post that was ever handed to a
publisher gets a Takedown row and marks the session (`takedowns_opened`): once the transaction
commits, worker/tasks.py queues `carry_out_takedowns` at once, which deletes the post through its
adapter or, where the adapter cannot delete, leaves it as a task for the media lead to confirm.
A periodic task sweeps up anything left (a queue that was down, a failed attempt).
"""

from __future__ import annotations

import logging

from flask_babel import gettext as _
from sqlalchemy import event, exists, select, update
from sqlalchemy.orm import Session

from consent.models import Pupil, utcnow
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.models import Photo, Post, Takedown, User, move_from_read
from gatekeeper.publishing.accounts import account_publisher
from gatekeeper.publishing.adapters import PostRef, PublishError
from gatekeeper.states import (
    PHOTO_RELEASED,
    POST_LIVE,
    PhotoState,
    PostState,
    TakedownState,
    move,
)
from gatekeeper.storage import app_storage

log = logging.getLogger(__name__)

TAKEDOWN_MAX_ATTEMPTS = 5  # then a person is asked to remove it by hand
REASON_LIMIT = 500
OPENED_KEY = "gatekeeper.takedowns_opened"  # session.info: a takedown waits for its adapter
WITHDRAWN_KEY = "gatekeeper.posts_withdrawn"  # session.info: the posts this session withdrew


class TakedownError(ValueError):
    """The takedown request was refused; the message is fit to show."""


def takedowns_opened(session: Session) -> None:
    """Mark the session: once it commits, the takedowns it opened are carried out at once."""
    session.info[OPENED_KEY] = True


def take_opened(session: Session) -> bool:
    """Whether this session committed a takedown that waits for its adapter (taken once)."""
    return bool(session.info.pop(OPENED_KEY, False))


def posts_withdrawn(session: Session) -> list[int]:
    """The posts this session has withdrawn so far (taken once): what a change of its pulled."""
    return list(session.info.pop(WITHDRAWN_KEY, []))


@event.listens_for(Session, "after_rollback")
def _forget_takedowns(session: Session) -> None:
    session.info.pop(OPENED_KEY, None)
    session.info.pop(WITHDRAWN_KEY, None)


@event.listens_for(Session, "after_commit")
def _forget_withdrawn(session: Session) -> None:
    session.info.pop(WITHDRAWN_KEY, None)  # read, if at all, before the commit


def _label(who: User | str | None) -> str:
    return who.email if isinstance(who, User) else (who or "system")


def pull_posts_showing(session: Session, pupil_id: int, reason: str, purpose: str | None = None,
                       requested_by: User | str | None = None) -> list[Post]:
    """Withdraw every live post showing the pupil (for one purpose's accounts, or all)."""
    school_id = session.get(Pupil, pupil_id).school_id
    live = select(Post).where(Post.school_id == school_id, Post.state.in_(POST_LIVE))
    posts = [
        p for p in session.scalars(live)
        if pupil_id in p.pupil_ids and (purpose is None or p.account.purpose == purpose)
    ]
    for post in posts:
        take_down(session, post, reason, requested_by=requested_by)
    return posts


def take_down(session: Session, post: Post, reason: str, actor: User | None = None,
              requested_by: User | str | None = None) -> Takedown | None:
    """Withdraw one post now; if it may be out there, open a takedown through its adapter. A post
    a worker moves meanwhile (claims, publishes) is withdrawn as it is then; None, and nothing
    done, when someone else withdrew it first."""
    while True:
        was = post.state
        if was == PostState.WITHDRAWN:
            return None
        if move_from_read(session, post, PostState.WITHDRAWN, withdrawn_at=utcnow(),
                          withdrawn_reason=reason, next_attempt_at=None):
            break
    move(post.photo, PhotoState.WITHDRAWN)
    session.info.setdefault(WITHDRAWN_KEY, []).append(post.id)
    takedown = None
    if post.claimed_at is not None:  # handed to a publisher at least once (read after the move,
        # so a claim just before it counts): it may be live
        takedown = Takedown(school_id=post.school_id, post_id=post.id, reason=reason,
                            requested_by=_label(requested_by or actor),
                            state=TakedownState.PENDING)
        session.add(takedown)
        takedowns_opened(session)
    audit.record(session, "post_withdrawn", school_id=post.school_id, actor=actor, subject=post,
                 detail={"was": was, "reason": reason, "takedown": takedown is not None,
                         "requested_by": _label(requested_by or actor)})
    return takedown


def take_down_by_hand(session: Session, post: Post, reason: str, user: User) -> Takedown | None:
    """A media lead or the head takes a post down ("posted by mistake"), giving a reason."""
    reason = reason.strip()[:REASON_LIMIT]
    if not reason:
        raise TakedownError(_("Give a reason for taking the post down."))
    if post.state not in POST_LIVE:
        raise TakedownError(_("This post is already withdrawn."))
    return take_down(session, post, reason, actor=user)


def reopen_takedown(session: Session, post: Post) -> Takedown:
    """A worker finished publishing a post that was withdrawn meanwhile: delete it (again)."""
    takedown = session.scalar(select(Takedown).where(Takedown.post_id == post.id)
                              .order_by(Takedown.id.desc()).limit(1))
    if takedown is None:
        takedown = Takedown(school_id=post.school_id, post_id=post.id,
                            reason=post.withdrawn_reason or "withdrawn while publishing",
                            state=TakedownState.PENDING)
        session.add(takedown)
    else:
        move(takedown, TakedownState.PENDING)
        takedown.notified_at = None  # a parent told it was down is told again once it is
    takedown.done_at = None
    takedowns_opened(session)
    audit.record(session, "takedown_reopened", school_id=post.school_id, subject=post,
                 detail={"external_id": post.external_id})
    return takedown


def pending_takedown_ids(session: Session) -> list[int]:
    return list(session.scalars(
        select(Takedown.id).where(Takedown.state == TakedownState.PENDING).order_by(Takedown.id)))


def carry_out(session: Session, takedown: Takedown) -> str:
    """Delete the post through its adapter; a task for a person when the adapter cannot."""
    post = takedown.post
    ref = PostRef(post.uuid, post.idempotency_key, post.external_id)
    try:
        publisher = account_publisher(post.account)
        publisher.delete(ref)
    except Exception as error:  # noqa: BLE001 - recorded; retried, then handed to a person
        message = str(error) if isinstance(error, PublishError) else type(error).__name__
        takedown.attempts += 1
        takedown.last_error = message[:500]
        if takedown.attempts >= TAKEDOWN_MAX_ATTEMPTS:
            move(takedown, TakedownState.MANUAL)
        audit.record(session, "takedown_failed", school_id=takedown.school_id, subject=post,
                     detail={"error": takedown.last_error, "attempt": takedown.attempts,
                             "handed_to_person": takedown.state == TakedownState.MANUAL})
        return takedown.state
    takedown.attempts += 1
    if publisher.can_delete:
        move(takedown, TakedownState.DONE)
        takedown.done_at = utcnow()
        action = "post_deleted"
    else:
        move(takedown, TakedownState.MANUAL)
        action = "takedown_task_created"
    audit.record(session, action, school_id=takedown.school_id, subject=post,
                 detail={"account": post.account.label, "external_id": post.external_id,
                         "requested_by": takedown.requested_by})
    return takedown.state


def carry_out_takedowns() -> dict[int, str]:
    """The task's work: every pending takedown, one commit each, in a session of its own (it may
    run straight after another session's commit, in the queue's immediate mode)."""

    with Session(db.engine) as session:
        return carry_out_pending(session)


def carry_out_pending(session: Session) -> dict[int, str]:
    results = {}
    for takedown_id in pending_takedown_ids(session):
        takedown = session.get(Takedown, takedown_id)
        if takedown is not None and takedown.state == TakedownState.PENDING:
            results[takedown_id] = carry_out(session, takedown)
            session.commit()
    return results


def confirm_takedown(session: Session, takedown: Takedown, user: User) -> None:
    """A person confirms they removed the post where the adapter could not."""
    if takedown.state != TakedownState.MANUAL:
        raise TakedownError(_("This takedown is not waiting for a person."))
    move(takedown, TakedownState.DONE)
    takedown.done_at, takedown.confirmed_by_id = utcnow(), user.id
    audit.record(session, "takedown_confirmed", school_id=takedown.school_id, actor=user,
                 subject=takedown.post, detail={"account": takedown.post.account.label,
                                                "requested_by": takedown.requested_by})


def takedowns_requested_by(session: Session, school_id: int, who: User | str) -> list[Takedown]:
    """What became of the takedowns someone caused: so the person who withdrew can be told."""
    return list(session.scalars(
        select(Takedown).where(Takedown.school_id == school_id,
                               Takedown.requested_by == _label(who)).order_by(Takedown.id)))


def delete_own_upload(session: Session, photo: Photo, user: User) -> None:
    """Staff delete their own upload at any time before release: the row here, the original once
    the caller has committed (delete_files). The check is one conditional UPDATE, which also
    holds the row: a release at the same moment (itself a conditional UPDATE) either came first,
    and the upload is refused as released, or waits and then finds nothing to release."""

    if photo.uploaded_by_id != user.id:
        raise TakedownError(_("You can only delete your own uploads."))
    unreleased = session.execute(
        update(Photo).where(Photo.id == photo.id, Photo.status.not_in(PHOTO_RELEASED),
                            ~exists().where(Post.photo_id == Photo.id))
        .values(updated_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    if unreleased != 1:
        raise TakedownError(_("This photo has been released: ask the media lead to take it down."))
    audit.record(session, "photo_deleted", school_id=photo.school_id, actor=user, subject=photo,
                 detail={"status": photo.status})
    session.delete(photo)
    session.flush()


def delete_files(uuid: str) -> None:
    """A deleted upload's original and renderings, once its deletion is committed."""
    app_storage().delete_photo(uuid)
