"""Full addresses of one-time links, for the command line and for email (no request to build
from)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import quote

BASE_URL_VARIABLE = "GATEKEEPER_BASE_URL"
DEFAULT_BASE_URL = "http://127.0.0.1:5000"  # what `make run` serves


def base_url(config: Mapping, seen_by_user: str | None = None) -> str:
    """The configured address; else the one the user is on (a web request); else `make run`'s."""
    configured = config.get("BASE_URL") or os.environ.get(BASE_URL_VARIABLE)
    return (configured or seen_by_user or DEFAULT_BASE_URL).rstrip("/")


def invitation_url(token: str, config: Mapping, seen_by_user: str | None = None) -> str:
    return f"{base_url(config, seen_by_user)}/welcome/{quote(token, safe='')}"


def reset_url(token: str, config: Mapping, seen_by_user: str | None = None) -> str:
    return f"{base_url(config, seen_by_user)}/welcome/reset/{quote(token, safe='')}"
