"""The landing page: each role starts where its daily work is."""

from flask import Blueprint, g, redirect, render_template, url_for
from flask_babel import gettext as _

from gatekeeper.models import ROLES, TRUST_ROLES
from gatekeeper.web.guard import guard_blueprint

bp = guard_blueprint(Blueprint("home", __name__), *ROLES, *TRUST_ROLES)

START_PAGES = (
    ("media_lead", "review.index"),
    ("head", "head.index"),
    ("dsl", "safeguarding.index"),
    ("admin", "register.index"),
    ("staff", "uploads.index"),
    ("trust_admin", "trust.index"),
    ("dpo", "dpo.audit_trail"),
)


@bp.route("/")
def index():
    for role, endpoint in START_PAGES:
        if role in g.roles:
            return redirect(url_for(endpoint))
    return render_template("home/index.html", title=_("Gatekeeper"))
