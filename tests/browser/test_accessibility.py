"""The screens as a screen reader and a keyboard meet them (WCAG 2.2 AA): every radio group has
its question as its name, every form error is tied to its field, and the upload page says each
verdict as it arrives."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import IPAD_PORTRAIT, PHONE, sign_in
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


@pytest.fixture
def pupils(live_app, school) -> dict[str, int]:
    from consent import services
    from gatekeeper.extensions import db

    with live_app.app_context():
        ben = add_pupil(db.session, school["id"], 1, "Ben", "Okafor")
        services.add_guardian(db.session, ben, "Grace Okafor", "parent", "")
        db.session.commit()
        add_pupil(db.session, school["id"], 2, "Cara", "Williams")
        add_pupil(db.session, school["id"], 3, "Cara", "Jones", year="3")
        return {"ben": ben.id}


def expect_error_on(field, error: str) -> None:
    """The field a refused form sends the reader to: focused, invalid, and described by its error
    (as a screen reader reads it on arrival), the error shown beside it."""
    expect(field).to_be_focused()
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(error)))
    described = field.get_attribute("aria-describedby").split()
    page = field.page
    assert any(page.locator(f"#{ident}").is_visible() for ident in described)


def test_a_refused_register_form_takes_the_reader_to_its_error(page_at, pupils):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "admin@testschool.test")
    page.goto(f"/register/pupils/{pupils['ben']}/form")
    page.get_by_label("Who signed the form").select_option(
        label="Someone not listed yet (give the name below)")
    page.locator("fieldset", has_text="The same for all purposes").get_by_text("granted").click()
    page.get_by_role("button", name="Save the form").click()
    expect_error_on(page.get_by_label("Name of the parent or carer"),
                    "Give the name of the parent or carer.")

    # A group of answers: the error is on each answer, and the first is where the reader lands.
    page.goto(f"/register/pupils/{pupils['ben']}/biometric")
    page.get_by_text("written consent", exact=True).click()
    page.get_by_role("button", name="Save", exact=True).click()
    written = page.get_by_role("radio", name="written consent")
    expect_error_on(written, "Biometric consent must be in writing")
    expect(page.get_by_role("radio", name="objection")).to_have_accessible_description(
        re.compile("Biometric consent must be in writing"))


def test_the_dsl_hears_that_two_pupils_answer_to_the_name(page_at, pupils):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "dsl@testschool.test")
    page.goto("/nopublish/")
    page.get_by_role("button", name="Cymraeg").click()
    page.get_by_label("Disgybl: enw neu UPN").fill("Cara")
    page.get_by_role("button", name="Gwarchod y disgybl hwn").click()
    expect_error_on(page.get_by_label("Disgybl: enw neu UPN"), "Mae 2 disgybl yn cyfateb i “Cara”")


@pytest.fixture
def enrolled(live_app, school, faces_dir):
    """Obama (consented) and Biden (parents refused), enrolled with their reference faces."""
    from gatekeeper.extensions import db

    people = faces_dir / "people"
    with live_app.app_context():
        add_pupil(db.session, school["id"], 1, "Barack", "Obama",
                  consents={"social_media": "granted"}, faces=sorted((people / "obama").iterdir()))
        add_pupil(db.session, school["id"], 2, "Joe", "Biden", consents={"social_media": "refused"},
                  faces=sorted((people / "biden").iterdir()))


def test_the_upload_page_says_each_verdict_as_it_arrives(page_at, enrolled, faces_dir,
                                                          tmp_path):
    """Staff using VoiceOver on the iPad hear each photo's verdict (and a file that did not
    upload) without hunting for its card: the cards change silently."""
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "staff@testschool.test")
    page.get_by_text("Or create a new event").click()
    page.get_by_label("Event name").fill("Sports day")
    page.get_by_label("Intended use").select_option("social_media")
    page.get_by_role("button", name="Create event").click()
    page.wait_for_function("() => document.getElementById('event').value !== ''")
    bogus = tmp_path / "notes.jpg"
    bogus.write_bytes(b"this is not a picture")
    page.get_by_label("Photos", exact=True).set_input_files(
        [faces_dir / "events" / "obama_podium.jpg", faces_dir / "events" / "two_people.jpg", bogus])
    page.get_by_role("button", name="Upload photos").click()
    said = page.get_by_role("log")
    expect(said).to_have_count(1)
    expect(said).to_contain_text("obama_podium.jpg: Cleared")
    expect(said).to_contain_text("two_people.jpg: Blocked")
    expect(said).to_contain_text("notes.jpg: Not uploaded")
    # Said once each: a later poll that changes nothing says nothing again.
    page.wait_for_timeout(2500)
    assert said.inner_text().count("obama_podium.jpg") == 1
