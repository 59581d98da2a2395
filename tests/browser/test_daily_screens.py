"""The other daily fixes, each at the size where it was seen: staff delete their own upload, the
language chosen before sign-in stays, the posting queue tells posts apart on an iPad and fits a
phone, the DSL protects a child by name, the consent matrix on an iPad, styled error pages and a
menu of links that open on one line, audit times in UK time, and the head's sample of what was
really posted."""

import datetime as dt
import io

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from gatekeeper.ops.setup import demo_upn
from tests.browser.conftest import (
    IPAD_LANDSCAPE,
    IPAD_PORTRAIT,
    PHONE,
    screenshot,
    sign_in,
    wait_for_images,
    wait_until_styled,
)
from tests.support.fixtures import add_pupil, upload_photo

pytestmark = pytest.mark.browser

CHECKLIST = {"dressed": "yes", "no_distress": "yes", "no_location": "yes", "tagging_off": "yes"}
ONE_LINE_NAVBAR_PX = 80  # a 44 px row of links and its padding; a wrapped bar is twice that


@pytest.fixture
def photos(live_app, school, login_as, faces_dir):
    """Obama (enrolled, consented) and Biden (enrolled, parents refused); two uploads by staff."""
    people = faces_dir / "people"
    from gatekeeper.extensions import db

    with live_app.app_context():
        add_pupil(db.session, school["id"], 1, "Barack", "Obama",
                  consents={"social_media": "granted"}, faces=sorted((people / "obama").iterdir()))
        add_pupil(db.session, school["id"], 2, "Joe", "Biden",
                  consents={"social_media": "refused"}, faces=sorted((people / "biden").iterdir()))
    staff = login_as("staff")
    event = staff.post("/uploads/events", {"name": "Sports day", "date": "2026-07-10",
                                           "purpose": "social_media"}).get_json()["id"]
    ids = {}
    for name in ("obama_podium.jpg", "obama_and_biden.jpg"):
        path = faces_dir / "events" / name
        ids[name] = upload_photo(staff, event, name, path.read_bytes()).get_json()["id"]
    return ids


def release(media, photo_id, caption="Sports day!"):
    response = media.post(f"/review/{photo_id}/release",
                          {"account_id": "1", "caption": caption, **CHECKLIST})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def test_staff_delete_their_own_upload_before_release(live_app, page_at, photos, login_as):
    release(login_as("media_lead"), photos["obama_podium.jpg"])
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "staff@testschool.test")
    released = page.locator(f'.upload-item[data-photo-id="{photos["obama_podium.jpg"]}"]')
    waiting = page.locator(f'.upload-item[data-photo-id="{photos["obama_and_biden.jpg"]}"]')
    expect(released.get_by_text("only the media lead can take it down")).to_be_visible()
    expect(released.get_by_role("button", name="Delete obama_podium.jpg")).to_be_hidden()
    wait_until_styled(page)
    wait_for_images(page, "#uploads img.thumb")
    screenshot(page, "staff-upload-delete")
    page.once("dialog", lambda dialog: dialog.accept())
    waiting.get_by_role("button", name="Delete obama_and_biden.jpg").click()
    page.get_by_text("Photo deleted.").wait_for()
    expect(page.locator(".upload-item")).to_have_count(1)
    from gatekeeper.extensions import db
    from gatekeeper.models import AuditEvent, Photo

    with live_app.app_context():
        assert db.session.get(Photo, photos["obama_and_biden.jpg"]) is None
        assert db.session.scalar(select(AuditEvent.actor).where(
            AuditEvent.action == "photo_deleted")) == "staff@testschool.test"


def test_the_language_chosen_before_sign_in_is_kept(page_at, school):
    page = page_at(PHONE)
    page.goto("/auth/login")
    page.get_by_role("button", name="Cymraeg").click()
    page.get_by_role("heading", name="Mewngofnodi").wait_for()
    page.get_by_label("E-bost").fill("staff@testschool.test")
    page.get_by_label("Cyfrinair").fill("correct horse battery staple")
    page.get_by_role("button", name="Mewngofnodi").click()
    page.wait_for_url("**/uploads/")
    assert page.locator("html").get_attribute("lang") == "cy"
    expect(page.get_by_role("heading", name="Llwytho lluniau i fyny")).to_be_visible()


