"""Background work through Huey: SQLite storage in the instance by default, Redis when REDIS_URL is set.

Tasks take ids, re-read state, are safe to run twice, and say how often they retry. The worker
builds its Flask app on first use, never at import.
"""

from __future__ import annotations

import functools
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey, crontab
from huey.storage import RedisStorage, SqliteStorage

SCREEN_RETRIES = 2
SCREEN_RETRY_DELAY_S = 10
# Publishing and takedowns retry in one place only: publishing/service.py records each failed
# attempt with its backoff (next_attempt_at) and takedown.py counts attempts; the minute sweeps
# below take them up again, and a worker that died mid-attempt leaves a stale claim the sweep
# also finds. Huey itself does not retry them.


def storage_settings(instance: Path, redis_url: str, name: str) -> tuple[type, dict]:
    if redis_url:
        return RedisStorage, {"url": redis_url}
    return SqliteStorage, {"filename": str(Path(instance) / "huey.db")}


# In memory until an app configures it (create_app calls configure_queue): importing this module
# touches no file and no server.
huey = Huey("gatekeeper", storage_class=SqliteStorage, immediate=True, utc=True)
_worker_app: Flask | None = None


def configure_queue(app: Flask) -> None:
    """Point the queue at this app's storage (tests and `make run` may differ from the environment)."""
    storage_class, kwargs = storage_settings(
        app.config["INSTANCE"], app.config["REDIS_URL"], app.config["HUEY_NAME"]
    )
    huey.name = app.config["HUEY_NAME"]
    huey.storage_class, huey.storage_kwargs = storage_class, kwargs
    huey.immediate = app.config["HUEY_IMMEDIATE"]
    huey.storage = huey.create_storage()


def worker_app() -> Flask:
    global _worker_app
    if _worker_app is None:
        from gatekeeper import create_app

        _worker_app = create_app()
    return _worker_app


def app_task(periodic=None, **task_options):
    """A Huey task that runs inside an app context (the caller's, or the worker's own app)."""

    def decorate(fn):
        @functools.wraps(fn)
        def in_context(*args, **kwargs):
            if has_app_context():
                return fn(*args, **kwargs)
            with worker_app().app_context():
                return fn(*args, **kwargs)

        if periodic is not None:
            return huey.periodic_task(periodic, **task_options)(in_context)
        return huey.task(**task_options)(in_context)

    return decorate


@app_task(retries=SCREEN_RETRIES, retry_delay=SCREEN_RETRY_DELAY_S)
def screen_photo_task(photo_id: int) -> str | None:
    from gatekeeper.screening.service import screen_stored_photo

    return screen_stored_photo(photo_id)


@app_task()
def publish_post_task(post_id: int) -> str | None:
    from gatekeeper.publishing.service import publish_post

    return publish_post(post_id)


@app_task(periodic=crontab(minute="*"))
def publish_due_posts() -> int:
    """Every minute: hand every due, queued post to the publishing task."""
    from gatekeeper.publishing.service import due_post_ids

    ids = due_post_ids()
    for post_id in ids:
        publish_post_task(post_id)
    return len(ids)


@app_task()
def carry_out_takedowns_task() -> dict[int, str]:
    """Delete withdrawn posts through their adapters (or hand them to the media lead)."""
    from gatekeeper.publishing.takedown import carry_out_takedowns

    return carry_out_takedowns()


@app_task(periodic=crontab(minute="*"))
def carry_out_takedowns_periodic() -> int:
    """Every minute: takedowns opened by a consent change anywhere (register, parent link, CLI)."""
    return len(carry_out_takedowns_task.call_local())


@app_task(periodic=crontab(minute="*/5"))
def requeue_stalled_work() -> int:
    """Every five minutes: queue again screening whose worker died (ops/recovery)."""
    from gatekeeper.extensions import db
    from gatekeeper.ops.recovery import requeue_stalled

    return requeue_stalled(db.session)


@app_task(retries=SCREEN_RETRIES, retry_delay=SCREEN_RETRY_DELAY_S)
def rescreen_school_task(school_id: int, pupil_ids: list[int]) -> dict[str, list[int]]:
    """After a register change: decide every unpublished photo of the school again, and hold or
    take down every post that must not be out (review/rescreen). Safe to run twice."""
    from gatekeeper.review.rescreen import rescreen_in_own_session

    return rescreen_in_own_session(school_id, pupil_ids)


# Just after midnight at the school, in winter (GMT) and in summer (BST).
@app_task(periodic=crontab(minute="10", hour="0,23"))
def rescreen_lapsed_consents() -> int:
    """Daily: grants that lapsed on their expiry date change the register like a withdrawal."""
    from gatekeeper.review.rescreen import rescreen_lapsed

    return rescreen_lapsed()


@app_task(periodic=crontab(minute="17", hour="2"))
def purge_expired() -> str:
    """Nightly: apply the retention rules (gatekeeper/retention.py)."""
    from gatekeeper.retention import app_purge

    return app_purge().line()
