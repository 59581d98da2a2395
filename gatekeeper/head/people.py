"""The head's screens for the school itself and its people: details, invitations, leavers.

Every route sits on the head blueprint (guarded by the head role) and acts on the current school
only: another school's users and invitations are not found.
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consent.models import School
from gatekeeper.extensions import db
from gatekeeper.head.views import bp
from gatekeeper.models import ROLES
from gatekeeper.people import invitations, members, schools, sso
from gatekeeper.people.links import invitation_url
from gatekeeper.people.mail import mail_configured
from gatekeeper.people.passwords import MAX_PASSWORD, MIN_PASSWORD, PasswordError
from gatekeeper.people.roles import ROLE_LABELS
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.security import queue_errors
from gatekeeper.worker.tasks import send_invitation_task


def this_school() -> School:
    return db.session.get(School, g.school_id)


def back_to_users(message: str, category: str = "success"):
    flash(message, category)
    return redirect(url_for("head.users"))


@bp.route("/school", methods=["GET", "POST"])
def school():
    school = this_school()
    if request.method == "POST":
        form = request.form
        details = schools.SchoolDetails(form.get("name", "")[:400], form.get("urn", "")[:40],
                                        form.get("la_code", "")[:40], form.get("postcode", "")[:40],
                                        form.get("language", ""))
        with commit_or_flash(_("The school's details are saved."),
                             errors=(schools.SchoolError,)) as saved:
            schools.update_school(db.session, school, details, current_user)
        if saved:
            return redirect(url_for("head.school"))
    return render_template("head/school.html", school=school, languages=schools.LANGUAGE_LABELS,
                           title=_("The school's details"))


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in_settings():
    """The school's OpenID Connect sign-in (Microsoft 365, Google Workspace); the secret is
    write-only: an empty field keeps the stored one."""
    if request.method == "POST":
        form = request.form
        with commit_or_flash(_("Sign-in settings saved."), errors=(sso.SignInRefused,)) as saved:
            sso.save_settings(db.session, g.school_id, form.get("label", "")[:100],
                              form.get("discovery_url", "")[:600], form.get("client_id", "")[:300],
                              form.get("client_secret", "")[:2000], form.get("enabled") == "1",
                              current_user)
        if saved:
            return redirect(url_for("head.sign_in_settings"))
    return render_template("head/sign_in.html", settings=sso.settings_of(db.session, g.school_id),
                           providers=sso.PROVIDERS, title=_("Sign in with the school's accounts"))


@bp.route("/invitations", methods=["POST"])
def invite():
    """Invite someone; the reply is the same whether or not they already have an account."""
    role = request.form.get("role", "")
    with commit_or_flash(None, errors=(invitations.InvitationError,)) as invited:
        issued = invitations.invite(db.session, this_school(), request.form.get("email", "")[:300],
                                    role, current_user)
    if not invited:
        return redirect(url_for("head.users"))
    if mail_configured(current_app.config):
        try:
            send_invitation_task(issued.invitation.id)  # the worker mails a fresh link
        except queue_errors():  # saved, but no email: say so, and how to send it
            flash(_("The invitation is saved, but its email could not be queued just now: send "
                    "it again from Users in a few minutes."), "warning")
            return redirect(url_for("head.users"))
        return back_to_users(_("The invitation is on its way to %(email)s.",
                               email=issued.invitation.email))
    return render_template("head/invited.html", invitation=issued.invitation,
                           link=invitation_url(issued.token, current_app.config, request.url_root),
                           role_label=ROLE_LABELS[role], title=_("Invitation ready"),
                           hours=int(invitations.INVITATION_LIFETIME.total_seconds() // 3600))


@bp.route("/invitations/<int:invitation_id>/revoke", methods=["POST"])
def revoke_invitation(invitation_id: int):
    try:
        invitations.revoke(db.session, g.school_id, invitation_id, current_user)
        db.session.commit()
    except invitations.InvitationRefused:
        db.session.rollback()
        abort(404)
    return back_to_users(_("The invitation is withdrawn: its link no longer works."))


def member_or_404(user_id: int):
    try:
        return members.member(db.session, g.school_id, user_id)
    except members.NotAMember:
        abort(404)


def member_action(user_id: int, action, done: str, *args):
    user = member_or_404(user_id)
    with commit_or_flash(done % {"name": user.name}, errors=(members.MemberError, PasswordError)):
        action(db.session, g.school_id, current_user, user, *args)
    return redirect(url_for("head.users"))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
def deactivate(user_id: int):
    return member_action(user_id, members.deactivate,
                         _("%(name)s is deactivated here and signed out everywhere."))


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
def reactivate(user_id: int):
    return member_action(user_id, members.reactivate, _("%(name)s is active here again."))


@bp.route("/users/<int:user_id>/remove", methods=["POST"])
def remove(user_id: int):
    return member_action(user_id, members.remove,
                         _("%(name)s no longer has any role at this school."))


@bp.route("/users/<int:user_id>/password", methods=["POST"])
def temporary_password(user_id: int):
    return member_action(user_id, members.set_temporary_password,
                         _("%(name)s must choose a new password when they next sign in."),
                         request.form.get("password", "")[:MAX_PASSWORD + 1])


@bp.route("/users/<int:user_id>/second-factor/reset", methods=["POST"])
def reset_second_factor(user_id: int):
    return member_action(user_id, members.reset_second_factor,
                         _("%(name)s sets up their second factor again when they next sign in."))


def people_globals() -> dict:
    return {"all_roles": ROLES, "min_password": MIN_PASSWORD}


bp.context_processor(people_globals)
