"""The second factor: a TOTP code after the password for every role that needs one, enrolment
at first sign-in, recovery codes shown once and used once, a code used once, guesses throttled,
and a lost phone reset by the head."""

from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from gatekeeper.models import AuditEvent, User
from gatekeeper.people.models import RecoveryCode, SecondFactor
from gatekeeper.people.second_factor import MAX_CODE_FAILURES, current_step
from tests.support.codes import TOTP_SECRET, code_after, code_for
from tests.support.fixtures import PASSWORD, SHOWN_SECRET, Browser

CODES = re.compile(r"<li><code>([a-z0-9-]+)</code></li>")


def password_step(app, email: str) -> Browser:
    browser = Browser(app.test_client())
    browser.refresh_token()
    response = browser.client.post("/auth/login", data={"email": email, "password": PASSWORD,
                                                         "csrf_token": browser.token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    browser.location = response.headers["Location"]
    return browser


def signed_in(browser: Browser) -> bool:
    response = browser.get("/account/password")
    return response.status_code == 200 and "Change your password" in response.get_data(as_text=True)


def user_called(app, email: str):
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalar(select(User).where(User.email == email))


def test_the_password_alone_opens_nothing_for_a_head(app, school):
    browser = password_step(app, "head@testschool.test")
    assert browser.location.endswith("/auth/code")
    assert not signed_in(browser)
    assert browser.get("/head/").status_code == 302


def test_a_right_code_signs_in_and_works_only_once(app, school):
    browser = password_step(app, "dsl@testschool.test")
    code = code_for(app, "dsl@testschool.test")
    assert "not right" in browser.answer_code("000000" if code != "000000" else "111111").get_data(
        as_text=True)
    assert not signed_in(browser)
    assert browser.answer_code(code).status_code == 302
    assert signed_in(browser)
    # The same code again, in another browser a moment later: refused (no replay).
    again = password_step(app, "dsl@testschool.test")
    page = again.answer_code(code).get_data(as_text=True)
    assert "used already" in page and not signed_in(again)


def test_code_guesses_are_throttled_even_before_the_right_code(app, school):
    browser = password_step(app, "media_lead@testschool.test")
    for guess in range(MAX_CODE_FAILURES + 1):
        browser.answer_code(f"{guess:06d}")
    page = browser.answer_code(code_for(app, "media_lead@testschool.test")).get_data(as_text=True)
    assert "Too many wrong codes" in page and not signed_in(browser)
    from gatekeeper.extensions import db

    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert actions.count("second_factor_failed") >= MAX_CODE_FAILURES
    assert "second_factor_locked" in actions


def test_the_code_step_belongs_to_the_browser_that_gave_the_password(app, school):
    browser = password_step(app, "admin@testschool.test")
    other = Browser(app.test_client())
    other.client.environ_base["REMOTE_ADDR"] = "198.51.100.77"
    # The cookie copied into another client at another address opens no code step.
    cookie = browser.client.get_cookie("session")
    other.client.set_cookie("session", cookie.value)
    response = other.client.get("/auth/code")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_staff_sign_in_with_a_password_alone(app, school):
    browser = password_step(app, "staff@testschool.test")
    assert not browser.location.endswith("/auth/code")
    assert browser.get("/uploads/").status_code == 200


def new_admin(app, school, email="newadmin@testschool.test") -> None:
    from gatekeeper.extensions import db
    from gatekeeper.models import Membership
    from tests.support.fixtures import password_hash

    with app.app_context():
        user = User(email=email, name="New Admin", password_hash=password_hash())
        db.session.add(user)
        db.session.flush()
        db.session.add(Membership(user_id=user.id, school_id=school["id"], role="admin"))
        db.session.commit()


def test_a_role_that_needs_a_second_factor_enrols_one_before_anything_else(app, school):
    new_admin(app, school)
    browser = password_step(app, "newadmin@testschool.test")
    assert browser.location.endswith("/account/second-factor")
    held = browser.get("/register/")
    assert held.status_code == 302 and held.headers["Location"].endswith("/account/second-factor")
    page = browser.get("/account/second-factor").get_data(as_text=True)
    assert "<svg" in page and "otpauth" not in page  # the QR code is a drawing, the key is text
    secret = SHOWN_SECRET.search(page).group(1)
    # same key
    assert browser.get("/account/second-factor").get_data(as_text=True).count(secret) == 1
    browser.token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    wrong = browser.post("/account/second-factor", {"code": "123456"}).get_data(as_text=True)
    assert "not right" in wrong
    shown = browser.post("/account/second-factor", {"code": code_after(secret, 0)})
    codes = CODES.findall(shown.get_data(as_text=True))
    assert len(codes) == 10 and len(set(codes)) == 10
    assert browser.get("/register/").status_code == 200
    from gatekeeper.extensions import db

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "newadmin@testschool.test"))
        factor = db.session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))
        stored = " ".join(r.code_hash for r in db.session.scalars(select(RecoveryCode)))
    assert secret.encode() not in factor.secret_sealed  # sealed with the instance key
    assert not any(code.replace("-", "") in stored or code in stored for code in codes)
    # From now on the sign-in asks for a code; a recovery code works once.
    for attempt in (1, 2):
        later = password_step(app, "newadmin@testschool.test")
        assert later.location.endswith("/auth/code")
        page = later.answer_code(codes[0].upper()).get_data(as_text=True)
        assert signed_in(later) == (attempt == 1), page[:300]


def test_enrolling_ends_sessions_that_never_passed_the_second_factor(app, school):
    new_admin(app, school)
    first, second = password_step(app, "newadmin@testschool.test"), password_step(
        app, "newadmin@testschool.test")
    first.enrol_shown_secret()
    assert signed_in(first)
    held = second.get("/register/")
    assert held.status_code == 302 and "/auth/login" in held.headers["Location"]


def test_the_head_resets_a_lost_second_factor_but_not_their_own(app, school, login_as):
    head = login_as("head")
    media_lead = user_called(app, "media_lead@testschool.test")
    own = user_called(app, "head@testschool.test")
    head.post(f"/head/users/{own.id}/second-factor/reset")
    assert login_as("head")  # still enrolled: the head's own factor was not reset
    signed = login_as("media_lead")
    head.post(f"/head/users/{media_lead.id}/second-factor/reset")
    assert signed.get("/review/").status_code == 302  # their sessions ended
    browser = password_step(app, "media_lead@testschool.test")
    assert browser.location.endswith("/account/second-factor")
    from gatekeeper.extensions import db

    with app.app_context():
        actions = [e.action for e in db.session.scalars(select(AuditEvent))]
    assert "second_factor_reset" in actions


def test_fixture_users_carry_the_known_secret():
    assert len(pyotp.TOTP(TOTP_SECRET).at(current_step() * 30)) == 6
