"""The head and the DSL at their desks: the dashboard, roles, and blocked photos with reasons."""

import pytest

from tests.browser.conftest import (
    IPAD_LANDSCAPE,
    IPAD_PORTRAIT,
    enrol_shown_secret,
    screenshot,
    sign_in,
)
from tests.support.fixtures import add_pupil, upload_photo

pytestmark = pytest.mark.browser


def test_head_invites_a_media_lead_who_accepts_in_their_own_browser(page_at, school):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "head@testschool.test")
    page.get_by_role("heading", name="Head's dashboard").wait_for()
    assert page.locator("#figure-uploads_week").inner_text() == "0"
    assert page.locator("#current-school").inner_text() == "Test School"
    screenshot(page, "head-dashboard")
    page.goto("/head/users")
    page.get_by_label("Email", exact=True).fill("jones@testschool.test")
    page.get_by_label("Role", exact=True).select_option("media_lead")
    page.get_by_role("button", name="Invite", exact=True).click()
    link = page.get_by_label("Invitation link").input_value()
    screenshot(page, "head-invitation-ready")

    newcomer = page_at(IPAD_PORTRAIT)
    newcomer.goto(link)
    newcomer.get_by_role("heading", name="Join Test School").wait_for()
    newcomer.get_by_label("Your name").fill("Mrs Jones")
    newcomer.get_by_label("Choose a password (at least 12 characters)").fill(
        "a long first password")
    newcomer.get_by_label("The same password again").fill("a long first password")
    screenshot(newcomer, "invitation-accept")
    newcomer.get_by_role("button", name="Create my account").click()
    newcomer.get_by_text("Welcome to Test School.").wait_for()
    assert newcomer.url.endswith("/account/second-factor")  # a media lead needs a second factor
    enrol_shown_secret(newcomer)
    assert newcomer.url.endswith("/review/")

    page.goto("/head/users")
    jones = page.locator("li.card", has_text="jones@testschool.test")
    assert jones.get_by_role("checkbox", name="Media lead (reviews and releases)").is_checked()
    assert not jones.get_by_role("checkbox", name="Head").is_checked()
    screenshot(page, "head-users")


def test_dsl_sees_why_a_blocked_photo_is_blocked(live_app, page_at, school, login_as, faces_dir):
    people = faces_dir / "people"
    with live_app.app_context():
        from gatekeeper.extensions import db

        add_pupil(db.session, school["id"], 1, "Barack", "Obama",
                  consents={"social_media": "granted"}, faces=sorted((people / "obama").iterdir()))
        add_pupil(db.session, school["id"], 2, "Joe", "Biden", consents={"social_media": "refused"},
                  faces=sorted((people / "biden").iterdir()))
    staff = login_as("staff")
    event_id = staff.post("/uploads/events", {"name": "Assembly", "date": "2026-07-10",
                                              "purpose": "social_media"}).get_json()["id"]
    path = faces_dir / "events" / "two_people.jpg"
    upload_photo(staff, event_id, path.name, path.read_bytes())

    page = page_at(IPAD_LANDSCAPE)
    sign_in(page, "dsl@testschool.test")
    blocked = page.locator("#blocked li").first
    blocked.get_by_text("Joe Biden").wait_for()
    assert "refused" in blocked.inner_text().lower()
    screenshot(page, "dsl-blocked-photos")
