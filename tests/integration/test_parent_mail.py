"""Parent links for real: a renewal round, a year group and one guardian by email through a real
SMTP server on 127.0.0.1, reminders, Welsh, letters with a QR code for guardians without email,
and the notice that a photo was taken down after a parent said no."""

from __future__ import annotations

import datetime as dt
import json
import re
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from consent import services
from consent.clock import school_today
from consent.models import Guardian, Pupil, School
from gatekeeper.models import AuditEvent, OfficialAccount, Photo, Post, Takedown
from gatekeeper.states import PostState, TakedownState
from tests.support.fixtures import Browser, add_pupil
from tests.support.smtp import html_of, smtp_server, text_of

LINK = re.compile(r"https?://\S+/parent/\S+")


@pytest.fixture
def inbox(app):
    with smtp_server() as (handler, port):
        app.config["MAIL_URL"] = f"smtp://127.0.0.1:{port}"
        app.config["MAIL_FROM"] = "office@testschool.test"
        yield handler


@pytest.fixture
def families(app, school):
    """Ava (year 5, consent lapsing in ten days: due for renewal) with a mother who has email and a
    father who has none; Ben (year 6, consent for the year) with a mother who has email."""
    from gatekeeper.extensions import db

    with app.app_context():
        soon = school_today() + dt.timedelta(days=10)
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Evans", year="5")
        ben = add_pupil(db.session, school["id"], 2, "Ben", "Jones", year="6")
        mother = services.add_guardian(db.session, ava, "Sian Evans", "parent", "sian@example.test")
        services.add_guardian(db.session, ava, "Huw Evans", "parent", "")
        services.add_guardian(db.session, ben, "Lowri Jones", "parent", "lowri@example.test")
        db.session.flush()
        services.record_consent(db.session, ava, "social_media", "granted", given_by="Sian Evans",
                                recorded_by="test", guardian_id=mother.id, expires_on=soon)
        db.session.commit()
        return {"ava": ava.id, "ben": ben.id, "mother": mother.id}


def link_in(message) -> str:
    found = LINK.findall(text_of(message))
    assert len(found) == 1, text_of(message)
    assert found[0] in html_of(message)
    return urlsplit(found[0]).path


def test_a_renewal_round_emails_those_with_email_and_prints_letters_for_the_rest(
        app, families, login_as, inbox, ctx):
    admin = login_as("admin")
    page = admin.post("/register/links", {"kind": "renewal"}).get_data(as_text=True)
    assert "1 email(s) on their way; 1 parent(s) without an email address need a letter." in page
    (message,) = inbox.wait_for(1)
    assert message["To"] == "sian@example.test" and "Ava" in message["Subject"]
    path = link_in(message)
    parent = Browser(app.test_client())
    assert "Photo consent for Ava" in parent.get(path).get_data(as_text=True)
    with ctx():
        events = ctx.db.session.scalars(select(AuditEvent)).all()
        trail = " ".join(e.detail_json for e in events)
        actions = [e.action for e in events]
    assert path.rsplit("/", 1)[1] not in trail  # no link in the audit trail
    assert "parent_links_round" in actions and "mail_sent" in actions
    letters = admin.post("/register/letters", {"kind": "renewal"}).get_data(as_text=True)
    assert letters.count('class="letter"') == 1 and "Huw Evans" in letters and "<svg" in letters
    printed = re.search(r'<code>https?://[^/]+(/parent/[^<]+)</code>', letters).group(1)
    assert parent.get(printed).status_code == 200
    assert parent.get(path).status_code == 200  # Sian's emailed link still works: only Huw's new


def test_a_year_group_gets_links_and_a_new_link_replaces_the_old(app, families, login_as, inbox):
    admin = login_as("admin")
    admin.post("/register/links", {"kind": "year", "year_group": "6"})
    (first,) = inbox.wait_for(1)
    assert first["To"] == "lowri@example.test"
    admin.post("/register/links", {"kind": "year", "year_group": "6", "reminder": "1"})
    second = inbox.wait_for(2)[1]
    assert "Reminder" in second["Subject"] and "A reminder from Test School" in text_of(second)
    parent = Browser(app.test_client())
    assert parent.get(link_in(first)).status_code == 404  # replaced by the reminder's
    assert parent.get(link_in(second)).status_code == 200
    refused = admin.post("/register/links", {"kind": "year", "year_group": "N1"})
    assert refused.status_code == 302
    assert "Nobody to send to" in admin.get("/register/links").get_data(as_text=True)


