"""Admins: the pupil list and consent matrix (pupils × purposes), readable at a glance."""

from __future__ import annotations

from flask import Blueprint, current_app, g, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select

from consent import rules
from consent.models import Pupil, utcnow
from consent.services import school_facts
from gatekeeper.auth.guard import guard_blueprint
from gatekeeper.extensions import db

bp = guard_blueprint(Blueprint("register", __name__, url_prefix="/register"), "admin", "dsl", "head")


@bp.route("/")
def index():
    query = select(Pupil).where(Pupil.school_id == g.school_id).order_by(Pupil.last_name, Pupil.first_name)
    search = request.args.get("q", "").strip()
    if search:
        like = f"%{search}%"
        query = query.where(
            Pupil.first_name.ilike(like) | Pupil.last_name.ilike(like) | Pupil.upn.ilike(like)
        )
    year = request.args.get("year", "").strip()
    if year:
        query = query.where(Pupil.year_group == year)
    pupils = db.session.scalars(query).all()
    facts = {f.pupil_id: f for f in school_facts(db.session, g.school_id)}
    today = utcnow().date()
    purposes = current_app.config["PURPOSES"]
    matrix = {p.id: {purpose: rules.decide(facts[p.id], purpose, today) for purpose in purposes}
              for p in pupils}
    return render_template("register/index.html", pupils=pupils, matrix=matrix, purposes=purposes,
                           search=search, year=year, title=_("Consent register"))
