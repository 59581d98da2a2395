"""Sign in with the school's accounts (OpenID Connect) against a real provider the test starts on
127.0.0.1: verified email of an invited person only, state, nonce and PKCE checked, tampered,
expired, other-audience and other-key tokens refused, the second factor still asked for, and the
client secret never shown or logged."""

from __future__ import annotations

import logging
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from gatekeeper.models import AuditEvent, User
from tests.support.codes import code_for
from tests.support.fixtures import Browser
from tests.support.oidc import MODES, Provider, provider_answer


@pytest.fixture
def provider(app, school, login_as):
    """The provider, configured for Test School by its head on the sign-in settings page."""
    with Provider() as running:
        head = login_as("head")
        saved = head.post("/head/sign-in", {"label": "Google Workspace",
                                             "discovery_url": running.discovery_url,
                                             "client_id": running.client_id,
                                             "client_secret": running.client_secret,
                                             "enabled": "1"})
        assert saved.status_code == 302, saved.get_data(as_text=True)[:500]
        running.school_id = school["id"]
        yield running


def through_provider(app, provider: Provider, email: str, browser: Browser | None = None):
    """Start at Gatekeeper's sign-in button, pass the provider, land back on the callback."""
    browser = browser or Browser(app.test_client())
    provider.person = {"email": email, "email_verified": True, **provider.person_extra}
    start = browser.get(f"/auth/sso/{provider.school_id}")
    assert start.status_code == 302 and start.headers["Location"].startswith(provider.url)
    back = urlsplit(provider_answer(start.headers["Location"]))
    return browser, browser.get(f"{back.path}?{back.query}")


def signed_in(browser: Browser) -> bool:
    return browser.get("/account/password").status_code == 200


def test_an_invited_head_signs_in_through_the_provider_then_gives_the_code(app, provider):
    login_page = app.test_client().get("/auth/login").get_data(as_text=True)
    assert "Test School: Google Workspace" in login_page
    browser, landed = through_provider(app, provider, "Head@TestSchool.test")
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/auth/code")
    assert not signed_in(browser)  # the provider is the password step only
    assert browser.answer_code(code_for(app, "head@testschool.test")).status_code == 302
    assert signed_in(browser) and browser.get("/head/").status_code == 200
    sent = provider.token_requests[-1]
    assert sent["code_verifier"] and sent["client_secret"] == provider.client_secret
    from gatekeeper.extensions import db

    with app.app_context():
        trail = " ".join(e.detail_json for e in db.session.scalars(select(AuditEvent)))
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert "login_sso" in actions and provider.client_secret not in trail


def test_staff_without_a_second_factor_are_signed_in_at_once(app, provider):
    browser, landed = through_provider(app, provider, "staff@testschool.test")
    assert landed.status_code == 302 and signed_in(browser)


def test_an_uninvited_address_is_refused_and_nobody_is_created(app, provider):
    browser, landed = through_provider(app, provider, "stranger@testschool.test")
    page = browser.get("/auth/login").get_data(as_text=True)
    assert "stranger@testschool.test has no Gatekeeper account at this school" in page
    assert not signed_in(browser)
    from gatekeeper.extensions import db

    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User).where(
            User.email == "stranger@testschool.test")) == 0


def test_another_schools_member_is_not_signed_in_here(app, provider):
    from gatekeeper.extensions import db
    from tests.support.fixtures import make_school

    with app.app_context():
        make_school(db.session, "Other School")
    browser, _landed = through_provider(app, provider, "head@otherschool.test")
    assert "has no Gatekeeper account at this school" in browser.get("/auth/login").get_data(
        as_text=True)


def test_an_unverified_email_is_refused(app, provider):
    provider.person_extra = {"email_verified": False}
    browser, _landed = through_provider(app, provider, "staff@testschool.test")
    assert "did not confirm that this email address is yours" in browser.get(
        "/auth/login").get_data(as_text=True)
    assert not signed_in(browser)


