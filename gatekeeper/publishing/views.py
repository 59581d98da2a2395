"""The posting queue: what goes out when, and what went out."""

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from gatekeeper.auth.guard import guard_blueprint
from gatekeeper.extensions import db
from gatekeeper.models import Post

bp = guard_blueprint(Blueprint("publishing", __name__, url_prefix="/queue"), "media_lead", "head")


@bp.route("/")
def index():
    posts = db.session.scalars(
        select(Post).where(Post.school_id == g.school_id).order_by(Post.scheduled_at.desc())
    ).all()
    return render_template("publishing/index.html", posts=posts, title=_("Posting queue"))
