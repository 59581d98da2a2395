"""The application factory: settings, extensions, the queue, the blueprints and their guard."""

from __future__ import annotations

import os

from flask import Flask, current_app, g, has_request_context, request, session
from flask_babel import get_locale
from flask_login import current_user

from consent.models import School
from gatekeeper.config import (
    CONFIGS,
    secure_instance,
    settings_from_environment,
    use_sqlite_pragmas,
)
from gatekeeper.extensions import babel, bootstrap, csrf, db, login_manager, migrate
from gatekeeper.head import people as head_people  # noqa: F401  (its routes join head.bp)
from gatekeeper.head import views as head
from gatekeeper.parents import views as parents
from gatekeeper.people import auth_views, trusts
from gatekeeper.people import views as people
from gatekeeper.people.auth_views import init_auth
from gatekeeper.people.hooks import init_people
from gatekeeper.people.models import Trust
from gatekeeper.publishing import views as publishing
from gatekeeper.register import (
    contacts as register_contacts,  # noqa: F401  (routes join register.bp)
)
from gatekeeper.register import faces, groups, nopublish
from gatekeeper.register import rounds as register_rounds  # noqa: F401  (routes join register.bp)
from gatekeeper.register import views as register
from gatekeeper.register.wording import school_time
from gatekeeper.review import clip_views as clips
from gatekeeper.review import views as review
from gatekeeper.safeguarding import views as safeguarding
from gatekeeper.translations import stale_catalogues
from gatekeeper.trust import views as trust
from gatekeeper.uploads import views as uploads
from gatekeeper.web import home
from gatekeeper.web.errors import init_error_pages
from gatekeeper.web.guard import check_every_blueprint_guarded, may_open
from gatekeeper.web.security import init_security
from gatekeeper.web.wording import init_wording
from gatekeeper.worker import tasks  # noqa: F401  (the tasks and the rescreen listener)
from gatekeeper.worker.queue import configure_queue

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def create_app(test_config: dict | None = None, config_name: str | None = None) -> Flask:
    """Build the web application; tests pass a dict that overrides any setting."""
    app = Flask(
        __name__,
        template_folder=os.path.join(ROOT, "templates"),
        static_folder=os.path.join(ROOT, "static"),
    )
    name = config_name or os.environ.get("GATEKEEPER_CONFIG") or "development"
    app.config.from_object(CONFIGS[name])
    app.config.update(settings_from_environment(CONFIGS[name]))
    if test_config:
        app.config.update(test_config)
    secure_instance(app.config["INSTANCE"])
    use_sqlite_pragmas()

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(ROOT, "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    warn_if_catalogues_stale(app)
    babel.init_app(app, locale_selector=select_locale)
    init_wording(app)
    bootstrap.init_app(app)

    configure_queue(app, build_app=create_app)
    init_auth(app)
    init_security(app)
    init_error_pages(app)
    register_blueprints(app)
    init_people(app)
    check_every_blueprint_guarded(app)
    app.before_request(load_school)
    app.context_processor(template_globals)

    return app


def warn_if_catalogues_stale(app: Flask) -> None:
    """Say so when a translation catalogue is missing or older than its .po; never compile here.

    The .mo files are built at install time (`make install`, `make catalogues`): the installed
    package may be read-only to the app's user, and several processes start at once."""
    stale = stale_catalogues()
    if stale:
        app.logger.warning("translation catalogues not compiled or out of date (%s): run "
                           "`make catalogues`; until then those pages fall back to English",
                           ", ".join(str(po) for po in stale))


def register_blueprints(app: Flask) -> None:
    for bp in (auth_views.bp, home.bp, uploads.bp, review.bp, publishing.bp, register.bp,
               safeguarding.bp, head.bp, parents.bp, nopublish.bp, publishing.accounts_bp,
               publishing.own_uploads_bp, people.welcome_bp, people.account_bp, trust.bp,
               trust.dpo_bp, people.grants_bp, faces.bp, groups.bp, clips.bp):
        app.register_blueprint(bp)


def select_locale() -> str:
    if not has_request_context():  # the worker and the command line speak the default
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    chosen = session.get("lang")
    if chosen in current_app.config["LANGUAGES"]:
        return chosen
    place_language = place_default_language()
    if place_language in current_app.config["LANGUAGES"]:
        return place_language
    return request.accept_languages.best_match(current_app.config["LANGUAGES"]) or "en"


TRUST_BLUEPRINTS = ("trust", "dpo")


def place_default_language() -> str | None:
    """Until the user picks a language themselves: the trust's on the trust's pages, elsewhere
    the current school's, or the trust's for someone who holds only a trust role."""
    school_id, trust_id = getattr(g, "school_id", None), getattr(g, "trust_id", None)
    school = db.session.get(School, school_id) if school_id else None
    trust = db.session.get(Trust, trust_id) if trust_id else None
    if trust is not None and (school is None or request.blueprint in TRUST_BLUEPRINTS):
        return trust.language
    return school.language if school is not None else None


def load_school() -> None:
    """Pick the signed-in user's current school (a trust user may belong to several) and trust;
    g.roles holds the roles at that school and at that trust (trust roles are no school's)."""
    g.school_id, g.trust_id = None, None
    g.roles = set()
    if current_user.is_authenticated:
        schools = current_user.school_ids()
        pinned = auth_views.pinned_school()
        if pinned is not None:  # signed in by a school's own accounts: that school only
            schools = [pinned] if pinned in schools else []
        chosen = session.get("school_id")
        g.school_id = chosen if chosen in schools else (schools[0] if schools else None)
        g.roles = current_user.roles_at(g.school_id) if g.school_id else set()
        held = {} if pinned is not None else trusts.roles_by_trust(db.session, current_user)
        chosen = session.get("trust_id")
        g.trust_id = chosen if chosen in held else (min(held) if held else None)
        g.roles = g.roles | held.get(g.trust_id, set())
        g.trust_ids = sorted(held)  # the trust switcher's choices


def template_globals() -> dict:
    roles = getattr(g, "roles", set())
    return {
        "roles": roles,
        "has_role": lambda *wanted: bool(roles & set(wanted)),
        "may_open": may_open,
        "get_locale": get_locale,
        "school_time": school_time,
    }
