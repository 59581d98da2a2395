"""The parent's page: their child's consent per purpose, in plain words, answered yes or no.

Public (no account): the signed link is the only key, and it opens this page and nothing else.
It shows this parent's own answers only, never another parent's, and nothing of the no-publish
list. A "no" takes effect at once: posts showing the child are pulled in the same transaction.
"""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from consent import rules, services
from consent.models import Guardian, Pupil, School
from gatekeeper.extensions import db
from gatekeeper.parents.links import LinkExpired, LinkRefused, matches, read_token
from gatekeeper.parents.mailing import emailable, owe_takedown_notice
from gatekeeper.publishing.takedown import posts_withdrawn
from gatekeeper.register import actions
from gatekeeper.register.forms import today
from gatekeeper.register.wording import register_globals
from gatekeeper.web.guard import public_blueprint
from gatekeeper.web.wording import speak_as_school
from gatekeeper.worker.tasks import queue_takedown_notice

bp = public_blueprint(Blueprint("parents", __name__, url_prefix="/parent"))
bp.context_processor(register_globals)


def refuse(status: int, message: str):
    return render_template("parents/refused.html", message=message,
                           title=_("Photo consent")), status


@bp.route("/<token>", methods=["GET", "POST"])
def consent(token: str):
    try:
        guardian_id, nonce = read_token(token)
    except LinkExpired as expired:
        guardian = db.session.get(Guardian, expired.guardian_id or 0)
        speak_as_school(guardian.school_id if guardian is not None else None)
        return refuse(410, _("This link has expired. Ask the school office for a new one."))
    except LinkRefused:
        return refuse(404, _("This link does not work. Check that you copied all of it, or ask "
                             "the school office for a new one."))
    guardian = db.session.get(Guardian, guardian_id)
    speak_as_school(guardian.school_id if guardian is not None else None)
    if not matches(guardian, nonce):
        return refuse(404, _("This link has been replaced by a newer one, or withdrawn. Ask the "
                             "school office for a new one."))
    if guardian.parental_responsibility is False:  # consent is theirs to give who have it
        return refuse(403, _("This link does not work for you: ask the school office."))
    pupil = db.session.get(Pupil, guardian.pupil_id)
    on = today()
    if pupil.left_on is not None and pupil.left_on <= on:
        return refuse(410, _("%(name)s has left the school: there is nothing to choose.",
                             name=pupil.first_name))
    purposes = tuple(current_app.config["PURPOSES"])
    if request.method == "POST":
        return answer(token, guardian, purposes)
    if request.args.get("again"):  # a form posted too late (web.errors.stale_form): nothing saved
        flash(_("This page was open too long, so your answers were not saved. Please choose "
                "again."), "warning")
    facts = services.consent_facts(pupil.consent_records)
    giver = services.guardian_giver(guardian)
    answers = {p: rules.giver_answer(facts, giver, p, on) for p in purposes}
    return render_template(
        "parents/consent.html", guardian=guardian, pupil=pupil, purposes=purposes,
        answers=answers, school=db.session.get(School, pupil.school_id),
        expiry=rules.answer_expiry(on), title=_("Photo consent for %(name)s",
                                                 name=pupil.first_name),
    )


def answer(token: str, guardian: Guardian, purposes: tuple[str, ...]):
    said = {p: request.form[p] for p in purposes if request.form.get(p) in rules.ANSWERS}
    if not said:  # not "already recorded": there may be nothing recorded at all
        flash(_("Choose yes or no for at least one use of photos, then save."), "warning")
        return redirect(url_for("parents.consent", token=token))
    records = actions.parent_answers(db.session, guardian, said, purposes=purposes, on=today())
    pulled = posts_withdrawn(db.session)  # by this answer, and by nothing else
    # Posts the "no" pulled are being taken down: the guardian is told once they are down.
    owed = owe_takedown_notice(db.session, guardian, pulled) if emailable(guardian) else 0
    db.session.commit()
    if owed:
        queue_takedown_notice(guardian.id)
    if records:
        flash(_("Thank you: your answers are saved, and take effect now."), "success")
    else:
        flash(_("Nothing changed: your answers were already recorded."), "info")
    return redirect(url_for("parents.consent", token=token))
