from gatekeeper.review.views import bp

__all__ = ["bp"]
