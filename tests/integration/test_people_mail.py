"""Email for real: invitations and password resets reach a real SMTP server (aiosmtpd) that the
test starts on 127.0.0.1, and the test reads them. Every reset token case is here too."""

from __future__ import annotations

import datetime as dt
import re
import threading
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from consent.models import School
from gatekeeper.models import AuditEvent, User
from tests.support.fixtures import PASSWORD, Browser
from tests.support.smtp import free_port, html_of, smtp_server, text_of

LINK = re.compile(r"https?://\S+/welcome/\S+")
NEW = "a freshly chosen password"
FORM_TOKEN = re.compile(r'value="[^"]*"')


@pytest.fixture
def inbox(app):
    with smtp_server() as (handler, port):
        app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
        app.config["MAIL_FROM"] = "office@testschool.test"
        yield handler


def link_in(message) -> str:
    found = LINK.findall(text_of(message))
    assert len(found) == 1, text_of(message)
    assert found[0] in html_of(message)
    return urlsplit(found[0]).path


def audit_details(ctx, action: str) -> list[str]:
    with ctx():
        return list(ctx.db.session.scalars(select(AuditEvent.detail_json).where(
            AuditEvent.action == action)))


def test_an_invitation_is_emailed_and_never_shown_to_the_head(app, login_as, inbox, ctx):
    head = login_as("head")
    reply = head.post("/head/invitations",
                      {"email": "new.teacher@testschool.test", "role": "staff"})
    assert reply.status_code == 302
    page = head.get("/head/users").get_data(as_text=True)
    assert "on its way to new.teacher@testschool.test" in page and "/welcome/" not in page
    (message,) = inbox.wait_for(1)
    assert message["To"] == "new.teacher@testschool.test"
    assert message["From"] == "office@testschool.test"
    assert "Test School" in message["Subject"]
    path = link_in(message)
    token = path.rsplit("/", 1)[1]
    sent = audit_details(ctx, "mail_sent")
    assert len(sent) == 1 and "invitation" in sent[0] and token not in sent[0]
    newcomer = Browser(app.test_client())
    newcomer.refresh_token(path)
    assert newcomer.post(
        path, {"name": "New Teacher", "password": NEW, "confirm": NEW}).status_code == 302
    assert newcomer.get("/uploads/").status_code == 200


def test_no_invitation_is_mailed_once_the_head_who_sent_it_has_left(app, school, inbox, ctx):
    # The worker mails the link after the head pressed Invite; a head deactivated meanwhile
    # (or removed, or no longer head) takes the invitation with them: no email with a dead link.
    from gatekeeper.people import emails, invitations

    with ctx():
        session = ctx.db.session
        head = session.scalar(select(User).where(User.email == "head@testschool.test"))
        invitation = invitations.invite(session, session.get(School, school["id"]),
                                        "new.teacher@testschool.test", "staff", head).invitation
        for membership in head.memberships:
            membership.suspended_at = dt.datetime(2026, 6, 1)
        session.commit()
        assert emails.mail_invitation(invitation.id) == "invitation no longer open"
    assert inbox.wait_for(1, timeout=1) == []


def test_a_welsh_school_sends_its_invitation_in_welsh(app, login_as, inbox, ctx):
    with ctx():
        ctx.db.session.get(School, 1).language = "cy"
        ctx.db.session.commit()
    login_as("head").post("/head/invitations", {"email": "athro@testschool.test", "role": "staff"})
    (message,) = inbox.wait_for(1)
    assert message["Content-Language"] == "cy"
    assert "Eich gwahoddiad" in message["Subject"] and "Agorwch y ddolen hon" in text_of(message)


def test_a_reset_gives_the_same_answer_whether_or_not_the_address_exists(app, school, inbox, ctx):
    answers = []
    for email in ("staff@testschool.test", "nobody@testschool.test", "not an address"):
        browser = Browser(app.test_client())
        browser.refresh_token("/welcome/reset")
        response = browser.post("/welcome/reset", {"email": email})
        answers.append((response.status_code, response.headers.get("Location"),
                        browser.get("/welcome/reset").get_data(as_text=True).replace(
                            browser.refresh_token("/welcome/reset"), "")))
    assert answers[0][:2] == answers[1][:2] == answers[2][:2]
    assert "If that address has a Gatekeeper account" in answers[1][2]
    messages = inbox.wait_for(1)
    assert [m["To"] for m in messages] == ["staff@testschool.test"]
    assert "Gatekeeper password" in messages[0]["Subject"]


def request_reset(app, email: str = "staff@testschool.test", address: str = "127.0.0.1") -> str:
    """Ask for a reset link from this address; the answer the page then shows."""
    browser = Browser(app.test_client())
    browser.client.environ_base["REMOTE_ADDR"] = address
    browser.refresh_token("/welcome/reset")
    assert browser.post("/welcome/reset", {"email": email}).status_code == 302
    return FORM_TOKEN.sub("", browser.get("/welcome/reset").get_data(as_text=True))


