"""Reference faces across the school, for the admin and the DSL: pupils with biometric consent
and no reference yet, pupils who look alike (never cleared as each other) and pupils whose newest
reference is due to be taken again."""

from __future__ import annotations

from flask import Blueprint, g, render_template
from flask_babel import gettext as _

from gatekeeper.extensions import db
from gatekeeper.register.wording import register_globals
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.enrolment import (
    awaiting_reference,
    due_for_reenrolment,
    lookalike_list,
)
from gatekeeper.web.guard import guard_blueprint

bp = guard_blueprint(Blueprint("faces", __name__, url_prefix="/register/faces"), "admin", "dsl")
bp.context_processor(register_globals)


@bp.route("/")
def index():
    return render_template(
        "register/faces.html", lookalikes=lookalike_list(db.session, g.school_id),
        due=due_for_reenrolment(db.session, g.school_id), reenrol_days=t.REENROL_AFTER_DAYS,
        awaiting=awaiting_reference(db.session, g.school_id),
        title=_("Reference faces"),
    )
