"""Staff uploads: choose the event, send photos one request each, watch their screening live."""

from __future__ import annotations

import datetime as dt

from flask import Blueprint, abort, current_app, g, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import DateField, SelectField, SelectMultipleField, StringField, SubmitField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from consent.groups import school_groups
from consent.importer import YEAR_GROUPS
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.models import Event, Photo, Post
from gatekeeper.states import PHOTO_RELEASED, PHOTO_STALLABLE, PhotoState
from gatekeeper.storage import app_storage
from gatekeeper.uploads.labels import PURPOSE_LABELS, STATUS_LABELS, label_globals, status_label
from gatekeeper.uploads.service import (
    AlreadyUploaded,
    UploadLimited,
    UploadLimits,
    accept_upload,
)
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import thumbnail_response
from gatekeeper.web.rows import school_row
from gatekeeper.web.security import queue_errors
from gatekeeper.web.wording import say
from gatekeeper.worker.recovery import MAX_SCREEN_ATTEMPTS, screening_gave_up
from gatekeeper.worker.tasks import screen_photo_task

bp = guard_blueprint(Blueprint("uploads", __name__, url_prefix="/uploads"),
                     "staff", "media_lead", "head")

STATUS_LIMIT = 200  # most recent uploads shown on the page and polled for status
bp.app_context_processor(label_globals)


class EventForm(FlaskForm):
    name = StringField(_l("Event name"), validators=[DataRequired(), Length(max=200)])
    date = DateField(_l("Date"), validators=[DataRequired()], default=dt.date.today)
    purpose = SelectField(
        _l("Intended use"), choices=[SelectChoice(k, v) for k, v in PURPOSE_LABELS.items()]
    )
    # Only these year groups' pupils may be cleared on the event's photos; none: the whole school.
    year_groups = SelectMultipleField(
        _l("Year groups taking part (none: the whole school)"),
        choices=[SelectChoice(y, y) for y in YEAR_GROUPS],
    )
    # The school's own classes and clubs (consent/groups.py); choices are set per school.
    groups = SelectMultipleField(_l("Classes and clubs taking part"), choices=[])
    submit = SubmitField(_l("Create event"))


def event_form() -> EventForm:
    form = EventForm()
    form.groups.choices = [SelectChoice(str(group.id), group.name)
                           for group in school_groups(db.session, g.school_id)]
    return form


def school_events():
    return db.session.scalars(
        select(Event).where(Event.school_id == g.school_id)
        .order_by(Event.date.desc(), Event.id.desc())
    ).all()


def own_photos():
    return db.session.scalars(
        select(Photo)
        .where(Photo.school_id == g.school_id, Photo.uploaded_by_id == current_user.id)
        .order_by(Photo.id.desc())
        .limit(STATUS_LIMIT)
    ).all()


def screening_to_come(photo: Photo) -> bool:
    """Still to be screened (queued, under way, or failed with an attempt left): the page keeps
    asking for its status."""
    return photo.status in PHOTO_STALLABLE and not screening_gave_up(photo)


def upload_label(photo: Photo) -> str:
    """The uploader's word for the photo's status (a photo no attempt is left for is not
    "retrying")."""
    return _("Could not be screened") if screening_gave_up(photo) else status_label(photo.status)


def upload_error(photo: Photo) -> str | None:
    """Why the photo went no further, and what the uploader can do; None while all is well."""
    if screening_gave_up(photo):
        return _("Screening failed %(n)d times and is not tried again. Delete it, then upload it "
                 "again (exported as a JPEG if you can).", n=MAX_SCREEN_ATTEMPTS)
    refusal = photo.refusal if photo.status == PhotoState.REJECTED else None
    return say(refusal) if refusal else None  # a person's rejection gives the uploader no reason


def released_ids(photos) -> set[int]:
    """Those of the photos released at some time, whatever their status now (a post taken back
    to review leaves its photo waiting, and its record): no longer the uploader's to delete."""
    posted = set(db.session.scalars(
        select(Post.photo_id).where(Post.photo_id.in_([p.id for p in photos]))))
    return {p.id for p in photos if p.status in PHOTO_RELEASED or p.id in posted}


def photo_json(photo: Photo, released: set[int] = frozenset()) -> dict:
    # Staff never see why a child is protected: status and a plain label only.
    return {
        "id": photo.id,
        "filename": photo.original_filename,
        "status": photo.status,
        "label": upload_label(photo),
        "error": upload_error(photo),
        "waiting": screening_to_come(photo),
        "event_id": photo.event_id,
        "thumb": url_for("uploads.thumbnail", photo_id=photo.id),
        "released": photo.id in released,
    }


