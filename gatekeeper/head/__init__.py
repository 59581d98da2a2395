from gatekeeper.head.views import bp

__all__ = ["bp"]
