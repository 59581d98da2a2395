"""The screens as a screen reader and a keyboard meet them (WCAG 2.2 AA): every radio group has
its question as its name, every form error is tied to its field, and the upload page says each
verdict as it arrives."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import PHONE
from tests.support.fixtures import add_pupil

pytestmark = pytest.mark.browser

LINK = re.compile(r'id="link" readonly value="https?://[^/"]+(/parent/[^"]+)"')


@pytest.fixture
def parent_link(live_app, school, login_as) -> str:
    """The path of Mary Thompson's link for her daughter Ava, made by the office."""
    from consent import services
    from gatekeeper.extensions import db

    with live_app.app_context():
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Thompson", year="6")
        mum = services.add_guardian(db.session, ava, "Mary Thompson", "parent",
                                    "mary@example.test")
        db.session.commit()
        guardian = mum.id
    page = login_as("admin").post(f"/register/guardians/{guardian}/link")
    match = LINK.search(page.get_data(as_text=True))
    assert match, "no parent link on the page"
    return match.group(1)


@pytest.mark.parametrize(("lang", "purpose", "yes", "no"), [
    ("en", "Official social media", "Yes, you may", "No"),
    ("cy", "Cyfryngau cymdeithasol swyddogol", "Ie, cewch", "Na"),
])
def test_each_question_on_the_parents_page_is_the_name_of_its_answers(page_at, parent_link,
                                                                       lang, purpose, yes, no):
    """A screen reader on the parent's phone reads "Official social media, group" before its
    "Yes, you may" and "No": five pairs of the same two answers are otherwise told apart by
    nothing."""
    phone = page_at(PHONE)
    phone.goto(parent_link)
    if lang == "cy":
        phone.get_by_role("button", name="Cymraeg").click()
    expect(phone.locator("html")).to_have_attribute("lang", lang)
    question = phone.get_by_role("group", name=purpose, exact=True)
    expect(question.get_by_role("radio", name=yes, exact=True)).to_have_count(1)
    expect(question.get_by_role("radio", name=no, exact=True)).to_have_count(1)
    # Keyboard alone: the answer is chosen with the arrow keys inside its own question.
    question.get_by_role("radio", name=yes, exact=True).focus()
    phone.keyboard.press("ArrowRight")
    expect(question.get_by_role("radio", name=no, exact=True)).to_be_checked()
