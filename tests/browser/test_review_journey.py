"""The media lead that evening, on an iPad in landscape: name a face, blur a stranger, release with
a caption that is first refused, bulk-release another; the outbox gets the sanitised, blurred
image."""

import io

import pytest
from PIL import Image
from playwright.sync_api import expect
from sqlalchemy import select

from tests.browser.conftest import IPAD_LANDSCAPE, screenshot, sign_in
from tests.support.fixtures import add_pupil, upload_photo

pytestmark = pytest.mark.browser

CHECKLIST = ("Everyone is appropriately dressed.", "No one is subject to ridicule or distress.",
             "No identifying background", "Tagging will be off on the post.")


@pytest.fixture
def uploaded(live_app, school, login_as, faces_dir):
    people = faces_dir / "people"
    with live_app.app_context():
        from gatekeeper.extensions import db

        for index, (first, last, folder) in enumerate(
                [("Kit", "Harington", "kit_harington"), ("Rose", "Leslie", "rose_leslie")], 1):
            add_pupil(db.session, school["id"], index, first, last,
                      consents={"social_media": "granted"},
                      faces=sorted((people / folder).iterdir()))
        add_pupil(db.session, school["id"], 3, "Lin", "Miranda",
                  consents={"social_media": "granted"})
    staff = login_as("staff")
    event_id = staff.post("/uploads/events", {"name": "Sports day", "date": "2026-07-10",
                                              "purpose": "social_media"}).get_json()["id"]
    ids = {}
    for name in ("kit_with_rose.jpg", "lin_manuel_miranda.png"):
        path = faces_dir / "events" / name
        ids[name] = upload_photo(staff, event_id, name, path.read_bytes()).get_json()["id"]
    return ids


def tick_checklist(scope):
    for label in CHECKLIST:
        scope.get_by_label(label).check()


def mean_difference(a: Image.Image, b: Image.Image, box) -> float:
    top, right, bottom, left = box
    pa, pb = (a.crop((left, top, right, bottom)).tobytes(),
              b.crop((left, top, right, bottom)).tobytes())
    return sum(abs(x - y) for x, y in zip(pa, pb, strict=True)) / len(pa)


def test_media_lead_resolves_blurs_and_releases(live_app, page_at, uploaded, faces_dir):
    page = page_at(IPAD_LANDSCAPE)
    sign_in(page, "media_lead@testschool.test")
    assert page.url.endswith("/review/")
    page.get_by_role("heading", name="Sports day").wait_for()
    screenshot(page, "review-queue")

    # An unknown face: tap it, find the pupil by name; the consent rules then decide.
    page.goto(f"/review/{uploaded['lin_manuel_miranda.png']}")
    page.locator(".face-link").first.click()
    search = page.get_by_label("Find the pupil")
    assert search.evaluate("e => e === document.activeElement")
    search.fill("Mira")
    page.wait_for_function("() => document.querySelector('select[name=pupil_id]').value !== ''")
    page.get_by_role("button", name="Is this pupil").click()
    page.get_by_text("Identified as Lin Miranda").wait_for()

    # A stranger at the edge of a cleared photo: tap the yellow box, blur it.
    kit = uploaded["kit_with_rose.jpg"]
    page.goto(f"/review/{kit}")
    assert page.locator(".face-box.cleared").count() == 2
    page.locator(".face-link:has(.face-box.unknown)").click()
    page.locator(".face-item.face-unknown").get_by_role("button", name="Blur").click()
    page.get_by_text("will be blurred").wait_for()
    screenshot(page, "review-photo-faces")

    # A caption with a pupil's name: the live check says so, and Release waits until it is fixed.
    page.get_by_label("Caption").fill("Well done Kit Harington!")
    page.locator(".caption-feedback").get_by_text("full name").wait_for()
    tick_checklist(page)
    expect(page.get_by_role("button", name="Release", exact=True)).to_be_disabled()
    page.get_by_label("Caption").fill("Sports day: what a race!")
    page.locator(".caption-feedback").get_by_text("Caption OK").wait_for()
    expect(page.get_by_role("button", name="Release", exact=True)).to_be_enabled()
    preview = page.request.get(page.locator("#preview").get_attribute("src")).body()
    screenshot(page, "review-release-form")
    page.get_by_role("button", name="Release", exact=True).click()
    page.get_by_text("1 photo(s) released").wait_for()  # on the next photo waiting

    # Bulk release from the queue: the named photo is now ready.
    lin = uploaded["lin_manuel_miranda.png"]
    page.get_by_role("link", name="Review queue").click()
    page.get_by_label(f"Release photo {lin}").check()
    page.get_by_text("Release the ticked photos together").click()
    page.get_by_label("Caption").fill("Our visiting author")
    page.locator(".caption-feedback").get_by_text("Caption OK").wait_for()
    tick_checklist(page)
    page.get_by_role("button", name="Release ticked photos").click()
    page.get_by_text("1 photo(s) released").wait_for()

    with live_app.app_context():
        import gatekeeper.worker.tasks
        from gatekeeper.extensions import db
        from gatekeeper.models import Face, Post

        gatekeeper.worker.tasks.publish_due_posts()
        posts = {p.photo_id: p for p in db.session.scalars(select(Post))}
        assert {p.state for p in posts.values()} == {"published"}
        stranger = db.session.scalars(select(Face).where(Face.photo_id == kit, Face.blur)).one()
        cleared = db.session.scalars(select(Face).where(Face.photo_id == kit,
                                                        Face.status == "cleared")).first()
        from gatekeeper.publishing.adapters import school_outbox

        outbox = school_outbox(live_app.config["OUTBOX_DIR"], posts[kit].school_id) / (
            f"{posts[kit].uuid}.jpg")
        posted, stranger_box, cleared_box = outbox.read_bytes(), stranger.box, cleared.box

    original = Image.open(faces_dir / "events" / "kit_with_rose.jpg").convert("RGB")
    with Image.open(io.BytesIO(posted)) as image, Image.open(io.BytesIO(preview)) as shown:
        image, shown = image.convert("RGB"), shown.convert("RGB")
        assert image.size == shown.size == original.size
        # The stranger (a 12x16 px face: two pixelation blocks with random noise, whose mean
        # difference is about 12 on its own) differs from the original far more than a face that
        # was only re-encoded, which stays within JPEG noise.
        reencoded = mean_difference(image, original, cleared_box)
        assert reencoded < 6
        assert mean_difference(image, original, stranger_box) > 2 * max(reencoded, 3)
        assert mean_difference(shown, original, stranger_box) > 2 * max(reencoded, 3)
    assert posted == preview  # byte for byte: what the media lead previewed is what was posted
    assert b"Exif" not in posted[:200] and b"Exif" not in preview[:200]