def test_a_reminder_goes_only_to_those_whose_answer_the_school_waits_for(app, families,
                                                                          login_as, inbox):
    """Lowri answers the year 6 round for every purpose: a reminder would tell her "we have not
    yet had your answer" and replace the link she used. Sian's grant lapses in ten days: she is
    still reminded."""
    admin = login_as("admin")
    admin.post("/register/links", {"kind": "year", "year_group": "6"})
    path = link_in(inbox.wait_for(1)[0])
    parent = Browser(app.test_client())
    parent.refresh_token(path)
    parent.post(path, {purpose: "yes" for purpose in app.config["PURPOSES"]})
    refused = admin.post("/register/links", {"kind": "year", "year_group": "6", "reminder": "1"})
    assert refused.status_code == 302
    assert "Nobody to remind" in admin.get("/register/links").get_data(as_text=True)
    assert parent.client.get(path).status_code == 200  # her link still works
    page = admin.post("/register/links", {"kind": "year", "year_group": "5", "reminder": "1"})
    assert "1 email(s) on their way; 1 parent(s)" in page.get_data(as_text=True)
    reminded = inbox.wait_for(2)[1]
    assert reminded["To"] == "sian@example.test" and "Reminder" in reminded["Subject"]
    assert len(inbox.messages) == 2


def test_a_link_the_mail_server_could_not_take_for_now_leaves_hers_working(app, families,
                                                                            login_as, inbox):
    """Sian holds last week's link; this week's round meets a mail server that is down. Each try
    made her a new link nobody received, so hers said 'replaced by a newer one' and none came."""
    from gatekeeper.parents.mailing import mail_parent_link
    from gatekeeper.people.emails import MailNotSent

    parent, path = mothers_link(app, families, login_as, inbox)
    working, app.config["MAIL_URL"] = app.config["MAIL_URL"], "smtp://127.0.0.1:1"
    try:
        with app.app_context(), pytest.raises(MailNotSent):
            mail_parent_link(families["mother"])
    finally:
        app.config["MAIL_URL"] = working
    assert parent.client.get(path).status_code == 200
    with app.app_context():
        assert mail_parent_link(families["mother"]) == "sent"  # the retry, with the server back
    assert parent.client.get(path).status_code == 404  # replaced by the one that arrived
    assert parent.client.get(link_in(inbox.wait_for(2)[1])).status_code == 200


def test_a_welsh_school_writes_to_parents_in_welsh(app, families, login_as, inbox, ctx):
    with ctx():
        ctx.db.session.get(School, 1).language = "cy"
        ctx.db.session.commit()
    login_as("admin").post("/register/links",
                           {"kind": "guardian", "guardian_id": families["mother"]})
    (message,) = inbox.wait_for(1)
    assert message["Content-Language"] == "cy"
    assert "Caniatâd lluniau" in message["Subject"] and "Annwyl Sian Evans" in text_of(message)


def test_without_email_every_parent_gets_a_letter_one_page_each(app, families, login_as):
    admin = login_as("admin")
    page = admin.post("/register/links", {"kind": "year", "year_group": "5"}).get_data(as_text=True)
    assert "0 email(s) on their way; 2 parent(s)" in page
    letters = admin.post("/register/letters", {"kind": "year", "year_group": "5"}).get_data(
        as_text=True)
    assert letters.count('class="letter"') == 2
    from tests.conftest import ROOT

    assert "page-break-after" in (ROOT / "static" / "app.css").read_text()  # one page per letter


