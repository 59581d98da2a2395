from gatekeeper.head import people  # noqa: F401  (its routes join the head blueprint)
from gatekeeper.head.views import bp

__all__ = ["bp"]
