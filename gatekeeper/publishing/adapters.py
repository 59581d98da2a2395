"""Publishers: one small interface (publish, delete) behind which each destination sits.

Adapters do no database work and hold no Flask state: they get the release and their settings
(secrets already unsealed) and talk to one destination. Errors never carry a secret or a URL.
Each call makes one attempt; the retry policy lives in publishing/service.py (publish_post's
backoff through next_attempt_at) and publishing/takedown.py (counted takedown attempts).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import os
import secrets
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

HTTP_TIMEOUT_S = 20
SIGNATURE_HEADER = "X-Gatekeeper-Signature"
TIMESTAMP_HEADER = "X-Gatekeeper-Timestamp"
EVENT_HEADER = "X-Gatekeeper-Event"
IDEMPOTENCY_HEADER = "Idempotency-Key"
PUBLISH_EVENT = "post.publish"
DELETE_EVENT = "post.delete"
WORDPRESS_API = "/wp-json/wp/v2"
WORDPRESS_SLUG_PREFIX = "gk-"
WORDPRESS_TITLE_CHARS = 70
ADAPTERS = ("outbox", "webhook", "wordpress")
DEFAULT_PORTS = {"http": 80, "https": 443}
VIDEO_TYPE = "video/mp4"
MEDIA_EXTENSIONS = {"image/jpeg": "jpg", VIDEO_TYPE: "mp4"}


@dataclass(frozen=True)
class Release:
    """What a publisher receives: the sanitised image and the facts of the post."""

    post_uuid: str
    idempotency_key: str
    image: bytes
    caption: str
    account: str
    platform: str
    purpose: str
    pupils_cleared: list[str]
    released_by: str
    released_at: str
    scheduled_at: str
    school: str = ""  # the school's name: an outbox side file says whose post it is
    media_type: str = "image/jpeg"  # or "video/mp4": `image` then holds the sanitised clip

    @property
    def media(self) -> str:
        """What the post carries: "image" or "video" (the webhook's part, the side file's key)."""
        return "video" if self.media_type == VIDEO_TYPE else "image"

    @property
    def extension(self) -> str:
        return MEDIA_EXTENSIONS[self.media_type]

    def public_facts(self) -> dict:
        """What leaves the school's systems for a remote service: no pupil ids, no staff emails."""
        return {
            "post_uuid": self.post_uuid,
            "idempotency_key": self.idempotency_key,
            "caption": self.caption,
            "account": self.account,
            "platform": self.platform,
            "purpose": self.purpose,
            "scheduled_at": self.scheduled_at,
        }


@dataclass(frozen=True)
class PostRef:
    """Which post to delete: the destination's id when known, else the post's own keys."""

    post_uuid: str
    idempotency_key: str
    external_id: str | None


class PublishError(RuntimeError):
    """The destination refused or could not be reached; the post is retried."""


class Publisher(Protocol):
    can_delete: bool

    def publish(self, release: Release) -> str: ...

    def delete(self, ref: PostRef) -> None: ...


def write_atomically(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class OutboxPublisher:
    """Writes image + JSON side file into a folder, for manual upload or a sync tool.

    It removes its own files on takedown, but whatever a person or a sync tool already posted
    from the folder must be removed by hand: so a takedown becomes a task to confirm.
    """

    can_delete = False

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def publish(self, release: Release) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = release.post_uuid
        side = {k: v for k, v in release.__dict__.items() if k not in ("image", "media_type")}
        side[f"{release.media}_file"] = f"{name}.{release.extension}"
        # Image first, side file last: a sync tool that waits for the JSON never sees half a post.
        # Same names on a re-run: publishing twice leaves one post in the folder.
        write_atomically(self.folder / f"{name}.{release.extension}", release.image)
        write_atomically(self.folder / f"{name}.json", json.dumps(side, indent=2).encode())
        return name

    def delete(self, ref: PostRef) -> None:
        name = ref.external_id or ref.post_uuid
        for suffix in (".json", *(f".{ext}" for ext in MEDIA_EXTENSIONS.values())):
            (self.folder / f"{name}{suffix}").unlink(missing_ok=True)


def multipart(fields: dict[str, str],
              files: dict[str, tuple[str, str, bytes]]) -> tuple[str, bytes]:
    """(content type, body) of a multipart/form-data request; files are (filename, type, bytes)."""
    boundary = "gatekeeper-" + secrets.token_hex(16)
    parts: list[bytes] = []
    for name, value in fields.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n'
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n".encode() + value.encode() + b"\r\n"
        )
    for name, (filename, content_type, data) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
            f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + data + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def signed_message(timestamp: str, event: str, key: str, body: bytes) -> bytes:
    """The canonical string: timestamp, event and idempotency key, one per line, then the body.
    HTTP headers cannot hold a line break, so no header can be shifted into another's place."""
    return f"{timestamp}\n{event}\n{key}\n".encode() + body


