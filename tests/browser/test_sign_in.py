"""The sign-in page in a real browser at iPad size: the first thing every user sees."""

import pytest

from tests.browser.conftest import IPAD_PORTRAIT, screenshot, sign_in

pytestmark = pytest.mark.browser


def test_staff_signs_in_and_lands_on_uploads(page_at, school):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "staff@testschool.test")
    assert page.url.endswith("/uploads/")
    assert page.get_by_role("heading", name="Upload photos").is_visible()
    screenshot(page, "staff-upload-empty")


def test_wrong_password_is_refused_without_saying_which_part(page_at, school):
    page = page_at(IPAD_PORTRAIT)
    sign_in(page, "staff@testschool.test", "wrong password")
    assert "/auth/login" in page.url
    assert page.get_by_text("Email or password not recognised.").is_visible()
