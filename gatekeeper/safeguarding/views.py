"""The designated safeguarding lead: the no-publish list with its reasons, blocked photos with
the reason each child is protected, and the audit of every manual decision."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import rules
from consent.clock import school_today
from consent.models import NoPublishEntry, Pupil
from consent.services import pupil_facts
from gatekeeper.extensions import db
from gatekeeper.models import Photo
from gatekeeper.review.service import manual_decisions
from gatekeeper.states import FaceStatus, PhotoState
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import thumbnail_response
from gatekeeper.web.rows import school_row

bp = guard_blueprint(Blueprint("safeguarding", __name__, url_prefix="/safeguarding"), "dsl")

BLOCKED_LIMIT = 100


@dataclass(frozen=True)
class Protection:
    face_number: int
    pupil: Pupil | None
    reason: str


def protections(session: Session, photo: Photo) -> list[Protection]:
    """Why each blocked face of the photo is protected, in the register's words, as of today."""
    found = []
    for face in photo.faces:
        if face.status != FaceStatus.BLOCKED:
            continue
        pupil = session.get(Pupil, face.pupil_id or face.resolved_pupil_id or 0)
        reason = (rules.decide(pupil_facts(pupil), photo.purpose, school_today()).reason
                  if pupil else _("matched no one on the register"))
        found.append(Protection(face.index + 1, pupil, reason))
    return found


@bp.route("/")
def index():
    # The list itself (add, remove, history) lives on one page only: register/nopublish.py.
    active = db.session.scalar(
        select(func.count()).select_from(NoPublishEntry)
        .where(NoPublishEntry.school_id == g.school_id, NoPublishEntry.removed_at.is_(None))
    )
    blocked = db.session.scalars(
        select(Photo).where(Photo.school_id == g.school_id, Photo.status == PhotoState.BLOCKED)
        .order_by(Photo.id.desc()).limit(BLOCKED_LIMIT)
    ).all()
    return render_template(
        "safeguarding/index.html", active=active,
        blocked=[(photo, protections(db.session, photo)) for photo in blocked],
        decisions=manual_decisions(db.session, g.school_id), title=_("Safeguarding"),
    )


@bp.route("/photos/<int:photo_id>/thumb")
def thumbnail(photo_id: int):
    return thumbnail_response(school_row(Photo, photo_id))
