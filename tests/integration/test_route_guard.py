"""Deny by default: every registered route, walked as anonymous and as each role."""

import re

import pytest

from gatekeeper.models import ROLES
from tests.support.fixtures import Browser

PUBLIC_PREFIXES = ("/static/", "/bootstrap/")
ALWAYS_PUBLIC = {("auth.login", "GET"), ("auth.login", "POST"), ("auth.set_language", "POST"),
                 # Sign-in through the school's provider starts before anyone is signed in; its
                 # own tests: tests/integration/test_sso.py.
                 ("auth.sso_start", "GET")}
# Public by design, opened only by a signed token, with their own tests of what the token opens:
# the parent link (tests/integration/test_parent_link.py), invitations and password resets
# (tests/integration/test_people_tokens.py).
TOKEN_BLUEPRINTS = {"parents", "welcome"}


def token_guarded(rule) -> bool:
    return rule.endpoint.split(".")[0] in TOKEN_BLUEPRINTS


def concrete(rule) -> str:
    """The rule with every variable filled (ids that need not exist: guards run first)."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: "cy" if m.group(1) == "lang" else "1",
                  rule.rule)


def walk(app):
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


def request(browser: Browser, method: str, path: str):
    if method == "GET":
        return browser.get(path)
    return browser.post(path, {})


def test_every_blueprint_names_its_roles(app):
    for name, bp in app.blueprints.items():
        if name == "bootstrap":
            continue
        assert hasattr(bp, "allowed_roles"), name


def test_anonymous_reaches_only_public_routes(app, school):
    browser = Browser(app.test_client())
    browser.refresh_token()
    for rule, method in walk(app):
        path = concrete(rule)
        if path.startswith(PUBLIC_PREFIXES) or (rule.endpoint, method) in ALWAYS_PUBLIC:
            continue
        if token_guarded(rule):
            continue
        response = request(browser, method, path)
        assert response.status_code in (302, 401), (method, path, response.status_code)
        assert "/auth/login" in response.headers.get("Location", ""), (method, path)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_reaches_only_its_blueprints(app, login_as, role):
    browser = login_as(role)
    for rule, method in walk(app):
        path = concrete(rule)
        if path.startswith(PUBLIC_PREFIXES) or rule.endpoint.startswith("auth."):
            continue
        if token_guarded(rule):
            continue
        bp = app.blueprints[rule.endpoint.split(".")[0]]
        response = request(browser, method, path)
        if role in bp.allowed_roles:
            assert response.status_code != 403, (role, method, path)
            assert "/auth/login" not in response.headers.get("Location", ""), (role, method, path)
        else:
            assert response.status_code == 403, (role, method, path, response.status_code)


def test_post_without_csrf_token_is_refused(app, login_as):
    browser = login_as("media_lead")
    response = browser.client.post("/review/1/reject", data={"reason": "x"})
    assert response.status_code == 400
