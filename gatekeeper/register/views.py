"""Admins (and the DSL and head): pupils, the consent matrix, paper forms, biometric consent,
renewals, parent links and the MIS import. Views parse, call an action, and commit."""

from __future__ import annotations

import re
import secrets
import tempfile
import time
from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.utils import secure_filename

from consent import importer, rules, services
from consent.clock import school_today
from consent.importer import ImportRefused
from consent.models import Guardian, Pupil, utcnow
from gatekeeper.extensions import db
from gatekeeper.models import Post
from gatekeeper.parents.links import link_expires_at, make_token
from gatekeeper.register import actions, forms, pages
from gatekeeper.register.wording import RELATIONSHIP_LABELS, label, register_globals
from gatekeeper.review.service import blur_boxes
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.enrolment import EnrolmentError, enrol_pupil
from gatekeeper.uploads.labels import purpose_label
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import posted_image_response
from gatekeeper.web.rows import school_row
from gatekeeper.web.spreadsheets import csv_download
from gatekeeper.web.wording import say

bp = guard_blueprint(Blueprint("register", __name__, url_prefix="/register"),
                     "admin", "dsl", "head")
bp.context_processor(register_globals)

IMPORTS_DIR = "imports"  # uploaded exports awaiting confirmation, in the instance folder
IMPORT_KEEP_SECONDS = 24 * 3600
IMPORT_TOKEN = re.compile(r"[0-9a-f]{32}")


def purposes() -> tuple[str, ...]:
    return tuple(current_app.config["PURPOSES"])


def to_pupil(pupil: Pupil, anchor: str | None = None):
    return redirect(url_for("register.pupil", pupil_id=pupil.id, _anchor=anchor))


@bp.route("/")
def index():
    listing = pages.pupil_list(
        db.session, g.school_id, purposes(), forms.today(), search=request.args.get("q", "")[:100],
        year=request.args.get("year", ""), leavers=request.args.get("leavers") == "1",
        page=request.args.get("page", 1, type=int),
    )
    return render_template("register/index.html", listing=listing, purposes=purposes(),
                           args=request.args, title=_("Consent register"))


