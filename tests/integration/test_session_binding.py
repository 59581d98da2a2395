"""Sessions are bound to the client that signed in (issue 15, finding 6): a copied cookie does not
work from another browser or address, a deactivated account's sessions end, ending every session
works, and the cookie is Secure behind TLS."""

from __future__ import annotations

from sqlalchemy import select

from gatekeeper.models import User
from gatekeeper.people.auth import end_every_session
from tests.support.fixtures import Browser

HEAD_BROWSER = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1"
OTHER_BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"


def signed_in(app, agent=HEAD_BROWSER, address="198.51.100.30") -> Browser:
    client = app.test_client()
    client.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    browser = Browser(client)
    assert browser.login("head@testschool.test").status_code == 302
    return browser


def replay(app, browser: Browser, agent: str, address: str):
    thief = app.test_client()
    thief.environ_base.update(HTTP_USER_AGENT=agent, REMOTE_ADDR=address)
    thief.set_cookie("session", browser.client.get_cookie("session").value)
    return thief.get("/head/")


def signed_out(response) -> bool:
    return response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_copied_cookie_does_not_work_from_another_browser_or_address(app, school):
    head = signed_in(app)
    assert head.get("/head/").status_code == 200
    assert signed_out(replay(app, head, OTHER_BROWSER, "198.51.100.30"))
    assert signed_out(replay(app, head, HEAD_BROWSER, "203.0.113.66"))
    # The same browser at the same address carries on.
    assert head.get("/head/").status_code == 200


def test_deactivation_and_ending_every_session_sign_the_user_out(app, school):
    from gatekeeper.extensions import db

    head = signed_in(app)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "head@testschool.test"))
        end_every_session(db.session, user, "password changed")
        db.session.commit()
    assert signed_out(head.get("/head/"))
    head = signed_in(app)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "head@testschool.test"))
        user.active = False
        db.session.commit()
    assert signed_out(head.get("/head/"))


def session_cookies(response) -> list[str]:
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")]


def test_the_session_cookie_is_secure_behind_tls(app, school):
    # Even under the development settings (plain http for the demo), a request over TLS gets a
    # Secure cookie.
    behind_tls = session_cookies(app.test_client().get("/auth/login",
                                                       base_url="https://gatekeeper.example"))
    assert behind_tls and all("Secure" in c and "HttpOnly" in c for c in behind_tls), behind_tls
    plain = session_cookies(app.test_client().get("/auth/login"))
    assert plain and not any("Secure" in c for c in plain)  # the demo on plain http still works


def test_reading_a_page_does_not_rewrite_the_session_cookie(app, school):
    """A picture or page still loading with the cookie from before an action must not send that
    older session back: the browser would keep it and lose what the action stored (its "Photo
    rejected." message). So a response sets the session cookie only when the session changed."""
    head = signed_in(app)
    assert head.get("/head/").status_code == 200  # the first page may start the form token
    earlier = head.client.get_cookie("session").value
    assert session_cookies(head.get("/head/")) == []
    late = app.test_client()
    late.environ_base.update(HTTP_USER_AGENT=HEAD_BROWSER, REMOTE_ADDR="198.51.100.30")
    late.set_cookie("session", earlier)
    response = late.get("/head/")
    assert response.status_code == 200 and session_cookies(response) == []