def sign(secret: str, timestamp: str, event: str, key: str, body: bytes) -> str:
    """The signature header value: HMAC-SHA256 over the canonical string, hex, prefixed. It
    covers the event and idempotency key too, so a captured publish cannot be replayed as
    another event or under another key."""
    mac = hmac.new(secret.encode(), signed_message(timestamp, event, key, body), hashlib.sha256)
    return "sha256=" + mac.hexdigest()


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: bytes

    def json(self) -> dict:
        try:
            value = json.loads(self.body or b"{}")
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {"items": value}


class RedirectRefused(PublishError):
    """The destination sent us elsewhere: credentials and photos go only to the configured
    origin."""


def origin(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of a URL, with the scheme's default port filled in."""
    parts = urllib.parse.urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follows a redirect only within the origin it was sent to. urllib's own handler would
    carry the Authorization header to any host, and from https to plain http (issue 15)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        newurl = urllib.parse.urljoin(req.full_url, newurl)
        was, now = origin(req.full_url), origin(newurl)
        if was != now:
            fp.read()
            fp.close()
            raise RedirectRefused(redirect_reason(was, now))
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def redirect_reason(was: tuple, now: tuple) -> str:
    """Why a redirect was refused, naming no URL (errors are shown to staff and logged)."""
    if was[0] == "https" and now[0] != "https":
        where = "from https to plain http"
    elif was[0] != now[0]:
        where = f"to another scheme ({now[0] or 'none'})"
    elif was[1] != now[1]:
        where = "to another host"
    else:
        where = "to another port"
    return (f"the destination redirected {where}; refused, so the credentials and the photo "
            "go only to the configured address (correct the address in the account's settings)")


_OPENER = urllib.request.build_opener(_SameOriginRedirects)


def http(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> HttpAnswer:
    """One HTTP request; any status is an answer, a network failure is a PublishError, and a
    redirect away from the URL's origin is a RedirectRefused."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers)
    try:
        with _OPENER.open(request, timeout=HTTP_TIMEOUT_S) as response:  # noqa: S310
            return HttpAnswer(response.status, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return HttpAnswer(error.code, error.read())
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise PublishError(f"could not reach the destination ({type(reason).__name__})") from None


class WebhookPublisher:
    """Signed multipart POST to an automation tool; deletion is a second, signed event."""

    def __init__(self, url: str, secret: str, *, can_delete: bool = True):
        if not url or not secret:
            raise PublishError("the webhook needs a URL and a secret")
        self.url, self.secret, self.can_delete = url, secret, can_delete

    def publish(self, release: Release) -> str:
        content_type, body = multipart(
            {"event": PUBLISH_EVENT, "metadata": json.dumps(release.public_facts())},
            {release.media: (f"{release.post_uuid}.{release.extension}", release.media_type,
                             release.image)},
        )
        answer = self._deliver(PUBLISH_EVENT, content_type, body, release.idempotency_key)
        return str(answer.json().get("id") or release.idempotency_key)

    def delete(self, ref: PostRef) -> None:
        body = json.dumps({"event": DELETE_EVENT, "post_uuid": ref.post_uuid,
                           "idempotency_key": ref.idempotency_key,
                           "external_id": ref.external_id}).encode()
        self._deliver(DELETE_EVENT, "application/json", body, ref.idempotency_key + ":delete",
                      gone_ok=True)

    def _deliver(self, event: str, content_type: str, body: bytes, key: str,
                 gone_ok: bool = False) -> HttpAnswer:
        """One signed POST; anything but a 2xx (or a 404/410 to a delete) is a PublishError."""
        timestamp = str(int(time.time()))
        headers = {"Content-Type": content_type, EVENT_HEADER: event, TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self.secret, timestamp, event, key, body),
                   IDEMPOTENCY_HEADER: key}
        answer = http("POST", self.url, body, headers)
        if 200 <= answer.status < 300 or (gone_ok and answer.status in (404, 410)):
            return answer
        raise PublishError(f"the webhook answered HTTP {answer.status}")


class WordPressPublisher:
    """The school website through the WordPress REST API, with an application password.

    The post's slug carries its idempotency key: a re-run finds the media and post it made before.
    """

    can_delete = True

    def __init__(self, base_url: str, username: str, app_password: str, status: str = "publish"):
        if not base_url or not username or not app_password:
            raise PublishError("WordPress needs the site address, a user name and "
                               "an application password")
        self.api = base_url.rstrip("/") + WORDPRESS_API
        token = base64.b64encode(f"{username}:{app_password}".encode()).decode()
        self.auth = {"Authorization": f"Basic {token}"}
        self.status = status

    def publish(self, release: Release) -> str:
        slug = WORDPRESS_SLUG_PREFIX + release.idempotency_key
        post = self._find("posts", slug)
        if post is not None:
            return f"{post['id']},{post.get('featured_media') or ''}"
        media = self._find("media", slug) or self._upload(slug, release)
        source = html.escape(str(media.get("source_url", "")))
        shown = (f'<video controls src="{source}"></video>' if release.media == "video"
                 else f'<img src="{source}" alt="">')
        body = {
            "title": (release.caption.splitlines()[0][:WORDPRESS_TITLE_CHARS]
                      if release.caption else ""),
            "content": f'<p>{html.escape(release.caption)}</p>{shown}',
            "status": self.status,
            "slug": slug,
        }
        if release.media == "image":  # a featured image must be an image
            body["featured_media"] = media["id"]
        created = self._call("POST", "/posts", json.dumps(body).encode(), "application/json")
        return f"{created['id']},{media['id']}"

    def delete(self, ref: PostRef) -> None:
        slug = WORDPRESS_SLUG_PREFIX + ref.idempotency_key
        post_id, _, media_id = (ref.external_id or "").partition(",")
        if not post_id:
            post = self._find("posts", slug)
            post_id = str(post["id"]) if post else ""
        if not media_id:
            media = self._find("media", slug)
            media_id = str(media["id"]) if media else ""
        # Forced: straight out, not into the bin where the photo stays reachable.
        for kind, item in (("posts", post_id), ("media", media_id)):
            if item:
                self._call("DELETE", f"/{kind}/{int(item)}?force=true", None, None, gone_ok=True)

    def _find(self, kind: str, slug: str) -> dict | None:
        query = urllib.parse.urlencode({"slug": slug,
                                        "status": "any" if kind == "posts" else "inherit"})
        found = self._call("GET", f"/{kind}?{query}", None, None)
        items = found.get("items", [])
        return items[0] if items else None

    def _upload(self, slug: str, release: Release) -> dict:
        content_type, body = multipart(
            {}, {"file": (f"{slug}.{release.extension}", release.media_type, release.image)})
        return self._call("POST", "/media", body, content_type)

    def _call(self, method: str, path: str, body: bytes | None, content_type: str | None,
              gone_ok: bool = False) -> dict:
        headers = dict(self.auth)
        if content_type:
            headers["Content-Type"] = content_type
        answer = http(method, self.api + path, body, headers)
        if 200 <= answer.status < 300 or (gone_ok and answer.status in (404, 410)):
            return answer.json()
        raise PublishError(f"WordPress answered HTTP {answer.status} "
                           f"to {method} {path.split('?')[0]}")


def school_outbox(outbox_root: Path, school_id: int) -> Path:
    """Each school's own outbox folder (by id, which never changes; the side file names it)."""
    return Path(outbox_root) / f"school-{int(school_id)}"


def publisher_for(account, outbox_root: Path, secret: str = "") -> Publisher:
    """The publisher an official account is configured with (`secret` already unsealed)."""
    settings = account.settings
    if account.adapter == "outbox":
        # Never a folder chosen in a form; never one school's posts among another's.
        return OutboxPublisher(school_outbox(outbox_root, account.school_id))
    if account.adapter == "webhook":
        return WebhookPublisher(settings.get("url", ""), secret,
                                can_delete=bool(settings.get("can_delete", True)))
    if account.adapter == "wordpress":
        return WordPressPublisher(settings.get("base_url", ""), settings.get("username", ""),
                                  secret, status=settings.get("status", "publish"))
    raise PublishError(f"publisher {account.adapter!r} is not available")
