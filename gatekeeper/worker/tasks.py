"""The background tasks. They take ids, re-read state, are safe to run twice, and say how often
they retry.

Publishing and takedowns retry in one place only: publishing/service.py records each failed attempt
with its backoff (next_attempt_at) and takedown.py counts attempts; the minute sweeps below take
them up again, and a worker that died mid-attempt leaves a stale claim the sweep also finds. Huey
does not retry them, and the adapters make one attempt each.
"""

from __future__ import annotations

import datetime as dt
import logging

from huey import crontab
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy import event
from sqlalchemy.orm import Session

from consent.models import utcnow
from gatekeeper.compliance.retention import app_purge
from gatekeeper.extensions import db
from gatekeeper.parents.mailing import (
    mail_owed_takedown_notices,
    mail_parent_link,
    mail_takedown_notice,
)
from gatekeeper.people.emails import mail_invitation, mail_reset
from gatekeeper.publishing.service import due_post_ids, publish_post
from gatekeeper.publishing.takedown import carry_out_takedowns, take_opened
from gatekeeper.review.clips import prepare_review_copy
from gatekeeper.review.rescreen import (
    rescreen_in_own_session,
    rescreen_lapsed,
    take_down_forbidden,
    take_pending,
)
from gatekeeper.screening.service import screen_stored_photo
from gatekeeper.states import PHOTO_RELEASABLE
from gatekeeper.worker.queue import app_task, huey
from gatekeeper.worker.recovery import STALLED_AFTER, release_stalled

log = logging.getLogger(__name__)

SCREEN_RETRIES = 2
SCREEN_RETRY_DELAY_S = 10
MAIL_RETRIES = 3
MAIL_RETRY_DELAY_S = 60
# The takedown notice waits for the takedowns it reports: an hour of tries, five minutes apart.
NOTICE_RETRIES = 12
NOTICE_RETRY_DELAY_S = 300


@app_task(retries=SCREEN_RETRIES, retry_delay=SCREEN_RETRY_DELAY_S)
def screen_photo_task(photo_id: int) -> str | None:
    verdict = screen_stored_photo(photo_id)
    if verdict in PHOTO_RELEASABLE:
        prepare_review_copy_task(photo_id)  # a clip's: nothing for a photo
    return verdict


@app_task(retries=SCREEN_RETRIES, retry_delay=SCREEN_RETRY_DELAY_S)
def prepare_review_copy_task(photo_id: int) -> str | None:
    """A clip's review copy (review/clips.py), made before the media lead opens it."""
    return prepare_review_copy(photo_id)


@app_task()
def publish_post_task(post_id: int) -> str | None:
    return publish_post(post_id)


@app_task(periodic=crontab(minute="*"))
def publish_due_posts() -> int:
    """Every minute: hand every due, queued post to the publishing task."""

    ids = due_post_ids()
    for post_id in ids:
        publish_post_task(post_id)
    return len(ids)


@app_task()
def carry_out_takedowns_task() -> dict[int, str]:
    """Delete withdrawn posts through their adapters (or hand them to the media lead)."""

    return carry_out_takedowns()


@app_task(periodic=crontab(minute="*"))
def carry_out_takedowns_periodic() -> int:
    """Every minute: any takedown still pending (its queued task lost, or an attempt failed)."""
    return len(carry_out_takedowns_task.call_local())


def requeue_stalled(session: Session, stalled_after: dt.timedelta = STALLED_AFTER,
                    now: dt.datetime | None = None) -> int:
    """Queue stalled screening again (worker/recovery finds it); returns how many photos."""
    photos = release_stalled(session, now or utcnow(), stalled_after,
                             queue_idle=huey.pending_count() == 0)
    for photo_id in photos:
        screen_photo_task(photo_id)
    return len(photos)


@app_task(periodic=crontab(minute="*/5"))
def requeue_stalled_work() -> int:
    """Every five minutes: queue again screening whose worker died."""
    return requeue_stalled(db.session)