def test_a_welsh_schools_letters_are_in_welsh_whatever_the_office_reads(app, families,
                                                                         login_as, ctx):
    """The office of a Welsh school reads its screens in English: the parents' letters it printed
    were in English too, while the same round's emails were in Welsh."""
    with ctx():
        ctx.db.session.get(School, 1).language = "cy"
        ctx.db.session.commit()
    admin = login_as("admin")
    admin.post("/auth/language/en", {"next": "/"})
    letters = admin.post("/register/letters", {"kind": "year", "year_group": "5"}).get_data(
        as_text=True)
    assert letters.count('class="letter" lang="cy"') == 2
    assert "Annwyl Huw Evans" in letters and "Dear" not in letters
    assert "Print this page from the browser" in letters  # the office's own page stays English


def test_another_schools_guardian_gets_nothing(app, families, login_as, ctx):
    from tests.support.fixtures import make_school

    with ctx():
        other = make_school(ctx.db.session, "Other School")
        pupil = add_pupil(ctx.db.session, other.id, 9, "Zeb", "Other")
        stranger = services.add_guardian(ctx.db.session, pupil, "Other Parent", "parent", "")
        ctx.db.session.commit()
        stranger_id = stranger.id
    admin = login_as("admin")
    response = admin.post("/register/letters", {"kind": "guardian", "guardian_id": stranger_id})
    assert response.status_code == 302 and "Other Parent" not in admin.get(
        "/register/links").get_data(as_text=True)
    with ctx():
        assert ctx.db.session.get(Guardian, stranger_id).link_nonce is None


def published_post_showing(ctx, pupil_id: int) -> int:
    with ctx():
        session = ctx.db.session
        account = session.scalar(select(OfficialAccount))
        photo = Photo(school_id=account.school_id, purpose="social_media", status="published")
        session.add(photo)
        session.flush()
        post = Post(school_id=account.school_id, photo_id=photo.id, account_id=account.id,
                    caption="Sports day", pupil_ids_json=json.dumps([pupil_id]),
                    state=PostState.PUBLISHED, claimed_at=dt.datetime(2026, 6, 1),
                    published_at=dt.datetime(2026, 6, 1), external_id="outbox-1")
        session.add(post)
        session.commit()
        return post.id


def mothers_link(app, families, login_as, inbox) -> tuple[Browser, str]:
    """The admin emails Sian her link; a browser of hers opens it (the path of its page)."""
    login_as("admin").post("/register/links",
                           {"kind": "guardian", "guardian_id": families["mother"]})
    path = link_in(inbox.wait_for(1)[0])
    parent = Browser(app.test_client())
    parent.refresh_token(path)
    return parent, path


def test_a_parent_who_says_no_is_told_once_the_photos_are_down(app, families, login_as, inbox, ctx):
    from gatekeeper.parents.mailing import TakedownNotDone, mail_takedown_notice

    post_id = published_post_showing(ctx, families["ava"])
    parent, path = mothers_link(app, families, login_as, inbox)
    parent.post(path, {"social_media": "no"})
    with ctx():
        session = ctx.db.session
        assert session.get(Post, post_id).state == PostState.WITHDRAWN
        takedown = session.scalar(select(Takedown).where(Takedown.post_id == post_id))
        assert takedown is not None and takedown.state != TakedownState.DONE
        assert (takedown.notify_guardian_id, takedown.notified_at) == (families["mother"], None)
    with app.app_context():  # the worker's try while the takedown is still under way
        with pytest.raises(TakedownNotDone):
            mail_takedown_notice(families["mother"])
    assert len(inbox.messages) == 1
    takedowns_done(ctx)
    with app.app_context():
        assert mail_takedown_notice(families["mother"]) == "sent"
        assert mail_takedown_notice(families["mother"]) == "nothing owed"  # told once
    notice = inbox.wait_for(2)[1]
    assert notice["To"] == "sian@example.test" and "taken down" in notice["Subject"]
    assert "taken down 1 post(s) showing Ava" in text_of(notice)
    with ctx():
        assert ctx.db.session.scalar(select(Pupil).where(Pupil.first_name == "Ava")) is not None


def takedowns_done(ctx) -> None:
    """Every takedown carried out (as the adapter or a person confirming it would)."""
    with ctx():
        for takedown in ctx.db.session.scalars(select(Takedown)):
            takedown.state, takedown.done_at = TakedownState.DONE, dt.datetime(2026, 6, 2)
        ctx.db.session.commit()