def test_the_posting_queue_tells_posts_apart_and_fits_a_phone(live_app, page_at, photos,
                                                               login_as):
    media = login_as("media_lead")
    release(media, photos["obama_podium.jpg"], "Sports day: the relay")
    from gatekeeper.extensions import db
    from gatekeeper.register import actions

    with live_app.app_context():  # Obama's parents withdraw: the outbox post needs a person
        actions.set_consent(db.session, 1, demo_upn(1), "social_media", "withdrawn",
                            given_by="Parent of Barack", recorded_by="admin")
        db.session.commit()
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "media_lead@testschool.test")
    page.goto("/queue/")
    task = page.locator(".takedown-task")
    expect(task).to_contain_text(f"Photo {photos['obama_podium.jpg']} · Sports day")
    expect(task).to_contain_text("obama_podium.jpg")
    expect(task).to_contain_text("consent withdrawn for Official social media")
    wait_for_images(page, "img.post-thumb")
    assert "social_media" not in page.inner_text("main") and "outbox" not in page.inner_text("main")
    wait_until_styled(page)
    screenshot(page, "queue-takedown-task")

    # The same person's session on a phone-sized screen (a third sign-in within the authenticator's
    # 30 s would only wait for its next code).
    phone = page.context.new_page()
    phone.set_viewport_size(PHONE)
    phone.goto("/queue/")
    wait_until_styled(phone)
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= PHONE["width"]
    wait_for_images(phone, "img.post-thumb")
    screenshot(phone, "queue-phone")


def test_the_dsl_protects_a_child_by_name(live_app, page_at, school):
    from gatekeeper.extensions import db

    with live_app.app_context():
        add_pupil(db.session, school["id"], 1, "Cara", "Williams")
        add_pupil(db.session, school["id"], 2, "Cara", "Jones", year="3")
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "dsl@testschool.test")
    page.goto("/nopublish/")
    page.get_by_label("Pupil: name or UPN").fill("Cara")
    expect(page.locator("#pupil_id option")).to_have_count(3)  # two found, and "the one found"
    page.get_by_role("button", name="Protect this pupil").click()
    expect(page.get_by_text("2 pupils match “Cara”: choose one.")).to_be_visible()
    page.wait_for_load_state("load")  # the search listens once the page's script has run
    page.get_by_label("Pupil: name or UPN").fill("Cara Williams")
    expect(page.get_by_label("Choose the pupil")).to_have_value(
        page.locator("#pupil_id option", has_text="Williams").get_attribute("value"))
    page.get_by_label("Note (seen only by the DSL)").fill("Court order")
    wait_until_styled(page)
    screenshot(page, "dsl-nopublish-by-name")
    page.get_by_role("button", name="Protect this pupil").click()
    page.get_by_text("Cara Williams is protected: do not publish.").wait_for()
    expect(page.locator("#entries")).to_contain_text("Cara Williams")
    expect(page.locator("#entries")).not_to_contain_text("Cara Jones")
    wait_until_styled(page)  # the reason it ends is readable in portrait (it was 20 px wide)
    reason = page.locator("#entries input[name=reason]").first.bounding_box()
    assert reason["width"] >= 140 and reason["height"] >= 30, reason


@pytest.fixture
def register(live_app, school):
    from gatekeeper.extensions import db

    with live_app.app_context():
        for index in range(1, 13):
            add_pupil(db.session, school["id"], index, f"Pupil{index:02d}", "Llewellyn-Pritchard",
                      consents={"social_media": "granted", "website": "refused"})
        add_pupil(db.session, school["id"], 13, "Al", "Ng")  # a name on one line


@pytest.mark.once  # the screen's layout and keys: pass 1
def test_the_consent_matrix_on_an_ipad(page_at, register):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "admin@testschool.test")
    wait_until_styled(page)
    expect(page.locator("#matrix-cue")).to_be_visible()
    screenshot(page, "register-matrix")
    table = page.locator(".matrix-scroll")
    name = page.locator(".matrix th[scope=row]").first
    left = name.bounding_box()["x"]
    table.evaluate("box => { box.scrollLeft = box.scrollWidth; }")
    page.wait_for_function("() => document.querySelector('.matrix-scroll').scrollLeft > 0")
    assert abs(name.bounding_box()["x"] - left) < 1  # the name stays while purposes scroll
    links = page.locator(".matrix th[scope=row] a")  # each pupil's page, a finger's size
    assert min(box["height"] for box in links.evaluate_all(
        "all => all.map(a => a.getBoundingClientRect().toJSON())")) >= 44
    assert page.locator(".navbar-toggler").bounding_box()["height"] >= 44
    last = page.locator(".matrix thead th").last.bounding_box()
    assert last["x"] + last["width"] <= IPAD_PORTRAIT["width"]  # scrolled into view

    wide = page_at(IPAD_LANDSCAPE)
    sign_in(wide, "admin@testschool.test")
    wait_until_styled(wide)
    heads = wide.locator(".matrix thead th")
    last = heads.last.bounding_box()
    assert last["x"] + last["width"] <= IPAD_LANDSCAPE["width"]  # all five purposes at once


