"""Real destinations for publishing tests: a webhook receiver and a WordPress site on 127.0.0.1.

Each is a stdlib HTTP server in a thread that checks what it receives the way the real thing
would (signature and timestamp, application password, idempotency key) and records it.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import itertools
import json
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from consent.clock import SCHOOL_ZONE, school_today

SIGNATURE_TOLERANCE_S = 300
CHECKLIST = {"dressed": "yes", "no_distress": "yes", "no_location": "yes", "tagging_off": "yes"}
AHEAD = dt.timedelta(days=30)  # a "Post at" in a test: well after the test has run


def uk_time(month: int, day: int, hour: int = 9, minute: int = 30) -> dt.datetime:
    """The first such UK wall-clock time at least AHEAD from now (a "Post at" that has not
    passed, in the season the test needs)."""
    soon = (dt.datetime.now(SCHOOL_ZONE) + AHEAD).replace(tzinfo=None)
    moment = dt.datetime(soon.year, month, day, hour, minute)
    return moment if moment >= soon else moment.replace(year=soon.year + 1)


def uk_days_ahead(days: int, hour: int = 9, minute: int = 30) -> dt.datetime:
    """A UK wall-clock time `days` after today at the school."""
    return dt.datetime.combine(school_today() + dt.timedelta(days=days), dt.time(hour, minute))


def post_at(local: dt.datetime) -> str:
    """A UK time as the release form's "Post at" field sends it."""
    return local.strftime("%Y-%m-%dT%H:%M")


