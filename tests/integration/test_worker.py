"""Screening in a real worker process: Huey's SQLite storage in pass 1, Redis in pass 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from gatekeeper.models import AuditEvent, Photo
from gatekeeper.worker.queue import configure_queue
from tests.support.commands import stop_process
from tests.support.fixtures import add_pupil, upload_photo

pytestmark = pytest.mark.slow

SCREEN_TIMEOUT_S = 180


@pytest.fixture
def queued_app(app):
    """The test app with a real queue instead of running tasks inline."""
    app.config["HUEY_IMMEDIATE"] = False
    configure_queue(app)
    yield app
    app.config["HUEY_IMMEDIATE"] = True
    configure_queue(app)


@pytest.fixture
def start_worker(queued_app):
    """Starts a real worker process when the test says so (and stops it afterwards)."""
    env = {
        **os.environ,
        "GATEKEEPER_INSTANCE": str(queued_app.config["INSTANCE"]),
        "DATABASE_URL": queued_app.config["SQLALCHEMY_DATABASE_URI"],
        "REDIS_URL": queued_app.config["REDIS_URL"],
        "GATEKEEPER_QUEUE_NAME": queued_app.config["HUEY_NAME"],
    }
    started = []

    def start() -> subprocess.Popen:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gatekeeper")), "worker", "--workers", "1"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        stop_process(process)
        process.stdout.close()


def test_worker_process_screens_each_upload_once(queued_app, start_worker, login_as, faces_dir):
    with queued_app.app_context():
        from gatekeeper.extensions import db

        add_pupil(db.session, 1, 1, "Barack", "Obama", consents={"social_media": "granted"},
                  faces=sorted((faces_dir / "people" / "obama").iterdir()))
    staff = login_as("staff")
    event_id = staff.post("/uploads/events", {"name": "Visit", "date": "2026-07-01",
                                              "purpose": "social_media"}).get_json()["id"]
    names = ["obama_podium.jpg", "lin_manuel_miranda.png"]
    for name in names:
        response = upload_photo(staff, event_id, name, (faces_dir / "events" / name).read_bytes())
        assert response.status_code == 201
        assert response.get_json()["status"] == "uploaded"  # queued, not screened in the request

    worker = start_worker()  # only now: the uploads above waited in the queue, not in a request
    deadline = time.monotonic() + SCREEN_TIMEOUT_S
    while time.monotonic() < deadline:
        statuses = {p["filename"]: p["status"]
                    for p in staff.get("/uploads/status").get_json()["photos"]}
        if all(s not in ("uploaded", "screening") for s in statuses.values()):
            break
        assert worker.poll() is None, worker.stdout.read()
        time.sleep(1)
    assert statuses == {"obama_podium.jpg": "cleared", "lin_manuel_miranda.png": "needs_review"}

    with queued_app.app_context():
        from gatekeeper.extensions import db

        attempts = db.session.scalars(select(Photo.screen_attempts)).all()
        screened = db.session.scalar(
            select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == "photo_screened")
        )
    assert attempts == [1, 1] and screened == 2


def test_queued_messages_keep_naming_their_task_when_code_moves(app):
    """Messages queued by an earlier release name their task "gatekeeper.tasks.<name>": each of
    those names still finds its task, whichever module now defines it."""
    from gatekeeper.worker.queue import huey

    registered = set(huey._registry._registry)
    earlier = {f"gatekeeper.tasks.{name}" for name in (
        "screen_photo_task", "publish_post_task", "publish_due_posts", "carry_out_takedowns_task",
        "carry_out_takedowns_periodic", "requeue_stalled_work", "rescreen_school_task",
        "rescreen_lapsed_consents", "purge_expired")}
    assert earlier <= registered
    assert all(name.startswith("gatekeeper.tasks.") for name in registered)
