"""Screening left in flight by a killed worker or a lost queue message is found by its age and
queued again. Screening claims a photo before it works on it (screening/service.py), so queueing a
stalled photo again never screens it twice. Publishing needs nothing here: the every-minute
publishing task already takes back posts whose claim went stale (publishing/service.py), and posts
a lost rescreen left up are swept by review/rescreen.take_down_forbidden.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gatekeeper.models import Photo
from gatekeeper.states import PHOTO_STALLABLE, PhotoState, check_transition

# Screening a 12 MP photo takes seconds, publishing one a few more: anything untouched this long
# has lost its worker or its queue message.
STALLED_AFTER = dt.timedelta(minutes=5)
MAX_SCREEN_ATTEMPTS = 5  # beyond this a photo stays "failed" for a person to look at
check_transition(PhotoState.SCREENING, PhotoState.FAILED)  # release_stalled's update
GAVE_UP = f"screening failed {MAX_SCREEN_ATTEMPTS} times: a person must look at this photo"


def screening_gave_up(photo: Photo) -> bool:
    """Screening failed on every attempt it gets: nothing will try it again."""
    return photo.status == PhotoState.FAILED and photo.screen_attempts >= MAX_SCREEN_ATTEMPTS


def given_up_photos(session: Session, school_id: int) -> list[Photo]:
    """The school's photos screening gave up on, oldest first (a person screens them again or
    rejects them)."""
    return list(session.scalars(select(Photo).where(
        Photo.school_id == school_id, Photo.status == PhotoState.FAILED,
        Photo.screen_attempts >= MAX_SCREEN_ATTEMPTS, Photo.purged_at.is_(None))
        .order_by(Photo.id)))


def stalled_photo_ids(session: Session, now: dt.datetime, stalled_after: dt.timedelta,
                      queue_idle: bool) -> list[int]:
    # "uploaded" photos may simply wait behind a backlog: only an idle queue proves them lost.
    states = PHOTO_STALLABLE if queue_idle else PHOTO_STALLABLE - {PhotoState.UPLOADED}
    return list(session.scalars(
        select(Photo.id).where(
            Photo.status.in_(states),
            Photo.updated_at <= now - stalled_after,
            Photo.screen_attempts < MAX_SCREEN_ATTEMPTS,
            Photo.purged_at.is_(None),
        ).order_by(Photo.id)
    ))


def release_stalled(session: Session, now: dt.datetime, stalled_after: dt.timedelta,
                    queue_idle: bool) -> list[int]:
    """The stalled photos, their claims released and committed; the caller queues them again.
    A photo stalled with no attempt left (a worker killed by it each time) is failed, with the
    words a person needs: before, it stayed "screening" for ever, saying it would be retried."""
    session.execute(
        update(Photo)
        .where(Photo.status == PhotoState.SCREENING, Photo.updated_at <= now - stalled_after,
               Photo.screen_attempts >= MAX_SCREEN_ATTEMPTS, Photo.purged_at.is_(None))
        .values(status=PhotoState.FAILED, error=GAVE_UP)
    )
    photos = stalled_photo_ids(session, now, stalled_after, queue_idle)
    # A stalled claim is released; should its worker still finish, screening/service.py discards
    # that late result because the attempt no longer holds the photo.
    session.execute(
        update(Photo)
        .where(Photo.id.in_(photos), Photo.status == PhotoState.SCREENING,
               Photo.updated_at <= now - stalled_after)
        .values(status=PhotoState.FAILED, error="screening stalled; it will be retried")
    )
    session.commit()
    return photos