def js_text() -> dict:
    """Words the upload script shows, translated here (the script has no catalogue of its own)."""
    return {
        "uploading": _("Uploading"), "notUploaded": _("Not uploaded"), "retry": _("Retry"),
        "network": _("Network error: check the connection and retry."),
        "failed": _("Upload failed (%(code)s)", code="{code}"),
        "progress": _("%(done)s of %(total)s uploaded", done="{done}", total="{total}"),
        "failedCount": _("%(n)s failed: use Retry on each", n="{failed}"),
        "chooseEvent": _("Choose the event first."), "choosePhotos": _("Choose some photos first."),
        "leaving": _("Photos are still uploading. Leave anyway?"),
        "deleteName": _("Delete %(name)s", name="{name}"),
        "confirmDelete": _("Delete this photo? This cannot be undone."),
        "statuses": {key: str(label) for key, label in STATUS_LABELS.items()},
    }


@bp.route("/")
def index():
    photos = own_photos()
    return render_template(
        "uploads/index.html", form=event_form(), events=school_events(), photos=photos,
        js_text=js_text(), released=released_ids(photos), title=_("Upload photos"),
        upload_label=upload_label, upload_error=upload_error, screening_to_come=screening_to_come,
        clip_minutes=UploadLimits.from_config(current_app.config).clip_seconds // 60,
    )


@bp.route("/events", methods=["POST"])
def create_event():
    form = event_form()
    if not form.validate_on_submit():
        return jsonify(error=_("Give the event a name and a date.")), 400
    years = ",".join(sorted(set(form.year_groups.data or ()), key=YEAR_GROUPS.index))
    groups = ",".join(sorted(set(form.groups.data or ()), key=int))
    event = Event(school_id=g.school_id, name=form.name.data.strip(), date=form.date.data,
                  purpose=form.purpose.data, year_groups=years, groups=groups,
                  created_by_id=current_user.id)
    db.session.add(event)
    db.session.flush()
    audit.record(db.session, "event_created", school_id=g.school_id, actor=current_user,
                 subject=event, detail={"name": event.name, "purpose": event.purpose,
                                        "year_groups": event.year_group_list,
                                        "groups": event.group_id_list})
    db.session.commit()
    return jsonify(id=event.id, name=event.name, date=event.date.isoformat(), purpose=event.purpose,
                   year_groups=event.year_group_list, groups=event.group_id_list)


@bp.route("/", methods=["POST"])
def upload():
    event = db.session.get(Event, request.form.get("event_id", type=int) or 0)
    if event is None or event.school_id != g.school_id:
        return jsonify(error=_("Choose an event first.")), 400
    upload = request.files.get("photo")
    if upload is None:
        return jsonify(error=_("No photo was received.")), 400
    try:
        photo = accept_upload(
            db.session, app_storage(), upload.stream, upload.filename or "", event, current_user,
            current_app.config["MAX_CONTENT_LENGTH"], UploadLimits.from_config(current_app.config),
        )
    except UploadLimited as limited:
        return jsonify(error=str(limited)), 429
    except AlreadyUploaded as twice:
        # The uploader's own copy comes back: its card shows that photo, not a failure.
        mine = photo_json(twice.photo, released_ids([twice.photo])) if twice.photo else None
        return jsonify(error=str(twice), photo=mine), 409
    except ImageRefused as refused:
        return jsonify(error=str(refused)), 422
    except OSError:
        current_app.logger.exception("upload could not be stored")
        return jsonify(error=_("The photo could not be saved. Please try again later.")), 507
    finally:
        upload.close()
    try:
        screen_photo_task(photo.id)  # after commit: the worker sees the row
    except queue_errors():
        # The photo is stored; the stalled-work sweep queues it once the queue is back.
        current_app.logger.warning("queue unavailable; photo %s waits for screening", photo.id)
    db.session.refresh(photo)
    return jsonify(photo_json(photo)), 201


@bp.route("/status")
def status():
    photos = own_photos()
    released = released_ids(photos)
    return jsonify(photos=[photo_json(p, released) for p in photos])


@bp.route("/<int:photo_id>/thumb")
def thumbnail(photo_id: int):
    photo = school_row(Photo, photo_id)
    if photo.uploaded_by_id != current_user.id and not (g.roles & {"media_lead", "head"}):
        abort(404)
    return thumbnail_response(photo)
