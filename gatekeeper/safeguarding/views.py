"""The designated safeguarding lead: the no-publish list with its reasons, blocked photos with
the reason each child is protected, lifting a block that is not the protected child, and the audit
of every manual decision."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from consent import rules
from consent.clock import school_today
from consent.models import NoPublishEntry, Pupil, ReferenceFace
from consent.services import pupil_facts
from gatekeeper.compliance.crypto import app_cipher
from gatekeeper.extensions import db
from gatekeeper.imaging.clips import boxes_at
from gatekeeper.imaging.crops import CROP_QUALITY, FACE_CROP_SIDE, face_region
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.renderings import clip_picture
from gatekeeper.imaging.sanitise import crop_face, sanitise
from gatekeeper.models import AuditEvent, BlockLift, Face, Photo
from gatekeeper.people.roles import ROLE_LABELS
from gatekeeper.register.wording import school_time
from gatekeeper.review.service import manual_decisions
from gatekeeper.safeguarding import lifts
from gatekeeper.screening.clips import SAMPLE_EVERY
from gatekeeper.screening.service import RegisterNow
from gatekeeper.states import FaceStatus, LiftState, PhotoState
from gatekeeper.storage import app_storage
from gatekeeper.uploads.labels import reason_label
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import image_response, thumbnail_response
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
    face_id: int | None = None


def protections(session: Session, photo: Photo) -> list[Protection]:
    """Why each blocked face of the photo is protected, in the register's words, as of today."""
    found = []
    for face in photo.faces:
        if face.status != FaceStatus.BLOCKED:
            continue
        pupil = session.get(Pupil, face.pupil_id or face.resolved_pupil_id or 0)
        reason = (rules.decide(pupil_facts(pupil), photo.purpose, school_today()).reason
                  if pupil else _("matched no one on the register"))
        found.append(Protection(face.index + 1, pupil, reason, face.id))
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
        requests=lifts.requests(db.session, g.school_id),
        lifted=lifts.lifts_in_force(db.session, g.school_id),
        decisions=manual_decisions(db.session, g.school_id), title=_("Safeguarding"),
        action_label=lambda a: str(ACTION_LABELS.get(a, a.replace("_", " "))),
        detail=lambda event: decision_detail(event, names), school_time=school_time,
    )


@bp.route("/faces/<int:face_id>/check")
def check_face(face_id: int):
    """The face beside the reference photos of the protected pupil it is blocked for."""
    face = school_row(Face, face_id)
    pupil_id = lifts.blocking_pupil(RegisterNow(db.session, g.school_id), face)
    pupil = db.session.get(Pupil, pupil_id) if pupil_id else None
    reason = (rules.decide(pupil_facts(pupil), face.photo.purpose, school_today()).reason
              if pupil else None)
    return render_template(
        "safeguarding/check.html", face=face, pupil=pupil, reason=reason,
        request_=lifts.open_request(db.session, face, pupil_id) if pupil_id else None,
        references=lifts.reference_photo_ids(db.session, pupil) if pupil else [],
        title=_("Check a blocked face"),
    )


@bp.route("/faces/<int:face_id>/lift", methods=["POST"])
def lift(face_id: int):
    face = school_row(Face, face_id)
    pupil = school_row(Pupil, request.form.get("pupil_id", type=int) or 0)
    with commit_or_flash(_("Block lifted: face %(n)d is decided again without %(name)s.",
                           n=face.index + 1, name=pupil.full_name), errors=(lifts.LiftError,)):
        lifts.lift_block(db.session, face, pupil, current_user)
    return redirect(url_for("safeguarding.check_face", face_id=face.id))


@bp.route("/lifts/<int:lift_id>/keep", methods=["POST"])
def keep(lift_id: int):
    found = school_row(BlockLift, lift_id)
    if found.state != LiftState.REQUESTED:  # a double tap, or a second tab: already answered
        flash(_("This was answered already: nothing changed."), "info")
        return redirect(url_for("safeguarding.index"))
    with commit_or_flash(_("The block stays. The media lead will see that you checked."),
                         errors=(lifts.LiftError,)):
        lifts.keep_block(db.session, found, current_user)
    return redirect(url_for("safeguarding.index"))


@bp.route("/lifts/<int:lift_id>/revoke", methods=["POST"])
def revoke(lift_id: int):
    found = school_row(BlockLift, lift_id)
    if found.state != LiftState.LIFTED:
        flash(_("This was answered already: nothing changed."), "info")
        return redirect(url_for("safeguarding.index"))
    with commit_or_flash(_("The block is back on that face."), errors=(lifts.LiftError,)):
        lifts.revoke_lift(db.session, found, current_user)
    return redirect(url_for("safeguarding.index"))


@bp.route("/faces/<int:face_id>/crop")
def face_picture(face_id: int):
    face = school_row(Face, face_id)
    storage = app_storage()
    if not storage.exists("originals", face.photo.uuid):
        abort(404)
    photo = face.photo
    try:
        if photo.is_video:  # the look the pupil's block stands on, else the largest sighting
            time = lifts.nearest_look(RegisterNow(db.session, g.school_id), face,
                                      request.args.get("pupil", type=int))
            time = face.track.get("best", 0.0) if time is None else time
            box = boxes_at(face.track.get("boxes", []), time, SAMPLE_EVERY) or face.box
            data = clip_picture(storage, photo, FACE_CROP_SIDE, CROP_QUALITY, (), time=time,
                                crop=face_region(box, photo.width, photo.height))
        else:
            data = crop_face(storage.read("originals", photo.uuid), tuple(face.box),
                             max_side=FACE_CROP_SIDE, quality=CROP_QUALITY)
    except ImageRefused:
        abort(415)
    return image_response(data, f"face-{face.id}.jpg")


@bp.route("/references/<int:reference_id>/photo")
def reference_picture(reference_id: int):
    reference = school_row(ReferenceFace, reference_id)
    if reference.photo_encrypted is None or reference.sealed_at is not None:
        abort(404)
    try:
        data = sanitise(app_cipher().decrypt(reference.photo_encrypted),
                        max_side=FACE_CROP_SIDE, quality=CROP_QUALITY)
    except ImageRefused:
        abort(415)
    return image_response(data, f"reference-{reference.id}.jpg")


@bp.route("/photos/<int:photo_id>/thumb")
def thumbnail(photo_id: int):
    return thumbnail_response(school_row(Photo, photo_id))
