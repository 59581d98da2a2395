"""A form posted after its CSRF token stopped holding (open longer than WTF_CSRF_TIME_LIMIT, or a
browser that lost its session): nothing is saved, and the person is told so in the app's words and
language. A parent's consent page and the sign-in page open again with a note; other forms give the
app's own error page; a script gets JSON. Never Werkzeug's bare "400 Bad Request"."""

from __future__ import annotations

import re
import time

from tests.support.fixtures import PASSWORD

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
EXPIRES_S = 1  # stands in for the eight hours a school runs with


def stale_token(app, client, path: str) -> str:
    """The token of the page at path, once it no longer holds (the app's tokens made short)."""
    app.config["WTF_CSRF_TIME_LIMIT"] = EXPIRES_S
    token = TOKEN.search(client.get(path).get_data(as_text=True)).group(1)
    time.sleep(EXPIRES_S + 1.1)  # the token's age counts in whole seconds
    return token


def test_a_sign_in_page_left_open_too_long_opens_again_with_a_note(app, school):
    client = app.test_client()
    token = stale_token(app, client, "/auth/login?next=/register/")
    answer = client.post("/auth/login?next=/register/", data={
        "email": "admin@testschool.test", "password": PASSWORD, "csrf_token": token})
    assert answer.status_code == 303 and answer.headers["Location"] == "/auth/login?next=/register/"
    html = client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "so you were not signed in. Please try again." in html
    assert client.get("/register/").status_code == 302  # still signed out


def test_any_other_form_gives_the_apps_own_page_and_a_script_json(app, login_as):
    admin = login_as("admin")
    page = admin.client.post("/register/pupils/1/form", data={"csrf_token": "stale"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "This page was open too long" in html and "Nothing was saved" in html
    assert "Bad Request" not in html and 'id="error-page"' in html
    script = admin.client.post("/uploads/events", json={"name": "Sports day"},
                               headers={"Accept": "application/json"})
    assert script.status_code == 400
    assert script.get_json()["error"].startswith("This page was open too long.")


def test_a_request_the_app_cannot_read_gives_its_own_page_not_werkzeugs(app, login_as):
    """Werkzeug's bare "400 Bad Request" in English, before (here: JSON that does not parse)."""
    staff = login_as("staff")
    page = staff.client.post("/uploads/events", data="{not json",
                             headers={"Content-Type": "application/json",
                                      "X-CSRFToken": staff.token, "Accept": "text/html"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and 'id="error-page"' in html, html[:300]
    assert "Bad Request" not in html, html[html.index('id="error-page"'):][:800]
    assert "nothing was saved" in html