@bp.route("/pupils/<int:pupil_id>")
def pupil(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    today = forms.today()
    return render_template(
        "register/pupil.html", pupil=pupil, today=today,
        statuses=pages.purpose_statuses(pupil, purposes(), today),
        protected=pages.protected(pupil, today),
        guardians=services.guardians_of(db.session, pupil),
        history=list(reversed(pupil.consent_records)),
        biometrics=pages.biometric_history(db.session, pupil),
        biometric_decision=services.biometric_decision(db.session, pupil),
        faces=services.reference_face_count(db.session, pupil.id),
        reference_dates=services.reference_dates(db.session, pupil.id),
        posts=pages.posts_showing(db.session, pupil), link_expires_at=link_expires_at,
        guardian_form=forms.GuardianForm(prefix="guardian"),
        leaving_form=forms.LeavingForm(prefix="leaving"), enrol_form=forms.EnrolForm(),
        title=pupil.full_name,
    )


def giver_of(pupil: Pupil, form: forms.GiverForm) -> Guardian | None:
    """The guardian the form names (added now if new), or None for the pupil."""
    if form.giver.data == forms.PUPIL_GIVER:
        return None
    if form.giver.data == forms.NEW_GIVER:
        return actions.add_guardian(db.session, pupil, form.new_name.data,
                                    form.new_relationship.data, "", actor=current_user)
    return school_row(Guardian, int(form.giver.data))


@bp.route("/pupils/<int:pupil_id>/form", methods=["GET", "POST"])
def record_form(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    form = forms.paper_form(purposes(), services.guardians_of(db.session, pupil),
                            pupil_name=pupil.full_name)
    if form.validate_on_submit():
        with commit_or_flash(_("Form recorded for %(name)s.", name=pupil.full_name),
                             errors=(services.RegisterError,)) as recorded:
            actions.record_form(
                db.session, pupil, form.answers(purposes()), giver=giver_of(pupil, form),
                actor=current_user, purposes=purposes(), form_date=form.form_date.data,
                evidence_ref=form.evidence_ref.data, expires_on=form.expires_on.data,
                today=forms.today(),
            )
        if recorded:
            return to_pupil(pupil, "status")
    return render_template("register/form.html", pupil=pupil, form=form, purposes=purposes(),
                           title=_("Record a consent form"))


@bp.route("/pupils/<int:pupil_id>/biometric", methods=["GET", "POST"])
def biometric(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    form = forms.biometric_form(services.guardians_of(db.session, pupil),
                                pupil_name=pupil.full_name)
    if form.validate_on_submit():
        with commit_or_flash(_("Biometric consent recorded."),
                             errors=(services.RegisterError,)) as recorded:
            giver = giver_of(pupil, form)
            actions.record_biometric(
                db.session, pupil, form.status.data, actor=current_user,
                given_by=giver.name if giver else pupil.full_name,
                relationship=giver.relationship_to_pupil if giver else "pupil",
                form_date=form.form_date.data, evidence_ref=form.evidence_ref.data,
            )
        if recorded:
            return to_pupil(pupil, "biometric")
    return render_template("register/biometric.html", pupil=pupil, form=form,
                           title=_("Biometric consent"))


@bp.route("/pupils/<int:pupil_id>/guardians", methods=["POST"])
def add_guardian(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    form = forms.GuardianForm(prefix="guardian")
    if form.validate_on_submit():
        with commit_or_flash(_("Parent or carer added."), errors=(services.RegisterError,)):
            actions.add_guardian(db.session, pupil, form.name.data, form.relationship.data,
                                 form.email.data or "", actor=current_user)
    else:
        flash(_("Give the parent or carer's name (and a valid email, if any)."), "danger")
    return to_pupil(pupil, "guardians")


@bp.route("/pupils/<int:pupil_id>/leave", methods=["POST"])
def leave(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    form = forms.LeavingForm(prefix="leaving")
    if form.validate_on_submit():
        with commit_or_flash(_("%(name)s is recorded as a leaver; reference faces deleted.",
                               name=pupil.full_name), errors=(services.RegisterError,)):
            actions.record_leaving(db.session, pupil, form.left_on.data, actor=current_user)
    else:
        flash(_("Give the date the pupil left."), "danger")
    return to_pupil(pupil)


@bp.route("/pupils/<int:pupil_id>/back-on-roll", methods=["POST"])
def back_on_roll(pupil_id: int):
    """A leaving recorded by mistake, taken back."""
    pupil = school_row(Pupil, pupil_id)
    with commit_or_flash(_("%(name)s is on roll again. Their reference faces were deleted when "
                           "they left: enrol them again.", name=pupil.full_name),
                         errors=(services.RegisterError,)):
        actions.put_back_on_roll(db.session, pupil, actor=current_user)
    return to_pupil(pupil)


@bp.route("/pupils/<int:pupil_id>/faces", methods=["POST"])
def enrol(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    uploads = [f for f in forms.EnrolForm().photos.data or [] if f and f.filename]
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for number, upload in enumerate(uploads, start=1):
            path = Path(folder) / f"{number}-{secure_filename(upload.filename) or 'photo'}"
            upload.save(path)
            paths.append(path)
        form = forms.EnrolForm()
        with commit_or_flash(None, errors=(EnrolmentError, services.RegisterError)) as enrolled:
            done = enrol_pupil(db.session, g.school_id, pupil.upn, paths, current_user.email,
                               form.taken_on.data)
        if enrolled:
            flash_enrolment(done, dated_by_photo=form.taken_on.data is None)
    return to_pupil(pupil, "biometric")


def flash_enrolment(done, *, dated_by_photo: bool) -> None:
    flash(_("%(n)d reference photo(s) enrolled.", n=done.added), "success")
    stale = [d for d in done.taken_on if (school_today() - d).days > t.REENROL_AFTER_DAYS]
    if stale and dated_by_photo:
        flash(_("Dated %(dates)s from the photos themselves: a reference more than a year old "
                "clears less. If that is not when they were taken, enrol them again with the "
                "date taken.", dates=", ".join(f"{d:%d/%m/%Y}" for d in stale)), "warning")
    if done.retired:
        flash(_("%(n)d older reference photo(s) retired: five are kept.", n=done.retired), "info")
    for other, _distance in done.lookalikes:
        flash(_("%(name)s (%(year)s) looks alike: neither will be cleared automatically as the "
                "other. Both are on the lookalikes list.", name=other.full_name,
                year=other.year_group), "warning")


@bp.route("/pupils/<int:pupil_id>/faces/delete", methods=["POST"])
def delete_faces(pupil_id: int):
    pupil = school_row(Pupil, pupil_id)
    with commit_or_flash(_("Reference faces deleted."), errors=(services.RegisterError,)):
        actions.delete_faces(db.session, pupil, actor=current_user)
    return to_pupil(pupil, "biometric")


@bp.route("/posts/<int:post_id>/image")
def post_image(post_id: int):
    """A small copy of what was posted, beside the pupil's list of posts showing them."""
    post = school_row(Post, post_id)
    return posted_image_response(post, blur_boxes(post.photo))


@bp.route("/guardians/<int:guardian_id>/link", methods=["POST"])
def issue_link(guardian_id: int):
    guardian = school_row(Guardian, guardian_id)
    pupil = school_row(Pupil, guardian.pupil_id)
    if pupil.left_on is not None:
        flash(_("%(name)s has left: there is no consent to ask for.", name=pupil.full_name),
              "danger")
        return to_pupil(pupil, "guardians")
    if guardian.parental_responsibility is False:
        flash(_("%(name)s has no parental responsibility, by the MIS: consent is asked of those "
                "who have it.", name=guardian.name), "danger")
        return to_pupil(pupil, "guardians")
    actions.issue_parent_link(db.session, guardian, actor=current_user)
    db.session.commit()
    url = url_for("parents.consent", token=make_token(guardian), _external=True)
    return render_template("register/link.html", guardian=guardian, pupil=pupil, url=url,
                           expires_at=link_expires_at(guardian), title=_("Parent link"))


@bp.route("/guardians/<int:guardian_id>/link/revoke", methods=["POST"])
def revoke_link(guardian_id: int):
    guardian = school_row(Guardian, guardian_id)
    with commit_or_flash(_("The parent link no longer works."),
                         errors=(services.RegisterError,)):
        actions.revoke_parent_link(db.session, guardian, actor=current_user)
    return to_pupil(school_row(Pupil, guardian.pupil_id), "guardians")


def renewal_window() -> int:
    return min(max(request.args.get("days", rules.RENEWAL_WINDOW_DAYS, type=int), 1), 366)


@bp.route("/renewals", methods=["GET", "POST"])
def renewals():
    form = forms.RenewalForm()
    if form.validate_on_submit():
        chosen = request.form.getlist("pupil_id", type=int)
        if not chosen:
            flash(_("Tick the pupils whose forms came back."), "danger")
        else:
            with commit_or_flash(None, errors=(services.RegisterError,)) as done:
                renewed = actions.renew(db.session, g.school_id, chosen, purposes=purposes(),
                                        on=forms.today(), evidence_ref=form.evidence_ref.data,
                                        actor=current_user, days=renewal_window())
            if done:
                flash(_("%(n)d consent(s) renewed.", n=len(renewed)), "success")
        return redirect(url_for("register.renewals", days=request.args.get("days", type=int)))
    days = renewal_window()
    due = services.renewals_due(db.session, g.school_id, purposes(), forms.today(), days)
    return render_template("register/renewals.html", due=due, days=days, form=form,
                           title=_("Consents to renew"))


@bp.route("/renewals.csv")
def renewals_csv():
    header = [_("UPN"), _("First name"), _("Last name"), _("Year group"), _("Parent or carer"),
              _("Relationship"), _("Purposes"), _("Lapses on")]
    due = services.renewals_due(db.session, g.school_id, purposes(), forms.today(),
                                renewal_window())
    return csv_download("consent-renewals.csv", header, renewal_rows(due))


def renewal_rows(due):
    """One row per pupil and parent whose consents lapse."""
    for pupil, records in due:
        by_giver: dict[tuple[str, str], list] = {}
        for record in records:
            by_giver.setdefault((record.given_by, record.relationship_to_pupil), []).append(record)
        for (giver, relationship), theirs in by_giver.items():
            yield (pupil.upn, pupil.first_name, pupil.last_name, pupil.year_group, giver,
                   label(RELATIONSHIP_LABELS, relationship),
                   "; ".join(purpose_label(r.purpose) for r in theirs),
                   min(r.expires_on for r in theirs).isoformat())


def imports_dir() -> Path:
    folder = Path(current_app.config["INSTANCE"]) / IMPORTS_DIR
    folder.mkdir(mode=0o700, exist_ok=True)
    for stale in folder.glob("*.csv"):  # personal data: kept only until confirmed, or a day
        if stale.stat().st_mtime < time.time() - IMPORT_KEEP_SECONDS:
            stale.unlink(missing_ok=True)
    return folder


def kept_export(token: str) -> Path:
    if not IMPORT_TOKEN.fullmatch(token):
        abort(404)
    return imports_dir() / f"{g.school_id}-{token}.csv"


def check_export(data: bytes, *, partial: bool, apply: bool,
                 confirmed_leavers: int | None = None):
    limit, _grace = actions.import_settings(current_app.config)
    return actions.import_pupils(db.session, g.school_id, data, purposes=purposes(),
                                 today=forms.today(), full=not partial, apply=apply,
                                 actor=current_user, confirmed_leavers=confirmed_leavers,
                                 leaver_limit=limit, audit_refusal=True)


def import_page(form):
    limit, grace_days = actions.import_settings(current_app.config)
    history, now = importer.import_history(db.session, g.school_id), utcnow()
    newest = next((b for b in history if b.undone_at is None), None)
    undoable = newest is not None and not importer.undo_refusal(db.session, newest, now,
                                                                grace_days)
    return render_template("register/import.html", form=form, title=_("Import from the MIS"),
                           history=history, now=now, grace_days=grace_days, leaver_limit=limit,
                           deadline=lambda batch: importer.undo_deadline(batch, grace_days),
                           undoable_id=newest.id if undoable else None,
                           batch_summary=importer.batch_summary,
                           may_undo="admin" in g.roles)


def preview(plan, token: str, partial: bool):
    _limit, grace_days = actions.import_settings(current_app.config)
    return render_template("register/import_preview.html", plan=plan, token=token,
                           partial=partial, grace_days=grace_days, title=_("Check the import"))


@bp.route("/import", methods=["GET", "POST"])
def import_upload():
    form = forms.ImportForm()
    if not form.validate_on_submit():
        return import_page(form)
    data = form.file.data.read(importer.MAX_IMPORT_BYTES + 1)  # decode refuses anything more
    try:
        plan = check_export(data, partial=form.partial.data, apply=False)
    except ImportRefused as error:
        db.session.rollback()
        flash(say(error), "danger")
        return import_page(form)
    keep_refusal_audit(plan)
    token = secrets.token_hex(16)
    if not plan.errors:  # kept for the confirmation, also when too many leavers need one
        kept_export(token).write_bytes(data)
    return preview(plan, token, form.partial.data)


def keep_refusal_audit(plan) -> None:
    """Nothing was applied: commit only a refusal's audit event, roll back anything else."""
    if plan.refused:
        db.session.commit()
    else:
        db.session.rollback()


def typed_number(text: str | None) -> int | None:
    """The number typed to confirm the leavers (anything else confirms nothing)."""
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) <= 6 else None


@bp.route("/import/apply", methods=["POST"])
def import_apply():
    token = request.form.get("token", "")
    path = kept_export(token)
    if not path.is_file():
        flash(_("That upload has expired: choose the file again."), "danger")
        return redirect(url_for("register.import_upload"))
    partial = request.form.get("partial") == "1"
    typed = request.form.get("confirm_leavers")
    plan = check_export(path.read_bytes(), partial=partial, apply=True,
                        confirmed_leavers=typed_number(typed) if typed is not None else None)
    if not plan.ok:  # too many leavers not confirmed, or the register changed since the preview
        keep_refusal_audit(plan)
        return preview(plan, "" if plan.errors else token, partial)
    db.session.commit()
    path.unlink(missing_ok=True)
    flash(_("Imported: %(summary)s", summary=say(plan.summary())), "success")
    return redirect(url_for("register.index"))


@bp.route("/import/<int:batch_id>/undo", methods=["POST"])
def import_undo(batch_id: int):
    if "admin" not in g.roles:  # the register's admin undoes an import, not the DSL or head
        flash(_("Only an admin of the register can undo an import."), "danger")
        return redirect(url_for("register.import_upload", _anchor="history"))
    _limit, grace_days = actions.import_settings(current_app.config)
    with commit_or_flash(None, errors=(services.RegisterError,)) as undone:
        result = actions.undo_import(db.session, g.school_id, batch_id, today=forms.today(),
                                     grace_days=grace_days, actor=current_user)
    if undone:
        flash(_("Import %(id)d undone: %(n)d pupil(s) back on roll with their reference faces.",
                id=batch_id, n=len(result.restored)), "success")
    return redirect(url_for("register.import_upload", _anchor="history"))