def test_a_reset_link_works_once_and_ends_every_session(app, login_as, inbox, ctx):
    open_session = login_as("staff")
    request_reset(app)
    path = link_in(inbox.wait_for(1)[0])
    browser = Browser(app.test_client())
    browser.refresh_token(path)
    short = browser.post(path, {"password": "short", "confirm": "short"})
    assert short.status_code == 200 and "characters long" in short.get_data(as_text=True)
    done = browser.post(path, {"password": NEW, "confirm": NEW})
    assert done.status_code == 302 and done.headers["Location"].endswith("/auth/login")
    assert open_session.get("/uploads/").status_code == 302
    assert Browser(app.test_client()).login("staff@testschool.test", PASSWORD).status_code != 302
    assert Browser(app.test_client()).login("staff@testschool.test", NEW).status_code == 302
    reused = browser.post(path, {"password": "another long password",
                                 "confirm": "another long password"})
    assert reused.status_code == 410
    assert Browser(app.test_client()).login("staff@testschool.test", NEW).status_code == 302


@pytest.mark.parametrize("change", ["own", "temporary"])
def test_a_reset_link_mailed_before_the_password_changed_no_longer_works(
        app, login_as, inbox, ctx, change):
    # The link may have gone astray (a shared mailbox, a forwarded message): whoever then changes
    # the password, the person themselves or the head with a temporary one, takes it back.
    request_reset(app)
    path = link_in(inbox.wait_for(1)[0])
    if change == "own":
        staff = login_as("staff")
        staff.refresh_token("/account/password")
        changed = staff.post("/account/password", {"current": PASSWORD, "password": NEW,
                                                    "confirm": NEW})
    else:
        with ctx():
            staff_id = ctx.db.session.scalar(select(User.id).where(
                User.email == "staff@testschool.test"))
        changed = login_as("head").post(f"/head/users/{staff_id}/password",
                                        {"password": "a temporary password"})
    assert changed.status_code == 302
    stranger = Browser(app.test_client())
    stranger.refresh_token("/welcome/reset")
    assert stranger.get(path).status_code == 410
    taken = "the stranger's own password"
    assert stranger.post(path, {"password": taken, "confirm": taken}).status_code == 410
    assert Browser(app.test_client()).login("staff@testschool.test", taken).status_code != 302


def test_an_expired_reset_link_opens_nothing(app, school, inbox, ctx):
    from gatekeeper.people.models import PasswordReset
    from gatekeeper.people.resets import RESET_LIFETIME

    assert RESET_LIFETIME == dt.timedelta(hours=1)
    request_reset(app)
    path = link_in(inbox.wait_for(1)[0])
    with ctx():
        reset = ctx.db.session.scalar(select(PasswordReset))
        reset.expires_at = reset.created_at - dt.timedelta(seconds=1)
        ctx.db.session.commit()
    browser = Browser(app.test_client())
    browser.refresh_token("/welcome/reset")
    assert browser.get(path).status_code == 410
    assert browser.post(path, {"password": NEW, "confirm": NEW}).status_code == 410
    assert Browser(app.test_client()).login("staff@testschool.test", PASSWORD).status_code == 302


def test_a_tampered_or_another_users_reset_link_opens_nothing(app, school, inbox, ctx):
    from gatekeeper.people import tokens

    request_reset(app, "staff@testschool.test")
    request_reset(app, "admin@testschool.test")
    staff_path, admin_path = (link_in(m) for m in inbox.wait_for(2))
    staff_token = staff_path.rsplit("/", 1)[1]
    with app.test_request_context():
        staff_id, _ = tokens.read_token("password-reset", staff_token)
        _, admin_secret = tokens.read_token("password-reset", admin_path.rsplit("/", 1)[1])
        forged = tokens.make_token("password-reset", staff_id, admin_secret)
        other_purpose = tokens.make_token("invitation", staff_id, admin_secret)
    browser = Browser(app.test_client())
    browser.refresh_token("/welcome/reset")
    for token in (staff_token[:-3] + "xyz", forged, other_purpose, "%27%22%3E"):
        assert browser.post(
            f"/welcome/reset/{token}", {"password": NEW, "confirm": NEW}).status_code == 404
    assert Browser(app.test_client()).login("staff@testschool.test", PASSWORD).status_code == 302
    # The admin's own link still changes only the admin's password.
    browser.refresh_token(admin_path)
    assert browser.post(admin_path, {"password": NEW, "confirm": NEW}).status_code == 302
    assert Browser(app.test_client()).login("admin@testschool.test", NEW).status_code == 302
    assert Browser(app.test_client()).login("staff@testschool.test", PASSWORD).status_code == 302


def test_resets_are_limited_per_hour(app, school, inbox, ctx):
    from gatekeeper.people.resets import RESETS_PER_HOUR

    for _ in range(RESETS_PER_HOUR + 2):
        request_reset(app)
    assert len(inbox.wait_for(RESETS_PER_HOUR, timeout=5)) == RESETS_PER_HOUR
    assert len(audit_details(ctx, "password_reset_throttled")) == 2