@app_task(periodic=crontab(minute="*/10"))
def take_down_forbidden_posts() -> int:
    """Every ten minutes: posts out there that the register forbids now, left up when the queue
    was down as the register changed (its rescreen never queued)."""
    return len(take_down_forbidden(db.session))


@app_task(retries=SCREEN_RETRIES, retry_delay=SCREEN_RETRY_DELAY_S)
def rescreen_school_task(school_id: int, pupil_ids: list[int]) -> dict[str, list[int]]:
    """After a register change: decide every unpublished photo of the school again, and hold or
    take down every post that must not be out (review/rescreen). Safe to run twice."""

    return rescreen_in_own_session(school_id, pupil_ids)


QUEUE_DOWN = (RedisConnectionError, RedisTimeoutError)


@event.listens_for(Session, "after_commit")
def queue_rescreens(session: Session) -> None:
    """Once a register change is committed, the school is screened again in the background."""
    for school_id, pupil_ids in take_pending(session).items():
        try:
            rescreen_school_task(school_id, sorted(pupil_ids))
        except QUEUE_DOWN:
            # The change is saved; the rule still runs at release and before every post, and
            # the ten-minute sweep (take_down_forbidden_posts) takes down what is out.
            log.error("queue unavailable: school %s not screened again after a register change",
                      school_id)


@event.listens_for(Session, "after_commit")
def queue_takedowns(session: Session) -> None:
    """Once a takedown is committed (a parent's "no", a no-publish entry, a person's "posted by
    mistake"), its deletion is queued at once instead of waiting for the minute's sweep."""
    if not take_opened(session):
        return
    try:
        carry_out_takedowns_task()
    except QUEUE_DOWN:
        # The change is committed and the posts withdrawn; the sweep deletes them once the
        # queue is back. The person who said "no" must not be told that nothing was saved.
        log.warning("queue unavailable: takedowns wait for the next sweep")


# Just after midnight at the school, in winter (GMT) and in summer (BST).
@app_task(periodic=crontab(minute="10", hour="0,23"))
def rescreen_lapsed_consents() -> int:
    """Daily: grants that lapsed on their expiry date change the register like a withdrawal."""

    return rescreen_lapsed()


@app_task(periodic=crontab(minute="17", hour="2"))
def purge_expired() -> str:
    """Nightly: apply the retention rules (compliance/retention.py)."""

    return app_purge().line()


@app_task(retries=MAIL_RETRIES, retry_delay=MAIL_RETRY_DELAY_S)
def send_invitation_task(invitation_id: int) -> str:
    return mail_invitation(invitation_id)


@app_task(retries=MAIL_RETRIES, retry_delay=MAIL_RETRY_DELAY_S)
def send_reset_task(email: str) -> str:
    return mail_reset(email)


@app_task(retries=MAIL_RETRIES, retry_delay=MAIL_RETRY_DELAY_S)
def send_parent_link_task(guardian_id: int, reminder: bool = False) -> str:
    return mail_parent_link(guardian_id, reminder)


@app_task(retries=NOTICE_RETRIES, retry_delay=NOTICE_RETRY_DELAY_S)
def send_takedown_notice_task(guardian_id: int, *_before: object) -> str:
    """A guardian's notice, as soon as their takedowns are done (arguments after the first:
    tasks queued by an earlier version, which named the posts; the takedowns name them now)."""
    return mail_takedown_notice(guardian_id)


@app_task(periodic=crontab(minute="*/10"))
def send_owed_takedown_notices() -> int:
    """Every ten minutes: the notices whose task was never queued or gave up."""
    return mail_owed_takedown_notices()


def queue_takedown_notice(guardian_id: int) -> None:
    """Queue the notice of the posts a parent's "no" pulled. The answer and the notice it owes
    are committed already: with the queue down, the parent must not be told that nothing was
    saved, and the sweep sends the notice."""
    try:
        send_takedown_notice_task(guardian_id)
    except QUEUE_DOWN:
        log.error("queue unavailable: the takedown notice for guardian %s waits for the sweep",
                  guardian_id)
