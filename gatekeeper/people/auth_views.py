"""Sign in and out. Sessions carry a per-user token so a logout ends every copy of the cookie."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, flash, g, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired

from gatekeeper.extensions import db, login_manager
from gatekeeper.models import User
from gatekeeper.people import auth as service
from gatekeeper.people.binding import bind_session, init_binding
from gatekeeper.web.guard import public_blueprint

bp = public_blueprint(Blueprint("auth", __name__, url_prefix="/auth"))


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])
    submit = SubmitField(_l("Sign in"))


def init_auth(app: Flask) -> None:
    login_manager.login_view = "auth.login"
    login_manager.login_message = _l("Please sign in to continue.")
    login_manager.session_protection = "strong"
    init_binding(app)  # makes "strong" hold for permanent sessions too


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    ident, _, token = user_id.partition(":")
    user = db.session.get(User, int(ident)) if ident.isdigit() else None
    if user is None or not token or user.session_token != token or not user.active:
        return None  # a deactivated account's sessions end at their next request
    return user


def safe_next(target: str | None) -> str:
    """Only ever redirect within this site after sign-in."""
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("home.index")


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = LoginForm()
    if form.validate_on_submit():
        user, message = service.authenticate(
            db.session, form.email.data, form.password.data, request.remote_addr or ""
        )
        if user is not None:
            language = session.get("lang")  # chosen before signing in: kept across it
            session.clear()  # a fresh session on sign-in: no fixation
            if language is not None:
                session["lang"] = language
            login_user(user)
            bind_session()
            session.permanent = True
            return redirect(safe_next(request.args.get("next")))
        flash(message, "danger")
    return render_template("auth/login.html", form=form, title=_l("Sign in"))


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    service.sign_out(db.session, current_user, g.school_id)
    logout_user()
    session.clear()
    flash(_l("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/school", methods=["POST"])
@login_required
def switch_school():
    chosen = request.form.get("school_id", type=int)
    if chosen in current_user.school_ids():
        session["school_id"] = chosen
    return redirect(url_for("home.index"))


@bp.route("/language/<lang>", methods=["POST"])
def set_language(lang: str):
    if lang in ("en", "cy"):
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")))
