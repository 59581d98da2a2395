"""The queue: Huey on SQLite storage in the instance by default, on Redis when REDIS_URL is set.

Importing this module touches no file and no server; `create_app` points the queue at the app's
storage. A task runs inside the caller's app context, or the worker's own app, built on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from flask import Flask, has_app_context
from huey import Huey
from huey.storage import RedisStorage, SqliteStorage


def storage_settings(instance: Path, redis_url: str, name: str) -> tuple[type, dict]:
    if redis_url:
        return RedisStorage, {"url": redis_url}
    return SqliteStorage, {"filename": str(Path(instance) / "huey.db")}


# How long an idle worker may wait before it looks at the queue again. Huey backs off up to 10 s
# by default, which a parent's "no" would wait for before its takedown even started; a look a
# second costs one cheap query (SQLite) or one round trip (Redis).
IDLE_POLL_MAX_S = 1.0

# In memory until an app configures it (create_app calls configure_queue): importing this module
# touches no file and no server.
huey = Huey("gatekeeper", storage_class=SqliteStorage, immediate=True, utc=True)
_worker_app: Flask | None = None
_build_app: Callable[[], Flask] | None = None


def configure_queue(app: Flask, build_app: Callable[[], Flask] | None = None) -> None:
    """Point the queue at this app's storage (tests and `make run` may differ from the environment);
    `build_app` is how a worker process builds its own app (create_app passes itself)."""
    global _build_app
    if build_app is not None:
        _build_app = build_app
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
        if _build_app is None:
            raise RuntimeError("the queue has no app: create_app() configures it")
        _worker_app = _build_app()
    return _worker_app


# A queued message names its task as "<module>.<function>". Every task is named in this one
# namespace, whichever module defines it, so that moving code never orphans messages already
# waiting in the queue (the names of the tasks queued before worker/ existed).
TASK_NAMESPACE = "gatekeeper.tasks"


def app_task(periodic=None, **task_options):
    """A Huey task that runs inside an app context (the caller's, or the worker's own app)."""

    def decorate(fn):
        @functools.wraps(fn)
        def in_context(*args, **kwargs):
            if has_app_context():
                return fn(*args, **kwargs)
            with worker_app().app_context():
                return fn(*args, **kwargs)

        in_context.__module__ = TASK_NAMESPACE

        if periodic is not None:
            return huey.periodic_task(periodic, **task_options)(in_context)
        return huey.task(**task_options)(in_context)

    return decorate
