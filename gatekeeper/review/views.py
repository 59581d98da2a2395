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
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.renderings import PREVIEW_SIDE
from gatekeeper.models import Event, Face, OfficialAccount, Photo
from gatekeeper.publishing.accounts import may_release
from gatekeeper.publishing.captions import check_caption
from gatekeeper.publishing.service import (
    ReleaseError,
    ScheduleError,
    post_waits_for_queue,
    register_names,
    release_photos,
    released_just_now_by,
)
from gatekeeper.review import gate, naming, service
from gatekeeper.safeguarding.lifts import LiftError, ask_dsl
from gatekeeper.screening.enrolment import may_add_reference
from gatekeeper.screening.service import RegisterNow
from gatekeeper.states import FaceStatus
from gatekeeper.storage import app_storage
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import image_response, thumbnail_response
from gatekeeper.web.rows import school_row
from gatekeeper.web.security import queue_errors
from gatekeeper.web.wording import say
from gatekeeper.worker.recovery import given_up_photos
from gatekeeper.worker.tasks import prepare_review_copy_task, publish_post_task, screen_photo_task

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


def queue_page(values=None, status: int = 200):
    """The review queue: each photo with its status now; what a refused release sent is kept."""
    register = RegisterNow(db.session, g.school_id)
    context = release_form_context()
    purposes = {a.purpose for a in context["accounts"]}
    queue = []
    for event, photos in service.review_queue(db.session, g.school_id):
        items = [service.waiting_now(register, p, purposes) for p in photos]
        ready = set().union(*(item.ready_for for item in items))
        # Offered for a batch: only the accounts some photo here is ready for.
        queue.append((event, items, [a for a in context["accounts"] if a.purpose in ready]))
    return render_template(
        "review/index.html", queue=queue, values=values or {}, title=_("Review queue"),
        given_up=given_up_photos(db.session, g.school_id),
        picked=set((values or {}).get("photo_ids", ())), checklist=RELEASE_CHECKLIST,
    ), status


@bp.route("/")
def index():
    return queue_page()


def photo_page(photo: Photo, values=None, status: int = 200):
    """One photo: each face as the gate sees it now, and for each account offered what the rule
    says for its purpose; what a refused release sent is kept in the form."""
    pupils = {p.id: p for p in db.session.scalars(
        select(Pupil).where(Pupil.school_id == g.school_id))}
    register = RegisterNow(db.session, g.school_id)
    found = service.gate_now(register, photo, photo.purpose)
    context = release_form_context()
    checks = [(a, service.release_blockers(register, photo, a.purpose))
              for a in context.pop("accounts")]
    previous, following = service.neighbours(db.session, photo)
    return render_template(
        "review/photo.html", photo=photo, pupils=pupils, checks=checks,
        faces=list(zip(photo.faces, found.faces, strict=True)),
        hints={now.index: now.decision for now in found.faces if now.decision.maybe},
        outcome=lambda now: gate.face_outcome(now, found.publishable),
        verdict=gate.verdict(found.holds, no_faces=photo.no_faces),
        accounts=[a for a, blockers in checks if not blockers],
        blockers=[service.hold_message(h, photo.purpose) for h in found.holds],
        previous=previous, following=following, values=values or {},
        may_keep={f.resolved_pupil_id for f in photo.faces if f.resolution == "pupil"
                  and may_add_reference(db.session, pupils[f.resolved_pupil_id])},
        title=_("Review photo %(n)d", n=photo.id), **context,
    ), status


@bp.route("/<int:photo_id>")
def photo(photo_id: int):
    """One photo: its faces, and for each account offered what the rule says for its purpose."""
    photo = school_row(Photo, photo_id)
    if photo.is_video:  # a clip has its own page (review/clip_views.py)
        return redirect(url_for("clips.clip", photo_id=photo.id))
    return photo_page(photo)


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


@bp.route("/<int:photo_id>/preview-thumb")
def preview_thumb(photo_id: int):
    """A small copy of what would be posted (blurs applied): the queue's cards and the preview
    of a batch release."""
    photo = school_row(Photo, photo_id)
    return thumbnail_response(photo, boxes=service.blur_boxes(photo))


@bp.route("/events/<int:event_id>/faces")
def event_faces(event_id: int):
    """The event's faces waiting for a person, grouped by likeness: name each group once."""
    event = school_row(Event, event_id)
    register = RegisterNow(db.session, g.school_id)
    groups = naming.event_groups(db.session, register, event.id)
    pupils = {p.id: p for p in db.session.scalars(
        select(Pupil).where(Pupil.school_id == g.school_id, Pupil.left_on.is_(None))
        .order_by(Pupil.last_name, Pupil.first_name))}
    return render_template("review/faces.html", event=event, groups=groups, pupils=pupils,
                           title=_("Faces to name: %(event)s", event=event.name))


