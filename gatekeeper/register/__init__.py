from gatekeeper.register.nopublish import bp as nopublish_bp
from gatekeeper.register.views import bp

__all__ = ["bp", "nopublish_bp"]
