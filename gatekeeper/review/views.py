"""Media lead: the review queue, one photo with its faces, decisions, and release."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, OperationalError

from consent.clock import london_to_utc
from consent.models import Pupil
from gatekeeper.extensions import db
from gatekeeper.imaging.renderings import PREVIEW_SIDE
from gatekeeper.models import Face, OfficialAccount, Photo
from gatekeeper.publishing.accounts import may_release
from gatekeeper.publishing.captions import check_caption
from gatekeeper.publishing.service import ReleaseError, register_names, release_photos
from gatekeeper.review import service
from gatekeeper.safeguarding.lifts import LiftError, ask_dsl
from gatekeeper.screening.service import RegisterNow
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import thumbnail_response
from gatekeeper.web.rows import school_row
from gatekeeper.web.wording import say
from gatekeeper.worker.tasks import publish_post_task

bp = guard_blueprint(Blueprint("review", __name__, url_prefix="/review"), "media_lead")

RELEASE_CHECKLIST = (
    ("dressed", _l("Everyone is appropriately dressed.")),
    ("no_distress", _l("No one is subject to ridicule or distress.")),
    ("no_location", _l("No identifying background: house numbers, street names, "
                       "school uniform badges.")),
    ("tagging_off", _l("Tagging will be off on the post.")),
)
MAX_CAPTION = 2000
MAX_REASON = 500


def approved_accounts():
    """The approved, running accounts of the school that this user may release to."""
    accounts = db.session.scalars(
        select(OfficialAccount).where(
            OfficialAccount.school_id == g.school_id,
            OfficialAccount.approved_at.is_not(None),
            OfficialAccount.paused.is_(False),
        )
    ).all()
    return [a for a in accounts if may_release(db.session, a, current_user)]


def release_form_context() -> dict:
    return {"accounts": approved_accounts(), "checklist": RELEASE_CHECKLIST}


@bp.route("/")
def index():
    register = RegisterNow(db.session, g.school_id)
    return render_template(
        "review/index.html", queue=service.review_queue(db.session, g.school_id),
        ready=lambda photo: service.bulk_ready(register, photo), title=_("Review queue"),
        **release_form_context(),
    )


@bp.route("/<int:photo_id>")
def photo(photo_id: int):
    """One photo: its faces, and for each account offered what the rule says for its purpose."""
    photo = school_row(Photo, photo_id)
    pupils = {p.id: p for p in db.session.scalars(select(Pupil).where(Pupil.school_id == g.school_id))}
    register = RegisterNow(db.session, g.school_id)
    context = release_form_context()
    checks = [(a, service.release_blockers(register, photo, a.purpose))
              for a in context.pop("accounts")]
    hints = {f.index: d for f, d in zip(photo.faces,
                                         register.decide_stored(photo, photo.purpose),
                                         strict=True) if d.maybe}
    return render_template(
        "review/photo.html", photo=photo, pupils=pupils, checks=checks, hints=hints,
        accounts=[a for a, blockers in checks if not blockers],
        blockers=service.release_blockers(register, photo, photo.purpose),
        title=_("Review photo %(n)d", n=photo.id), **context,
    )


@bp.route("/<int:photo_id>/no-faces", methods=["POST"])
def confirm_no_faces(photo_id: int):
    """A person looked at a photo in which no face was found and says nobody is in it."""
    photo = school_row(Photo, photo_id)
    with commit_or_flash(None, errors=(service.ReviewError,)):
        service.confirm_no_faces(db.session, photo, current_user)
    return redirect(url_for("review.photo", photo_id=photo.id))


@bp.route("/<int:photo_id>/image")
def image(photo_id: int):
    return thumbnail_response(school_row(Photo, photo_id), side=PREVIEW_SIDE)


@bp.route("/<int:photo_id>/preview")
def preview(photo_id: int):
    """Exactly the image that will be posted to the account: sanitised, sized, blurs applied."""
    photo = school_row(Photo, photo_id)
    account_id = request.args.get("account", type=int)
    if account_id is None:
        return thumbnail_response(photo, side=PREVIEW_SIDE, boxes=service.blur_boxes(photo))
    account = school_row(OfficialAccount, account_id)
    return thumbnail_response(photo, side=account.max_side, boxes=service.blur_boxes(photo),
                              quality=account.quality)


@bp.route("/pupils")
def pupils():
    found = service.search_pupils(db.session, g.school_id, request.args.get("q", "")[:100])
    return jsonify(pupils=[{"id": p.id, "name": p.full_name, "year": p.year_group} for p in found])


@bp.route("/<int:photo_id>/faces/<int:face_id>", methods=["POST"])
def resolve(photo_id: int, face_id: int):
    photo = school_row(Photo, photo_id)
    face = school_row(Face, face_id)
    if face.photo_id != photo.id:
        abort(404)
    pupil = db.session.get(Pupil, request.form.get("pupil_id", type=int) or 0)
    with commit_or_flash(None, errors=(service.ReviewError,)):
        service.resolve_face(db.session, face, request.form.get("resolution", ""), current_user,
                             pupil)
    return redirect(url_for("review.photo", photo_id=photo.id, _anchor=f"face-{face.index + 1}"))


@bp.route("/<int:photo_id>/faces/<int:face_id>/ask-dsl", methods=["POST"])
def ask_about_block(photo_id: int, face_id: int):
    """Ask the DSL whether a blocked face is really the protected pupil (only the DSL decides)."""
    face = school_row(Face, face_id)
    if face.photo_id != photo_id:
        abort(404)
    with commit_or_flash(_("The DSL has been asked to check this face."), errors=(LiftError,)):
        ask_dsl(db.session, face, current_user)
    return redirect(url_for("review.photo", photo_id=photo_id, _anchor=f"face-{face.index + 1}"))


@bp.route("/<int:photo_id>/reject", methods=["POST"])
def reject(photo_id: int):
    photo = school_row(Photo, photo_id)
    with commit_or_flash(_("Photo rejected."), errors=(service.ReviewError,),
                         category="info") as rejected:
        service.reject_photo(db.session, photo, current_user,
                             request.form.get("reason", "")[:MAX_REASON])
    if not rejected:
        return redirect(url_for("review.photo", photo_id=photo.id))
    return redirect(url_for("review.index"))


@bp.route("/caption-check", methods=["POST"])
def caption_check():
    check = check_caption(request.form.get("caption", "")[:MAX_CAPTION],
                          register_names(db.session, g.school_id))
    return jsonify(ok=check.ok, errors=[say(e) for e in check.errors],
                   warnings=[say(w) for w in check.warnings])


def parse_schedule(value: str | None) -> dt.datetime | None:
    """The form's Europe/London wall-clock time as naive UTC; empty means now."""

    if not value:
        return None
    try:
        return london_to_utc(dt.datetime.fromisoformat(value))
    except ValueError:
        raise ReleaseError(_("Give the time as a date and time.")) from None


