"""The designated safeguarding lead: the no-publish list with its reasons, blocked photos with
the reason each child is protected, and the audit of every manual decision."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, g, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import rules
from consent.clock import school_today
from consent.models import NoPublishEntry, Pupil
from consent.services import pupil_facts
from gatekeeper.extensions import db
from gatekeeper.models import AuditEvent, Photo
from gatekeeper.people.roles import ROLE_LABELS
from gatekeeper.register.wording import school_time
from gatekeeper.review.service import manual_decisions
from gatekeeper.states import FaceStatus, PhotoState
from gatekeeper.uploads.labels import reason_label
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import thumbnail_response
from gatekeeper.web.rows import school_row

bp = guard_blueprint(Blueprint("safeguarding", __name__, url_prefix="/safeguarding"), "dsl")

BLOCKED_LIMIT = 100
# The decisions people made, in words (the audit keeps its own keys).
ACTION_LABELS = {
    "face_resolved": _l("Face decided"),
    "face_decision_undone": _l("Decision on a face undone"),
    "face_added_as_reference": _l("Face kept as a reference"),
    "photo_rejected": _l("Photo rejected"),
    "photo_released": _l("Photo released"),
    "post_withdrawn": _l("Post taken down"),
    "no_faces_confirmed": _l("Nobody in the photo, confirmed"),
    "user_created": _l("Account created"),
    "role_granted": _l("Role granted"),
    "role_revoked": _l("Role removed"),
    "user_deactivated": _l("Deactivated"),
    "user_reactivated": _l("Reactivated"),
}
RESOLUTION_WORDS = {"not_pupil": _l("not a pupil"), "blur": _l("blurred")}


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


def decision_detail(event: AuditEvent, names: dict[int, str]) -> str:
    """What a decision was about, in words: the photo, who was named, the reason, the role."""
    detail, parts = event.detail, []
    if "photo_id" in detail:
        parts.append(_("photo %(n)d", n=detail["photo_id"]))
    resolution = detail.get("resolution") if event.action == "face_resolved" else None
    if resolution == "pupil":
        parts.append(_("named as %(name)s", name=names.get(detail.get("pupil_id"), "?")))
    elif resolution in RESOLUTION_WORDS:
        parts.append(str(RESOLUTION_WORDS[resolution]))
        if detail.get("pupil_id") in names:
            parts.append(names[detail["pupil_id"]])
    if event.action == "face_added_as_reference" and detail.get("upn"):
        parts.append(detail["upn"])
    parts += [reason_label(detail[k]) for k in ("reason",) if detail.get(k)]
    parts += [str(detail[k]) for k in ("account",) if detail.get(k)]
    parts += [names.get(p, "?") for p in detail.get("pupils", [])]
    if detail.get("role"):
        parts.append(str(ROLE_LABELS.get(detail["role"], detail["role"])))
    return "; ".join(parts)


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
    names = {pid: f"{first} {last}" for pid, first, last in db.session.execute(
        select(Pupil.id, Pupil.first_name, Pupil.last_name).where(Pupil.school_id == g.school_id))}
    return render_template(
        "safeguarding/index.html", active=active,
        blocked=[(photo, protections(db.session, photo)) for photo in blocked],
        decisions=manual_decisions(db.session, g.school_id), title=_("Safeguarding"),
        action_label=lambda a: str(ACTION_LABELS.get(a, a.replace("_", " "))),
        detail=lambda event: decision_detail(event, names), school_time=school_time,
    )


@bp.route("/photos/<int:photo_id>/thumb")
def thumbnail(photo_id: int):
    return thumbnail_response(school_row(Photo, photo_id))
