"""The headteacher: users and roles, official accounts, and a dashboard of the week."""

import datetime as dt

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from sqlalchemy import func, select

from consent.models import utcnow
from gatekeeper.auth.guard import guard_blueprint
from gatekeeper.extensions import db
from gatekeeper.models import Membership, OfficialAccount, Photo, Post, User

bp = guard_blueprint(Blueprint("head", __name__, url_prefix="/head"), "head")


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where)) or 0


@bp.route("/")
def index():
    week_ago = utcnow() - dt.timedelta(days=7)
    school = Photo.school_id == g.school_id
    figures = {
        _("Uploads this week"): count(Photo, school, Photo.created_at >= week_ago),
        _("Waiting for review"): count(Photo, school, Photo.status.in_(("needs_review", "cleared"))),
        _("Blocked"): count(Photo, school, Photo.status == "blocked"),
        _("Released"): count(Post, Post.school_id == g.school_id),
        _("Taken down"): count(Post, Post.school_id == g.school_id, Post.state == "withdrawn"),
    }
    users = db.session.execute(
        select(User, Membership.role)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.school_id == g.school_id)
        .order_by(User.name)
    ).all()
    accounts = db.session.scalars(
        select(OfficialAccount).where(OfficialAccount.school_id == g.school_id)
    ).all()
    return render_template("head/index.html", figures=figures, users=users, accounts=accounts,
                           title=_("Head's dashboard"))
