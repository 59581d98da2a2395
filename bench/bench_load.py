"""Load benchmark: 10 simulated tablets each upload 50 photos at once to a real server on 127.0.0.1.

Starts gunicorn and a Huey process consumer (as `make run` does) on a free port with a temporary
instance, uploads composed photos of real faces (1024x768, 1-3 faces each, every one unique),
waits until every photo is screened, then checks nothing was lost or screened twice and the audit
chain is intact. Ends with exactly one line:
bench-load: uploads=N lost=N duplicates=N p95_upload_ms=X all_screened_s=X
"""

from __future__ import annotations

import http.cookiejar
import io
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PEOPLE = ROOT.parent / "shared" / "data" / "faces" / "people"

TABLETS = 10
PHOTOS_PER_TABLET = 50
PHOTO_SIZE = (1024, 768)
FACE_WIDTH = (180, 300)
WEB_WORKERS, WEB_THREADS, QUEUE_WORKERS = 2, 4, 2
START_TIMEOUT_S = 60
SCREEN_TIMEOUT_S = 600
UPLOAD_TIMEOUT_S = 120
POLL_S = 1.0
DONE_STATES = ("cleared", "needs_review", "blocked", "rejected")
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
PASSWORD = "bench load password 2026"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def compose_photos(count: int, seed: int = 8) -> list[bytes]:
    """Unique 1024x768 JPEGs, each with 1-3 real faces pasted on a plain background."""
    from PIL import Image, ImageOps

    rng = random.Random(seed)
    faces = [Image.open(p).convert("RGB")
             for d in sorted(PEOPLE.iterdir()) for p in sorted(d.iterdir())]
    photos = []
    for n in range(count):
        canvas = Image.new("RGB", PHOTO_SIZE, tuple(rng.randrange(60, 200) for _ in range(3)))
        for slot in range(rng.randint(1, 3)):
            face = faces[rng.randrange(len(faces))]
            width = rng.randint(*FACE_WIDTH)
            face = face.resize((width, int(face.height * width / face.width)))
            if rng.random() < 0.5:
                face = ImageOps.mirror(face)
            x = slot * PHOTO_SIZE[0] // 3 + rng.randrange(0, max(1, PHOTO_SIZE[0] // 3 - width))
            canvas.paste(face, (x, rng.randrange(0, max(1, PHOTO_SIZE[1] - face.height))))
        canvas.putpixel((n % PHOTO_SIZE[0], 0), (n % 256, n // 256 % 256, 7))  # unique bytes
        out = io.BytesIO()
        canvas.save(out, "JPEG", quality=85)
        photos.append(out.getvalue())
    return photos


def prepare_instance(instance: Path) -> None:
    """Migrate, and create one school with a staff user and two enrolled pupils."""
    from sqlalchemy import update

    from gatekeeper.app import create_app
    from gatekeeper.extensions import db
    from gatekeeper.models import User
    from gatekeeper.ops.setup import migrate_database
    from gatekeeper.people.auth import hash_password
    from tests.support.fixtures import add_pupil, make_school

    app = create_app({"HUEY_IMMEDIATE": True}, config_name="development")
    with app.app_context():
        migrate_database()
        school = make_school(db.session, "Bench School")
        db.session.execute(update(User).values(password_hash=hash_password(PASSWORD)))
        db.session.commit()
        for index, name in enumerate(("obama", "kit_harington"), start=1):
            add_pupil(db.session, school.id, index, name.title(), "Bench",
                      consents={"social_media": "granted"},
                      faces=sorted((PEOPLE / name).iterdir())[:2])
        db.session.remove()
        db.engine.dispose()


def start(cmd: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
                            cwd=ROOT, start_new_session=True)


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for process in processes:
        try:
            process.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def wait_for_server(base: str, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("bench-load: the server or worker exited at start (see its log)")
        try:
            urllib.request.urlopen(base + "/auth/login", timeout=2).read()
            return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("bench-load: the server did not start")


class Tablet:
    """One staff tablet: its own cookie jar, CSRF token and upload timings."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.token, self.latencies_ms, self.ids, self.errors = "", [], [], []

    def sign_in(self, email: str) -> None:
        page = self.opener.open(self.base + "/auth/login", timeout=30).read().decode()
        token = TOKEN.search(page).group(1)
        body = urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token})
        page = self.opener.open(self.base + "/auth/login", body.encode(),
                                timeout=30).read().decode()
        page = self.opener.open(self.base + "/uploads/", timeout=30).read().decode()
        self.token = TOKEN.search(page).group(1)

    def post_json(self, path: str, fields: dict) -> dict:
        body = urllib.parse.urlencode({**fields, "csrf_token": self.token}).encode()
        request = urllib.request.Request(self.base + path, body, {"X-CSRFToken": self.token})
        return json.loads(self.opener.open(request, timeout=30).read())

    def upload(self, event_id: int, name: str, data: bytes) -> None:
        boundary = uuid.uuid4().hex
        body = (
            f"--{boundary}\r\n"
            f"Content-Disposition: form-data; name=\"event_id\"\r\n\r\n{event_id}\r\n"
            f"--{boundary}\r\n"
            f"Content-Disposition: form-data; name=\"photo\"; filename=\"{name}\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n"
        ).encode() + data + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(self.base + "/uploads/", body, {
            "X-CSRFToken": self.token, "Content-Type": f"multipart/form-data; boundary={boundary}"})
        started = time.perf_counter()
        try:
            reply = self.opener.open(request, timeout=UPLOAD_TIMEOUT_S)
            self.ids.append(json.loads(reply.read())["id"])
        except (urllib.error.URLError, OSError, ValueError) as error:
            self.errors.append(f"{name}: {error}")
        self.latencies_ms.append((time.perf_counter() - started) * 1000)

    def run(self, event_id: int, photos: list[bytes], number: int) -> None:
        for n, data in enumerate(photos):
            self.upload(event_id, f"tablet{number}-{n:02d}.jpg", data)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def screening_state(database_url: str) -> tuple[dict, dict, int]:
    """(status per photo id, screenings per photo id, extra rows sharing a sha256)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database_url)
    with engine.connect() as conn:
        statuses = dict(conn.execute(text("SELECT id, status FROM photo")).all())
        screened = dict(conn.execute(text(
            "SELECT subject_id, COUNT(*) FROM audit_event WHERE action = 'photo_screened' "
            "GROUP BY subject_id")).all())
        repeats = conn.execute(text(
            "SELECT COALESCE(SUM(n - 1), 0) FROM "
            "(SELECT COUNT(*) AS n FROM photo GROUP BY sha256) s"
        )).scalar()
    engine.dispose()
    return statuses, {int(k): v for k, v in screened.items()}, int(repeats or 0)


def main() -> int:
    instance = Path(tempfile.mkdtemp(prefix="gk-bench-load-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(instance), "GATEKEEPER_CONFIG": "development",
           "GATEKEEPER_QUEUE_NAME": "bench-" + uuid.uuid4().hex[:8]}
    os.environ.update({k: env[k] for k in ("GATEKEEPER_INSTANCE", "GATEKEEPER_CONFIG")})
    database_url = os.environ.get("DATABASE_URL") or f"sqlite:///{instance / 'gatekeeper.db'}"
    print(f"preparing instance {instance} and {TABLETS * PHOTOS_PER_TABLET} photos", flush=True)
    prepare_instance(instance)
    photos = compose_photos(TABLETS * PHOTOS_PER_TABLET)
    bin_dir = Path(sys.executable).parent
    processes = [
        start([str(bin_dir / "gunicorn"), "--bind", f"127.0.0.1:{port}", "--workers",
               str(WEB_WORKERS), "--threads", str(WEB_THREADS), "--timeout", "120", "wsgi:app"],
              env, instance / "web.log"),
        start([str(bin_dir / "gatekeeper"), "worker", "--workers", str(QUEUE_WORKERS)], env,
              instance / "worker.log"),
    ]
    try:
        wait_for_server(base, processes)
        tablets = [Tablet(base) for _ in range(TABLETS)]
        for tablet in tablets:
            tablet.sign_in("staff@benchschool.test")
        event_id = tablets[0].post_json("/uploads/events", {
            "name": "Sports day", "date": "2026-07-10", "purpose": "social_media"})["id"]
        began = time.perf_counter()
        threads = [threading.Thread(target=t.run, args=(
            event_id, photos[n * PHOTOS_PER_TABLET:(n + 1) * PHOTOS_PER_TABLET], n))
            for n, t in enumerate(tablets)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        upload_s = time.perf_counter() - began
        acknowledged = {i for t in tablets for i in t.ids}
        errors = [e for t in tablets for e in t.errors]
        deadline = time.monotonic() + SCREEN_TIMEOUT_S
        while True:
            statuses, screened, repeats = screening_state(database_url)
            waiting = [i for i in acknowledged if statuses.get(i) not in DONE_STATES]
            if not waiting or time.monotonic() > deadline:
                break
            time.sleep(POLL_S)
        all_screened_s = time.perf_counter() - began
        verify = subprocess.run([str(bin_dir / "gatekeeper"), "audit", "verify"], env=env,
                                capture_output=True, text=True, cwd=ROOT)
    finally:
        stop(processes)
    latencies = [ms for t in tablets for ms in t.latencies_ms]
    missing = [i for i in acknowledged if i not in statuses]
    lost = len(errors) + len(missing) + len(waiting)
    duplicates = sum(1 for i in acknowledged if screened.get(i, 0) > 1) + repeats
    verdicts = {}
    for i in acknowledged:
        verdicts[statuses.get(i)] = verdicts.get(statuses.get(i), 0) + 1
    print(f"upload phase: {len(latencies)} requests in {upload_s:.1f} s = "
          f"{len(latencies) / upload_s:.1f} uploads/s; p50 {percentile(latencies, 0.5):.0f} ms; "
          f"errors {len(errors)}; verdicts {verdicts}")
    print(f"audit: {verify.stdout.strip() or verify.stderr.strip()}")
    for error in errors[:5]:
        print(f"  error: {error}")
    if not os.environ.get("BENCH_KEEP"):
        import shutil

        shutil.rmtree(instance, ignore_errors=True)
    print(f"bench-load: uploads={len(acknowledged)} lost={lost} duplicates={duplicates} "
          f"p95_upload_ms={percentile(latencies, 0.95):.0f} all_screened_s={all_screened_s:.1f}")
    return 0 if lost == 0 and duplicates == 0 and verify.returncode == 0 else 1


if __name__ == "__main__":
    import urllib.parse  # noqa: F401  (used by Tablet)

    sys.exit(main())
