from gatekeeper.uploads.views import bp

__all__ = ["bp"]
