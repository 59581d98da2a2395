"""Security: CSRF on every state change, headers, session fixation and logout, login throttling per
account and per address, originals only through role checks, no secret or token in the logs."""

import io
import logging
import re

import pytest
from PIL import Image
from sqlalchemy import select

from gatekeeper.models import AuditEvent, Membership, User
from gatekeeper.people.auth import MAX_FAILED_LOGINS, MAX_FAILURES_PER_ADDRESS
from gatekeeper.web.security import HSTS
from tests.support.fixtures import PASSWORD, Browser, upload_photo

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
JAVASCRIPT_URL = re.compile(r"""(href|src|action)\s*=\s*["']?\s*javascript:""", re.I)


def all_roles_user(app, school_id: int) -> str:
    from gatekeeper.extensions import db
    from gatekeeper.models import ROLES

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "head@testschool.test"))
        for role in ROLES:
            if role not in user.roles_at(school_id):
                db.session.add(Membership(user_id=user.id, school_id=school_id, role=role))
        db.session.commit()
        return user.email


def concrete(rule) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: "cy" if m.group(1) == "lang" else "1",
                  rule.rule)


# Forms that open again with a note when their token does not hold (web.errors.stale_form).
SHOWN_AGAIN = {"parents.consent", "auth.login"}


def state_changing_rules(app):
    for rule in app.url_map.iter_rules():
        for method in rule.methods & {"POST", "PUT", "PATCH", "DELETE"}:
            yield rule, method


