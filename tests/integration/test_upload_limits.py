"""Cheap denial of service (issue 15, finding 9): a tiny PNG of 7745×7745 is refused at once with a
clear reason, decoding the largest accepted photo stays far under 1 GB, and one person's uploads
per hour and a school's pixels per day are limited, with defaults that a sports day fits."""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import subprocess
import sys
import time
import zlib
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from consent.models import utcnow
from gatekeeper.imaging.decode import MAX_PIXELS
from gatekeeper.models import Photo, User
from gatekeeper.uploads.service import SCHOOL_MEGAPIXELS_PER_DAY, UPLOADS_PER_USER_PER_HOUR
from tests.support.fixtures import upload_photo

ROOT = Path(__file__).resolve().parents[2]
SPORTS_DAY = 300
CAMERA = (4032, 3024)  # a 12 MP phone or tablet photo
ONE_GB = 1024 ** 3


def bomb_png(side: int = 7745) -> bytes:
    """A valid greyscale PNG of side×side zero pixels, compressed to a few tens of KB."""
    raw = zlib.compress(b"\x00" * (side + 1) * side, 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (len(data).to_bytes(4, "big") + kind + data
                + zlib.crc32(kind + data).to_bytes(4, "big"))

    header = side.to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def small_jpeg(shade: int = 40) -> bytes:
    """A small photo; each shade is another file (one event refuses the same file twice)."""
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, shade)).save(out, "JPEG")
    return out.getvalue()


def event_for(browser) -> int:
    made = browser.post("/uploads/events", {"name": "Sports day", "date": "2026-06-01",
                                            "purpose": "social_media"})
    return made.get_json()["id"]


def stored_photos(app) -> int:
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Photo))


def test_the_reported_pixel_bomb_is_refused_at_once_with_a_reason(app, login_as):
    data = bomb_png()
    assert len(data) < 80_000  # the report's file was 58 KB
    staff = login_as("staff")
    started = time.perf_counter()
    response = upload_photo(staff, event_for(staff), "bomb.png", data)
    assert time.perf_counter() - started < 3
    assert response.status_code == 422
    assert "7745×7745" in response.get_json()["error"] and "48 MP" in response.get_json()["error"]
    assert stored_photos(app) == 0


MEMORY_PROBE = """
import io, json, sys, time
from PIL import Image
from gatekeeper.imaging.decode import ImageRefused, decode_upright
data = sys.stdin.buffer.read()
started = time.perf_counter()
try:
    image = decode_upright(data)
    outcome = "decoded %dx%d" % image.size
except ImageRefused as refused:
    outcome = "refused: %s" % refused
# VmHWM is this process's own peak (ru_maxrss would carry over the parent's across exec).
peak = next(int(line.split()[1]) * 1024 for line in open("/proc/self/status")
            if line.startswith("VmHWM:"))
print(json.dumps({"outcome": outcome, "seconds": time.perf_counter() - started,
                  "max_rss": peak}))
"""


def decode_in_a_fresh_process(data: bytes) -> dict:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", MEMORY_PROBE], input=data, env=env,
                          capture_output=True, timeout=300)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    return json.loads(done.stdout)


