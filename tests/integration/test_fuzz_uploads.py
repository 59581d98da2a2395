"""Upload fuzzing: malformed images, polyglots, hostile filenames and oversize requests. Every case
ends in a clear refusal or a screened photo, never a 500 or a stuck row; what leaves Gatekeeper is
only ever freshly encoded pixels."""

import io
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from sqlalchemy import select

from gatekeeper.models import Photo
from tests.support.fixtures import upload_photo

pytestmark = pytest.mark.slow

REFUSALS = (400, 409, 413, 415, 422)
SETTLED = ("cleared", "needs_review", "blocked", "no_faces", "rejected")
FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def base_jpeg(size=(96, 72)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 90, 30)).save(out, "JPEG", quality=80)
    return out.getvalue()


BASE = base_jpeg()


def zip_bytes() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.html", "<script>alert(1)</script>")
    return out.getvalue()


def mutations():
    flips = st.lists(st.tuples(st.integers(0, len(BASE) - 1), st.integers(0, 255)), max_size=8)
    return st.one_of(
        st.binary(max_size=2048),
        st.integers(0, len(BASE)).map(lambda n: BASE[:n]),
        flips.map(lambda fs: bytes(_flip(BASE, fs))),
        st.binary(max_size=512).map(lambda tail: BASE + tail),
        st.sampled_from([b"GIF89a" + BASE, b"\x89PNG\r\n\x1a\n" + b"\0" * 40, b"<svg onload=x>",
                         BASE[:2] + b"\xff\xe1\xff\xff" + b"Exif\0\0" + b"\xff" * 300 + BASE[2:]]),
    )


def _flip(data: bytes, changes) -> bytearray:
    out = bytearray(data)
    for index, value in changes:
        out[index] = value
    return out


hostile_names = st.one_of(
    st.text(max_size=80),
    st.sampled_from(["../../../etc/passwd", "..\\..\\boot.ini", "a/../../x.jpg", "\x00.jpg",
                     "photo\r\nSet-Cookie: x=1.jpg", "CON", ".htaccess", "x" * 1000 + ".jpg",
                     "<script>.jpg", "\u202egpj.exe"]),
)


@pytest.fixture
def uploader(app, school, login_as):
    # Hypothesis sends far more files than a person could: the upload rate (tested on its own in
    # test_upload_limits.py) would answer 429 long before the inputs run out.
    app.config["UPLOADS_PER_USER_PER_HOUR"] = 1_000_000
    staff = login_as("staff")
    event_id = staff.post("/uploads/events", {"name": "Fuzz", "date": "2026-06-01",
                                              "purpose": "social_media"}).get_json()["id"]
    return staff, event_id


def check_outcome(app, response) -> None:
    assert response.status_code in (201, *REFUSALS), response.status_code
    if response.status_code != 201:
        assert response.get_json()["error"]  # a message a person can read
        return
    photo_id = response.get_json()["id"]
    from gatekeeper.extensions import db

    with app.app_context():
        photo = db.session.get(Photo, photo_id)
        assert photo.status in SETTLED, photo.status
        assert "/" not in photo.original_filename and "\\" not in photo.original_filename
        assert not any(ord(c) < 32 or ord(c) == 127 for c in photo.original_filename)


@FUZZ
@given(data=mutations(), name=hostile_names)
def test_malformed_uploads_end_in_refusal_or_screened_photo(app, uploader, data, name):
    staff, event_id = uploader
    check_outcome(app, upload_photo(staff, event_id, name, data))


def test_no_row_is_left_unsettled_after_fuzzing(app, uploader):
    staff, event_id = uploader
    for data in (b"", b"\xff\xd8", BASE[: len(BASE) // 2], BASE):
        check_outcome(app, upload_photo(staff, event_id, "x.jpg", data))
    from gatekeeper.extensions import db

    with app.app_context():
        states = db.session.scalars(select(Photo.status)).all()
    assert states and all(s in SETTLED for s in states)


@pytest.mark.parametrize("polyglot", [BASE + zip_bytes(),
                                      BASE + b"<html><script>alert(1)</script></html>",
                                      BASE[:2] + b"\xff\xfe\x00\x20<html><script>x</script>"
                                      + BASE[2:]])
def test_polyglots_only_leave_as_reencoded_pixels(app, uploader, login_as, polyglot):
    staff, event_id = uploader
    response = upload_photo(staff, event_id, "poly.jpg", polyglot)
    check_outcome(app, response)
    if response.status_code != 201:
        return
    photo_id = response.get_json()["id"]
    media = login_as("media_lead")
    for path in (f"/uploads/{photo_id}/thumb", f"/review/{photo_id}/image",
                 f"/review/{photo_id}/preview"):
        browser = staff if path.startswith("/uploads") else media
        served = browser.get(path)
        if served.status_code != 200:
            continue
        body = served.get_data()
        assert served.mimetype == "image/jpeg"
        assert served.headers["X-Content-Type-Options"] == "nosniff"
        assert b"PK\x03\x04" not in body and b"<html" not in body and b"<script" not in body
        assert body != polyglot
        Image.open(io.BytesIO(body)).verify()


def test_oversize_request_is_refused_before_storage(app, uploader):
    staff, event_id = uploader
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    response = upload_photo(staff, event_id, "huge.jpg", BASE + b"\0" * (128 * 1024))
    assert response.status_code == 413
    from gatekeeper.extensions import db

    with app.app_context():
        assert db.session.scalars(select(Photo)).all() == []
