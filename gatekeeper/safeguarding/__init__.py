"""The designated safeguarding lead: the no-publish list with its reasons, and blocked photos."""

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from sqlalchemy import select

from consent.models import NoPublishEntry, Pupil
from gatekeeper.auth.guard import guard_blueprint
from gatekeeper.extensions import db
from gatekeeper.models import Photo

bp = guard_blueprint(Blueprint("safeguarding", __name__, url_prefix="/safeguarding"), "dsl")


@bp.route("/")
def index():
    entries = db.session.execute(
        select(NoPublishEntry, Pupil)
        .join(Pupil, Pupil.id == NoPublishEntry.pupil_id)
        .where(NoPublishEntry.school_id == g.school_id)
        .order_by(NoPublishEntry.removed_at.is_not(None), Pupil.last_name)
    ).all()
    blocked = db.session.scalars(
        select(Photo).where(Photo.school_id == g.school_id, Photo.status == "blocked")
    ).all()
    return render_template("safeguarding/index.html", entries=entries, blocked=blocked,
                           title=_("No-publish list"))
