"""Faults: a worker killed mid-screening or with work in flight, the queue or the database gone for
a while, storage full or unwritable during upload. Nothing is lost, stuck, half-written or done
twice. Every process a test starts is killed and reaped by the test."""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import create_engine, func, select

from gatekeeper.models import AuditEvent, Photo
from gatekeeper.worker.queue import configure_queue
from gatekeeper.worker.tasks import requeue_stalled
from tests.support.fixtures import upload_photo

pytestmark = pytest.mark.slow

SCREEN_TIMEOUT_S = 240
FINAL_STATES = ("cleared", "needs_review", "blocked", "no_faces", "rejected")
BIG_SIDE = (4000, 3000)  # 12 MP: screening takes long enough to be caught in the middle
STORAGE_LIMIT_BYTES = 128 * 1024
UNREACHABLE_PG = "postgresql+psycopg://postgres@127.0.0.1:1/none"


def group_photo(faces_dir: Path, seed: int, size=BIG_SIDE) -> bytes:
    rng = random.Random(seed)
    people = sorted(p for d in (faces_dir / "people").iterdir() for p in d.iterdir())
    canvas = Image.new("RGB", size, (rng.randrange(50, 200), 120, 90))
    for slot in range(3):
        face = Image.open(rng.choice(people)).convert("RGB").resize((700, 800))
        canvas.paste(face, (slot * 1300 + 100, 800))
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()


@pytest.fixture
def queued_app(app):
    app.config["HUEY_IMMEDIATE"] = False
    configure_queue(app)
    yield app
    app.config["HUEY_IMMEDIATE"] = True
    configure_queue(app)


