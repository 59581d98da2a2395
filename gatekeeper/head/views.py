"""The headteacher: a dashboard of the week, and users and their roles."""

from __future__ import annotations

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.head import service
from gatekeeper.models import ROLES, Post, User
from gatekeeper.people.grants import SECOND_PERSON_ROLES, GrantError
from gatekeeper.people.invitations import open_invitations
from gatekeeper.people.roles import ROLE_LABELS
from gatekeeper.register.wording import school_time
from gatekeeper.review.service import blur_boxes
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.previews import posted_image_response
from gatekeeper.web.rows import school_row

bp = guard_blueprint(Blueprint("head", __name__, url_prefix="/head"), "head")

FIGURE_LABELS = {
    "uploads_week": _l("Uploads this week"),
    "waiting": _l("Waiting for review"),
    "released": _l("Released"),
    "blocked": _l("Blocked"),
    "takedowns": _l("Taken down"),
}
@bp.route("/")
def index():
    return render_template(
        "head/index.html", figures=service.dashboard_figures(db.session, g.school_id),
        labels=FIGURE_LABELS, sample=service.sample_posts(db.session, g.school_id),
        title=_("Head's dashboard"),
    )


@bp.route("/users")
def users():
    return render_template("head/users.html", users=service.school_users(db.session, g.school_id),
                           invitations=open_invitations(db.session, g.school_id),
                           roles=ROLES, role_labels=ROLE_LABELS, title=_("Users and roles"))


@bp.route("/audit")
def audit_trail():
    """The school's audit trail, newest first, by action: who did what and when (a head sees,
    for one, each subject access export the trust's DPO made of a pupil)."""
    place = service.school_audit_place(g.school_id)
    action = request.args.get("action", "").strip()[:60]
    events = audit.trail(db.session, place, action, request.args.get("before", type=int))
    return render_template("head/audit.html", events=events, action=action,
                           actions=audit.actions(db.session, place), page=audit.TRAIL_PAGE,
                           school_time=school_time, title=_("Audit trail of the school"))


def chosen_roles() -> set[str]:
    return {role for role in request.form.getlist("role") if role in ROLES}


@bp.route("/users/<int:user_id>/roles", methods=["POST"])
def set_roles(user_id: int):
    user = db.session.get(User, user_id)
    if user is None or not any(m.school_id == g.school_id for m in user.memberships):
        abort(404)
    chosen = chosen_roles()
    with commit_or_flash(_("Roles of %(name)s saved.", name=user.name),
                         errors=(service.UserError, GrantError)) as saved:
        service.set_roles(db.session, g.school_id, current_user, user, chosen)
    if saved and (chosen - user.roles_at(g.school_id)) & SECOND_PERSON_ROLES:
        flash(_("Granting DSL or head waits for a second person: another head, the DSL or the "
                "trust admin confirms it under Role grants."), "info")
    return redirect(url_for("head.users"))


@bp.route("/posts/<int:post_id>/image")
def post_image(post_id: int):
    """A small copy of exactly what was posted (made from the posted image), for sampling."""

    post = school_row(Post, post_id)
    return posted_image_response(post, blur_boxes(post.photo))