@bp.route("/events/<int:event_id>/faces", methods=["POST"])
def name_faces(event_id: int):
    event = school_row(Event, event_id)
    register = RegisterNow(db.session, g.school_id)
    resolution = request.form.get("resolution", "")
    pupil = db.session.get(Pupil, request.form.get("pupil_id", type=int) or 0)
    with commit_or_flash(None, errors=(service.ReviewError,)) as named:
        count = naming.name_group(db.session, register, event.id,
                                  request.form.getlist("face_id", type=int), resolution,
                                  current_user, pupil)
    if named:
        flash(group_said(count, resolution, pupil), "success")
    return redirect(url_for("review.event_faces", event_id=event.id))


def group_said(count: int, resolution: str, pupil: Pupil | None) -> str:
    if resolution == "pupil" and pupil is not None:
        return _("%(n)d face(s) named as %(name)s.", n=count, name=pupil.full_name)
    if resolution == "not_pupil":
        return _("%(n)d face(s) marked as not pupils.", n=count)
    return _("%(n)d face(s) will be blurred.", n=count)


@bp.route("/faces/<int:face_id>/picture")
def face_picture(face_id: int):
    """One face, cut from the sanitised preview of its photo."""
    face = school_row(Face, face_id)
    storage = app_storage()
    if not storage.exists("originals", face.photo.uuid) or not face.photo.width:
        abort(404)
    try:
        return image_response(naming.face_picture(storage, face), f"face-{face.id}.jpg")
    except ImageRefused:
        abort(415)


@bp.route("/<int:photo_id>/faces/<int:face_id>/reference", methods=["POST"])
def keep_reference(photo_id: int, face_id: int):
    """A face a person named becomes one more reference of that pupil (biometric consent)."""
    face = photo_face(photo_id, face_id)
    with commit_or_flash(None, errors=(service.ReviewError,)) as kept:
        pupil = naming.keep_as_reference(db.session, app_storage(), face, current_user)
    if kept:
        flash(_("Face %(n)d is now a reference face of %(name)s: later photos of them are "
                "matched against it too.", n=face.index + 1, name=pupil.full_name), "success")
    return redirect(url_for("review.photo", photo_id=face.photo_id,
                            _anchor=f"face-{face.index + 1}"))


@bp.route("/pupils")
def pupils():
    found = service.search_pupils(db.session, g.school_id, request.args.get("q", "")[:100])
    return jsonify(pupils=[{"id": p.id, "name": p.full_name, "year": p.year_group} for p in found])


def photo_face(photo_id: int, face_id: int) -> Face:
    photo = school_row(Photo, photo_id)
    face = school_row(Face, face_id)
    if face.photo_id != photo.id:
        abort(404)
    return face


def after_decision(face: Face):
    """Back to the photo, at the next face still waiting for a person (or this one)."""
    waiting = [f for f in face.photo.faces if f.status != FaceStatus.CLEARED
               and f.resolution is None and f.index > face.index]
    anchor = waiting[0] if waiting else face
    return redirect(url_for("review.photo", photo_id=face.photo_id,
                            _anchor=f"face-{anchor.index + 1}"))


@bp.route("/<int:photo_id>/faces/<int:face_id>", methods=["POST"])
def resolve(photo_id: int, face_id: int):
    face = photo_face(photo_id, face_id)
    pupil = db.session.get(Pupil, request.form.get("pupil_id", type=int) or 0)
    with commit_or_flash(None, errors=(service.ReviewError,)) as resolved:
        service.resolve_face(db.session, face, request.form.get("resolution", ""), current_user,
                             pupil)
    if resolved and face.photo.is_video:  # video: the clip's review copy follows the decision
        queue_review_copy(face.photo_id)
    return after_decision(face)


@bp.route("/<int:photo_id>/faces/<int:face_id>/undo", methods=["POST"])
def undo(photo_id: int, face_id: int):
    """Take back a decision on a face (a blur, a name, "not a pupil")."""
    face = photo_face(photo_id, face_id)
    with commit_or_flash(None, errors=(service.ReviewError,)):
        service.undo_decision(db.session, face, current_user)
    return redirect(url_for("review.photo", photo_id=face.photo_id,
                            _anchor=f"face-{face.index + 1}"))


def next_or_queue(photo: Photo):
    """After a photo leaves the queue: the next photo waiting, or the queue when none is."""
    _previous, following = service.neighbours(db.session, photo)
    if following is None:
        return redirect(url_for("review.index"))
    return redirect(url_for("review.photo", photo_id=following))


