"""The screens that tell who a face may be, on an iPad: the media lead asks the DSL about a block,
the DSL compares the face with the protected pupil's reference photos; the admin sees pupils who
look alike and whose references are due, and ticks the pupils of a club."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import IPAD_LANDSCAPE, IPAD_PORTRAIT, screenshot, sign_in
from tests.support.fixtures import add_pupil, upload_photo

pytestmark = pytest.mark.browser


@pytest.fixture
def blocked(live_app, school, login_as, faces_dir):
    """Efa (her parents refused) is enrolled with Alex Lacamoire's photos; his photo on stage is
    uploaded to a sports day: its face is blocked for her."""
    people = faces_dir / "people"
    with live_app.app_context():
        from gatekeeper.extensions import db

        add_pupil(db.session, school["id"], 1, "Efa", "Jones", consents={"social_media": "refused"},
                  faces=sorted((people / "alex_lacamoire").iterdir()))
    staff = login_as("staff")
    event_id = staff.post("/uploads/events", {"name": "Sports day", "date": "2026-07-10",
                                              "purpose": "social_media"}).get_json()["id"]
    path = faces_dir / "events" / "alex_lacamoire_stage.jpg"
    return upload_photo(staff, event_id, path.name, path.read_bytes()).get_json()["id"]


def test_the_media_lead_asks_and_the_dsl_compares_the_face_with_the_references(
        live_app, page_at, blocked):
    media = page_at(IPAD_LANDSCAPE)
    sign_in(media, "media_lead@testschool.test")
    media.goto(f"/review/{blocked}")
    face = media.locator("#faces .face-item").first
    expect(face).to_have_attribute("data-outcome", "blocked")
    expect(face).not_to_contain_text("Efa")  # the media lead is not told who is protected
    face.get_by_role("button", name="Not them? Ask the DSL to check").click()
    expect(media.get_by_text("The DSL has been asked to check this face.").first).to_be_visible()

    dsl = page_at(IPAD_PORTRAIT)
    sign_in(dsl, "dsl@testschool.test")
    dsl.goto("/safeguarding/")
    question = dsl.locator("#lift-requests li").first
    expect(question).to_contain_text("really Efa Jones?")
    question.get_by_role("link", name="Compare and decide").click()
    expect(dsl.get_by_role("heading", name="Check a blocked face")).to_be_visible()
    for picture in (dsl.locator("#compare figure img"), dsl.locator("#references img").first):
        expect(picture).to_be_visible()
        dsl.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                              arg=picture.element_handle())
    screenshot(dsl, "dsl-check-blocked-face")
    # It is her: the block stays, and the media lead is told the DSL looked.
    dsl.get_by_role("button", name="It may be them: keep the block").click()
    expect(dsl.get_by_text("The block stays.")).to_be_visible()
    media.reload()
    expect(media.get_by_text("The DSL checked this face and kept the block.")).to_be_visible()
    expect(media.locator("#faces .face-item").first).to_have_attribute("data-outcome", "blocked")


def test_the_admin_sees_lookalikes_and_ticks_a_club(live_app, page_at, school, faces_dir):
    obama = sorted((faces_dir / "people" / "obama").iterdir())
    with live_app.app_context():
        from gatekeeper.extensions import db

        for index, (first, photo) in enumerate((("Ava", obama[0]), ("Bea", obama[1])), 1):
            add_pupil(db.session, school["id"], index, first, "Thompson",
                      consents={"social_media": "granted"}, faces=[photo])
        add_pupil(db.session, school["id"], 3, "Cai", "Morgan", year="5")
    admin = page_at(IPAD_PORTRAIT)
    sign_in(admin, "admin@testschool.test")
    admin.goto("/register/")
    admin.get_by_role("link", name="Reference faces").click()
    pair = admin.locator("#lookalike-pairs tbody tr").first
    expect(pair).to_contain_text("Ava Thompson")
    expect(pair).to_contain_text("Bea Thompson")
    screenshot(admin, "register-reference-faces")

    admin.goto("/register/groups/")
    admin.get_by_label("Name").fill("Choir")
    admin.get_by_label("Kind").select_option("club")
    admin.get_by_role("button", name="Add").click()
    admin.get_by_label("Show year group").select_option("5")
    admin.get_by_role("button", name="Show").click()
    admin.get_by_label("Ava Thompson (5)").check()
    admin.get_by_label("Cai Morgan (5)").check()
    admin.get_by_role("button", name="Save").click()
    expect(admin.get_by_text("2 added, 0 removed.")).to_be_visible()
    screenshot(admin, "register-club-members")
    with live_app.app_context():
        from consent.models import PupilGroupMember

        assert len(db.session.scalars(select(PupilGroupMember)).all()) == 2
