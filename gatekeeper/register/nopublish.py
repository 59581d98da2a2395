"""The no-publish list, for the designated safeguarding lead only: entries with their reasons, and
their history. Every other role sees only "protected — do not publish" on the register's pages."""

from __future__ import annotations

from flask import Blueprint, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from consent import services
from consent.models import NoPublishEntry, Pupil
from gatekeeper.extensions import db
from gatekeeper.register import actions, forms
from gatekeeper.register.wording import CATEGORY_LABELS, label, register_globals
from gatekeeper.review.service import search_pupils
from gatekeeper.web.commits import commit_or_flash
from gatekeeper.web.guard import guard_blueprint
from gatekeeper.web.rows import school_row

bp = guard_blueprint(Blueprint("nopublish", __name__, url_prefix="/nopublish"), "dsl")
bp.context_processor(register_globals)
bp.context_processor(lambda: {"category_label": lambda c: label(CATEGORY_LABELS, c),
                             "pupil_choice": pupil_choice})


def entries() -> list[tuple[NoPublishEntry, Pupil]]:
    """Every entry of the school, open ones first, newest first within each."""
    return list(db.session.execute(
        select(NoPublishEntry, Pupil)
        .join(Pupil, Pupil.id == NoPublishEntry.pupil_id)
        .where(NoPublishEntry.school_id == g.school_id)
        .order_by(NoPublishEntry.removed_at.is_not(None), NoPublishEntry.id.desc())
    ).all())


def page(form: forms.NoPublishForm, status: int = 200, matches=()):
    return render_template("register/nopublish.html", entries=entries(), form=form,
                           removal=forms.RemovalForm(), today=forms.today(), matches=matches,
                           title=_("No-publish list")), status


@bp.route("/")
def index():
    return page(forms.NoPublishForm(pupil=request.args.get("upn", "")))


@bp.route("/pupils")
def pupils():
    """Pupils whose names start with the words typed, for choosing one by name."""
    found = search_pupils(db.session, g.school_id, request.args.get("q", "")[:100])
    return jsonify(pupils=[{"id": p.id, "label": pupil_choice(p)} for p in found])


def pupil_choice(pupil: Pupil) -> str:
    """How a pupil is told apart from another of the same name: year, birthday and UPN."""
    born = pupil.date_of_birth.strftime("%d/%m/%Y") if pupil.date_of_birth else "—"
    return _("%(name)s, year %(year)s, born %(born)s, UPN %(upn)s", name=pupil.full_name,
             year=pupil.year_group, born=born, upn=pupil.upn)


@bp.route("/", methods=["POST"])
def add():
    form = forms.NoPublishForm()
    if not form.validate_on_submit():
        return page(form, 400)
    try:
        pupil = actions.choose_pupil(db.session, g.school_id, form.pupil.data or "",
                                     form.pupil_id.data)
    except actions.PupilNotChosen as unclear:
        form.pupil.errors = [str(unclear)]
        return page(form, 400, unclear.matches)
    except services.RegisterError as error:
        form.pupil.errors = [str(error)]
        return page(form, 400)
    with commit_or_flash(_("%(name)s is protected: do not publish. Posts showing the pupil were "
                           "pulled.", name=pupil.full_name),
                         errors=(services.RegisterError,)) as added:
        actions.add_nopublish(
            db.session, g.school_id, pupil.upn, category=form.category.data,
            note=form.note.data, added_by=current_user.name, actor=current_user,
            starts_on=form.starts_on.data, ends_on=form.ends_on.data,
        )
    return redirect(url_for("nopublish.index")) if added else page(form, 400)


@bp.route("/<int:entry_id>/remove", methods=["POST"])
def remove(entry_id: int):
    entry = school_row(NoPublishEntry, entry_id)
    form = forms.RemovalForm()
    if form.validate_on_submit():
        with commit_or_flash(_("Entry removed; it stays in the history."),
                             errors=(services.RegisterError,)):
            actions.remove_nopublish_entry(db.session, entry, reason=form.reason.data,
                                           actor=current_user)
    else:
        flash(_("Say why the entry ends."), "danger")
    return redirect(url_for("nopublish.index"))

