"""Work left in flight by a killed worker or a lost queue message is found by its age and queued again.

Screening and publishing are both safe to run twice, so queueing a stalled item again can at worst
repeat work that was about to finish; it never skips a photo or a check.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.models import Photo, Post

# Screening a 12 MP photo takes seconds, publishing one a few more: anything untouched this long
# has lost its worker or its queue message.
STALLED_AFTER = dt.timedelta(minutes=5)
MAX_SCREEN_ATTEMPTS = 5  # beyond this a photo stays "failed" for a person to look at
STALLED_PHOTO_STATES = ("uploaded", "screening", "failed")
STALLED_POST_STATES = ("publishing", "failed")
MAX_PUBLISH_ATTEMPTS = 8


def stalled_photo_ids(session: Session, now: dt.datetime, stalled_after: dt.timedelta,
                      queue_idle: bool) -> list[int]:
    # "uploaded" photos may simply wait behind a backlog: only an idle queue proves them lost.
    states = STALLED_PHOTO_STATES if queue_idle else tuple(
        s for s in STALLED_PHOTO_STATES if s != "uploaded")
    return list(session.scalars(
        select(Photo.id).where(
            Photo.status.in_(states),
            Photo.updated_at <= now - stalled_after,
            Photo.screen_attempts < MAX_SCREEN_ATTEMPTS,
            Photo.purged_at.is_(None),
        ).order_by(Photo.id)
    ))


def stalled_post_ids(session: Session, now: dt.datetime, stalled_after: dt.timedelta) -> list[int]:
    return list(session.scalars(
        select(Post.id).where(
            Post.state.in_(STALLED_POST_STATES),
            (Post.updated_at <= now - stalled_after) | Post.updated_at.is_(None),
            Post.attempts < MAX_PUBLISH_ATTEMPTS,
        ).order_by(Post.id)
    ))


def requeue_stalled(session: Session, stalled_after: dt.timedelta = STALLED_AFTER,
                    now: dt.datetime | None = None) -> tuple[int, int]:
    """Queue stalled screening and publishing again; returns (photos, posts) queued."""
    from gatekeeper.tasks import huey, publish_post_task, screen_photo_task

    now = now or utcnow()
    queue_idle = huey.pending_count() == 0
    photos = stalled_photo_ids(session, now, stalled_after, queue_idle)
    posts = stalled_post_ids(session, now, stalled_after)
    session.rollback()  # end the read before the tasks (which may run inline) open their own
    for photo_id in photos:
        screen_photo_task(photo_id)
    for post_id in posts:
        publish_post_task(post_id)
    return len(photos), len(posts)
