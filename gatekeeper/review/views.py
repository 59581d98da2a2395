"""Media lead: the review queue, one photo with its faces, decisions, and release."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from consent.models import Pupil
from gatekeeper.auth.guard import guard_blueprint
from gatekeeper.extensions import db
from gatekeeper.models import Event, Face, OfficialAccount, Photo
from gatekeeper.publishing.captions import check_caption
from gatekeeper.publishing.service import ReleaseError, register_names, release_post
from gatekeeper.review.service import ReviewError, reject_photo, release_blockers, resolve_face
from gatekeeper.tasks import publish_post_task
from gatekeeper.thumbnails import PREVIEW_SIDE, thumbnail_response

bp = guard_blueprint(Blueprint("review", __name__, url_prefix="/review"), "media_lead")

QUEUE_STATES = ("needs_review", "cleared", "blocked")
RELEASE_CHECKLIST = (
    ("dressed", "Everyone is appropriately dressed."),
    ("no_distress", "No one is subject to ridicule or distress."),
    ("no_location", "No identifying background: house numbers, street names, school uniform badges."),
    ("tagging_off", "Tagging will be off on the post."),
)


def school_photo(photo_id: int) -> Photo:
    photo = db.session.get(Photo, photo_id)
    if photo is None or photo.school_id != g.school_id:
        abort(404)
    return photo


def approved_accounts():
    return db.session.scalars(
        select(OfficialAccount).where(
            OfficialAccount.school_id == g.school_id,
            OfficialAccount.approved_at.is_not(None),
            OfficialAccount.paused.is_(False),
        )
    ).all()


@bp.route("/")
def index():
    photos = db.session.scalars(
        select(Photo)
        .where(Photo.school_id == g.school_id, Photo.status.in_(QUEUE_STATES))
        .order_by(Photo.event_id.desc(), Photo.id)
    ).all()
    events = {e.id: e for e in db.session.scalars(select(Event).where(Event.school_id == g.school_id))}
    by_event: dict = {}
    for photo in photos:
        by_event.setdefault(events.get(photo.event_id), []).append(photo)
    return render_template("review/index.html", by_event=by_event, title=_("Review queue"))


@bp.route("/<int:photo_id>")
def photo(photo_id: int):
    photo = school_photo(photo_id)
    pupils = {p.id: p for p in db.session.scalars(select(Pupil).where(Pupil.school_id == g.school_id))}
    return render_template(
        "review/photo.html", photo=photo, pupils=pupils, blockers=release_blockers(photo),
        accounts=approved_accounts(), checklist=RELEASE_CHECKLIST,
        title=_("Review photo %(n)d", n=photo.id),
    )


@bp.route("/<int:photo_id>/image")
def image(photo_id: int):
    return thumbnail_response(school_photo(photo_id), side=PREVIEW_SIDE)


@bp.route("/<int:photo_id>/preview")
def preview(photo_id: int):
    """Exactly the pixels that will be posted: sanitised, with blurs applied."""
    return thumbnail_response(school_photo(photo_id), side=PREVIEW_SIDE, blur=True)


@bp.route("/<int:photo_id>/faces/<int:face_id>", methods=["POST"])
def resolve(photo_id: int, face_id: int):
    photo = school_photo(photo_id)
    face = db.session.get(Face, face_id)
    if face is None or face.photo_id != photo.id:
        abort(404)
    pupil = db.session.get(Pupil, request.form.get("pupil_id", type=int) or 0)
    try:
        resolve_face(db.session, face, request.form.get("resolution", ""), current_user, pupil)
        db.session.commit()
    except ReviewError as error:
        db.session.rollback()
        flash(str(error), "danger")
    return redirect(url_for("review.photo", photo_id=photo.id))


@bp.route("/<int:photo_id>/reject", methods=["POST"])
def reject(photo_id: int):
    photo = school_photo(photo_id)
    reject_photo(db.session, photo, current_user, request.form.get("reason", "")[:500])
    db.session.commit()
    flash(_("Photo rejected."), "info")
    return redirect(url_for("review.index"))


@bp.route("/caption-check", methods=["POST"])
def caption_check():
    check = check_caption(request.form.get("caption", ""), register_names(db.session, g.school_id))
    return jsonify(ok=check.ok, errors=list(check.errors), warnings=list(check.warnings))


def parse_schedule(value: str | None) -> dt.datetime | None:
    from gatekeeper.timezone import london_to_utc

    return london_to_utc(dt.datetime.fromisoformat(value)) if value else None


@bp.route("/<int:photo_id>/release", methods=["POST"])
def release(photo_id: int):
    photo = school_photo(photo_id)
    missing = [label for key, label in RELEASE_CHECKLIST if request.form.get(key) != "yes"]
    account = db.session.get(OfficialAccount, request.form.get("account_id", type=int) or 0)
    try:
        if missing:
            raise ReleaseError(_("Confirm every item of the checklist before release."))
        if account is None:
            raise ReleaseError(_("Choose an official account."))
        scheduled = parse_schedule(request.form.get("scheduled_at"))
        post = release_post(db.session, photo, account, request.form.get("caption", ""),
                            current_user, scheduled)
        db.session.commit()
    except (ReleaseError, ValueError) as error:
        db.session.rollback()
        flash(str(error), "danger")
        return redirect(url_for("review.photo", photo_id=photo.id))
    publish_post_task.schedule((post.id,), eta=post.scheduled_at)
    flash(_("Released to %(account)s.", account=account.label), "success")
    return redirect(url_for("review.index"))