def form_parts(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """name → (filename, bytes) of a multipart/form-data body."""
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = {}
    for part in message.iter_parts():
        parts[part.get_param("name", header="content-disposition")] = (
            part.get_filename(), part.get_payload(decode=True))
    return parts


class _Server:
    def __init__(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def do_GET(self):
                owner.answer(self, "GET")

            def do_POST(self):
                owner.answer(self, "POST")

            def do_DELETE(self):
                owner.answer(self, "DELETE")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler, method: str) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        with self.lock:
            status, payload = self.handle(method, handler.path, handler.headers, body)
        self.after_answer()
        data = json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def handle(self, method, path, headers, body):
        raise NotImplementedError

    def after_answer(self) -> None:
        pass


@dataclass
class Delivery:
    event: str
    key: str
    signature_ok: bool
    fresh: bool
    metadata: dict = field(default_factory=dict)
    image: bytes = b""
    image_name: str | None = None
    body: dict = field(default_factory=dict)
    part: str = "image"


class WebhookReceiver(_Server):
    """An automation tool's endpoint: verifies the signature, de-duplicates by idempotency key."""

    def __init__(self, secret: str, *, fail_first: int = 0, fail_always: bool = False):
        super().__init__()
        self.secret = secret
        self.fail_first, self.fail_always, self.fail_status = fail_first, fail_always, 503
        self.deliveries: list[Delivery] = []
        self.posts: dict[str, str] = {}  # idempotency key → id of the post made
        self.deleted: list[str] = []
        self.ids = itertools.count(1)
        self.accepted = threading.Event()  # set when a post was made
        self.hold = threading.Event()  # when armed, answers wait for it (the worker dies meanwhile)
        self.hold.set()

    def handle(self, method, path, headers, body):
        timestamp = headers.get("X-Gatekeeper-Timestamp", "")
        message = (f"{timestamp}\n{headers.get('X-Gatekeeper-Event', '')}\n"
                   f"{headers.get('Idempotency-Key', '')}\n").encode() + body
        expected = "sha256=" + hmac.new(self.secret.encode(), message, hashlib.sha256).hexdigest()
        given = headers.get("X-Gatekeeper-Signature", "").encode("utf-8", "replace")
        signature_ok = hmac.compare_digest(expected.encode(), given)
        fresh = timestamp.isdigit() and abs(time.time() - int(timestamp)) < SIGNATURE_TOLERANCE_S
        delivery = Delivery(headers.get("X-Gatekeeper-Event", ""),
                            headers.get("Idempotency-Key", ""), signature_ok, fresh)
        self.deliveries.append(delivery)
        if not (signature_ok and fresh):
            return 401, {"error": "bad signature"}
        if self.fail_always or self.fail_first > 0:
            self.fail_first -= 1
            return self.fail_status, {"error": "refused"}
        if delivery.event == "post.delete":
            delivery.body = json.loads(body)
            self.deleted.append(delivery.body["idempotency_key"])
            return 200, {"deleted": True}
        parts = form_parts(headers["Content-Type"], body)
        delivery.metadata = json.loads(parts["metadata"][1])
        delivery.part = "video" if "video" in parts else "image"  # a clip comes as "video"
        delivery.image_name, delivery.image = parts[delivery.part]
        if delivery.key not in self.posts:
            self.posts[delivery.key] = f"wh-{next(self.ids)}"
            self.accepted.set()
        return 200, {"id": self.posts[delivery.key]}

    def after_answer(self) -> None:
        self.hold.wait(timeout=60)

    def live_posts(self) -> list[str]:
        return [key for key in self.posts if key not in self.deleted]


class WordPressSite(_Server):
    """The parts of the WordPress REST API the publisher uses, behind an application password."""

    def __init__(self, username: str, app_password: str):
        super().__init__()
        self.auth = "Basic " + base64.b64encode(f"{username}:{app_password}".encode()).decode()
        self.media: dict[int, dict] = {}
        self.posts: dict[int, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self.refused = 0
        self.ids = itertools.count(100)

    def handle(self, method, path, headers, body):
        self.requests.append((method, path))
        if headers.get("Authorization") != self.auth:
            self.refused += 1
            return 401, {"code": "rest_not_logged_in"}
        parts = urllib.parse.urlsplit(path)
        query = dict(urllib.parse.parse_qsl(parts.query))
        route = parts.path.removeprefix("/wp-json/wp/v2")
        item = re.fullmatch(r"/(posts|media)/(\d+)", route)
        if method == "GET" and route in ("/posts", "/media"):
            store = self.posts if route == "/posts" else self.media
            found = [v for v in store.values() if v["slug"] == query.get("slug")]
            return 200, [{k: v for k, v in item.items() if k != "bytes"} for item in found]
        if method == "POST" and route == "/media":
            filename, data = form_parts(headers["Content-Type"], body)["file"]
            media_id = next(self.ids)
            slug = filename.rsplit(".", 1)[0]
            self.media[media_id] = {"id": media_id, "slug": slug, "bytes": data,
                                    "source_url": f"{self.url}/uploads/{filename}"}
            return 201, {k: v for k, v in self.media[media_id].items() if k != "bytes"}
        if method == "POST" and route == "/posts":
            post = json.loads(body)
            post_id = next(self.ids)
            self.posts[post_id] = {**post, "id": post_id}
            return 201, self.posts[post_id]
        if method == "DELETE" and item:
            store = self.posts if item.group(1) == "posts" else self.media
            if query.get("force") != "true":
                return 400, {"code": "rest_trash_not_supported"}
            removed = store.pop(int(item.group(2)), None)
            return (200, {"deleted": True}) if removed else (404, {"code": "rest_post_invalid_id"})
        return 404, {"code": "rest_no_route"}


def sample_jpeg(width: int = 640, height: int = 480) -> bytes:
    """A camera-like JPEG carrying EXIF with GPS and a comment: what sanitising must strip."""
    import piexif
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (90, 140, 200))
    ImageDraw.Draw(image).ellipse((width // 3, height // 4, width // 2, height // 2),
                                  fill=(230, 190, 160))
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"PhoneCo"},
                        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N",
                                piexif.GPSIFD.GPSLatitude: ((51, 1), (30, 1), (0, 1))}})
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, comment=b"Home of the Smith family")
    return out.getvalue()


def pupil_encoding(pupil_id: int):
    """A stable made-up 128-d face encoding for a pupil (random vectors lie ~1.6 apart, far
    beyond every tolerance, so each matches only its own pupil)."""
    import numpy as np

    return np.random.default_rng(pupil_id).normal(0.0, 0.1, 128)


def enrol_made_up_face(session, school_id: int, pupil_id: int, encoding=None) -> None:
    """Give the pupil a reference face (pupil_encoding unless given), once."""
    from sqlalchemy import select

    from consent.models import ReferenceFace
    from gatekeeper.compliance.crypto import app_cipher, seal_encoding

    if session.scalar(select(ReferenceFace.id).where(ReferenceFace.pupil_id == pupil_id)) is None:
        encoding = pupil_encoding(pupil_id) if encoding is None else encoding
        session.add(ReferenceFace(school_id=school_id, pupil_id=pupil_id, created_by="test",
                                  encoding_encrypted=seal_encoding(app_cipher(), encoding)))
        session.flush()


