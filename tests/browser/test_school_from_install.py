"""A real school from install to first post, in Chromium, from a database with no demo data:
`gatekeeper init`, `school add`, `user invite` for the head; the head's setup link and second
factor; a DSL and a media lead invited and accepted through the emails a real SMTP server on
127.0.0.1 received (the DSL confirmed by a second person); pupils and guardians imported; a
renewal round of parent links emailed and one answered on a phone; an official account set up;
a photo uploaded, screened, released and posted to the outbox."""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from flask.cli import ScriptInfo
from playwright.sync_api import expect
from sqlalchemy import select

from consent.clock import school_today
from gatekeeper.ops.setup import demo_upn
from tests.browser.conftest import (
    IPAD_PORTRAIT,
    PHONE,
    enrol_shown_secret,
    screenshot,
    wait_until_styled,
)
from tests.support.smtp import Inbox, smtp_server, text_of

pytestmark = pytest.mark.browser

PASSWORD = "a long password of our own"
DESKTOP = {"width": 1280, "height": 900}
AVA, BEN = demo_upn(1), demo_upn(2)
PUPILS_CSV = ("UPN,Legal Forename,Legal Surname,DOB,NC Year Actual,consent_social_media,"
              "biometric_consent\n"
              f"{AVA},Ava,Evans,2016-03-01,5,yes,yes\n"
              f"{BEN},Ben,Evans,2018-05-05,3,yes,\n")
CONTACTS_CSV = ("UPN,Contact Person ID,Contact Forename,Contact Surname,Relationship,"
                "Parental Responsibility,Primary Email\n"
                f"{AVA},5001,Sian,Evans,Mother,Yes,sian@example.test\n"
                f"{BEN},5001,Sian,Evans,Mother,Yes,sian@example.test\n")
LINK = re.compile(r"https?://\S+/(?:welcome|parent)/\S+")


@pytest.fixture
def inbox(app):
    with smtp_server() as (handler, port):
        app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
        app.config["MAIL_FROM"] = "office@prawf.test"
        yield handler


def command(app):
    info = ScriptInfo(create_app=lambda: app)

    def run(*args: str) -> str:
        result = CliRunner().invoke(__import__("gatekeeper.cli", fromlist=["main"]).main,
                                    list(args), obj=info)
        assert result.exit_code == 0, (args, result.output)
        return result.output

    return run


def link_path(text: str) -> str:
    return urlsplit(LINK.search(text).group(0)).path


def accept(page, path: str, name: str) -> None:
    """Open a setup link, create the account and set up the second factor."""
    page.goto(path)
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Choose a password (at least 12 characters)").fill(PASSWORD)
    page.get_by_label("The same password again").fill(PASSWORD)
    page.get_by_role("button", name="Create my account").click()
    page.wait_for_load_state()


def message_to(inbox: Inbox, address: str, count: int):
    return next(m for m in inbox.wait_for(count) if m["To"] == address)


