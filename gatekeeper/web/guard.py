"""Deny by default: a blueprint either names the roles that may use it or declares itself public."""

from __future__ import annotations

from flask import Blueprint, Flask, abort, current_app, g
from flask_login import current_user

from gatekeeper.extensions import login_manager

PUBLIC_ENDPOINTS = {"static", "bootstrap.static"}


def guard_blueprint(bp: Blueprint, *roles: str) -> Blueprint:
    """Every view of `bp` needs a signed-in user holding one of `roles` at the current school."""
    allowed = frozenset(roles)

    @bp.before_request
    def require_role():
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not (g.roles & allowed):
            abort(403)
        return None

    bp.allowed_roles = allowed  # type: ignore[attr-defined]
    return bp


def may_open(endpoint: str) -> bool:
    """Whether the signed-in user's roles here pass the guard of the endpoint's blueprint: the
    menu offers only what opens."""
    bp = current_app.blueprints.get(endpoint.split(".")[0])
    allowed = getattr(bp, "allowed_roles", frozenset())
    return allowed is None or bool(getattr(g, "roles", set()) & allowed)


def public_blueprint(bp: Blueprint) -> Blueprint:
    bp.allowed_roles = None  # type: ignore[attr-defined]
    return bp


def check_every_blueprint_guarded(app: Flask) -> None:
    """Refuse to start if a blueprint forgot its guard, or a view sits outside any blueprint."""
    for name, bp in app.blueprints.items():
        if name != "bootstrap" and not hasattr(bp, "allowed_roles"):
            raise RuntimeError(f"blueprint {name!r} has no role guard")
    for endpoint in app.view_functions:
        if "." not in endpoint and endpoint not in PUBLIC_ENDPOINTS:
            raise RuntimeError(f"view {endpoint!r} is outside a guarded blueprint")
