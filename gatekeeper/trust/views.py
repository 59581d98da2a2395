"""The trust admin's dashboard (schools, heads, counts, role grants to confirm) and the DPO's
audit trail and subject access exports across the trust's schools.

Neither blueprint shows a pupil: the trust admin sees numbers per school; the DPO sees the audit
trail (which names no pupil) and exports one pupil's records by UPN, as the school's SAR does.
"""

from __future__ import annotations

import io
import tempfile
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
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user

from consent.services import RegisterError
from gatekeeper.compliance import audit
from gatekeeper.compliance.sar import export_pupil
from gatekeeper.extensions import db
from gatekeeper.people import grants, invitations, schools, trusts
from gatekeeper.people.links import invitation_url
from gatekeeper.people.mail import mail_configured
from gatekeeper.people.models import Trust
from gatekeeper.people.roles import ROLE_LABELS
from gatekeeper.register.wording import school_time
from gatekeeper.storage import app_storage
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.security import queue_errors
from gatekeeper.web.spreadsheets import csv_download
from gatekeeper.web.wording import say
from gatekeeper.worker.tasks import send_invitation_task

bp = guard_blueprint(Blueprint("trust", __name__, url_prefix="/trust"), "trust_admin")
dpo_bp = guard_blueprint(Blueprint("dpo", __name__, url_prefix="/dpo"), "dpo")

COUNT_LABELS = {
    "pupils": _l("Pupils on roll"), "staff": _l("Roles held"), "heads": _l("Heads"),
    "uploads_week": _l("Uploads this week"), "waiting": _l("Waiting for review"),
    "published": _l("Published"),
}


def this_trust() -> Trust:
    return db.session.get(Trust, g.trust_id)


@bp.route("/")
def index():
    school_ids = trusts.school_ids(db.session, g.trust_id)
    return render_template("trust/index.html", trust=this_trust(),
                           rows=trusts.school_counts(db.session, g.trust_id),
                           people=trusts.trust_people(db.session, g.trust_id),
                           invitations=invitations.open_trust_invitations(db.session, g.trust_id),
                           proposals=grants.pending(db.session, school_ids), labels=COUNT_LABELS,
                           role_labels=ROLE_LABELS, languages=schools.LANGUAGE_LABELS,
                           title=_("Trust dashboard"))


@bp.route("/schools", methods=["POST"])
def add_school():
    form = request.form
    details = schools.SchoolDetails(form.get("name", "")[:400], form.get("urn", "")[:40],
                                    form.get("la_code", "")[:40], form.get("postcode", "")[:40],
                                    form.get("language", "en")[:4])
    with commit_or_flash(_("The school is added to the trust."),
                         errors=(schools.SchoolError, trusts.TrustError)):
        school = schools.add_school(db.session, details, current_user)
        trusts.put_school(db.session, this_trust(), school, current_user)
    return redirect(url_for("trust.index"))


@bp.route("/language", methods=["POST"])
def set_language():
    """The trust's default language: its pages and its people's emails speak it."""
    with commit_or_flash(None, errors=(trusts.TrustError,)) as saved:
        trusts.set_language(db.session, this_trust(), request.form.get("language", "")[:4],
                            current_user)
    if saved.ok:
        refresh()  # said in the language the pages now speak
        flash(_("The trust's language is saved."), "success")
    return redirect(url_for("trust.index"))


@bp.route("/people/<int:user_id>/remove", methods=["POST"])
def remove_person(user_id: int):
    """Take a person's roles at the trust away (a DPO or trust admin who leaves)."""
    with commit_or_flash(None, errors=(trusts.TrustError,)) as removed:
        user = trusts.remove_from_trust(db.session, this_trust(), user_id,
                                        current_user._get_current_object())
    if removed:
        flash(_("%(name)s no longer holds a role at the trust.", name=user.name), "success")
    return redirect(url_for("trust.index"))


@bp.route("/invitations/<int:invitation_id>/withdraw", methods=["POST"])
def withdraw_invitation(invitation_id: int):
    """Withdraw an invitation to the trust's roles or to head one of its schools (sent to the
    wrong address, or to the wrong person); another trust's is not found."""
    try:
        invitations.revoke_for_trust(db.session, g.trust_id, invitation_id,
                                     current_user._get_current_object())
        db.session.commit()
    except invitations.InvitationRefused:
        db.session.rollback()
        abort(404)
    flash(_("The invitation is withdrawn: its link no longer works."), "success")
    return redirect(url_for("trust.index"))


@bp.route("/schools/<int:school_id>/heads", methods=["POST"])
def invite_head(school_id: int):
    """Invite a head to one of the trust's schools (another trust's school is not found)."""
    school = trusts.trust_school(db.session, g.trust_id, school_id)
    if school is None:
        abort(404)
    with commit_or_flash(None, errors=(invitations.InvitationError,)) as invited:
        issued = invitations.invite(db.session, school, request.form.get("email", "")[:300], "head",
                                    current_user)
    return hand_over(issued, "head") if invited else redirect(url_for("trust.index"))


