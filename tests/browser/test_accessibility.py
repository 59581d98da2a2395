"""The screens as a screen reader and a keyboard meet them (WCAG 2.2 AA): every role's main
screens in English and Welsh pass axe-core's WCAG 2.2 AA rules and our own checks (the page's
language, one h1, text contrast of badges and buttons, reflow to 320 px); every radio group has its
question as its name, every form error is tied to its field, and the upload page says each verdict
as it arrives."""

from __future__ import annotations

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.browser.conftest import IPAD_PORTRAIT, PHONE, sign_in, wait_until_styled
from tests.conftest import PG_URL
from tests.support.fixtures import add_pupil, make_trust, upload_photo
from tests.support.publishing import cleared_photo

# What a screen reader and a keyboard meet does not depend on the database: pass 1 only, which
# keeps the suite within its time on two cores.
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(bool(PG_URL), reason="the screens' accessibility is checked in "
                                                      "pass 1")]

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


def test_a_post_at_time_that_has_passed_takes_the_reader_to_its_error(page_at, live_app,
                                                                      school):
    """A mistyped date in the past: the reader lands on the time, told why, with the caption and
    the ticks as they were."""
    import datetime as dt

    from consent.clock import SCHOOL_ZONE
    from gatekeeper.extensions import db

    with live_app.app_context():
        ada = add_pupil(db.session, school["id"], 1, "Ada", "Lovelace",
                        consents={"social_media": "granted"})
        photo_id = cleared_photo(db.session, school["id"], [ada.id])
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "media_lead@testschool.test")
    page.goto(f"/review/{photo_id}")
    page.get_by_label("Caption").fill("Science week")
    yesterday = dt.datetime.now(SCHOOL_ZONE) - dt.timedelta(days=1)
    page.get_by_label("Post at").fill(yesterday.strftime("%Y-%m-%dT%H:%M"))
    for box in page.locator(".release-form input[type=checkbox]").all():
        box.check()
    page.get_by_role("button", name="Release", exact=True).click()
    expect_error_on(page.get_by_label("Post at"), "The time to post at has passed")
    expect(page.get_by_label("Caption")).to_have_value("Science week")
    for box in page.locator(".release-form input[type=checkbox]").all():
        expect(box).to_be_checked()


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