@pytest.mark.parametrize("mode", MODES)
def test_a_bad_id_token_is_refused(app, provider, mode):
    provider.mode = mode
    browser, landed = through_provider(app, provider, "staff@testschool.test")
    assert landed.status_code == 302 and landed.headers["Location"].endswith("/auth/login")
    page = browser.get("/auth/login").get_data(as_text=True)
    expected = ("did not confirm that this email address is yours" if mode == "no_email_verified"
                else "did not check out (signature, issuer, audience, expiry or nonce)")
    assert expected in page
    assert not signed_in(browser)


def test_an_answer_for_another_browser_or_a_reused_code_is_refused(app, provider):
    browser = Browser(app.test_client())
    start = browser.get(f"/auth/sso/{provider.school_id}")
    provider.person = {"email": "staff@testschool.test", "email_verified": True}
    back = urlsplit(provider_answer(start.headers["Location"]))
    thief = Browser(app.test_client())  # no flow of its own: the state belongs to nobody here
    thief.get(f"{back.path}?{back.query}")
    assert not signed_in(thief)
    forged = browser.get(f"{back.path}?{back.query.replace('state=', 'state=x')}")
    assert forged.headers["Location"].endswith("/auth/login") and not signed_in(browser)
    again = Browser(app.test_client())
    again.get(f"/auth/sso/{provider.school_id}")
    again.get(f"{back.path}?{back.query}")  # another flow's state and an already-spent code
    assert not signed_in(again)


def test_the_settings_keep_the_secret_out_of_pages_and_logs(app, provider, login_as, caplog):
    caplog.set_level(logging.DEBUG)
    head = login_as("head")
    page = head.get("/head/sign-in").get_data(as_text=True)
    assert provider.client_id in page and provider.client_secret not in page
    head.post("/head/sign-in", {"label": "Google Workspace",
                                "discovery_url": provider.discovery_url,
                                "client_id": provider.client_id, "client_secret": "",
                                "enabled": "1"})
    browser, landed = through_provider(app, provider, "staff@testschool.test")
    assert signed_in(browser)  # the empty field kept the stored secret
    refused = head.post("/head/sign-in", {"label": "X", "discovery_url": "http://idp.example/x",
                                          "client_id": "c", "client_secret": "s"})
    assert (refused.status_code == 200
            and "must start with https://" in refused.get_data(as_text=True))
    assert provider.client_secret not in caplog.text
    assert login_as("dsl").get("/head/sign-in").status_code == 403


def test_the_apps_logs_never_hold_the_code_state_id_token_or_secret(app, provider, caplog):
    caplog.set_level(logging.DEBUG)
    browser, _landed = through_provider(app, provider, "staff@testschool.test")  # signed in
    assert signed_in(browser)
    provider.mode = "tampered"
    through_provider(app, provider, "staff@testschool.test")  # refused: the token is forged
    provider.mode = None
    late = Browser(app.test_client())
    start = late.get(f"/auth/sso/{provider.school_id}")
    back = urlsplit(provider_answer(start.headers["Location"]))
    provider.server.shutdown()  # the provider goes away before its code is exchanged
    refused = late.get(f"{back.path}?{back.query}")
    assert "did not answer" in late.get("/auth/login").get_data(as_text=True), refused.location
    answer = parse_qs(back.query)
    sent = [request["code"] for request in provider.token_requests] + [
        *answer["code"], *answer["state"], provider.client_secret, *provider.id_tokens]
    # The werkzeug records are the test provider's own server, which logs its requests.
    logged = "\n".join(record.getMessage() for record in caplog.records
                       if record.name != "werkzeug")
    assert len(sent) == 7
    for secret in sent:
        assert secret not in logged


