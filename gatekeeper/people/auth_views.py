"""Sign in and out. Sessions carry a per-user token so a logout ends every copy of the cookie."""

from __future__ import annotations

import hmac
import time
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SubmitField
from wtforms.validators import DataRequired

from gatekeeper.compliance import audit
from gatekeeper.extensions import db, login_manager
from gatekeeper.models import User
from gatekeeper.people import auth as service
from gatekeeper.people import second_factor, sso, trusts
from gatekeeper.people.binding import bind_session, client_binding, init_binding
from gatekeeper.people.links import base_url
from gatekeeper.web.guard import public_blueprint

bp = public_blueprint(Blueprint("auth", __name__, url_prefix="/auth"))
# Between a right password and the second factor: who, since when, from which client, going where.
PENDING_KEY = "_gk_code_for"
PENDING_LIFETIME_S = 300
SSO_KEY = "_gk_sso"  # the OpenID Connect flow under way in this browser
# The school whose own accounts signed this session in: the session opens that school alone.
# Its head chooses the provider, so the provider's word is trusted for that school's roles only,
# never for another school or a trust role of the same person (those need a Gatekeeper sign-in).
SIGNED_IN_BY_KEY = "_gk_signed_in_by"


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
    """Only ever redirect within this site after sign-in: a path of this site, never one a
    browser reads as another host ("//host", and "/\\host", which browsers take for "//host";
    control characters and spaces, which browsers strip, are refused too)."""
    if (target and target.startswith("/") and not target.startswith("//")
            and "\\" not in target and target.isprintable() and " " not in target
            and not urlsplit(target).netloc):
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
            return after_password(user, safe_next(request.args.get("next")))
        flash(message, "danger")
    return render_template("auth/login.html", form=form, title=_l("Sign in"),
                           providers=sso.enabled_schools(db.session))


def fresh_session() -> None:
    """Nothing of the session before sign-in goes on (no fixation) but the language chosen."""
    language = session.get("lang")
    session.clear()
    if language is not None:
        session["lang"] = language


def start_session(user: User) -> None:
    """A fresh session (no fixation), bound to this browser, for a school day."""
    fresh_session()
    login_user(user)
    bind_session()
    session.permanent = True


def after_password(user: User, target: str):
    """An enrolled second factor is asked for before any session starts; a role that needs one
    and has none goes straight to enrolment (require_second_factor holds every other page)."""
    if second_factor.enrolled(db.session, user):
        fresh_session()
        session[PENDING_KEY] = {"user": user.get_id(), "since": time.time(), "next": target,
                                "client": client_binding()}
        return redirect(url_for("auth.code"))
    start_session(user)
    if second_factor.required_for(user):
        return redirect(url_for("account.second_factor_page"))
    return redirect(target)


def pending_user() -> tuple[User | None, str]:
    """The user whose password was right in this browser within the last five minutes."""
    pending = session.get(PENDING_KEY) or {}
    fresh = time.time() - float(pending.get("since", 0)) < PENDING_LIFETIME_S
    if not fresh or pending.get("client") != client_binding():
        return None, ""
    return load_user(str(pending.get("user", ""))), safe_next(pending.get("next"))


@bp.route("/code", methods=["GET", "POST"])
def code():
    """Sign-in's second step: the authenticator's code, or a recovery code."""
    user, target = pending_user()
    if user is None:
        session.pop(PENDING_KEY, None)
        flash(_("Sign in again: the time to type your code ran out."), "info")
        return redirect(url_for("auth.login"))
    if request.method == "POST":
        try:
            kind = second_factor.check_code(db.session, user, request.form.get("code", "")[:40])
        except second_factor.CodeRefused as error:
            flash(str(error), "danger")
        else:
            by_school = (session.get(PENDING_KEY) or {}).get("by_school")
            start_session(user)
            if by_school is not None:
                pin_school(by_school)
            if kind == "recovery":
                flash(_("You signed in with a recovery code; %(n)d are left. Each works once.",
                        n=second_factor.recovery_codes_left(db.session, user)), "warning")
            return redirect(target)
    return render_template("auth/code.html", title=_("Your second factor"))


def sso_redirect_uri() -> str:
    return base_url(current_app.config, request.url_root) + url_for("auth.sso_callback")


