"""Browser tests: the real app served on 127.0.0.1 in a thread, driven by Debian's Chromium."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from tests.support.codes import code_after, code_for
from tests.support.fixtures import PASSWORD

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]
IPAD_PORTRAIT = {"width": 768, "height": 1024}
IPAD_LANDSCAPE = {"width": 1024, "height": 768}
PHONE = {"width": 390, "height": 844}
# How long an action or an `expect` waits for its condition before the test is called hung. The
# conditions themselves are exact (an element, a load event, a text); only a busy machine makes
# them slow (a sign-in took 16 s to answer under load), so the bound is generous, not tuned.
WAIT_LIMIT_MS = 60_000
expect.set_options(timeout=WAIT_LIMIT_MS)
# How long the end of a test waits for the app's last request (the browser's pages are closed).
IDLE_LIMIT_S = 60
# The app each live server serves, by its address: sign_in reads a user's authenticator from it.
LIVE_APPS: dict[str, object] = {}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"


@pytest.fixture(scope="session")
def chromium():
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} missing (make test installs Debian's chromium)")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        yield browser
        browser.close()


class SlowPaths:
    """WSGI middleware that holds back the named paths, as a busy machine or network does: a test
    that measures the page before its stylesheets arrive then fails every time, not now and then."""

    def __init__(self, app):
        self.app = app
        self.delays: dict[str, float] = {}

    def __call__(self, environ, start_response):
        time.sleep(self.delays.get(environ.get("PATH_INFO", ""), 0))
        return self.app(environ, start_response)


class WholeResponses:
    """WSGI middleware that reads each response whole and closes it before the server writes a byte.
    Werkzeug's development server skips the response's close() when the browser drops a connection
    mid-response (it navigated on while a script was still arriving), leaving a static file open
    until the garbage collector finds it; under pytest's "error" warnings that ResourceWarning then
    fails whichever test happens to be running. The app streams nothing, so nothing is lost.

    It also counts the requests in the app, so the test's end can wait for the last one: a request
    still running when the app's engine was disposed gave its PostgreSQL connection back to the old
    pool, where the garbage collector later found it open (and failed a later test)."""

    def __init__(self, app):
        self.app = app
        self.running = 0
        self.closed = False
        self.changed = threading.Condition()

    def __call__(self, environ, start_response):
        with self.changed:
            if self.closed:  # the test has ended: a late request (a keep-alive poll) is turned away
                start_response("503 Service Unavailable", [("Content-Length", "0")])
                return [b""]
            self.running += 1
        try:
            response = self.app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                if hasattr(response, "close"):
                    response.close()
        finally:
            with self.changed:
                self.running -= 1
                self.changed.notify_all()

    def close(self, timeout: float) -> bool:
        """Turn away new requests and wait for the running ones: whether they all ended."""
        with self.changed:
            self.closed = True
            return self.changed.wait_for(lambda: self.running == 0, timeout)


@pytest.fixture
def live_app(app):
    """Serve the test app on a free port of 127.0.0.1 for the length of one test; a test may slow
    given paths down through app.config["LIVE_SLOW_PATHS"] (path -> seconds)."""
    slow = SlowPaths(app)
    app.config["LIVE_SLOW_PATHS"] = slow.delays
    whole = WholeResponses(slow)
    server = make_server("127.0.0.1", 0, whole, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.config["LIVE_URL"] = f"http://127.0.0.1:{server.server_port}"
    LIVE_APPS[app.config["LIVE_URL"]] = app
    yield app
    LIVE_APPS.pop(app.config["LIVE_URL"], None)
    server.shutdown()
    thread.join(5)
    assert whole.close(IDLE_LIMIT_S), "a request was still running when the test ended"


@pytest.fixture
def page_at(chromium, live_app):
    """A new page of the given viewport size, in a fresh browser context (no shared cookies)."""
    contexts = []

    def open_page(viewport=IPAD_PORTRAIT):
        context = chromium.new_context(viewport=viewport, base_url=live_app.config["LIVE_URL"],
                                       has_touch=True)
        context.set_default_timeout(WAIT_LIMIT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, email: str, password: str = PASSWORD) -> None:
    page.goto("/auth/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()
    if "/auth/code" in page.url:
        answer_code(page, email)
    elif "/account/second-factor" in page.url:
        enrol_shown_secret(page)


def live_app_of(page):
    origin = "/".join(page.url.split("/")[:3])
    return LIVE_APPS[origin]


def answer_code(page, email: str) -> None:
    """Type the code the user's authenticator shows now, as they would."""
    page.locator("#code").fill(code_for(live_app_of(page), email))
    page.get_by_role("button", name="Continue").click()
    page.wait_for_load_state()


def enrol_shown_secret(page) -> str:
    """Set up an authenticator with the key the enrolment page shows; past the recovery codes."""
    secret = page.locator("#totp-secret").inner_text()
    page.locator("#code").fill(code_after(secret, 0))
    page.get_by_role("button", name="Set up the second factor").click()
    expect(page.locator("#recovery-codes")).to_be_visible()
    page.get_by_role("link", name="I have kept them: continue").click()
    page.wait_for_load_state()
    return secret


def wait_until_styled(page) -> None:
    """Wait until the page is laid out as a user sees it: the load event (every stylesheet and image
    of the document in) and the web fonts settled. Sizes or visibility measured earlier are those of
    an unstyled page, which a browser never paints but a script can still measure."""
    page.wait_for_load_state("load")
    page.evaluate("() => document.fonts.ready.then(() => true)")


def screenshot(page, name: str) -> Path:
    """Save a screenshot under test-output/screenshots (copied to docs/ by `make screenshots`)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def wait_for_images(page, selector: str) -> None:
    """Scroll each image into view (lazy ones load then) and wait until every one has arrived."""
    images = page.locator(selector)
    for index in range(images.count()):
        image = images.nth(index)
        image.scroll_into_view_if_needed()
        image.evaluate(
            "img => img.complete || new Promise(done => img.onload = img.onerror = done)")
    page.wait_for_function(
        "s => Array.from(document.querySelectorAll(s))"
        ".every(i => i.complete && i.naturalWidth > 0)",
        arg=selector)
