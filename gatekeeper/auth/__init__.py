"""Sign-in, sign-out and the blueprint guard that makes every view deny by default."""

from gatekeeper.auth.guard import check_every_blueprint_guarded, guard_blueprint, public_blueprint
from gatekeeper.auth.views import bp, init_auth

__all__ = ["bp", "check_every_blueprint_guarded", "guard_blueprint", "init_auth", "public_blueprint"]
