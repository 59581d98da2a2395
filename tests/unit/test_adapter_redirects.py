"""Credentials go only to the configured origin (issue 15, finding 4): a WordPress site or webhook
that redirects to another host, port or scheme fails the publish with a clear reason, and the
other server never sees the application password or the photo. Real servers on 127.0.0.1."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from test_adapters import SECRET, WP_PASSWORD, WP_USER, release

from gatekeeper.publishing.adapters import (
    RedirectRefused,
    WebhookPublisher,
    WordPressPublisher,
    origin,
    redirect_reason,
)


class Server:
    """Answers every request with a redirect to `location` (or 200), recording what it got."""

    def __init__(self, location: str | None = None, status: int = 302):
        owner = self
        self.location, self.status, self.seen = location, status, []

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                owner.seen.append((self.command, self.path, dict(self.headers), body))
                if owner.location:
                    self.send_response(owner.status)
                    self.send_header("Location", owner.location.format(path=self.path))
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = b'{"id": 1}' if self.command != "GET" else b"[]"
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = answer

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_wordpress_password_does_not_follow_a_redirect_to_another_host(status):
    with Server() as elsewhere, Server("http://localhost:{port}{path}", status) as site:
        site.location = site.location.replace("{port}", str(elsewhere.port))
        publisher = WordPressPublisher(f"http://127.0.0.1:{site.port}", WP_USER, WP_PASSWORD)
        with pytest.raises(RedirectRefused, match="redirected to another host"):
            publisher.publish(release())
    assert site.seen and not elsewhere.seen  # the other host was never contacted


def test_a_redirect_to_another_port_or_scheme_is_refused_too():
    with Server() as elsewhere, Server() as site:
        site.location = f"http://127.0.0.1:{elsewhere.port}{{path}}"
        publisher = WordPressPublisher(f"http://127.0.0.1:{site.port}", WP_USER, WP_PASSWORD)
        with pytest.raises(RedirectRefused, match="another port"):
            publisher.publish(release())
        site.location = f"https://127.0.0.1:{site.port}{{path}}"
        with pytest.raises(RedirectRefused, match="another scheme"):
            publisher.publish(release())
    assert not elsewhere.seen


def test_https_to_plain_http_is_named_as_such():
    was, now = origin("https://school.example/wp-json"), origin("http://school.example/wp-json")
    assert was != now
    assert "from https to plain http" in redirect_reason(was, now)
    assert origin("https://School.Example:443/x") == origin("https://school.example/y")


def test_the_webhook_does_not_send_the_photo_elsewhere():
    with Server() as elsewhere, Server(status=307) as hook:
        hook.location = f"http://localhost:{elsewhere.port}/steal"
        publisher = WebhookPublisher(f"http://127.0.0.1:{hook.port}/hook", SECRET)
        with pytest.raises(RedirectRefused) as refused:
            publisher.publish(release())
    assert "127.0.0.1" not in str(refused.value) and "localhost" not in str(refused.value)
    assert not elsewhere.seen


def test_a_redirect_within_the_site_is_still_followed():
    with Server() as site:
        site.location = None
        with Server() as front:
            front.location = f"http://127.0.0.1:{front.port}/moved{{path}}"
            front.status = 302
            # The same origin: followed, and the password goes with it (it is the same site).
            publisher = WordPressPublisher(f"http://127.0.0.1:{front.port}", WP_USER, WP_PASSWORD)
            with pytest.raises(Exception) as loop:
                publisher.publish(release())
            assert not isinstance(loop.value, RedirectRefused)  # a loop, not a refusal
            assert all("Authorization" in headers for _, _, headers, _ in front.seen)