# axe-core's rules for WCAG 2.0, 2.1 and 2.2 at levels A and AA, and its best practices (landmarks,
# one h1, headings in order, regions).
AXE_RULES = {"runOnly": {"type": "tag", "values": [
    "wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}}
NARROWEST = {"width": 320, "height": 640}  # 1280 px at 400 % zoom (WCAG 1.4.10 Reflow)
TEXT_CONTRAST = 4.5
# The text contrast of every visible badge and button, from the computed styles: its colour
# against the first opaque background behind it (WCAG relative luminance).
CONTRAST_JS = """
() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => (v /= 255) <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4))
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = el => {
    for (let e = el; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0.99) return c;
    }
    return [255, 255, 255];
  };
  return Array.from(document.querySelectorAll(".badge, .btn")).filter(e => e.offsetParent
      && e.innerText.trim()).map(e => {
    const a = lum(rgb(getComputedStyle(e).color)), b = lum(behind(e));
    return [e.innerText.trim().slice(0, 40), (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)];
  });
}
"""

# The outermost elements that reach past the window's right edge (what makes a page scroll).
WIDEST_JS = """
() => Array.from(document.querySelectorAll("body *")).filter(e =>
    e.getBoundingClientRect().right > window.innerWidth + 1
    && e.parentElement.getBoundingClientRect().right <= window.innerWidth + 1)
  .slice(0, 3).map(e => e.outerHTML.slice(0, 100))
"""


def page_problems(page, lang: str) -> list[str]:
    """What a person using a screen reader, a keyboard, zoom or low vision meets on this page."""
    wait_until_styled(page)
    where = f"{page.url.split('/', 3)[3]} ({lang})"
    problems = [f"{where}: {v['id']}: {v['help']}: "
                + "; ".join(n["html"][:120] for n in v["nodes"][:3])
                for v in Axe().run(page, options=AXE_RULES).response["violations"]]
    if page.locator("html").get_attribute("lang") != lang:
        problems.append(f"{where}: html lang is {page.locator('html').get_attribute('lang')}")
    if page.locator("h1").count() != 1:
        problems.append(f"{where}: {page.locator('h1').count()} h1 headings")
    problems += [f"{where}: {text!r} has text contrast {ratio:.2f}:1"
                 for text, ratio in page.evaluate(CONTRAST_JS) if ratio < TEXT_CONTRAST]
    narrow = page.context.new_page()
    narrow.set_viewport_size(NARROWEST)
    narrow.goto(page.url)
    wait_until_styled(narrow)
    width = narrow.evaluate("() => document.documentElement.scrollWidth")
    if width > NARROWEST["width"]:
        problems.append(f"{where}: {width} px wide at 320 px: the page scrolls sideways: "
                        + ", ".join(narrow.evaluate(WIDEST_JS)))
    narrow.close()
    return problems


@pytest.fixture
def school_at_work(live_app, school, enrolled, login_as, faces_dir) -> dict:
    """A sports day: three photos uploaded and screened, one released to the queue; a trust."""
    from gatekeeper.extensions import db

    with live_app.app_context():
        make_trust(db.session, "Test Trust", [school["id"]])
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Sports day", "date": "2026-07-10",
                                           "purpose": "social_media"}).get_json()["id"]
    photos = [upload_photo(staff, event, name, (faces_dir / "events" / name).read_bytes())
              .get_json()["id"] for name in ("obama_podium.jpg", "obama_and_biden.jpg",
                                             "two_people.jpg")]
    released = login_as("media_lead").post(f"/review/{photos[0]}/release", {
        "account_id": "1", "caption": "Sports day!", "dressed": "yes", "no_distress": "yes",
        "no_location": "yes", "tagging_off": "yes"})
    assert released.status_code == 302
    return {"event": event, "photos": photos}


def walk(school_at_work) -> dict[str, list[str]]:
    """Each role's main screens."""
    event, photos = school_at_work["event"], school_at_work["photos"]
    return {
        "staff@testschool.test": ["/uploads/", "/register/"],  # the second: not for staff (403)
        "admin@testschool.test": [
            "/register/", "/register/pupils/1", "/register/pupils/1/form",
            "/register/pupils/1/biometric", "/register/renewals", "/register/import",
            "/register/links", "/register/faces/", "/register/groups/"],
        "dsl@testschool.test": ["/safeguarding/", "/nopublish/"],
        "media_lead@testschool.test": [
            "/review/", f"/review/{photos[1]}", f"/review/{photos[2]}",
            f"/review/events/{event}/faces", "/queue/", "/account/password"],
        "head@testschool.test": ["/head/", "/head/users", "/head/audit", "/head/school",
                                 "/accounts/", "/accounts/1"],
        "trust_admin@testtrust.test": ["/trust/"],
        "dpo@testtrust.test": ["/dpo/"],
    }


def test_every_role_s_screens_in_english_and_welsh(page_at, school_at_work):
    problems = []
    page = page_at(IPAD_PORTRAIT)
    page.goto("/auth/login")
    problems += page_problems(page, "en")
    page.goto("/no-such-page")
    problems += page_problems(page, "en")
    for email, paths in walk(school_at_work).items():
        page = page_at(IPAD_PORTRAIT)
        sign_in(page, email)
        for lang in ("en", "cy"):
            if lang == "cy":
                page.get_by_role("button", name="Cymraeg").click()
                page.wait_for_load_state()
            for path in paths:
                page.goto(path)
                problems += page_problems(page, lang)
    assert not problems, "\n".join(problems)


FOCUS_CONTRAST = 3.0  # WCAG 1.4.11: the focus indicator against what is next to it
FOCUS_WIDTH_PX = 2
# What shows where the keyboard is: the focused control's outline (or, for a radio drawn as a
# button, its label's), its width and its contrast with the first opaque background behind it.
FOCUS_JS = """
() => {
  const rgb = c => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => [r, g, b].map(v => (v /= 255) <= 0.03928 ? v / 12.92
    : Math.pow((v + 0.055) / 1.055, 2.4))
    .reduce((s, v, i) => s + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = el => {
    for (let e = el.parentElement; e; e = e.parentElement) {
      const c = rgb(getComputedStyle(e).backgroundColor);
      if (c.length === 3 || c[3] > 0.99) return c;
    }
    return [255, 255, 255];
  };
  const focused = document.activeElement;
  const shown = focused.classList.contains("btn-check") ? focused.labels[0] : focused;
  const style = getComputedStyle(shown);
  const width = style.outlineStyle === "none" ? 0 : parseFloat(style.outlineWidth);
  const a = lum(rgb(style.outlineColor)), b = lum(behind(shown));
  return {what: (focused.id || focused.innerText || focused.tagName).trim().slice(0, 40),
          width: width, contrast: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)};
}
"""


def focus_problems(page, stops: int) -> list[str]:
    """Tab through the page from its top: each stop must show where the keyboard is."""
    wait_until_styled(page)
    page.evaluate("() => document.activeElement.blur()")
    problems = []
    for _ in range(stops):
        page.keyboard.press("Tab")
        stop = page.evaluate(FOCUS_JS)
        if stop["width"] < FOCUS_WIDTH_PX or stop["contrast"] < FOCUS_CONTRAST:
            problems.append(f"{page.url}: {stop}")
    return problems


def test_the_keyboard_s_place_is_always_visible(page_at, pupils):
    """On the dark menu bar, on buttons, fields and answers drawn as buttons, the focus shows as
    an outline of at least 2 px at 3:1 against its background."""
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "admin@testschool.test")
    page.goto(f"/register/pupils/{pupils['ben']}/form")
    problems = focus_problems(page, 16)  # the menu, the fields and the first answers
    page.goto("/register/")
    problems += focus_problems(page, 12)
    assert not problems, "\n".join(problems)


def test_single_key_shortcuts_can_be_turned_off(page_at, enrolled, login_as, faces_dir):
    """WCAG 2.1.4: a speech-input user's stray words must not release or blur. The media lead
    turns the single keys off, and they stay off on the next photo and the next visit."""
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Sports day", "date": "2026-07-10",
                                           "purpose": "social_media"}).get_json()["id"]
    photos = [upload_photo(staff, event, name, (faces_dir / "events" / name).read_bytes())
              .get_json()["id"] for name in ("obama_and_biden.jpg", "two_people.jpg")]
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "media_lead@testschool.test")
    page.goto(f"/review/{photos[0]}")
    keys = page.get_by_role("checkbox", name="Single-key shortcuts")
    expect(keys).to_be_checked()
    keys.uncheck()
    page.evaluate("() => document.activeElement.blur()")  # keys typed into a field never act
    for key in "fn3":
        page.keyboard.press(key)
    page.wait_for_timeout(500)  # a key that acted would have moved focus or left the page by now
    assert page.url.endswith(f"/review/{photos[0]}")
    assert page.evaluate("() => document.activeElement === document.body")
    page.reload()
    keys = page.get_by_role("checkbox", name="Single-key shortcuts")
    expect(keys).not_to_be_checked()
    keys.check()
    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("f")
    expect(page.locator(".face-item:focus")).to_have_count(1)
