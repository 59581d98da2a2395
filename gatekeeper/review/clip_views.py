"""Media lead: one clip, played as it will be posted, with a card per face track; split a track,
keep or drop the sound. Deciding about a track, rejecting and releasing use the photo's routes."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from consent.models import Pupil
from gatekeeper.extensions import db
from gatekeeper.imaging.crops import face_region
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.renderings import clip_picture
from gatekeeper.models import Face, Photo
from gatekeeper.review import clips, service
from gatekeeper.review.views import (
    next_or_queue,
    queue_review_copy,
    release_and_queue,
    release_form_context,
    sent_values,
)
from gatekeeper.screening.service import RegisterNow
from gatekeeper.storage import app_storage
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import image_response
from gatekeeper.web.rows import school_row

bp = guard_blueprint(Blueprint("clips", __name__, url_prefix="/review/clips"), "media_lead")

CARD_SIDE = 240
CARD_QUALITY = 80
CARD_MARGIN = 0.6  # context around a track's face on its card


def clip_row(photo_id: int) -> Photo:
    photo = school_row(Photo, photo_id)
    if not photo.is_video:
        abort(404)
    return photo


def track_row(photo: Photo, face_id: int) -> Face:
    face = school_row(Face, face_id)
    if face.photo_id != photo.id:
        abort(404)
    return face


@bp.route("/<int:photo_id>")
def clip(photo_id: int):
    return clip_page(clip_row(photo_id))


@bp.route("/<int:photo_id>/release", methods=["POST"])
def release(photo_id: int):
    """Release a clip; when the release is refused, its page comes back with what was typed."""
    photo = clip_row(photo_id)
    if release_and_queue([photo]):
        return next_or_queue(photo)
    db.session.refresh(photo)
    return clip_page(photo, sent_values(), 400)


def clip_page(photo: Photo, values=None, status: int = 200):
    """One clip: the player, a card per track, and for each account what the rule says now;
    what a refused release sent is kept in the form."""
    pupils = {p.id: p for p in db.session.scalars(
        select(Pupil).where(Pupil.school_id == g.school_id))}
    register = RegisterNow(db.session, g.school_id)
    context = release_form_context()
    checks = [(a, service.release_blockers(register, photo, a.purpose))
              for a in context.pop("accounts")]
    return render_template(
        "review/clip.html", photo=photo, pupils=pupils, checks=checks,
        accounts=[a for a, blockers in checks if not blockers],
        blockers=service.release_blockers(register, photo, photo.purpose), values=values or {},
        title=_("Review clip %(n)d", n=photo.id), **context,
    ), status


@bp.route("/<int:photo_id>/play")
def play(photo_id: int):
    """The clip as it will be posted (blurs followed through every picture, sound as chosen),
    at a review size; never the original."""
    photo = clip_row(photo_id)
    storage = app_storage()
    if not storage.exists("originals", photo.uuid):
        abort(404)
    try:
        path = clips.review_copy(photo)
    except ImageRefused:
        abort(415)
    response = send_file(path, mimetype="video/mp4", conditional=True, max_age=0)
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/<int:photo_id>/faces/<int:face_id>/card")
def card(photo_id: int, face_id: int):
    """The track's best look: its face with some context, sanitised like any picture."""
    photo = clip_row(photo_id)
    face = track_row(photo, face_id)
    storage = app_storage()
    if not storage.exists("originals", photo.uuid):
        abort(404)
    try:
        data = clip_picture(storage, photo, CARD_SIDE, CARD_QUALITY, (),
                            time=face.track.get("best", 0.0), crop=card_crop(face, photo))
    except ImageRefused:
        abort(415)
    return image_response(data, f"clip-{photo.id}-face-{face.index + 1}.jpg")


def card_crop(face: Face, photo: Photo) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the face with CARD_MARGIN around it, on the picture."""
    return face_region(face.box, photo.width, photo.height, CARD_MARGIN)


@bp.route("/<int:photo_id>/faces/<int:face_id>/split", methods=["POST"])
def split(photo_id: int, face_id: int):
    photo = clip_row(photo_id)
    face = track_row(photo, face_id)
    at = request.form.get("at", type=float)
    with commit_or_flash(_("The face was split in two: decide about each."),
                         errors=(service.ReviewError,), category="info"):
        if at is None:
            raise service.ReviewError(
                _("Choose a time between the face's first and last sighting."))
        clips.split_track(db.session, face, at, current_user)
    return redirect(url_for("clips.clip", photo_id=photo.id, _anchor=f"face-{face.index + 1}"))


@bp.route("/<int:photo_id>/sound", methods=["POST"])
def sound(photo_id: int):
    photo = clip_row(photo_id)
    with commit_or_flash(None, errors=(service.ReviewError,)) as chosen:
        clips.choose_sound(db.session, photo, request.form.get("muted") == "yes", current_user)
    if chosen:
        queue_review_copy(photo.id)
    return redirect(url_for("clips.clip", photo_id=photo.id))
