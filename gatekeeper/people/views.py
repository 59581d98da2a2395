"""The welcome pages (opened by a one-time link) and the signed-in user's own account."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from gatekeeper.extensions import db
from gatekeeper.models import ROLES, TRUST_ROLES
from gatekeeper.people import grants, invitations, passwords, resets, second_factor
from gatekeeper.people.auth_views import pin_school, pinned_school
from gatekeeper.people.binding import bind_session
from gatekeeper.people.invitations import InvitationError, InvitationRefused, normal_email
from gatekeeper.people.passwords import MAX_PASSWORD, PasswordError
from gatekeeper.people.roles import ROLE_LABELS
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint, public_blueprint
from gatekeeper.web.qr import qr_svg
from gatekeeper.web.wording import speak_as_school
from gatekeeper.worker.tasks import send_reset_task

# Public by design: the signed one-time link is the key, and it opens only its own invitation.
welcome_bp = public_blueprint(Blueprint("welcome", __name__, url_prefix="/welcome"))
account_bp = guard_blueprint(Blueprint("account", __name__, url_prefix="/account"), *ROLES,
                             *TRUST_ROLES)
# Role grants waiting for a second person: the heads and the DSL of the school decide them.
grants_bp = guard_blueprint(Blueprint("grants", __name__, url_prefix="/grants"), "head", "dsl")


def field(name: str, limit: int = MAX_PASSWORD) -> str:
    return request.form.get(name, "")[:limit + 1]


def refused(error: InvitationRefused):
    return (render_template("welcome/refused.html", message=str(error), title=_("Invitation")),
            error.status)


def start_session(user, school_id: int | None) -> None:
    """Sign in afresh (no fixation) straight into the school that invited them. A session the
    school's own accounts signed in stays pinned to that school alone (auth_views.pin_school):
    an invitation accepted in it must not open the person's other schools or trust roles."""
    pinned = pinned_school()
    session.clear()
    login_user(user)
    bind_session()  # the session holds only in this browser, as after a sign-in
    session.permanent = True
    if pinned is not None:
        pin_school(pinned)
    elif school_id is not None:
        session["school_id"] = school_id


@welcome_bp.route("/<token>", methods=["GET", "POST"])
def accept(token: str):
    speak_as_school(*invitations.invited_place(db.session, token[:1000]))
    try:
        invitation = invitations.open_invitation(db.session, token[:1000])
    except InvitationRefused as error:
        return refused(error)
    if request.method == "POST":
        try:
            if current_user.is_authenticated:
                invitations.accept_as_member(db.session, invitation, current_user)
                user = current_user._get_current_object()
            else:
                user = invitations.accept_as_new(db.session, invitation, field("name", 200),
                                                 field("password"), field("confirm"))
            db.session.commit()
        except InvitationRefused as error:
            db.session.rollback()
            return refused(error)
        except (InvitationError, PasswordError) as error:
            db.session.rollback()
            flash(str(error), "danger")
        else:
            return after_acceptance(invitation, user)

    return render_template("welcome/accept.html", invitation=invitation, token=token,
                           role_label=ROLE_LABELS[invitation.role],
                           min_password=passwords.MIN_PASSWORD, title=_("Invitation"))


def after_acceptance(invitation, user):
    """Into the school (or trust) that invited them, through the second factor their role needs;
    a role waiting for a second person opens nothing yet."""
    if invitations.waiting_for_second_person(invitation, user):
        return render_template("welcome/waiting.html", place=invitation.place_name,
                               role_label=ROLE_LABELS[invitation.role], title=_("Invitation"))
    start_session(user, invitation.school_id)
    if invitation.trust_id is not None and pinned_school() is None:
        session["trust_id"] = invitation.trust_id
    flash(_("Welcome to %(school)s.", school=invitation.place_name), "success")
    if second_factor.required_for(user) and not second_factor.enrolled(db.session, user):
        return redirect(url_for("account.second_factor_page"))
    return redirect(url_for("home.index"))


@welcome_bp.route("/reset", methods=["GET", "POST"])
def forgot():
    """The same answer whether or not the address has an account: the worker decides."""
    if request.method == "POST":
        try:
            email = normal_email(request.form.get("email", "")[:300])
        except InvitationError:
            email = ""  # not an address: nothing to send, and the same answer
        if email and resets.request_reset(db.session, email, request.remote_addr or ""):
            send_reset_task(email)
        flash(_("If that address has a Gatekeeper account, we have emailed it a link to choose a "
                "new password. It works for an hour. No email? Ask your head for a temporary "
                "password."), "info")
        return redirect(url_for("welcome.forgot"))
    return render_template("welcome/forgot.html", title=_("Forgotten your password?"))


