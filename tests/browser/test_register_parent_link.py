"""A parent opens the link the office sent, on a phone, and answers per purpose: a "no" takes
effect at once (the queued post showing the child is pulled)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE, screenshot, sign_in
from tests.integration.test_register_screens import post_state, queued_post

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}


@pytest.fixture
def family(live_app, school):
    from consent import services
    from gatekeeper.extensions import db
    from tests.support.fixtures import add_pupil

    with live_app.app_context():
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Thompson", year="6")
        mum = services.add_guardian(db.session, ava, "Mary Thompson", "parent",
                                    "mary@example.test")
        services.record_consent(db.session, ava, "social_media", "granted", given_by=mum.name,
                                guardian_id=mum.id, recorded_by="test")
        db.session.commit()
        ids = {"ava": ava.id}
    ids["post"] = queued_post(live_app, school["id"], [ids["ava"]])
    return ids


def test_parent_answers_through_the_link(page_at, family, live_app):
    office = page_at(DESKTOP)
    sign_in(office, "admin@testschool.test")
    office.goto(f"/register/pupils/{family['ava']}")
    office.get_by_role("button", name="Create link").click()
    link = office.get_by_label("Link").input_value()
    assert "/parent/" in link
    # The new page may still be arriving below the link field: wait for the link, never read once.
    expect(office.get_by_role("link", name="Write an email to mary@example.test")).to_be_visible()

    phone = page_at(PHONE)  # a new browser: no account, no cookies
    phone.goto(link)
    assert phone.get_by_role("heading", name="Photos of Ava").is_visible()
    social = phone.locator("fieldset", has_text="Official social media")
    assert social.locator("#answer-social_media").inner_text() == "Yes"
    screenshot(phone, "parent-link")
    social.get_by_text("No", exact=True).tap()
    phone.locator("fieldset", has_text="School website").get_by_text("Yes, you may").tap()
    phone.get_by_role("button", name="Save my answers").tap()
    phone.get_by_text("Thank you: your answers are saved, and take effect now.").wait_for()
    assert phone.locator("#answer-social_media").inner_text() == "No"
    assert phone.locator("#answer-website").inner_text() == "Yes"
    screenshot(phone, "parent-link-saved")
    assert post_state(live_app, family["post"]) == "withdrawn"

    office.goto(f"/register/pupils/{family['ava']}")
    history = office.locator("#history + p + .table-responsive")
    assert history.get_by_text("via parent link").count() == 2
    # The same link cannot open anything else.
    phone.goto("/register/")
    assert "/auth/login" in phone.url