@bp.route("/sso/<int:school_id>")
def sso_start(school_id: int):
    """Off to the school's provider, with a fresh state, nonce and PKCE verifier."""
    settings = sso.settings_of(db.session, school_id)
    if settings is None or not settings.enabled:
        abort(404)
    try:
        url, flow = sso.start(settings, sso_redirect_uri())
    except sso.SignInRefused as error:
        flash(str(error), "danger")
        return redirect(url_for("auth.login"))
    session[SSO_KEY] = {**flow.as_dict(), "next": safe_next(request.args.get("next")),
                        "client": client_binding()}
    return redirect(url)


def sso_flow() -> tuple[sso.Flow, str]:
    """The flow this browser started, if the provider's answer belongs to it (state) in time."""
    kept = session.pop(SSO_KEY, None) or {}
    state = request.args.get("state", "")
    if (not kept or not state or not hmac.compare_digest(str(kept.get("state", "")), state)
            or kept.get("client") != client_binding()
            or time.time() - float(kept.get("since", 0)) > sso.FLOW_LIFETIME_S):
        raise sso.SignInRefused(_("This sign-in was not started here, or took too long. "
                                  "Start again."))
    flow = sso.Flow(int(kept["school"]), kept["state"], kept["nonce"], kept["verifier"],
                    float(kept["since"]))
    return flow, safe_next(kept.get("next"))


@bp.route("/sso/callback")
def sso_callback():
    """The provider's answer: a code for this browser's flow, exchanged and checked."""
    school_id = None
    try:
        flow, target = sso_flow()
        school_id = flow.school_id
        settings = sso.settings_of(db.session, school_id)
        if settings is None or not settings.enabled:
            raise sso.SignInRefused(_("Sign-in with this provider is switched off."))
        if request.args.get("error") or not request.args.get("code"):
            raise sso.SignInRefused(_("The provider did not sign you in."))
        user = sso.finish(db.session, settings, flow, request.args["code"][:2000],
                          sso_redirect_uri())
        if second_factor.required_for(user) and not second_factor.enrolled(db.session, user):
            # The school's head chooses the provider: its word must not be enough to set up
            # someone else's authenticator, which would then open their roles for good.
            raise sso.SignInRefused(_("Your role needs a second factor: sign in with your "
                                      "Gatekeeper password once to set it up, then you can use "
                                      "the school's accounts."))
    except sso.SignInRefused as error:
        db.session.rollback()
        audit.record(db.session, "login_sso_refused", school_id=school_id,
                     detail={"reason": str(error)[:200]})
        db.session.commit()
        flash(str(error), "danger")
        return redirect(url_for("auth.login"))
    audit.record(db.session, "login_sso", school_id=school_id, actor=user,
                 detail={"provider": settings.label})
    db.session.commit()
    response = after_password(user, target)
    if current_user.is_authenticated:  # no code step: straight into the school that signed them in
        pin_school(school_id)
    elif PENDING_KEY in session:  # after the code step (auth.code)
        session[PENDING_KEY] = {**session[PENDING_KEY], "by_school": school_id}
    return response


def pin_school(school_id: int) -> None:
    """This session was signed in by the school's own accounts: it opens that school alone."""
    session["school_id"] = school_id
    session[SIGNED_IN_BY_KEY] = school_id


def pinned_school() -> int | None:
    """The school whose accounts signed this session in, if they did (app.load_school)."""
    return session.get(SIGNED_IN_BY_KEY)


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
    pinned = pinned_school()
    if pinned is not None and chosen != pinned:
        flash(_("You signed in with this school's own accounts, which open this school only. To "
                "open another school, sign out and sign in with your Gatekeeper password."),
              "warning")
    elif chosen in current_user.school_ids():
        session["school_id"] = chosen
    return redirect(url_for("home.index"))


@bp.route("/trust", methods=["POST"])
@login_required
def switch_trust():
    """Open another trust the user holds a role at (an outsourced DPO serves several)."""
    chosen = request.form.get("trust_id", type=int)
    held = {} if pinned_school() is not None else trusts.roles_by_trust(db.session, current_user)
    if chosen not in held:
        return redirect(url_for("home.index"))
    session["trust_id"] = chosen
    return redirect(url_for("trust.index" if "trust_admin" in held[chosen] else "dpo.audit_trail"))


@bp.route("/language/<lang>", methods=["POST"])
def set_language(lang: str):
    if lang in ("en", "cy"):
        session["lang"] = lang
    return redirect(safe_next(request.form.get("next")))