@pytest.mark.once  # the screen's layout and keys: pass 1
def test_error_pages_and_a_menu_that_only_offers_what_opens(live_app, page_at, school):
    # The head's page checked for its menu goes on to the error pages: the head signs in twice in
    # this test, not three times (a third within the authenticator's 30 s waits for its next code).
    page = one_line_of_links_that_open(page_at, "head@testschool.test", expanded=True)
    for path, heading in (("/review/", "Not for your role"), ("/register/pupils/999999",
                          "Not found"), ("/review/1/reject", "Not like this")):
        response = page.goto(path)
        assert response.status in (403, 404, 405)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    screenshot(page, "error-not-for-your-role")

    for role in ("media_lead", "dsl", "admin", "staff"):
        one_line_of_links_that_open(page_at, f"{role}@testschool.test", expanded=True)
    from gatekeeper.extensions import db
    from gatekeeper.models import ROLES, Membership, User

    with live_app.app_context():  # someone holding every role: the longest menu there is
        head = db.session.scalar(select(User).where(User.email == "head@testschool.test"))
        for role in ROLES:
            if role != "head":
                db.session.add(Membership(user_id=head.id, school_id=school["id"], role=role))
        db.session.commit()
    # Nine links do not fit beside the name at 1024 px: they fold behind the menu button there.
    one_line_of_links_that_open(page_at, "head@testschool.test", expanded=False)


def one_line_of_links_that_open(page_at, email: str, expanded: bool):
    """Sign in on an iPad in landscape: the menu is one line of links that each open; returns the
    signed-in page."""
    page = page_at(IPAD_LANDSCAPE)
    sign_in(page, email)
    wait_until_styled(page)
    bar = page.locator("nav.navbar").bounding_box()
    assert bar["height"] < ONE_LINE_NAVBAR_PX, (email, bar)
    assert page.locator(".navbar-toggler").is_visible() is not expanded
    links = page.locator("nav.navbar .nav-link")
    assert links.count() > 0
    for index in range(links.count()):
        href = links.nth(index).get_attribute("href")
        assert page.request.get(href).status == 200, (email, href)
    return page


def test_the_dsl_reads_decisions_in_uk_time(live_app, page_at, school):
    from gatekeeper.extensions import db
    from gatekeeper.models import AuditEvent

    with live_app.app_context():
        db.session.add(AuditEvent(school_id=school["id"], actor="media@testschool.test",
                                  action="photo_rejected", subject_type="photo", subject_id="7",
                                  detail_json='{"reason": "eyes closed"}',
                                  created_at=dt.datetime(2026, 7, 10, 13, 5)))  # UTC
        db.session.commit()
    page = page_at(IPAD_LANDSCAPE)
    sign_in(page, "dsl@testschool.test")
    row = page.locator("#decisions tbody tr", has_text="eyes closed")
    expect(row).to_contain_text("10/07/2026 14:05")  # British Summer Time
    expect(row).to_contain_text("Photo rejected")
    expect(page.locator("#decisions thead")).to_contain_text("When (UK time)")


def test_the_heads_sample_shows_what_was_posted(live_app, page_at, photos, login_as,
                                                faces_dir):
    media = login_as("media_lead")
    photo = photos["obama_and_biden.jpg"]
    from gatekeeper.extensions import db
    from gatekeeper.models import Face, Post
    from gatekeeper.publishing.adapters import school_outbox

    with live_app.app_context():
        faces = db.session.scalars(select(Face).where(Face.photo_id == photo)).all()
        boxes = {f.id: f.box for f in faces if f.status != "cleared"}
    for face_id in boxes:  # Biden (refused) and the child in the corner are blurred
        media.post(f"/review/{photo}/faces/{face_id}", {"resolution": "blur"})
    release(media, photo)
    with live_app.app_context():
        post = db.session.scalar(select(Post).where(Post.photo_id == photo))
        posted = (school_outbox(live_app.config["OUTBOX_DIR"], post.school_id)
                  / f"{post.uuid}.jpg").read_bytes()
        post_id = post.id
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "head@testschool.test")
    wait_for_images(page, "#sample img")
    src = page.locator("#sample img").first.get_attribute("src")
    assert src == f"/head/posts/{post_id}/image"
    sample = Image.open(io.BytesIO(page.request.get(src).body())).convert("RGB")
    shrunk = Image.open(io.BytesIO(posted)).convert("RGB").resize(sample.size)
    original = Image.open(faces_dir / "events" / "obama_and_biden.jpg").convert("RGB")
    scale = sample.width / original.width
    top, right, bottom, left = (round(v * scale) for v in max(boxes.values(),
                                key=lambda b: b[2] - b[0]))
    region = (left, top, right, bottom)
    as_posted = mean_difference(sample.crop(region), shrunk.crop(region))
    as_uploaded = mean_difference(sample.crop(region), original.resize(sample.size).crop(region))
    assert as_posted < 8 and as_uploaded > 2 * as_posted  # the blurred face, as it was posted
    screenshot(page, "head-dashboard-sample")


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    pa, pb = a.tobytes(), b.tobytes()
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)
