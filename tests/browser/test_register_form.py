"""The school office records a paper consent form on an iPad by touch, and on a desktop by
keyboard: well under a minute each, and the register shows the result at once."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import IPAD_PORTRAIT, screenshot, sign_in
from tests.support.fixtures import add_pupil

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1280, "height": 800}
ONE_MINUTE = 60.0


@pytest.fixture
def register(live_app, school):
    from gatekeeper.extensions import db

    with live_app.app_context():
        ben = add_pupil(db.session, school["id"], 1, "Ben", "Okafor", year="5")
        add_pupil(db.session, school["id"], 2, "Ava", "Thompson", year="6",
                  consents={"website": "granted"})
        return {"ben": ben.id}


def test_paper_form_by_touch_same_for_all_but_one(page_at, register):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "admin@testschool.test")
    assert page.url.endswith("/register/")
    page.get_by_role("link", name="Okafor, Ben").tap()
    page.wait_for_url("**/register/pupils/*")
    status = page.locator("#status + .table-responsive")
    assert "✘ no" in status.get_by_role("row", name="School website").inner_text()

    started = time.monotonic()
    page.get_by_role("link", name="Record a paper form").tap()
    page.wait_for_url("**/form")
    page.get_by_label("Who signed the form").select_option(label="Someone not listed yet "
                                                                 "(give the name below)")
    page.get_by_label("Name of the parent or carer").fill("Jane Okafor")
    page.locator("fieldset", has_text="The same for all purposes").get_by_text("granted").tap()
    page.locator("fieldset", has_text="Press").get_by_text("refused").tap()
    page.get_by_label("Where the form is kept (optional)").fill("Office file 2026")
    screenshot(page, "register-paper-form")
    page.get_by_role("button", name="Save the form").tap()
    page.get_by_text("Form recorded for Ben Okafor.").wait_for()
    assert time.monotonic() - started < ONE_MINUTE

    # The flash is at the top of the page; the rows below it may still be arriving.
    website, press = (status.get_by_role("row", name=name) for name in ("School website", "Press"))
    expect(website).to_contain_text("✔ yes", use_inner_text=True)
    expect(press).to_contain_text("consent refused", use_inner_text=True)
    expect(page.get_by_role("cell", name="Jane Okafor", exact=True)).to_be_visible()
    screenshot(page, "register-pupil-after-form")
    page.get_by_role("link", name="← Consent register").tap()
    page.wait_for_url("**/register/")
    ben = page.get_by_role("row", name="Okafor, Ben")
    assert ben.get_by_text("✔ yes").count() == 4 and ben.get_by_text("✘ no").count() == 1
    screenshot(page, "register-matrix")


def test_paper_form_by_keyboard(page_at, register, live_app):
    page = page_at(DESKTOP)
    sign_in(page, "admin@testschool.test")
    started = time.monotonic()
    page.goto(f"/register/pupils/{register['ben']}/form")
    giver = page.get_by_label("Who signed the form")
    # The form starts focused: `autofocus` is applied at the next rendering step, which may come
    # after the load event on a busy machine, so wait for it rather than read it once.
    expect(giver).to_be_focused()
    giver.select_option("pupil")
    page.keyboard.press("Tab")  # the name, not needed for the pupil
    page.keyboard.press("Tab")  # relationship
    page.keyboard.press("Tab")  # "the same for all purposes": its checked "no answer"
    page.keyboard.press("ArrowRight")  # → granted
    page.keyboard.press("ArrowRight")  # → refused
    page.keyboard.press("Enter")
    page.get_by_text("Form recorded for Ben Okafor.").wait_for()
    assert time.monotonic() - started < ONE_MINUTE
    for purpose in ("School website", "Press", "Newsletter"):
        row = page.locator("#status + .table-responsive").get_by_role("row", name=purpose)
        expect(row).to_contain_text("the pupil has objected", use_inner_text=True)