class Workers:
    """Real `gatekeeper worker` processes in their own process groups, killed at teardown."""

    def __init__(self, app):
        self.env = {**os.environ, "GATEKEEPER_INSTANCE": str(app.config["INSTANCE"]),
                    "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
                    "REDIS_URL": app.config["REDIS_URL"],
                    "GATEKEEPER_QUEUE_NAME": app.config["HUEY_NAME"]}
        self.processes: list[subprocess.Popen] = []

    def start(self) -> subprocess.Popen:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("gatekeeper")), "worker", "--workers", "1"],
            env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen) -> None:
        """SIGKILL the consumer and its worker process at once: no chance to tidy up."""
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(20)

    def stop_all(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(20)


@pytest.fixture
def workers(queued_app):
    pool = Workers(queued_app)
    yield pool
    pool.stop_all()


def statuses(app) -> dict[int, str]:
    from gatekeeper.extensions import db

    with app.app_context():
        result = dict(db.session.execute(select(Photo.id, Photo.status)).all())
        db.session.remove()
        return result


def wait_for(app, predicate, timeout=SCREEN_TIMEOUT_S, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = statuses(app)
        if predicate(current):
            return current
        time.sleep(step)
    raise AssertionError(f"timed out; statuses {statuses(app)}")


def screenings(app) -> dict[str, int]:
    from gatekeeper.extensions import db

    with app.app_context():
        return dict(db.session.execute(
            select(AuditEvent.subject_id, func.count()).where(AuditEvent.action == "photo_screened")
            .group_by(AuditEvent.subject_id)).all())


def new_event(browser) -> int:
    return browser.post("/uploads/events", {"name": "Gala", "date": "2026-07-01",
                                            "purpose": "social_media"}).get_json()["id"]


def test_worker_killed_mid_screening_and_restart_with_work_in_flight(
        queued_app, workers, login_as, faces_dir):
    staff = login_as("staff")
    event_id = new_event(staff)
    ids = []
    for seed in range(3):  # queued while no worker runs: work in flight at "restart"
        response = upload_photo(staff, event_id, f"gala{seed}.jpg", group_photo(faces_dir, seed))
        assert response.status_code == 201
        ids.append(response.get_json()["id"])
    first = workers.start()
    wait_for(queued_app, lambda s: "screening" in s.values(), step=0.02)
    workers.kill(first)
    stuck = [i for i, s in statuses(queued_app).items() if s == "screening"]
    assert len(stuck) == 1  # killed in the middle: the photo is left "screening"

    with queued_app.app_context():
        from gatekeeper.extensions import db

        photos = requeue_stalled(db.session, stalled_after=dt.timedelta(0))
    assert photos >= 1
    workers.start()
    final = wait_for(queued_app, lambda s: all(s[i] in FINAL_STATES for i in ids))
    assert set(final) == set(ids)  # nothing lost
    counts = screenings(queued_app)
    assert all(counts.get(str(i)) == 1 for i in ids), counts  # nothing screened twice


def test_queue_unavailable_upload_is_kept_and_screened_when_it_returns(app, school, login_as):
    staff = login_as("staff")
    event_id = new_event(staff)
    queue = {key: app.config[key] for key in ("HUEY_IMMEDIATE", "REDIS_URL")}
    app.config.update(HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nothing listens
    configure_queue(app)
    try:
        data = io.BytesIO()
        Image.new("RGB", (120, 90), (90, 90, 200)).save(data, "JPEG")
        response = upload_photo(staff, event_id, "while-down.jpg", data.getvalue())
        assert response.status_code == 201
        photo_id = response.get_json()["id"]
        assert statuses(app)[photo_id] == "uploaded"
    finally:
        app.config.update(queue)  # Redis again in pass 2
        configure_queue(app)
    with app.app_context():  # the queue is back: the sweep finds the photo
        from gatekeeper.extensions import db

        assert requeue_stalled(db.session, stalled_after=dt.timedelta(0)) == 1
    assert statuses(app)[photo_id] == "no_faces"  # screened: a plain colour has no face


def test_database_unavailable_then_back(app, school, login_as, tmp_path):
    from gatekeeper.extensions import db

    staff = login_as("staff")
    event_id = new_event(staff)
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        aside = tmp_path / "db-aside"
        with app.app_context():
            db.engine.dispose()
        shutil.move(path, aside)
        path.mkdir()  # a directory where the database was: every connection fails
    else:  # PostgreSQL: the app's engine now points at a port where nothing listens
        aside = None
        with app.app_context():
            real_engine = db.engine
            real_engine.dispose()
            db._app_engines[app][None] = create_engine(UNREACHABLE_PG)
    try:
        page = staff.get("/uploads/status")
        assert page.status_code == 503
        assert "cannot reach its database" in page.get_json()["error"]
        assert page.headers["Retry-After"]
        data = io.BytesIO()
        Image.new("RGB", (60, 40), (1, 2, 3)).save(data, "JPEG")
        refused = upload_photo(staff, event_id, "down.jpg", data.getvalue())
        assert refused.status_code == 503
        html = staff.get("/uploads/", headers={"Accept": "text/html"})
        assert html.status_code == 503 and "try again" in html.get_data(as_text=True)
    finally:
        if aside is not None:
            with app.app_context():
                db.engine.dispose()
            path.rmdir()
            shutil.move(aside, path)
        else:
            with app.app_context():
                db.engine.dispose()
                db._app_engines[app][None] = real_engine
    storage = Path(app.config["STORAGE_DIR"]) / "originals"
    assert not storage.exists() or not any(storage.iterdir())  # nothing half-written
    back = upload_photo(staff, event_id, "back.jpg", data.getvalue())
    assert back.status_code == 201  # resumes; the same browser session still works
    assert list(statuses(app).values()) == ["no_faces"]  # screened: a plain colour has no face


def stored_files(app) -> list[Path]:
    root = Path(app.config["STORAGE_DIR"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_storage_unwritable_during_upload(app, school, login_as, faces_dir):
    staff = login_as("staff")
    event_id = new_event(staff)
    storage = Path(app.config["STORAGE_DIR"])
    storage.mkdir(parents=True, exist_ok=True)
    (storage / "originals").write_text("a file where the folder should be")
    response = upload_photo(staff, event_id, "x.jpg", group_photo(faces_dir, 1, (400, 300)))
    assert response.status_code == 507
    assert "could not be saved" in response.get_json()["error"]
    assert statuses(app) == {}
    assert [p.name for p in stored_files(app)] == ["originals"]


def test_storage_full_during_upload(app, school, login_as, faces_dir):
    """The file system refuses writes beyond a size mid-stream (as a full disk does)."""
    staff = login_as("staff")
    event_id = new_event(staff)
    big = group_photo(faces_dir, 2)
    assert len(big) > 2 * STORAGE_LIMIT_BYTES
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (STORAGE_LIMIT_BYTES, hard))
    try:
        response = upload_photo(staff, event_id, "big.jpg", big)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)
    assert response.status_code == 507
    assert "could not be saved" in response.get_json()["error"]
    assert statuses(app) == {}  # no orphan row
    assert stored_files(app) == []  # no partial file
    again = upload_photo(staff, event_id, "big.jpg", big)
    assert again.status_code == 201