def test_reset_requests_are_limited_per_network_address(app, school, inbox, ctx):
    # Someone asking for address after address from one network is stopped, with the same answer:
    # it still says nothing of which addresses have an account.
    from gatekeeper.people.resets import RESETS_PER_ADDRESS

    first = request_reset(app, "nobody0@testschool.test", "203.0.113.9")
    assert "If that address has a Gatekeeper account" in first
    for n in range(1, RESETS_PER_ADDRESS):
        assert request_reset(app, f"nobody{n}@testschool.test", "203.0.113.9") == first
    assert request_reset(app, "staff@testschool.test", "203.0.113.9") == first  # no link
    # An IPv6 network is one address however many of its addresses it uses.
    for n in range(RESETS_PER_ADDRESS):
        request_reset(app, f"nobody{n}@testschool.test", f"2001:db8:7:8::{n + 1:x}")
    assert request_reset(app, "staff@testschool.test", "2001:db8:7:8::ffff") == first  # no link
    throttled = audit_details(ctx, "password_reset_throttled")
    assert len(throttled) == 2 and "203.0.113.9" in throttled[0]
    assert "nobody" not in " ".join(throttled)  # a keyed hash of what was typed, not the text
    request_reset(app, "staff@testschool.test", "198.51.100.30")  # from elsewhere: a link
    assert [m["To"] for m in inbox.wait_for(2, timeout=3)] == ["staff@testschool.test"]


def test_parallel_reset_requests_from_one_address_stay_under_its_cap(app, school, ctx):
    from gatekeeper.people.resets import RESETS_PER_ADDRESS

    parallel = 3 * RESETS_PER_ADDRESS
    browsers = []
    for _ in range(parallel):
        browser = Browser(app.test_client())
        browser.client.environ_base["REMOTE_ADDR"] = "203.0.113.10"
        browser.refresh_token("/welcome/reset")
        browsers.append(browser)
    start, answers = threading.Barrier(parallel), []

    def ask(n: int) -> None:
        start.wait()
        answers.append(browsers[n].post("/welcome/reset", {"email": f"x{n}@testschool.test"}))

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(parallel)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(answers) == parallel and {a.status_code for a in answers} == {302}
    # No more than the cap went on to the worker, however they raced (a request that counts the
    # ones begun beside it may be refused early: the cap holds, never the other way).
    assert len(audit_details(ctx, "password_reset_throttled")) >= parallel - RESETS_PER_ADDRESS


def test_a_mail_server_that_is_down_is_audited_and_the_head_still_gets_an_answer(
        app, login_as, ctx):
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{free_port()}"  # nothing listens there
    head = login_as("head")
    assert head.post(
        "/head/invitations", {"email": "x@testschool.test", "role": "staff"}).status_code == 302
    failed = audit_details(ctx, "mail_failed")
    assert len(failed) == 1 and "ConnectionRefusedError" in failed[0]


def test_mail_settings_from_the_url():
    from gatekeeper.people.mail import MailNotConfigured, mail_settings

    plain = mail_settings({"MAIL_URL": "smtp://mail.example.test"})
    assert (plain.host, plain.port, plain.security, plain.username) == (
        "mail.example.test", 25, "plain", None)
    tls = mail_settings({"MAIL_URL": "smtps://gk%40school:p%2Fw@mail.example.test",
                         "MAIL_FROM": "a@b.test"})
    assert (tls.port, tls.security, tls.username, tls.password, tls.sender) == (
        465, "tls", "gk@school", "p/w", "a@b.test")
    assert mail_settings({"MAIL_URL": "smtp://m.test:587?starttls=1"}).security == "starttls"
    for bad in ("", "http://m.test", "smtp://"):
        with pytest.raises(MailNotConfigured):
            mail_settings({"MAIL_URL": bad})


def test_two_requests_racing_with_one_reset_link_change_the_password_once(app, school, inbox, ctx):
    """Both passed the link check; only the first to write may use it."""
    from gatekeeper.people import resets

    request_reset(app)
    token = link_in(inbox.wait_for(1)[0]).rsplit("/", 1)[1]
    with app.test_request_context():
        session = ctx.db.session
        first, second = resets.open_reset(session, token), resets.open_reset(session, token)
        resets.complete_reset(session, first, NEW, NEW)
        session.commit()
        with pytest.raises(resets.ResetRefused):
            resets.complete_reset(session, second, "the racing request's password",
                                  "the racing request's password")
        session.rollback()
    assert Browser(app.test_client()).login("staff@testschool.test", NEW).status_code == 302


def test_two_requests_racing_with_one_invitation_create_one_account(app, login_as, ctx):
    from gatekeeper.people import invitations
    from tests.support.fixtures import invitation_path

    path = invitation_path(login_as("head").post(
        "/head/invitations", {"email": "race@testschool.test", "role": "staff"}))
    token = path.rsplit("/", 1)[1]
    with app.test_request_context():
        session = ctx.db.session
        first = invitations.open_invitation(session, token)
        invitations.accept_as_new(session, first, "First", NEW, NEW)
        session.commit()
        user = session.scalar(select(User).where(User.email == "race@testschool.test"))
        with pytest.raises(invitations.InvitationRefused):
            invitations.grant(session, first, user)  # a second request that passed the check
        session.rollback()