def test_decoding_stays_under_a_gigabyte_for_the_bomb_and_the_largest_photo():
    bomb = decode_in_a_fresh_process(bomb_png())
    assert bomb["outcome"].startswith("refused") and "7745×7745" in bomb["outcome"]
    assert bomb["max_rss"] < ONE_GB / 4 and bomb["seconds"] < 2, bomb  # report: 1.1 GB, 12 s
    largest = io.BytesIO()
    width = 8000
    Image.new("RGB", (width, MAX_PIXELS // width), (90, 140, 200)).save(largest, "PNG")
    probe = decode_in_a_fresh_process(largest.getvalue())
    assert probe["outcome"] == f"decoded {width}x{MAX_PIXELS // width}", probe
    assert probe["max_rss"] < ONE_GB, probe


def test_one_person_is_limited_per_hour_and_the_school_per_day(app, login_as):
    app.config["UPLOADS_PER_USER_PER_HOUR"] = 3
    staff = login_as("staff")
    event_id = event_for(staff)
    answers = [upload_photo(staff, event_id, f"p{i}.jpg", small_jpeg(i * 20)) for i in range(4)]
    assert [a.status_code for a in answers] == [201, 201, 201, 429]
    assert "3 photos in the last hour" in answers[-1].get_json()["error"]
    assert stored_photos(app) == 3
    # Another member of staff is not held up by the first one's hour...
    media = login_as("media_lead")
    assert upload_photo(media, event_id, "m.jpg", small_jpeg(100)).status_code == 201
    # ...but the school's daily pixel allowance counts everyone's uploads.
    app.config["SCHOOL_MEGAPIXELS_PER_DAY"] = 0
    refused = upload_photo(media, event_id, "n.jpg", small_jpeg(120))
    assert refused.status_code == 429 and "allowance" in refused.get_json()["error"]
    storage = Path(app.config["STORAGE_DIR"]) / "originals"
    assert len(list(storage.iterdir())) == stored_photos(app) == 4  # nothing half-written


def test_a_sports_day_of_300_photos_fits_the_defaults(app, school, login_as):
    from gatekeeper.extensions import db

    staff = login_as("staff")
    event_id = event_for(staff)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "staff@testschool.test"))
        start = utcnow() - dt.timedelta(minutes=50)
        db.session.add_all(Photo(school_id=school["id"], event_id=event_id, uploaded_by_id=user.id,
                                 purpose="social_media", status="cleared", width=CAMERA[0],
                                 height=CAMERA[1], created_at=start + dt.timedelta(seconds=i))
                           for i in range(SPORTS_DAY - 1))
        db.session.commit()
    assert upload_photo(staff, event_id, "last.jpg", small_jpeg()).status_code == 201
    assert SPORTS_DAY * 2 <= UPLOADS_PER_USER_PER_HOUR
    assert SPORTS_DAY * CAMERA[0] * CAMERA[1] * 5 <= SCHOOL_MEGAPIXELS_PER_DAY * 1_000_000


def test_an_empty_file_is_refused_with_a_reason(app, login_as):
    staff = login_as("staff")
    response = upload_photo(staff, event_for(staff), "empty.jpg", b"")
    assert response.status_code == 422 and "empty" in response.get_json()["error"]


def test_the_same_file_twice_in_one_event_is_refused_with_the_first_ones_name(app, login_as):
    """A teacher picks the morning's photos again, or taps Retry after an upload whose answer was
    lost: each copy went through screening and onto the review queue, where "Tick every ready
    photo" released both and the same picture was posted twice."""
    from gatekeeper.extensions import db

    staff = login_as("staff")
    event_id = event_for(staff)
    first = upload_photo(staff, event_id, "IMG_0042.jpg", small_jpeg())
    assert first.status_code == 201
    again = upload_photo(staff, event_id, "IMG_0042 (1).jpg", small_jpeg())
    assert again.status_code == 409
    assert again.get_json()["error"] == ("This photo is already uploaded to this event, as "
                                         "IMG_0042.jpg: it was not uploaded a second time.")
    assert again.get_json()["photo"]["id"] == first.get_json()["id"]  # its card shows the first
    storage = Path(app.config["STORAGE_DIR"]) / "originals"
    assert len(list(storage.iterdir())) == stored_photos(app) == 1  # nothing of the copy is kept
    # A colleague's copy is not shown, nor named.
    theirs = upload_photo(login_as("media_lead"), event_id, "mine.jpg", small_jpeg())
    assert theirs.status_code == 409 and theirs.get_json()["photo"] is None
    assert "IMG_0042" not in theirs.get_json()["error"]
    assert "Someone has already uploaded this photo" in theirs.get_json()["error"]
    # Another event may have it, and a copy the media lead rejected is no longer in the way.
    assert upload_photo(staff, event_for(staff), "IMG_0042.jpg", small_jpeg()).status_code == 201
    with app.app_context():
        db.session.get(Photo, first.get_json()["id"]).status = "rejected"
        db.session.commit()
    assert upload_photo(staff, event_id, "IMG_0042.jpg", small_jpeg()).status_code == 201


def test_the_same_file_sent_at_once_from_several_tabs_is_kept_once(app, login_as):
    """Retry while the first request is still being saved (its answer lost on the way, the
    server still at it), or the same photos sent from two tabs: each request looked for an
    earlier copy before the other had written its own, and both were kept."""
    import threading

    staff = login_as("staff")
    event_id = event_for(staff)
    tabs = [staff] + [staff.tab() for _ in range(5)]
    start, codes = threading.Barrier(len(tabs)), []

    def go(tab):
        start.wait()
        codes.append(upload_photo(tab, event_id, "IMG_0042.jpg", small_jpeg()).status_code)

    threads = [threading.Thread(target=go, args=(tab,)) for tab in tabs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(codes) == [201] + [409] * 5
    storage = Path(app.config["STORAGE_DIR"]) / "originals"
    assert len(list(storage.iterdir())) == stored_photos(app) == 1
