"""Security headers on every response, the reverse proxy's word on addresses, and outage replies."""

from __future__ import annotations

import hashlib
import os
import re

from flask import Flask, current_app, jsonify, make_response, request
from flask_babel import gettext as _
from gunicorn.glogging import Logger
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from werkzeug.middleware.proxy_fix import ProxyFix

from gatekeeper.extensions import db
from gatekeeper.web.guard import PUBLIC_ENDPOINTS

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HSTS = "max-age=31536000; includeSubDomains"
# How many reverse proxies in front of gunicorn may set X-Forwarded-For/-Proto (0: none trusted).
PROXY_COUNT_VARIABLE = "GATEKEEPER_PROXY_COUNT"
# Bearer tokens in paths: a parent link (30 days), an invitation (24 hours) and a password reset
# (an hour). Logs show a link id (a hash) instead, never the token. "/welcome/reset" alone is the
# page that asks for an address, not a token. deploy/nginx.conf logs the same way.
TOKEN_PATH = re.compile(r"(/parent/|/welcome/reset/|/welcome/)(?!reset(?=[/?#\s\"]|$))"
                        r"([^/?#\s\"]+)")
TOKEN_PREFIXES = ("/parent/", "/welcome/")
# What a sign-in provider sends back (/auth/sso/callback?code=...&state=...) and puts in its own
# addresses, which come as referrers: the one-time code, the state, the nonce, and tokens from a
# provider that sends them in the address. Logs show "[redacted]" for each value.
SECRET_QUERY_NAMES = ("code", "state", "nonce", "id_token", "access_token")
SECRET_QUERY = re.compile(rf"((?:^|[?&;])(?:{'|'.join(SECRET_QUERY_NAMES)})=)[^&;#\s\"]*",
                          re.IGNORECASE)
REDACTED = "[redacted]"
LINK_ID_CHARS = 12
OUTAGE_STATUS = 503
RETRY_AFTER_S = 30


def queue_errors() -> tuple[type[BaseException], ...]:
    """Errors raised when the task queue's Redis is out of reach."""

    return (RedisConnectionError, RedisTimeoutError)


def init_security(app: Flask) -> None:
    proxies = int(os.environ.get(PROXY_COUNT_VARIABLE, "0") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)  # type: ignore[method-assign]

    @app.after_request
    def set_headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        # A page's address (a parent link's token included) goes as a referrer to this site
        # alone, whose logs show link ids instead of tokens (RedactingLogger), never elsewhere.
        # Pages must send it here: over https, Flask-WTF refuses a form posted without it.
        response.headers["Referrer-Policy"] = "same-origin"
        # Nothing but the static files is kept by a cache: send_file's "no-cache" (a download
        # such as a subject access export) still lets a cache store what it revalidates.
        if (request.endpoint not in PUBLIC_ENDPOINTS
                and "no-store" not in response.headers.get("Cache-Control", "")):
            response.headers["Cache-Control"] = "no-store"
        if request.is_secure:
            response.headers["Strict-Transport-Security"] = HSTS
        return response

    app.register_error_handler(DBAPIError, service_unavailable)
    for error in queue_errors():
        app.register_error_handler(error, service_unavailable)


def service_unavailable(error: Exception):
    """The database or queue is out of reach: say so plainly; the transaction was rolled back."""


    current_app.logger.error("service unavailable: %s", type(error).__name__)
    try:
        db.session.rollback()
    except Exception:  # the connection is gone; the database discards the open transaction
        current_app.logger.info("rollback impossible while the database is unreachable")
    message = _("Gatekeeper cannot reach its database or queue just now. Nothing was saved "
                "by this request; please try again in a minute.")
    wants_json = request.accept_mimetypes.best == "application/json" or request.path.startswith(
        "/uploads/"
    )
    response = jsonify(error=message) if wants_json else app_text(message)
    response.status_code = OUTAGE_STATUS
    response.headers["Retry-After"] = str(RETRY_AFTER_S)
    return response


def app_text(message: str):
    return make_response(message, OUTAGE_STATUS, {"Content-Type": "text/plain; charset=utf-8"})


def link_id(token: str) -> str:
    """What logs call a parent link: a short hash of its token (the token itself is a key)."""
    return "link-" + hashlib.sha256(token.encode()).hexdigest()[:LINK_ID_CHARS]


def redact_tokens(text: str) -> str:
    """The text with every token of a parent link, invitation or reset replaced by its id, and
    a sign-in provider's code, state and tokens in a query by "[redacted]"."""
    if "=" in text:
        text = SECRET_QUERY.sub(lambda m: m.group(1) + REDACTED, text)
    if not any(prefix in text for prefix in TOKEN_PREFIXES):
        return text
    return TOKEN_PATH.sub(lambda m: m.group(1) + link_id(m.group(2)), text)


def _gunicorn_logger():
    class RedactingLogger(Logger):
        """gunicorn's access log with the tokens of parent links, invitations and resets
        replaced by link ids, and a sign-in provider's code and state by "[redacted]" (request
        line, path, query and referrer alike). Used with `--logger-class`."""

        def atoms(self, resp, req, environ, request_time):
            atoms = super().atoms(resp, req, environ, request_time)
            return {k: redact_tokens(v) if isinstance(v, str) else v for k, v in atoms.items()}

    return RedactingLogger


def __getattr__(name: str):
    # Built on first use, so importing this module does not need gunicorn (tests, the worker).
    if name == "RedactingLogger":
        return _gunicorn_logger()
    raise AttributeError(name)
