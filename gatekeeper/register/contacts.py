"""Guardians from the MIS on the web: the contacts export checked, reported by row, then applied
whole or not at all (consent/contacts.py). Its routes join the register's blueprint and guard."""

from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from consent.importer import ImportRefused
from gatekeeper.extensions import db
from gatekeeper.register import actions
from gatekeeper.register.views import bp
from gatekeeper.web.wording import say

MAX_UPLOAD_BYTES = 10 * 1024 * 1024


@bp.route("/import/contacts", methods=["GET", "POST"])
def import_contacts():
    """Check (and unless asked only to check, apply) a SIMS or Arbor contacts export."""
    if request.method == "GET":
        return render_template("register/contacts.html", plan=None, title=_("Import guardians"))
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose the contacts export (CSV) first."), "danger")
        return redirect(url_for("register.import_contacts"))
    check_only = request.form.get("check_only") == "1"
    try:
        plan = actions.import_contacts(db.session, g.school_id, upload.read(MAX_UPLOAD_BYTES + 1),
                                       apply=not check_only, actor=current_user)
    except ImportRefused as error:
        db.session.rollback()
        flash(say(error), "danger")
        return redirect(url_for("register.import_contacts"))
    if plan.errors or check_only:
        db.session.rollback()
        return render_template("register/contacts.html", plan=plan, checked=check_only,
                               title=_("Import guardians"))
    db.session.commit()
    flash(_("Guardians imported: %(summary)s", summary=say(plan.summary())), "success")
    return redirect(url_for("register.import_contacts"))