def test_a_school_from_install_to_first_post(app, live_app, page_at, inbox, faces_dir, tmp_path):
    run = command(app)
    run("init")
    run("school", "add", "--name", "Ysgol Prawf", "--urn", "401234", "--la-code", "823",
        "--postcode", "LL57 2AB")
    head = page_at(DESKTOP)
    accept(head, link_path(run("user", "invite", "head@prawf.test", "--role", "head")), "Mrs Head")
    enrol_shown_secret(head)
    expect(head.get_by_role("heading", name="Head's dashboard")).to_be_visible()
    expect(head.locator("#current-school")).to_have_text("Ysgol Prawf")

    # The head invites a DSL and a media lead; the invitations arrive by email.
    head.goto("/head/users")
    for email, role in (("dsl@prawf.test", "dsl"), ("media@prawf.test", "media_lead")):
        head.get_by_label("Email", exact=True).fill(email)
        head.get_by_label("Role").select_option(role)
        head.get_by_role("button", name="Invite", exact=True).click()
        expect(head.get_by_text(f"The invitation is on its way to {email}.")).to_be_visible()
    dsl, media = page_at(DESKTOP), page_at(DESKTOP)
    accept(dsl, link_path(text_of(message_to(inbox, "dsl@prawf.test", 2))), "Mr Safe")
    expect(dsl.locator("#waiting-for-second-person")).to_be_visible()  # a second person confirms
    with live_app.app_context():
        from gatekeeper.extensions import db
        from gatekeeper.people.models import RoleProposal

        proposal = db.session.scalar(select(RoleProposal.id))
    run("user", "confirm-role", str(proposal))  # the new school's only head proposed it
    accept(media, link_path(text_of(message_to(inbox, "media@prawf.test", 2))), "Ms Media")
    media.set_viewport_size(IPAD_PORTRAIT)  # the enrolment page as a media lead's iPad shows it
    wait_until_styled(media)
    screenshot(media, "second-factor-enrol")
    media.set_viewport_size(DESKTOP)
    enrol_shown_secret(media)
    from tests.browser.conftest import sign_in

    sign_in(dsl, "dsl@prawf.test", PASSWORD)  # sets up the second factor at first sign-in
    expect(dsl.get_by_role("link", name="No-publish list", exact=True)).to_be_visible()

    # Pupils and their guardians from the MIS.
    (tmp_path / "pupils.csv").write_text(PUPILS_CSV)
    (tmp_path / "contacts.csv").write_text(CONTACTS_CSV)
    head.goto("/register/import")
    head.get_by_label("MIS export (CSV)").set_input_files(tmp_path / "pupils.csv")
    head.get_by_role("button", name="Check the file").click()
    head.get_by_role("button", name="Apply these changes").click()
    expect(head.get_by_text("Imported:")).to_be_visible()
    head.goto("/register/import/contacts")
    head.get_by_label("Contacts export (CSV)").set_input_files(tmp_path / "contacts.csv")
    head.get_by_role("button", name="Import guardians").click()
    expect(head.get_by_text("Guardians imported: 2 new guardian(s)")).to_be_visible()
    # Taken today: these photos stand in for the school's own (their EXIF dates are years old,
    # and an old reference clears less).
    run("enrol", AVA, *[str(p) for p in sorted((faces_dir / "people" / "obama").iterdir())],
        "--taken", school_today().isoformat())
    soon = (school_today() + dt.timedelta(days=10)).isoformat()
    run("consent", "set", AVA, "social_media", "granted", "--expires", soon, "--by", "Sian Evans")

    # A renewal round: Sian's consent for Ava lapses in ten days; she answers on her phone.
    head.goto("/register/links")
    head.get_by_role("button", name="Send the renewal round").click()
    expect(head.locator("#round-summary")).to_contain_text("1 email(s) on their way")
    parent_mail = message_to(inbox, "sian@example.test", 3)
    phone = page_at(PHONE)
    phone.goto(link_path(text_of(parent_mail)))
    social = phone.locator("fieldset", has_text="Official social media")
    social.get_by_text("Yes, you may").tap()
    phone.get_by_role("button", name="Save my answers").tap()
    expect(phone.get_by_text("Thank you: your answers are saved")).to_be_visible()

    # The official account: made and approved by the head, the media lead authorised.
    head.goto("/accounts/")
    head.get_by_label("Platform").fill("Facebook")
    head.get_by_label("Handle or address").fill("@ysgolprawf")
    head.get_by_label("Purpose").select_option("social_media")
    head.get_by_label("Aim").fill("Celebrate pupils' work")
    head.get_by_label("Audience").fill("Parents")
    head.get_by_label("How it is promoted").fill("Newsletter")
    head.get_by_label("Named admins (one per line, at least two)").fill("Mrs Head\nMs Media")
    head.get_by_role("button", name="Save", exact=True).click()
    head.get_by_role("button", name="Approve this account").click()
    head.get_by_label("Ms Media (media@prawf.test)").check()
    head.get_by_role("button", name="Save who may release").click()

    # A photo from sports day: uploaded, screened, released, posted.
    head.goto("/uploads/")
    head.get_by_text("Or create a new event").click()
    head.get_by_label("Event name").fill("Sports day")
    head.get_by_label("Intended use").select_option("social_media")
    head.get_by_role("button", name="Create event").click()
    head.wait_for_function("() => document.getElementById('event').value !== ''")
    head.get_by_label("Photos", exact=True).set_input_files(
        faces_dir / "events" / "obama_podium.jpg")
    head.get_by_role("button", name="Upload photos").click()
    # Ava's brother Ben (the same mother in the contacts export) has no reference photo, so the
    # face could be his: it is never cleared automatically, and the media lead names Ava.
    expect(head.locator("#uploads .upload-item .status")).to_have_text("Needs review")
    with live_app.app_context():
        from gatekeeper.models import Photo

        photo_id = db.session.scalar(select(Photo.id))
    media.goto(f"/review/{photo_id}")
    expect(media.locator(".maybe")).to_contain_text("Ava Evans")
    expect(media.locator(".maybe")).to_contain_text("a brother or sister with no reference photo")
    media.get_by_role("button", name="Is this pupil").click()
    media.get_by_label("Caption").fill("Sports day: what a race!")
    media.locator(".caption-feedback").get_by_text("Caption OK").wait_for()
    for label in ("Everyone is appropriately dressed.",
                  "No one is subject to ridicule or distress.",
                  "No identifying background", "Tagging will be off on the post."):
        media.get_by_label(label).check()
    media.get_by_role("button", name="Release", exact=True).click()
    expect(media.get_by_text("1 photo(s) released")).to_be_visible()
    with live_app.app_context():
        import gatekeeper.worker.tasks
        from gatekeeper.models import Post
        from gatekeeper.publishing.adapters import school_outbox

        gatekeeper.worker.tasks.publish_due_posts()
        post = db.session.scalar(select(Post))
        assert post.state == "published"
        posted = school_outbox(live_app.config["OUTBOX_DIR"], post.school_id) / f"{post.uuid}.jpg"
        assert posted.is_file()
        from consent.models import Pupil

        assert db.session.scalar(select(Pupil).where(Pupil.upn == BEN)) is not None
