from gatekeeper.register.views import bp

__all__ = ["bp"]
