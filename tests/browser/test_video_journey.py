"""A clip on an iPad: staff upload it and watch it screen; the media lead plays it on its own
review page, sees the face track's card and blurs it for the whole clip."""

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.browser.conftest import IPAD_LANDSCAPE, IPAD_PORTRAIT, screenshot, sign_in
from tests.support.clips import moving_face, scaled_head, write_clip
from tests.support.photos import head_crop

pytestmark = pytest.mark.browser


@pytest.fixture
def clip(faces_dir, tmp_path):
    """Two seconds of a stranger (enrolled nowhere) crossing the picture, with sound."""
    rgb = np.asarray(Image.open(sorted((faces_dir / "people" / "alex_lacamoire").iterdir())[0])
                     .convert("RGB"))
    head, _box = scaled_head(*head_crop(rgb), 130)
    picture = moving_face(head, (960, 540), (40, 150), (640, 170), (0.3, 1.7), 2.0)
    return write_clip(tmp_path / "sports-day.mov", picture, seconds=2.0, fps=25, format="mov")


def test_staff_upload_a_clip_and_the_media_lead_reviews_it(page_at, school, live_app, clip):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "staff@testschool.test")
    page.get_by_text("Or create a new event").click()
    page.get_by_label("Event name").fill("Sports day")
    page.get_by_label("Intended use").select_option("social_media")
    page.get_by_role("button", name="Create event").click()
    page.wait_for_function("() => document.getElementById('event').value !== ''")
    page.get_by_label("Photos", exact=True).set_input_files(clip)
    page.get_by_role("button", name="Upload photos").click()
    page.get_by_text("1 of 1 uploaded").wait_for()
    card = page.locator("#uploads .upload-item").first
    expect(card.locator(".status")).to_have_text("Needs review")
    card.locator("img.thumb").wait_for()  # the clip's poster, a sanitised picture

    media = page_at(IPAD_LANDSCAPE)
    sign_in(media, "media_lead@testschool.test")
    media.goto("/review/")
    media.get_by_role("link", name="Review photo").first.click()
    media.wait_for_load_state()
    expect(media.get_by_role("heading", level=1)).to_contain_text("Clip")
    player = media.locator("#clip-player")
    media.wait_for_function(
        "() => document.getElementById('clip-player').readyState >= 1", timeout=120_000)
    assert player.evaluate("v => v.duration") == pytest.approx(2.0, abs=0.2)
    face = media.locator("#faces .face-item").first
    expect(face.locator(".status")).to_contain_text("Unknown")
    expect(face).to_contain_text("On screen from 0:00.")
    face.locator("img.track-card").wait_for()
    # The card is loaded lazily: its width is read once the browser has it (it was read as soon
    # as the element existed, which raced the request on a busy machine).
    media.wait_for_function("(img) => img.complete && img.naturalWidth > 0",
                            arg=face.locator("img.track-card").element_handle())
    screenshot(media, "review-clip")

    face.get_by_role("button", name="Blur").click()
    media.wait_for_load_state()
    expect(media.locator("#faces .face-item").first).to_contain_text(
        "will be blurred in every picture")
    media.wait_for_function(
        "() => document.getElementById('clip-player').readyState >= 1", timeout=120_000)
    expect(media.locator("#account-checks")).to_contain_text("may be released")