@welcome_bp.route("/reset/<token>", methods=["GET", "POST"])
def reset(token: str):
    speak_as_school(*resets.reset_place(db.session, token[:1000]))
    try:
        found = resets.open_reset(db.session, token[:1000])
    except resets.ResetRefused as error:
        return render_template("welcome/refused.html", message=str(error),
                               title=_("Choose a new password")), error.status
    if request.method == "POST":
        try:
            resets.complete_reset(db.session, found, field("password"), field("confirm"))
            db.session.commit()
        except PasswordError as error:
            db.session.rollback()
            flash(str(error), "danger")
        except resets.ResetRefused as error:
            db.session.rollback()
            return render_template("welcome/refused.html", message=str(error),
                                   title=_("Choose a new password")), error.status
        else:
            flash(_("Your password has been changed. Sign in with it now."), "success")
            return redirect(url_for("auth.login"))
    return render_template("welcome/reset.html", min_password=passwords.MIN_PASSWORD,
                           title=_("Choose a new password"))


@account_bp.route("/password", methods=["GET", "POST"])
def password():
    if request.method == "POST":
        user = current_user._get_current_object()
        with commit_or_flash(None, errors=(PasswordError,)) as changed:
            passwords.change_own_password(db.session, user, field("current"), field("password"),
                                          field("confirm"), request.remote_addr or "")
        if changed:
            school_id = session.get("school_id")
            login_user(user)  # this session carries the new token; every other one has ended
            if school_id:
                session["school_id"] = school_id
            flash(_("Your password has been changed. Other sessions have been signed out."),
                  "success")
            return redirect(url_for("home.index"))
    return render_template("account/password.html", forced=current_user.must_change_password,
                           min_password=passwords.MIN_PASSWORD, title=_("Change your password"))


def sign_in_again(user) -> None:
    """Carry this session over a change that ended every session of the user."""
    school_id = session.get("school_id")
    login_user(user)
    if school_id:
        session["school_id"] = school_id


@account_bp.route("/second-factor", methods=["GET", "POST"])
def second_factor_page():
    """Enrol an authenticator (QR code and the secret as text), or see the one enrolled."""
    user = current_user._get_current_object()
    if second_factor.enrolled(db.session, user):
        return render_template("account/second_factor.html", enrolled=True,
                               title=_("Second factor"),
                               left=second_factor.recovery_codes_left(db.session, user))
    if pinned_school() is not None:
        # Signed in by the school's provider, whose word must never set up (or see the key of)
        # someone's authenticator: that takes their Gatekeeper password (auth_views.sso_callback).
        return render_template("account/second_factor.html", enrolled=False, by_provider=True,
                               title=_("Second factor")), 403 if request.method == "POST" else 200
    if request.method == "POST":
        with commit_or_flash(None, errors=(second_factor.CodeRefused,)) as done:
            codes = second_factor.confirm_enrolment(db.session, user, field("code", 40))
        if done:
            sign_in_again(user)
            return render_template("account/recovery_codes.html", codes=codes,
                                   title=_("Your recovery codes"))
    secret = second_factor.pending_secret(db.session, user)
    db.session.commit()
    return render_template("account/second_factor.html", enrolled=False, secret=secret,
                           qr=qr_svg(second_factor.provisioning_uri(user, secret)),
                           required=second_factor.required_for(user), title=_("Second factor"))


@account_bp.route("/second-factor/recovery-codes", methods=["POST"])
def recovery_codes():
    """New recovery codes (the old ones stop working), after a code from the authenticator."""
    user = current_user._get_current_object()
    with commit_or_flash(None, errors=(second_factor.CodeRefused,)) as done:
        second_factor.check_code(db.session, user, field("code", 40))
        codes = second_factor.new_recovery_codes(db.session, user)
    if not done:
        return redirect(url_for("account.second_factor_page"))
    return render_template("account/recovery_codes.html", codes=codes,
                           title=_("Your recovery codes"))


@grants_bp.route("/")
def index():
    return render_template("grants/index.html", proposals=grants.pending(db.session, [g.school_id]),
                           role_labels=ROLE_LABELS, title=_("Role grants"))


@grants_bp.route("/<int:proposal_id>/confirm", methods=["POST"], defaults={"confirm": True})
@grants_bp.route("/<int:proposal_id>/refuse", methods=["POST"], defaults={"confirm": False},
                 endpoint="refuse")
def decide(proposal_id: int, confirm: bool):
    proposal = db.session.get(grants.RoleProposal, proposal_id)
    withdrawn = not confirm and proposal is not None and (
        proposal.proposed_by_id == current_user.id)
    done = (_("The role is granted.") if confirm else
            _("You have withdrawn the role grant.") if withdrawn else
            _("The role grant is refused."))
    with commit_or_flash(done, errors=(grants.GrantError,)):
        grants.decide(db.session, proposal_id, [g.school_id], current_user._get_current_object(),
                      confirm)
    return redirect(url_for("grants.index"))