def release_request(photos: list[Photo]):
    """Check the form and release the photos; returns the posts or raises ReleaseError."""
    if any(request.form.get(key) != "yes" for key, _label in RELEASE_CHECKLIST):
        raise ReleaseError(_("Confirm every item of the checklist before release."))
    account_id = request.form.get("account_id", type=int)
    if account_id is None:
        raise ReleaseError(_("Choose an official account."))
    account = school_row(OfficialAccount, account_id)
    scheduled = parse_schedule(request.form.get("scheduled_at"))
    caption = request.form.get("caption", "")[:MAX_CAPTION]
    return account, release_photos(db.session, photos, account, caption, current_user,
                                           scheduled)


def release_and_queue(photos: list[Photo]) -> bool:
    try:
        account, posts = release_request(photos)
        db.session.commit()
    except ReleaseError as error:
        db.session.rollback()
        flash(str(error), "danger")
        return False
    except (IntegrityError, OperationalError):
        # Another release of the same photo won the race (the live-post constraint, or the
        # database's write lock): nothing of this one was written.
        db.session.rollback()
        flash(_("This photo has just been released by someone else."), "danger")
        return False
    for post in posts:  # after commit: the worker sees the rows
        publish_post_task.schedule((post.id,), eta=post.scheduled_at)
    flash(_("%(n)d photo(s) released to %(account)s.", n=len(posts), account=account.label),
          "success")
    return True


@bp.route("/<int:photo_id>/release", methods=["POST"])
def release(photo_id: int):
    photo = school_row(Photo, photo_id)
    if release_and_queue([photo]):
        return redirect(url_for("review.index"))
    return redirect(url_for("review.photo", photo_id=photo.id))


@bp.route("/release", methods=["POST"])
def release_bulk():
    ids = request.form.getlist("photo_id", type=int)
    photos = [school_row(Photo, photo_id) for photo_id in dict.fromkeys(ids)]
    release_and_queue(photos)
    return redirect(url_for("review.index"))