@bp.route("/<int:photo_id>/faces/<int:face_id>/ask-dsl", methods=["POST"])
def ask_about_block(photo_id: int, face_id: int):
    """Ask the DSL whether a blocked face is really the protected pupil (only the DSL decides)."""
    face = school_row(Face, face_id)
    if face.photo_id != photo_id:
        abort(404)
    with commit_or_flash(_("The DSL has been asked to check this face."), errors=(LiftError,)):
        ask_dsl(db.session, face, current_user)
    return redirect(url_for("review.photo", photo_id=photo_id, _anchor=f"face-{face.index + 1}"))


def queue_review_copy(photo_id: int) -> None:
    """Video: after a decision that changes a clip, its review copy is made again in the worker
    (the clip's page makes it itself if the queue is down)."""
    try:
        prepare_review_copy_task(photo_id)
    except queue_errors():
        pass


@bp.route("/<int:photo_id>/reject", methods=["POST"])
def reject(photo_id: int):
    photo = school_row(Photo, photo_id)
    with commit_or_flash(_("Photo rejected."), errors=(service.ReviewError,),
                         category="info") as rejected:
        service.reject_photo(db.session, photo, current_user,
                             request.form.get("reason", "")[:MAX_REASON])
    if not rejected:
        return redirect(url_for("review.photo", photo_id=photo.id))
    return next_or_queue(photo)


@bp.route("/<int:photo_id>/screen-again", methods=["POST"])
def screen_again(photo_id: int):
    """Screening gave up on the photo: a person has it screened again."""
    photo = school_row(Photo, photo_id)
    with commit_or_flash(_("Photo %(n)d is screened again.", n=photo.id),
                         errors=(service.ReviewError,)) as again:
        service.screen_again(db.session, photo, current_user)
    if again:
        try:
            screen_photo_task(photo.id)
        except queue_errors():  # saved: recovery queues it once the queue is back
            flash(_("The queue cannot be reached just now: the photo is screened within a few "
                    "minutes of it coming back."), "warning")
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
        raise ScheduleError(_("Give the time as a date and time.")) from None


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
    except ScheduleError as error:
        db.session.rollback()
        g.schedule_error = str(error)  # shown beside the field (sent_values)
        return False
    except ReleaseError as error:
        db.session.rollback()
        return refused(photos, str(error))
    except (IntegrityError, OperationalError):
        # Another release of the same photo won the race (the live-post constraint, or the
        # database's write lock): nothing of this one was written.
        db.session.rollback()
        return refused(photos, _("This photo has just been released by someone else."))
    flash(_("%(n)d photo(s) released to %(account)s.", n=len(posts), account=account.label),
          "success")
    try:
        for post in posts:  # after commit: the worker sees the rows
            publish_post_task.schedule((post.id,), eta=post.scheduled_at)
    except queue_errors():  # saved: the minute's sweep hands it to a worker once the queue is back
        flash(post_waits_for_queue(), "warning")
    return True


def refused(photos: list[Photo], why: str) -> bool:
    """A refused release, unless it was a second tap on one's own (the browser shows the
    second request's answer: it said someone else had released the photo)."""
    if released_just_now_by(db.session, photos, current_user,
                            request.form.get("account_id", type=int)):
        flash(_("Released: it is in the posting queue (the second tap did nothing)."), "success")
        return True
    flash(why, "danger")
    return False


def sent_values() -> dict:
    """What the release form sent, to fill it again when the release is refused."""
    return {"caption": request.form.get("caption", "")[:MAX_CAPTION],
            "account_id": request.form.get("account_id", type=int),
            "scheduled_at": request.form.get("scheduled_at", "")[:40],
            "schedule_error": g.get("schedule_error"),
            "ticked": {key for key, _label in RELEASE_CHECKLIST if request.form.get(key) == "yes"},
            "photo_ids": request.form.getlist("photo_id", type=int)}


@bp.route("/<int:photo_id>/release", methods=["POST"])
def release(photo_id: int):
    photo = school_row(Photo, photo_id)
    if photo.is_video:  # a page loaded before clips had their own release: the form goes on
        return redirect(url_for("clips.release", photo_id=photo.id), code=307)
    if release_and_queue([photo]):
        return next_or_queue(photo)
    db.session.refresh(photo)
    return photo_page(photo, sent_values(), 400)


@bp.route("/release", methods=["POST"])
def release_bulk():
    ids = request.form.getlist("photo_id", type=int)
    photos = [school_row(Photo, photo_id) for photo_id in dict.fromkeys(ids)]
    if release_and_queue(photos):
        return redirect(url_for("review.index"))
    return queue_page(sent_values(), 400)