def test_the_schools_own_accounts_open_that_school_only(app, provider, login_as):
    # The head chooses the provider, so its word counts for this school's roles only: a person
    # who also works at another school opens that one with their Gatekeeper password.
    from gatekeeper.extensions import db
    from gatekeeper.models import Membership
    from tests.support.fixtures import make_school

    with app.app_context():
        other = make_school(db.session, "Other School")
        staff = db.session.scalar(select(User).where(User.email == "staff@testschool.test"))
        db.session.add(Membership(user_id=staff.id, school_id=other.id, role="staff"))
        db.session.commit()
        other_id = other.id
    browser, _landed = through_provider(app, provider, "staff@testschool.test")
    assert signed_in(browser)
    assert "Other School" not in browser.get("/uploads/").get_data(as_text=True)  # no switcher
    browser.refresh_token("/uploads/")
    browser.post("/auth/school", {"school_id": str(other_id)})
    page = browser.get("/uploads/").get_data(as_text=True)
    assert "open this school only" in page and "Test School" in page
    assert "Other School" not in page
    # An invitation accepted in that session (the head who runs the provider can issue one and
    # see its link) starts the session afresh: it stays pinned to this school all the same.
    from tests.support.fixtures import invitation_path

    link = invitation_path(login_as("head").post(
        "/head/invitations", {"email": "staff@testschool.test", "role": "staff"}))
    browser.refresh_token(link)
    browser.post(link)
    browser.refresh_token("/uploads/")
    browser.post("/auth/school", {"school_id": str(other_id)})
    page = browser.get("/uploads/").get_data(as_text=True)
    assert "open this school only" in page and "Other School" not in page
    # With the password, the same person opens either school.
    by_password = Browser(app.test_client())
    assert by_password.login("staff@testschool.test").status_code == 302
    by_password.post("/auth/school", {"school_id": str(other_id)})
    assert "Other School" in by_password.get("/uploads/").get_data(as_text=True)


def test_the_stored_client_secret_never_goes_to_another_provider(app, provider, login_as):
    head = login_as("head")
    moved = head.post("/head/sign-in", {"label": "Google Workspace",
                                        "discovery_url": "https://idp.elsewhere.example/.well-known"
                                                         "/openid-configuration",
                                        "client_id": provider.client_id, "client_secret": "",
                                        "enabled": "1"})
    assert "address changed: give the client secret again" in moved.get_data(as_text=True)
    from gatekeeper.people import sso

    with app.app_context():
        from gatekeeper.extensions import db

        assert sso.settings_of(db.session, provider.school_id).discovery_url == (
            provider.discovery_url)


def test_the_provider_cannot_set_up_someone_elses_second_factor(app, provider, school):
    # Whoever runs the provider could otherwise sign in as a new admin and enrol their own
    # authenticator for them: a role that needs a second factor sets it up after a password.
    from tests.integration.test_second_factor import new_admin, password_step

    new_admin(app, school)
    browser, _landed = through_provider(app, provider, "newadmin@testschool.test")
    assert "sign in with your Gatekeeper password once to set it up" in browser.get(
        "/auth/login").get_data(as_text=True)
    assert browser.get("/account/second-factor").status_code == 302  # not signed in
    assert not signed_in(browser)
    assert password_step(app, "newadmin@testschool.test").location.endswith(
        "/account/second-factor")


@pytest.mark.parametrize("moment", ["by choice", "after a new role"])
def test_a_session_the_provider_signed_in_never_sets_up_a_second_factor(
        app, provider, login_as, moment):
    # Staff may add a second factor, and a role given later needs one; whoever runs the provider
    # could sign in as that person and enrol their own authenticator, which every sign-in of
    # theirs at every school would then ask for.
    from gatekeeper.extensions import db
    from gatekeeper.people.models import SecondFactor

    browser, _landed = through_provider(app, provider, "staff@testschool.test")
    assert signed_in(browser)
    if moment == "after a new role":
        with app.app_context():
            staff_id = db.session.scalar(select(User.id).where(
                User.email == "staff@testschool.test"))
        login_as("head").post(f"/head/users/{staff_id}/roles", {"role": ["staff", "admin"]})
        held = browser.get("/register/")
        assert held.status_code == 302 and held.headers["Location"].endswith(
            "/account/second-factor")
    page = browser.get("/account/second-factor").get_data(as_text=True)
    assert 'id="totp-secret"' not in page and 'id="qr-code"' not in page
    assert "then sign in with your Gatekeeper password" in page
    browser.refresh_token("/auth/login")  # the form's token, as any page of the session has it
    assert browser.post("/account/second-factor", {"code": "123456"}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SecondFactor).join(
            User, User.id == SecondFactor.user_id).where(
            User.email == "staff@testschool.test")) == 0
