"""Parent links in rounds: by email to one guardian, a year group or everyone due for renewal, with
reminders, and printed letters (the link as a QR code, one page per guardian) for those without
an email address. Its routes join the register's blueprint and guard."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from consent.models import Pupil, School
from gatekeeper.extensions import db
from gatekeeper.parents import mailing
from gatekeeper.parents.links import link_days
from gatekeeper.people.mail import mail_configured
from gatekeeper.register.forms import today
from gatekeeper.register.views import bp, purposes, renewal_window
from gatekeeper.web.qr import qr_svg
from gatekeeper.web.security import queue_errors
from gatekeeper.worker.tasks import send_parent_link_task


def year_groups() -> list[str]:
    return sorted(set(db.session.scalars(select(Pupil.year_group).where(
        Pupil.school_id == g.school_id, Pupil.left_on.is_(None)))), key=year_order)


def year_order(year: str) -> tuple[int, str]:
    return (int(year), "") if year.isdigit() else (-1, year)


def chosen_guardians():
    form = request.form
    return mailing.choose_guardians(
        db.session, g.school_id, form.get("kind", ""), on=today(), purposes=purposes(),
        year_group=form.get("year_group", "")[:10], guardian_id=form.get("guardian_id", type=int),
        days=renewal_window(), reminder=form.get("reminder") == "1")


@bp.route("/links", methods=["GET", "POST"])
def link_round():
    """Choose who gets a parent link; email it to those with an address, letters for the rest."""
    if request.method == "GET":
        return render_template("register/links.html", years=year_groups(), days=renewal_window(),
                               mail=mail_configured(current_app.config),
                               title=_("Parent links by email or letter"))
    reminder = request.form.get("reminder") == "1"
    try:
        guardians = chosen_guardians()
    except mailing.RoundError as error:
        flash(str(error), "danger")
        return redirect(url_for("register.link_round"))
    round_ = mailing.plan_round(db.session, g.school_id, request.form["kind"], guardians,
                                current_user, reminder,
                                by_email=mail_configured(current_app.config))
    db.session.commit()
    queued = 0
    try:
        for guardian in round_.emailed:
            send_parent_link_task(guardian.id, reminder)  # the worker makes each link and sends it
            queued += 1
    except queue_errors():
        flash(_("%(n)d of %(m)d emails could not be queued just now (no link was made for them): "
                "send the round again in a few minutes.", n=len(round_.emailed) - queued,
                m=len(round_.emailed)), "warning")
    return render_template("register/links_sent.html", round=round_, queued=queued,
                           form=request.form,
                           title=_("Parent links by email or letter"))


@bp.route("/letters", methods=["POST"])
def letters():
    """One printable page per guardian without an email address (or the one guardian asked for),
    each with a new link as a QR code; the links printed replace the guardians' earlier ones."""
    try:
        guardians = chosen_guardians()
    except mailing.RoundError as error:
        flash(str(error), "danger")
        return redirect(url_for("register.link_round"))
    everyone = request.form.get("kind") == "guardian" or not mail_configured(current_app.config)
    school = db.session.get(School, g.school_id)
    letters = []
    with force_locale(school.language):  # in the language the school writes to parents in
        for guardian in guardians:
            if everyone or not mailing.emailable(guardian):
                link = mailing.issue_link(db.session, guardian, current_user)
                letters.append(Markup(render_template(
                    "register/_letter.html", guardian=guardian, school=school, link=link,
                    pupil=db.session.get(Pupil, guardian.pupil_id), qr=qr_svg(link, 3),
                    days=link_days())))
    db.session.commit()
    return render_template("register/letters.html", letters=letters,
                           title=_("Letters to parents"))