@bp.route("/dpos", methods=["POST"])
def invite_dpo():
    """Invite the trust's data protection officer (a DPO who leaves is replaced without the
    operator; a further trust admin is still the operator's to invite)."""
    with commit_or_flash(None, errors=(invitations.InvitationError,)) as invited:
        issued = invitations.invite_to_trust(db.session, this_trust(),
                                             request.form.get("email", "")[:300], "dpo",
                                             current_user)
    return hand_over(issued, "dpo") if invited else redirect(url_for("trust.index"))


def hand_over(issued: invitations.IssuedInvitation, role: str):
    """The invitation's email on its way, or, with no mail server, its link shown once."""
    if mail_configured(current_app.config):
        try:
            send_invitation_task(issued.invitation.id)
        except queue_errors():  # saved, but no email: say so, and how to send it
            flash(_("The invitation is saved, but its email could not be queued just now: send "
                    "it again in a few minutes."), "warning")
            return redirect(url_for("trust.index"))
        flash(_("The invitation is on its way to %(email)s.", email=issued.invitation.email),
              "success")
        return redirect(url_for("trust.index"))
    return render_template("head/invited.html", invitation=issued.invitation,
                           link=invitation_url(issued.token, current_app.config, request.url_root),
                           role_label=ROLE_LABELS[role], title=_("Invitation ready"),
                           hours=int(invitations.INVITATION_LIFETIME.total_seconds() // 3600),
                           back_to_trust=True)


@bp.route("/grants/<int:proposal_id>/confirm", methods=["POST"], defaults={"confirm": True})
@bp.route("/grants/<int:proposal_id>/refuse", methods=["POST"], defaults={"confirm": False},
          endpoint="refuse")
def decide(proposal_id: int, confirm: bool):
    school_ids = trusts.school_ids(db.session, g.trust_id)
    done = _("The role is granted.") if confirm else _("The role grant is refused.")
    with commit_or_flash(done, errors=(grants.GrantError,)):
        grants.decide(db.session, proposal_id, school_ids, current_user._get_current_object(),
                      confirm)
    return redirect(url_for("trust.index"))


def audit_filters() -> tuple[int | None, str]:
    """The school and action the DPO filters the trail by."""
    return request.args.get("school", type=int), request.args.get("action", "").strip()[:60]


@dpo_bp.route("/")
def audit_trail():
    """The audit trail of the trust's schools, newest first, filtered by school and action."""
    school_id, action = audit_filters()
    events = trusts.trust_audit(db.session, g.trust_id, school_id, action,
                                request.args.get("before", type=int))
    actions = audit.actions(db.session, trusts.trust_audit_place(db.session, g.trust_id))
    return render_template("trust/audit.html", trust=this_trust(), events=events, actions=actions,
                           names=school_names(), school_time=school_time,
                           school_id=school_id, action=action, page=trusts.AUDIT_PAGE,
                           title=_("Audit trail of the trust"))


@dpo_bp.route("/audit.csv")
def audit_csv():
    """The whole trail as the filters choose it, as CSV (what the page shows, every page);
    the download is audited."""
    school_id, action = audit_filters()
    events = trusts.trust_audit(db.session, g.trust_id, school_id, action, limit=None)
    trust, names = this_trust(), school_names()
    audit.record(db.session, "audit_trail_exported", actor=current_user, subject=trust,
                 detail={"school": school_id, "action": action, "events": len(events)})
    db.session.commit()
    header = [_("Time (UK)"), _("School"), _("Done by"), _("Action"), _("About")]
    rows = ((school_time(e.created_at), names.get(e.school_id) or trust.name, e.actor, e.action,
             f"{e.subject_type} {e.subject_id}".strip()) for e in events)
    return csv_download("audit-trail.csv", header, rows)


def school_names() -> dict[int, str]:
    return {s.id: s.name for s in trusts.schools_of(db.session, g.trust_id)}


@dpo_bp.route("/subject-access", methods=["POST"])
def subject_access():
    """One pupil's subject access export, from one of the trust's schools, as a zip download."""
    school = trusts.trust_school(db.session, g.trust_id, request.form.get("school_id", type=int))
    if school is None:
        abort(404)
    with tempfile.TemporaryDirectory(dir=current_app.config["INSTANCE"]) as folder:
        target = Path(folder) / "subject-access.zip"
        try:
            export_pupil(db.session, app_storage(), school.id,
                         request.form.get("upn", "")[:20].strip(), target, actor=current_user.email)
        except RegisterError as error:
            db.session.rollback()
            flash(say(error), "danger")
            return redirect(url_for("dpo.audit_trail"))
        export = io.BytesIO(target.read_bytes())  # nothing of it stays on disk
    return send_file(export, mimetype="application/zip", as_attachment=True,
                     download_name=f"subject-access-{school.urn or school.id}.zip")
