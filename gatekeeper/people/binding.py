"""A signed-in session is bound to the browser and address it signed in from.

Flask-Login's `session_protection = "strong"` does nothing for permanent sessions (it only marks
them "not fresh"), and Gatekeeper's sessions are permanent (a school day), so a copied cookie
worked from another browser (issue 15). This check does what "strong" promises, for every session:
a cookie presented by another browser or from another address is emptied before the user is
loaded. Ending every session of a user (logout, password change, deactivation) is the user's
rotating `session_token`, which every session carries.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Flask, current_app, request, session
from flask.sessions import SecureCookieSessionInterface

BINDING_KEY = "_gk_bound_to"
USER_KEY = "_user_id"  # where Flask-Login keeps the signed-in user


def client_binding() -> str:
    """A keyed hash of what this request's client is: its address and its browser."""
    client = f"{request.remote_addr or ''}|{request.headers.get('User-Agent', '')}"
    secret = str(current_app.secret_key or "").encode()
    return hmac.new(secret, b"session-binding:" + client.encode(), hashlib.sha256).hexdigest()


def bind_session() -> None:
    """Called at sign-in, after the session was started afresh."""
    session[BINDING_KEY] = client_binding()


def drop_foreign_session() -> None:
    """Before anything reads the user: a session from another client is signed out."""
    if USER_KEY not in session:
        return
    bound = session.get(BINDING_KEY, "")
    if not hmac.compare_digest(bound, client_binding()):
        current_app.logger.warning("session presented by another client: signed out")
        session.clear()


class TlsAwareSessions(SecureCookieSessionInterface):
    """The session cookie is `Secure` whenever the request came over TLS (directly or through
    the trusted proxy), whatever the configuration says, so it never leaks to plain http."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def init_binding(app: Flask) -> None:
    app.config.setdefault("SESSION_PROTECTION", "strong")
    app.session_interface = TlsAwareSessions()
    # Runs before the app's other before_request hooks, which load the user.
    app.before_request_funcs.setdefault(None, []).insert(0, drop_foreign_session)