def small_jpeg(colour=(200, 120, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(out, "JPEG")
    return out.getvalue()


def test_every_state_change_refuses_a_missing_or_wrong_csrf_token(app, school):
    email = all_roles_user(app, school["id"])
    browser = Browser(app.test_client())
    assert browser.login(email).status_code == 302
    checked = 0
    for rule, method in state_changing_rules(app):
        path = concrete(rule)
        for token in (None, "forged-token"):
            headers = {"X-CSRFToken": token} if token else {}
            data = {"csrf_token": token} if token else {}
            response = browser.client.open(path, method=method, data=data, headers=headers)
            if rule.endpoint in SHOWN_AGAIN:  # nothing done: the page opens again with a note
                assert response.status_code == 303, (method, path, token, response.status_code)
                assert response.headers["Location"].startswith(path), response.headers
            else:
                assert response.status_code == 400, (method, path, token, response.status_code)
            checked += 1
    assert checked >= 2 * 8  # every state-changing route, with no token and a forged one


def test_only_get_head_options_are_allowed_without_a_token_on_login(app, school):
    client = app.test_client()
    refused = client.post("/auth/login", data={"email": "admin@testschool.test",
                                               "password": PASSWORD})
    assert refused.status_code == 303 and refused.headers["Location"] == "/auth/login"
    assert client.get("/register/").status_code == 302  # not signed in


def test_security_headers_on_every_page_and_no_inline_script(app, school):
    email = all_roles_user(app, school["id"])
    browser = Browser(app.test_client())
    browser.login(email)
    pages = [concrete(r) for r in app.url_map.iter_rules()
             if "GET" in r.methods and "<" not in r.rule and not r.rule.startswith(("/static",
                                                                                     "/bootstrap"))]
    assert len(pages) >= 5
    for path in pages + ["/auth/login"]:
        response = browser.get(path, follow_redirects=True)
        csp = response.headers["Content-Security-Policy"]
        script_src = re.search(r"script-src ([^;]*)", csp).group(1)
        assert "unsafe-inline" not in script_src and "unsafe-eval" not in script_src, path
        assert "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] in ("same-origin", "no-referrer",
                                                       "strict-origin-when-cross-origin")
        assert "Strict-Transport-Security" not in response.headers  # plain http: no HSTS
        if response.mimetype == "text/html":
            page = response.get_data(as_text=True)
            assert not INLINE_SCRIPT.search(page), (path, INLINE_SCRIPT.search(page).group(0))
            assert not INLINE_HANDLER.search(page), (path, INLINE_HANDLER.search(page).group(0))
            assert not JAVASCRIPT_URL.search(page), path


@pytest.mark.parametrize("target", [
    "/\\evil.example",  # browsers read "/\\host" as "//host"
    "/\\/evil.example",
    "//evil.example",
    "/\t/evil.example",  # browsers drop tabs and newlines from addresses
    "/\n/evil.example",
    "https://evil.example/",
    " //evil.example",
])
def test_sign_in_never_sends_the_browser_to_another_site(app, school, target):
    browser = Browser(app.test_client())
    browser.refresh_token()
    response = browser.client.post("/auth/login", query_string={"next": target}, data={
        "email": "staff@testschool.test", "password": PASSWORD, "csrf_token": browser.token})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_sign_in_returns_to_the_page_asked_for(app, school):
    browser = Browser(app.test_client())
    browser.refresh_token()
    response = browser.client.post("/auth/login", query_string={"next": "/uploads/?page=2"},
                                   data={"email": "staff@testschool.test", "password": PASSWORD,
                                         "csrf_token": browser.token})
    assert response.headers["Location"] == "/uploads/?page=2"


def test_hsts_behind_tls(app):
    response = app.test_client().get("/auth/login", base_url="https://gatekeeper.example")
    assert response.headers["Strict-Transport-Security"] == HSTS


def session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    return cookie.value if cookie else ""


def test_sign_in_starts_a_fresh_session(app, school):
    browser = Browser(app.test_client())
    with browser.client.session_transaction() as planted:
        planted["planted_by_attacker"] = "yes"
    before = session_cookie(browser.client)
    assert browser.login("staff@testschool.test").status_code == 302
    with browser.client.session_transaction() as after:
        assert "planted_by_attacker" not in after
    assert session_cookie(browser.client) != before
    # The cookie from before sign-in is still anonymous.
    attacker = app.test_client()
    attacker.set_cookie("session", before)
    response = attacker.get("/uploads/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_logout_ends_every_copy_of_the_session(app, school):
    browser = Browser(app.test_client())
    browser.login("staff@testschool.test")
    stolen = session_cookie(browser.client)
    assert browser.get("/uploads/").status_code == 200
    assert browser.client.post("/auth/logout").status_code == 400  # no token: refused
    assert browser.post("/auth/logout").status_code == 302
    replay = app.test_client()
    replay.set_cookie("session", stolen)
    response = replay.get("/uploads/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_account_locks_after_repeated_failures_even_for_the_right_password(app, school):
    browser = Browser(app.test_client())
    for _ in range(MAX_FAILED_LOGINS):
        assert browser.login("dsl@testschool.test", "wrong").status_code == 200
    page = browser.login("dsl@testschool.test", PASSWORD)
    assert page.status_code == 200
    assert "Too many failed attempts" in page.get_data(as_text=True)
    # Another account from the same address is not affected by one account's lockout.
    assert Browser(app.test_client()).login("staff@testschool.test").status_code == 302


def login_from(app, address: str, email: str, password: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Browser(client).login(email, password)


def test_one_address_guessing_across_accounts_is_throttled(app, school):
    attacker = "203.0.113.9"
    for n in range(MAX_FAILURES_PER_ADDRESS):
        response = login_from(app, attacker, f"guess{n}@testschool.test", "password1")
        assert "not recognised" in response.get_data(as_text=True)
    refused = login_from(app, attacker, "admin@testschool.test", PASSWORD)
    assert refused.status_code == 200
    assert "Too many failed sign-ins from this network" in refused.get_data(as_text=True)
    # Staff at another address sign in normally.
    assert login_from(app, "198.51.100.7", "admin@testschool.test", PASSWORD).status_code == 302
    from gatekeeper.extensions import db

    with app.app_context():
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "login_throttled" in actions


@pytest.fixture
def uploaded(app, school, login_as):
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Fair", "date": "2026-06-01",
                                           "purpose": "social_media"})
    response = upload_photo(staff, event.get_json()["id"], "../../etc/passwd\x07.jpg", small_jpeg())
    assert response.status_code == 201, response.get_data(as_text=True)
    return {"staff": staff, "photo_id": response.get_json()["id"]}


def test_images_are_served_with_disposition_and_nosniff_and_only_to_roles(app, uploaded, login_as):
    photo_id = uploaded["photo_id"]
    own = uploaded["staff"].get(f"/uploads/{photo_id}/thumb")
    assert own.status_code == 200 and own.mimetype == "image/jpeg"
    assert own.headers["Content-Disposition"].startswith("inline; filename=")
    assert ".." not in own.headers["Content-Disposition"]
    assert own.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in own.headers["Cache-Control"]
    media = login_as("media_lead")
    image = media.get(f"/review/{photo_id}/image")
    assert image.status_code == 200
    assert image.headers["Content-Disposition"].startswith("inline; filename=")
    assert image.headers["X-Content-Type-Options"] == "nosniff"
    assert uploaded["staff"].get(f"/review/{photo_id}/image").status_code == 403
    assert login_as("admin").get(f"/uploads/{photo_id}/thumb").status_code == 403
    anonymous = app.test_client().get(f"/uploads/{photo_id}/thumb")
    assert anonymous.status_code == 302


def test_no_secret_or_token_in_logs_or_audit(app, school, caplog):
    caplog.set_level(logging.DEBUG)
    browser = Browser(app.test_client())
    browser.login("staff@testschool.test", "a-wrong-secret-password")
    browser.login("staff@testschool.test")
    event = browser.post("/uploads/events", {"name": "Trip", "date": "2026-06-01",
                                             "purpose": "website"})
    upload_photo(browser, event.get_json()["id"], "trip.jpg", small_jpeg())
    cookie, token = session_cookie(browser.client), browser.token
    browser.post("/auth/logout")
    from gatekeeper.extensions import db

    with app.app_context():
        trail = " ".join(e.detail_json + e.actor for e in db.session.scalars(select(AuditEvent)))
        session_tokens = [u.session_token for u in db.session.scalars(select(User))]
    logged = caplog.text + trail
    secrets_seen = [PASSWORD, "a-wrong-secret-password", app.config["SECRET_KEY"], cookie, token,
                    *session_tokens]
    for secret in secrets_seen:
        assert secret and secret not in logged