def screened_photo(session, school_id: int, encodings, *, purpose: str = "social_media") -> int:
    """A photo whose faces have these encodings, screened by the real rule against the register
    as it is now (detection is tested elsewhere). Returns the photo id."""
    from gatekeeper.compliance.crypto import app_cipher, seal_encoding
    from gatekeeper.models import Face, Photo
    from gatekeeper.screening.rule import photo_verdict
    from gatekeeper.screening.service import RegisterNow
    from gatekeeper.storage import app_storage

    decisions = RegisterNow(session, school_id).decide(encodings, purpose)
    data = sample_jpeg()
    photo = Photo(school_id=school_id, purpose=purpose, status=photo_verdict(decisions),
                  width=640, height=480, original_filename="event.jpg", size_bytes=len(data),
                  no_faces=not decisions)
    session.add(photo)
    session.flush()
    app_storage().write_bytes("originals", photo.uuid, data)
    for index, (encoding, decision) in enumerate(zip(encodings, decisions, strict=True)):
        left = 40 + index * 150
        session.add(Face(school_id=school_id, photo_id=photo.id, index=index, top=100,
                         right=left + 100, bottom=220, left=left, score=0.99,
                         status=decision.status, pupil_id=decision.pupil_id,
                         distance=decision.distance,
                         encoding_encrypted=seal_encoding(app_cipher(), encoding)))
    session.commit()
    return photo.id


def cleared_photo(session, school_id: int, pupil_ids: list[int], *, uploaded_by_id=None,
                  purpose: str = "social_media") -> int:
    """A screened photo with one face per pupil, stored with that pupil's (made-up) encoding so
    that the rule, run again at release and at posting, clears each face as its pupil. The
    pupils get the matching reference face. Returns the photo id."""
    from gatekeeper.compliance.crypto import app_cipher, seal_encoding
    from gatekeeper.models import Face, Photo
    from gatekeeper.storage import app_storage

    data = sample_jpeg()
    photo = Photo(school_id=school_id, purpose=purpose, status="cleared", width=640, height=480,
                  original_filename="event.jpg", size_bytes=len(data),
                  uploaded_by_id=uploaded_by_id)
    session.add(photo)
    session.flush()
    app_storage().write_bytes("originals", photo.uuid, data)
    for index, pupil_id in enumerate(pupil_ids):
        enrol_made_up_face(session, school_id, pupil_id)
        left = 40 + index * 150
        session.add(Face(school_id=school_id, photo_id=photo.id, index=index, top=100,
                         right=left + 100, bottom=220, left=left, score=0.99, status="cleared",
                         pupil_id=pupil_id, distance=0.0,
                         encoding_encrypted=seal_encoding(app_cipher(), pupil_encoding(pupil_id))))
    session.commit()
    return photo.id


def user_id(session, email: str) -> int:
    from sqlalchemy import select

    from gatekeeper.models import User

    return session.scalar(select(User.id).where(User.email == email))


def add_account(head, releaser_ids, *, adapter: str, purpose: str = "social_media",
                platform: str = "Automation", handle: str = "@school", **settings) -> int:
    """The head sets up, approves and authorises an account through the web pages."""
    form = {"platform": platform, "handle": handle, "purpose": purpose, "adapter": adapter,
            "max_side": "800", "quality": "85", "aim": "Celebrate achievements",
            "audience": "Parents", "promotion": "Newsletter", "visibility": "open",
            "admin_names": "Head Teacher\nOffice Manager", **settings}
    saved = head.post("/accounts/new", form)
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    account_id = int(saved.headers["Location"].rstrip("/").rsplit("/", 1)[1])
    assert head.post(f"/accounts/{account_id}/approve").status_code == 302
    assert head.post(f"/accounts/{account_id}/releasers",
                     {"user_id": [str(i) for i in releaser_ids]}).status_code == 302
    return account_id


def release(media, photo_id: int, account_id: int, caption: str, scheduled_at: str = ""):
    """The media lead's release form, checklist ticked."""
    return media.post(f"/review/{photo_id}/release", {"account_id": str(account_id),
                      "caption": caption, "scheduled_at": scheduled_at, **CHECKLIST})
