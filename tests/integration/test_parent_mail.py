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


def test_a_parent_who_says_no_is_told_once_the_photos_are_down(app, families, login_as, inbox, ctx):
    from gatekeeper.parents.mailing import TakedownNotDone, mail_takedown_notice

    post_id = published_post_showing(ctx, families["ava"])
    login_as("admin").post("/register/links",
                           {"kind": "guardian", "guardian_id": families["mother"]})
    path = link_in(inbox.wait_for(1)[0])
    parent = Browser(app.test_client())
    parent.refresh_token(path)
    parent.post(path, {"social_media": "no"})
    with ctx():
        session = ctx.db.session
        assert session.get(Post, post_id).state == PostState.WITHDRAWN
        takedown = session.scalar(select(Takedown).where(Takedown.post_id == post_id))
        assert takedown is not None and takedown.state != TakedownState.DONE
        since = session.get(Post, post_id).withdrawn_at - dt.timedelta(seconds=1)
    with app.app_context():  # the worker's try while the takedown is still under way
        with pytest.raises(TakedownNotDone):
            mail_takedown_notice(families["mother"], since.isoformat())
    assert len(inbox.messages) == 1
    with ctx():
        done = ctx.db.session.scalar(select(Takedown).where(Takedown.post_id == post_id))
        done.state, done.done_at = TakedownState.DONE, dt.datetime.now(dt.UTC).replace(tzinfo=None)
        ctx.db.session.commit()
    with app.app_context():
        assert mail_takedown_notice(families["mother"], since.isoformat()) == "sent"
    notice = inbox.wait_for(2)[1]
    assert notice["To"] == "sian@example.test" and "taken down" in notice["Subject"]
    assert "taken down 1 post(s) showing Ava" in text_of(notice)
    with ctx():
        assert ctx.db.session.scalar(select(Pupil).where(Pupil.first_name == "Ava")) is not None
