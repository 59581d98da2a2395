"""Parent self-service: a signed, expiring link per parent or carer, no account, consent only."""

from gatekeeper.parents.views import bp

__all__ = ["bp"]
