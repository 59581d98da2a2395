"""One-time links: a signed (row id, secret) pair; the database keeps only the secret's hash.

The signature makes a tampered link fail before any lookup; the hash means a copy of the database
opens nothing; expiry and single use are decided by the row (server side), not by the token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

SECRET_BYTES = 32


class TokenRefused(Exception):
    """The link is not one Gatekeeper issued, or was altered."""


def new_secret() -> tuple[str, str]:
    """A fresh secret and the hash to store for it."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return secret, secret_hash(secret)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _serializer(purpose: str) -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt=f"gatekeeper.{purpose}")


def make_token(purpose: str, row_id: int, secret: str) -> str:
    return _serializer(purpose).dumps([row_id, secret])


def read_token(purpose: str, token: str) -> tuple[int, str]:
    """The row id and secret of a genuine token for `purpose`; TokenRefused otherwise."""
    try:
        row_id, secret = _serializer(purpose).loads(token)
    except (BadSignature, TypeError, ValueError):
        raise TokenRefused() from None
    if not isinstance(row_id, int) or isinstance(row_id, bool) or not isinstance(secret, str):
        raise TokenRefused()
    return row_id, secret


def genuine_row(session, model, purpose: str, token: str):
    """The row a genuine link for `purpose` opens (its secret matches), whatever its state; None
    for any other link."""
    try:
        row_id, secret = read_token(purpose, token)
    except TokenRefused:
        return None
    row = session.get(model, row_id)
    return row if row is not None and matches(row.token_hash, secret) else None


def matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash.encode(), secret_hash(secret).encode())