def test_a_notice_owed_while_the_queue_was_down_is_sent_by_the_sweep(app, families, login_as,
                                                                     inbox, ctx):
    """The queue is down when the parent says no: the answer, the takedown and the notice it
    owes are committed together, and the ten-minute sweep tells her once the post is down; a
    failed message stays owed; a sweep running beside the task never tells her twice."""
    from gatekeeper.extensions import db
    from gatekeeper.parents.mailing import (
        claim_notices,
        mail_owed_takedown_notices,
        mail_takedown_notice,
        owed_notices,
    )
    from gatekeeper.worker.queue import configure_queue, huey

    post_id = published_post_showing(ctx, families["ava"])
    parent, path = mothers_link(app, families, login_as, inbox)
    huey.flush()
    app.config.update(HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nothing there
    configure_queue(app)
    try:
        answered = parent.post(path, {"social_media": "no"})
    finally:
        app.config.update(HUEY_IMMEDIATE=True, REDIS_URL="")
        configure_queue(app)
    assert answered.status_code == 302
    assert [t for t in huey.scheduled() if t.name.endswith("send_takedown_notice_task")] == []
    with app.app_context():
        assert mail_owed_takedown_notices() == 0  # the post is not down yet
    takedowns_done(ctx)
    working = app.config["MAIL_URL"]
    app.config["MAIL_URL"] = "smtp://127.0.0.1:1"  # no mail server there: the notice stays owed
    try:
        with app.app_context():
            assert mail_owed_takedown_notices() == 0
    finally:
        app.config["MAIL_URL"] = working
    with ctx():
        takedown = ctx.db.session.scalar(select(Takedown).where(Takedown.post_id == post_id))
        assert takedown.notified_at is None
    with app.app_context():  # two workers read the notice; the first claims it, not the second
        owed = [t.id for t in owed_notices(db.session, families["mother"])]
        assert owed == [takedown.id]
        assert claim_notices(db.session, owed, dt.datetime(2026, 6, 3))
        assert not claim_notices(db.session, owed, dt.datetime(2026, 6, 3))
        assert claim_notices(db.session, owed, None)  # the first one's message failed: owed again
    with app.app_context():
        assert mail_owed_takedown_notices() == 1
        assert mail_owed_takedown_notices() == 0
        assert mail_takedown_notice(families["mother"]) == "nothing owed"  # the late task
    (notice,) = inbox.wait_for(2)[1:]
    assert "taken down 1 post(s) showing Ava" in text_of(notice)
    assert len(inbox.messages) == 2


def second_account(ctx, purpose: str = "website") -> None:
    """A website account beside the school's social media one."""
    with ctx():
        session = ctx.db.session
        social = session.scalar(select(OfficialAccount))
        session.add(OfficialAccount(
            school_id=social.school_id, platform="WordPress", handle="@school-site",
            purpose=purpose, adapter="outbox", admin_names_json=social.admin_names_json,
            approved_by_id=social.approved_by_id, approved_at=social.approved_at))
        session.commit()


def post_to(ctx, pupil_id: int, purpose: str) -> int:
    with ctx():
        session = ctx.db.session
        account = session.scalar(select(OfficialAccount).where(OfficialAccount.purpose == purpose))
        photo = Photo(school_id=account.school_id, purpose=purpose, status="published")
        session.add(photo)
        session.flush()
        post = Post(school_id=account.school_id, photo_id=photo.id, account_id=account.id,
                    caption="Sports day", pupil_ids_json=json.dumps([pupil_id]),
                    state=PostState.PUBLISHED, claimed_at=dt.datetime(2026, 6, 1),
                    published_at=dt.datetime(2026, 6, 1), external_id=f"outbox-{photo.id}")
        session.add(post)
        session.commit()
        return post.id


def test_the_notice_names_only_what_this_parents_no_took_down(app, families, login_as, inbox,
                                                              ctx, cli):
    """While Sian's takedown is under way, Huw refuses the website on paper: her notice must not
    tell her so (nor, the same way, that her child was put on the no-publish list)."""
    from gatekeeper.parents.mailing import mail_takedown_notice
    from gatekeeper.worker.queue import huey

    second_account(ctx)
    with ctx():
        ava = ctx.db.session.get(Pupil, families["ava"])
        services.record_consent(ctx.db.session, ava, "website", "granted", given_by="Sian Evans",
                                recorded_by="test", guardian_id=families["mother"])
        ctx.db.session.commit()
        upn = ava.upn
    social, site = post_to(ctx, families["ava"], "social_media"), post_to(ctx, families["ava"],
                                                                           "website")
    parent, path = mothers_link(app, families, login_as, inbox)
    huey.flush()
    parent.post(path, {"social_media": "no"})  # Sian: no to social media only
    [retry] = [t for t in huey.scheduled() if t.name.endswith("send_takedown_notice_task")]
    assert retry.args == (families["mother"],)
    with ctx():  # her answer pulled this post, and only this one: it owes her the notice
        assert [(t.post_id, t.notify_guardian_id) for t in ctx.db.session.scalars(
            select(Takedown))] == [(social, families["mother"])]
    assert cli("consent", "set", upn, "website", "refused", "--by", "Huw Evans").exit_code == 0
    takedowns_done(ctx)
    with ctx():
        assert ctx.db.session.get(Post, site).state == PostState.WITHDRAWN
    with app.app_context():
        assert mail_takedown_notice(*retry.args) == "sent"
    body = text_of(inbox.wait_for(2)[1])
    assert "taken down 1 post(s) showing Ava" in body and "WordPress" not in body


def test_a_post_still_going_out_when_she_says_no_is_reported_once_it_is_down(app, families,
                                                                             login_as, inbox,
                                                                             ctx):
    """A worker is handing the post to its publisher when Sian says no. Its takedown was done
    (nothing there yet to remove) before the post arrived: she was told it was down, then the
    post went up and came down again, and she was told a second time."""
    from consent.models import utcnow
    from gatekeeper.extensions import db
    from gatekeeper.parents.mailing import TakedownNotDone, mail_takedown_notice
    from gatekeeper.publishing.service import finish

    post_id = published_post_showing(ctx, families["ava"])
    with ctx():  # out at the publisher now, not yet back
        post = ctx.db.session.get(Post, post_id)
        post.state, post.claimed_at, post.external_id = PostState.PUBLISHING, utcnow(), None
        post.published_at = None
        ctx.db.session.commit()
    parent, path = mothers_link(app, families, login_as, inbox)
    parent.post(path, {"social_media": "no"})
    takedowns_done(ctx)  # the publisher had nothing to delete yet
    with app.app_context():
        with pytest.raises(TakedownNotDone):
            mail_takedown_notice(families["mother"])
        arrived = finish(db.session, db.session.get(Post, post_id), "outbox-9", utcnow())
        assert arrived == "withdrawn"
    takedowns_done(ctx)  # the post that arrived is removed
    with app.app_context():
        assert mail_takedown_notice(families["mother"]) == "sent"
        assert mail_takedown_notice(families["mother"]) == "nothing owed"
    assert len(inbox.wait_for(2)) == 2  # her link, then one notice


def test_a_sent_message_is_not_sent_again_when_its_audit_entry_fails(app, families, inbox):
    """The message is out; writing "mail_sent" then fails (a locked database). A retry would send
    a second message whose new link stops the first one working."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    from gatekeeper.extensions import db
    from gatekeeper.parents.mailing import mail_parent_link

    def locked(conn, cursor, statement, parameters, context, executemany):
        if statement.lstrip().upper().startswith("INSERT INTO AUDIT_EVENT") and \
                "mail_sent" in str(parameters):
            raise OperationalError(statement, parameters, Exception("database is locked"))

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", locked)
        try:
            assert mail_parent_link(families["mother"]) == "sent"  # not raised: no retry
        finally:
            event.remove(db.engine, "before_cursor_execute", locked)
    [message] = inbox.wait_for(1)
    assert Browser(app.test_client()).get(link_in(message)).status_code == 200  # it works


def test_a_contact_without_parental_responsibility_gets_no_link(app, school, login_as, inbox,
                                                                ctx):
    from gatekeeper.register.actions import import_contacts

    with ctx():
        ava = add_pupil(ctx.db.session, school["id"], 1, "Ava", "Evans", year="5")
        import_contacts(ctx.db.session, school["id"], (
            "UPN,Contact Person ID,Contact Forename,Contact Surname,Relationship,"
            "Parental Responsibility,Primary Email\n"
            f"{ava.upn},5001,Sian,Evans,Mother,Yes,sian@example.test\n"
            f"{ava.upn},5009,Bethan,Morgan,Childminder,No,bethan@example.test\n").encode(),
            apply=True, actor="test")
        ctx.db.session.commit()
        bethan = ctx.db.session.scalar(select(Guardian).where(Guardian.name == "Bethan Morgan"))
        bethan_id, ava_id = bethan.id, ava.id
    admin = login_as("admin")
    page = admin.get(f"/register/pupils/{ava_id}").get_data(as_text=True)
    # Her row offers no link to make or send (each would only be refused), and says why.
    assert "No parental responsibility, by the MIS" in page
    assert f'value="{bethan_id}"' not in page
    assert f"/register/guardians/{bethan_id}/link" not in page
    admin.post("/register/links", {"kind": "year", "year_group": "5"})
    assert [m["To"] for m in inbox.wait_for(1)] == ["sian@example.test"]
    refused = admin.post(f"/register/guardians/{bethan_id}/link", follow_redirects=True)
    assert "has no parental responsibility" in refused.get_data(as_text=True)
    with ctx():
        guardian = ctx.db.session.get(Guardian, bethan_id)
        guardian.parental_responsibility = True  # a link issued before the MIS said otherwise
        ctx.db.session.commit()
    old = admin.post(f"/register/guardians/{bethan_id}/link").get_data(as_text=True)
    path = "/parent/" + re.search(r"/parent/([^\"<\s]+)", old).group(1)
    with ctx():
        ctx.db.session.get(Guardian, bethan_id).parental_responsibility = False
        ctx.db.session.commit()
    page = Browser(app.test_client()).get(path)
    assert page.status_code == 403 and "does not work for you" in page.get_data(as_text=True)


def test_a_contact_the_mis_takes_responsibility_from_before_sending_is_sent_nothing(
        app, families, inbox, ctx):
    """The round was queued while the MIS still said the mother had parental responsibility; an
    import in between says she has none. The worker sent her a link that answered 403."""
    from gatekeeper.parents.mailing import mail_parent_link

    with ctx():
        mother = ctx.db.session.get(Guardian, families["mother"])
        mother.parental_responsibility, nonce = False, mother.link_nonce
        ctx.db.session.commit()
    with app.app_context():
        assert mail_parent_link(families["mother"]) == "no message"
    with ctx():
        assert ctx.db.session.get(Guardian, families["mother"]).link_nonce == nonce  # none made
    assert inbox.messages == []


def test_an_address_the_mail_server_refuses_gets_a_letter_instead(app, families, login_as, inbox,
                                                                  ctx):
    """Lowri's address is refused (550): the office sees it on Ben's page, her link (which never
    reached her) does not claim to work, and the round's letters include her, until the MIS
    gives a new address."""
    inbox.refused.add("lowri@example.test")
    admin = login_as("admin")
    admin.post("/register/links", {"kind": "year", "year_group": "6"})
    with ctx():
        lowri = ctx.db.session.scalar(select(Guardian).where(Guardian.name == "Lowri Jones"))
        assert lowri.email_failed_at is not None and lowri.link_nonce is None
        upn = ctx.db.session.get(Pupil, families["ben"]).upn
    assert inbox.messages == []
    page = admin.get(f"/register/pupils/{families['ben']}").get_data(as_text=True)
    assert "refused by the mail server on" in page and "link works until" not in page
    letters = admin.post("/register/letters", {"kind": "year", "year_group": "6"})
    assert "Lowri Jones" in letters.get_data(as_text=True)
    again = admin.post("/register/links", {"kind": "year", "year_group": "6"})
    assert "0 email(s) on their way" in again.get_data(as_text=True)
    from gatekeeper.register.actions import import_contacts

    with ctx():  # the office corrects her address in the MIS
        import_contacts(ctx.db.session, 1, (
            "UPN,Contact Forename,Contact Surname,Relationship,Primary Email\n"
            f"{upn},Lowri,Jones,Mother,lowri.jones@example.test\n").encode(), apply=True,
            actor="test")
        ctx.db.session.commit()
    admin.post("/register/links", {"kind": "year", "year_group": "6"})
    assert [m["To"] for m in inbox.wait_for(1)] == ["lowri.jones@example.test"]


def test_a_notice_the_mail_server_refuses_for_good_is_settled_and_never_logs_the_address(
        app, families, login_as, inbox, ctx, caplog):
    """Her mailbox was closed after she said no: the notice was retried every ten minutes for
    ever, with her address in the error log each time, and nobody saw she was never told."""
    import logging

    from gatekeeper.parents.mailing import mail_owed_takedown_notices

    post_id = published_post_showing(ctx, families["ava"])
    parent, path = mothers_link(app, families, login_as, inbox)
    parent.post(path, {"social_media": "no"})
    takedowns_done(ctx)
    inbox.refused.add("sian@example.test")
    caplog.set_level(logging.INFO)
    with app.app_context():
        assert [mail_owed_takedown_notices() for _sweep in range(3)] == [0, 0, 0]
    with ctx():
        takedown = ctx.db.session.scalar(select(Takedown).where(Takedown.post_id == post_id))
        guardian = ctx.db.session.get(Guardian, families["mother"])
        assert takedown.notified_at is not None  # settled: not retried for ever
        assert guardian.email_failed_at is not None  # the office sees a letter is needed
        refused = ctx.db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "parent_email_refused")).all()
        assert len(refused) == 1
    ours = [record.getMessage() + (record.exc_text or "") for record in caplog.records
            if record.name.startswith(("gatekeeper", "huey"))]  # not the test's mail server
    assert not [line for line in ours if "sian@example.test" in line]


def test_a_round_of_links_while_the_queue_is_down_says_none_went(app, families, login_as, inbox,
                                                                 ctx):
    """It said the links were made and one email was on its way: the worker makes each link when
    it sends it, so none was made and none went."""
    from gatekeeper.worker.queue import configure_queue

    admin = login_as("admin")
    app.config.update(HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nothing there
    configure_queue(app)
    try:
        page = admin.post("/register/links", {"kind": "guardian",
                                              "guardian_id": families["mother"]})
    finally:
        app.config.update(HUEY_IMMEDIATE=True, REDIS_URL="")
        configure_queue(app)
    html = page.get_data(as_text=True)
    assert "1 of 1 emails could not be queued just now (no link was made for them)" in html
    assert "0 email(s) on their way" in html
    with ctx():
        assert ctx.db.session.get(Guardian, families["mother"]).link_nonce is None


def test_a_notice_that_fails_before_it_reaches_the_mail_server_stays_owed(app, families,
                                                                          login_as, inbox, ctx):
    """A message that cannot even be built (a sender address with a line break in the settings)
    was marked as told, and never sent once the settings were mended."""
    from gatekeeper.parents.mailing import mail_owed_takedown_notices, mail_takedown_notice

    published_post_showing(ctx, families["ava"])
    parent, path = mothers_link(app, families, login_as, inbox)
    parent.post(path, {"social_media": "no"})
    takedowns_done(ctx)
    good = app.config["MAIL_FROM"]
    app.config["MAIL_FROM"] = "office@testschool.test\nBcc: someone@example.test"
    try:
        with app.app_context(), pytest.raises(Exception):  # noqa: B017 - whatever the builder says
            mail_takedown_notice(families["mother"])
    finally:
        app.config["MAIL_FROM"] = good
    with app.app_context():
        assert mail_owed_takedown_notices() == 1  # owed still: the next sweep sent it
    assert "taken down 1 post(s) showing Ava" in text_of(inbox.wait_for(2)[1])
