"""The parent link: a token signed with the app's secret, naming one guardian and their nonce.

It expires PARENT_LINK_DAYS after it was issued, and issuing a new link (or revoking) changes the
nonce, so only the latest link of a guardian works.
"""

from __future__ import annotations

import datetime as dt
import hmac

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from consent.models import Guardian

PARENT_LINK_DAYS = 30
SALT = "gatekeeper.parent-link"


class LinkRefused(Exception):
    """The link is not one the school issued, or no longer the guardian's latest."""


class LinkExpired(LinkRefused):
    """The link was genuine but is older than the link lifetime; `guardian_id` is whose it was
    (its signature holds), so that the page can answer in the school's language."""

    def __init__(self, guardian_id: int | None = None):
        super().__init__()
        self.guardian_id = guardian_id


def link_days() -> int:
    return int(current_app.config.get("PARENT_LINK_DAYS", PARENT_LINK_DAYS))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=SALT)


def make_token(guardian: Guardian) -> str:
    if not guardian.link_nonce:
        raise ValueError("issue a nonce before making the guardian's link")
    return _serializer().dumps([guardian.id, guardian.link_nonce])


def read_token(token: str) -> tuple[int, str]:
    """The guardian id and nonce a genuine, unexpired token carries."""
    try:
        guardian_id, nonce = _serializer().loads(token, max_age=link_days() * 86400)
    except SignatureExpired as expired:
        try:
            guardian_id = _serializer().load_payload(expired.payload)[0]
        except (BadSignature, TypeError, ValueError, IndexError, KeyError):
            guardian_id = None
        raise LinkExpired(guardian_id if isinstance(guardian_id, int) else None) from None
    except (BadSignature, TypeError, ValueError):
        raise LinkRefused() from None
    if not isinstance(guardian_id, int) or not isinstance(nonce, str):
        raise LinkRefused()
    return guardian_id, nonce


def matches(guardian: Guardian | None, nonce: str) -> bool:
    return bool(guardian and guardian.link_nonce
                and hmac.compare_digest(guardian.link_nonce.encode(), nonce.encode()))


def link_expires_at(guardian: Guardian) -> dt.datetime | None:
    """When the guardian's current link stops working (naive UTC), or None without one."""
    if not guardian.link_nonce or guardian.link_issued_at is None:
        return None
    return guardian.link_issued_at + dt.timedelta(days=link_days())
