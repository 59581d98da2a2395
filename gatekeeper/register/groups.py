"""Classes and clubs: groups of pupils the school defines, so that an event can name who takes
part beside the MIS year groups."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import func, select

from consent import groups
from consent.importer import YEAR_GROUPS
from consent.models import Pupil, PupilGroup, PupilGroupMember
from consent.services import RegisterError
from gatekeeper.compliance import audit
from gatekeeper.extensions import db
from gatekeeper.register.wording import register_globals
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.rows import school_row

bp = guard_blueprint(Blueprint("groups", __name__, url_prefix="/register/groups"),
                     "admin", "head")
bp.context_processor(register_globals)


@bp.route("/", methods=["GET", "POST"])
def index():
    if request.method == "POST":
        with commit_or_flash(None, errors=(RegisterError,)) as made:
            group = groups.add_group(db.session, g.school_id, request.form.get("name", ""),
                                     request.form.get("kind", ""), current_user.email)
            audit.record(db.session, "group_added", school_id=g.school_id, actor=current_user,
                         subject=group, detail={"name": group.name, "kind": group.kind})
        if made:
            return redirect(url_for("groups.group", group_id=group.id))
    counts = dict(db.session.execute(
        select(PupilGroupMember.group_id, func.count()).group_by(PupilGroupMember.group_id)
    ).all())
    return render_template("register/groups.html", groups=groups.school_groups(db.session,
                           g.school_id), counts=counts, kinds=groups.GROUP_KINDS,
                           title=_("Classes and clubs"))


@bp.route("/<int:group_id>", methods=["GET", "POST"])
def group(group_id: int):
    """One group's members, a year group at a time: tick the pupils who belong."""
    found = school_row(PupilGroup, group_id)
    year = request.values.get("year") or ""
    shown = db.session.scalars(
        select(Pupil).where(Pupil.school_id == g.school_id, Pupil.left_on.is_(None),
                            Pupil.year_group == year if year else Pupil.id.in_(
                                select(PupilGroupMember.pupil_id).where(
                                    PupilGroupMember.group_id == found.id)))
        .order_by(Pupil.last_name, Pupil.first_name)).all()
    if request.method == "POST":
        chosen = request.form.getlist("pupil_id", type=int)
        with commit_or_flash(None, errors=(RegisterError,)) as saved:
            added, removed = groups.set_members(db.session, found, [p.id for p in shown], chosen)
            audit.record(db.session, "group_members_changed", school_id=g.school_id,
                         actor=current_user, subject=found,
                         detail={"added": added, "removed": removed})
        if saved:
            flash_change(added, removed)
        return redirect(url_for("groups.group", group_id=found.id, year=year or None))
    members = {m.pupil_id for m in found.members}
    return render_template("register/group.html", group=found, shown=shown, members=members,
                           year=year, years=YEAR_GROUPS, title=found.name)


def flash_change(added: int, removed: int) -> None:
    flash(_("%(added)d added, %(removed)d removed.", added=added, removed=removed), "success")
