"""The parent link: signed, expiring, one per guardian, opening that parent's consent page only."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time

import pytest
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from consent.models import ConsentRecord
from gatekeeper.models import AuditEvent
from gatekeeper.parents.links import SALT
from gatekeeper.register.forms import today
from tests.integration.test_register_screens import (
    decision,
    page,
    post_state,
    pupils,
    queued_post,
)
from tests.integration.test_stale_forms import stale_token

LINK = re.compile(r'id="link" readonly value="(http://localhost/parent/([^"]+))"')


@pytest.fixture
def family(app, school):
    """Ava, with two parents on the register; Mum granted social media on paper."""
    from consent import services
    from gatekeeper.extensions import db

    made = pupils(app, school["id"], ("Ava", "Thompson", "6", {}))
    with app.app_context():
        pupil = services.get_pupil(db.session, school["id"], made["Ava"]["id"])
        mum = services.add_guardian(db.session, pupil, "Mary Thompson", "parent",
                                    "mary@example.test")
        dad = services.add_guardian(db.session, pupil, "David Thompson", "parent")
        services.record_consent(db.session, pupil, "social_media", "granted",
                                given_by=mum.name, guardian_id=mum.id, recorded_by="test")
        services.record_consent(db.session, pupil, "press", "refused",
                                given_by=dad.name, guardian_id=dad.id, recorded_by="test")
        db.session.commit()
        return {"pupil": made["Ava"]["id"], "mum": mum.id, "dad": dad.id}


def issue(browser, guardian_id: int) -> str:
    """Issue a link as the office does; returns its path."""
    html = browser.post(f"/register/guardians/{guardian_id}/link").get_data(as_text=True)
    match = LINK.search(html)
    assert match, html[:2000]
    return "/parent/" + match.group(2)


class Parent:
    """A parent's browser: no account, just the link (and the page's own CSRF token)."""

    def __init__(self, app, path: str):
        self.client: FlaskClient = app.test_client()
        self.path = path

    def open(self):
        return self.client.get(self.path)

    def answer(self, **answers):
        html = self.open().get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
        return self.client.post(self.path, data={"csrf_token": token, **answers})


def records(app, **where) -> list[ConsentRecord]:
    from gatekeeper.extensions import db

    with app.app_context():
        query = select(ConsentRecord).filter_by(**where).order_by(ConsentRecord.id)
        return list(db.session.scalars(query))


def test_the_page_shows_purposes_in_plain_words_and_only_this_parents_answers(app, login_as,
                                                                              family):
    parent = Parent(app, issue(login_as("admin"), family["dad"]))
    html = parent.open().get_data(as_text=True)
    assert "Photos of Ava" in html and "Hello David Thompson" in html
    assert "which anyone can see and share" in html  # social media, in plain words
    assert 'id="answer-press">No<' in html  # his own refusal
    assert 'id="answer-social_media">Not answered yet<' in html  # not his wife's grant
    assert "Mary" not in html and "Thompson, Ava" not in html and "Thompson</" not in html


def test_answers_are_records_via_parent_link_and_a_no_pulls_posts_at_once(app, login_as, family):
    post = queued_post(app, 1, [family["pupil"]])
    parent = Parent(app, issue(login_as("admin"), family["mum"]))
    response = parent.answer(social_media="no", website="yes")
    assert response.status_code == 302 and response.headers["Location"] == parent.path
    assert "take effect now" in parent.open().get_data(as_text=True)
    written = records(app, source="parent_link")
    assert [(r.purpose, r.status, r.given_by, r.guardian_id, r.recorded_by, r.form_date)
            for r in written] == [
        ("website", "granted", "Mary Thompson", family["mum"], "parent link", today()),
        ("social_media", "withdrawn", "Mary Thompson", family["mum"], "parent link", today()),
    ]
    assert all(r.recorded_at for r in written)
    assert post_state(app, post) == "withdrawn"
    assert decision(app, family["pupil"], "social_media").reason == "consent withdrawn"
    assert decision(app, family["pupil"], "website").ok
    from gatekeeper.extensions import db

    with app.app_context():
        actors = {e.actor for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "consent_recorded"))}
    assert actors == {"parent link: Mary Thompson"}


def test_answering_the_same_again_records_nothing(app, login_as, family):
    parent = Parent(app, issue(login_as("admin"), family["mum"]))
    parent.answer(social_media="yes", press="no")  # social media was already yes
    assert [(r.purpose, r.status) for r in records(app, source="parent_link")] == [
        ("press", "refused")]
    parent.answer(social_media="yes", press="no")
    assert len(records(app, source="parent_link")) == 1
    assert "Nothing changed" in parent.open().get_data(as_text=True)


def test_a_renewal_rounds_yes_outlasts_the_grant_it_renews(app, family):
    """Mary's grant for the website lapses on 31 August; the renewal round reaches her on 10
    August and she says yes. Her new grant lapsed on the same 31 August, so the round renewed
    nothing and the school lost her consent on 1 September."""
    from consent import rules, services
    from consent.models import Guardian, Pupil
    from gatekeeper.extensions import db
    from gatekeeper.register import actions

    now = today()
    on = dt.date(now.year if dt.date(now.year, 8, 10) <= now else now.year - 1, 8, 10)
    purposes = tuple(app.config["PURPOSES"])
    with app.app_context():
        mum, pupil = db.session.get(Guardian, family["mum"]), db.session.get(Pupil, family["pupil"])
        services.record_consent(db.session, pupil, "website", "granted", given_by=mum.name,
                                guardian_id=mum.id, recorded_by="test",
                                effective_from=dt.date(on.year - 1, 9, 1),
                                expires_on=dt.date(on.year, 8, 31))
        written = actions.parent_answers(db.session, mum, {"website": "yes"}, purposes=purposes,
                                         on=on)
        assert [(r.purpose, r.status, r.expires_on) for r in written] == [
            ("website", "granted", dt.date(on.year + 1, 8, 31))]
        db.session.commit()
        facts = services.consent_facts(pupil.consent_records)
        giver = services.guardian_giver(mum)
        assert rules.giver_answer(facts, giver, "website", dt.date(on.year, 9, 1)) == "yes"
        assert actions.parent_answers(db.session, mum, {"website": "yes"}, purposes=purposes,
                                      on=on + dt.timedelta(days=1)) == []  # renewed already


def test_saving_without_choosing_is_not_called_already_recorded(app, login_as, family):
    """David has answered nothing for the website and taps Save without choosing: he was told
    'your answers were already recorded'."""
    parent = Parent(app, issue(login_as("admin"), family["dad"]))
    parent.answer()
    html = parent.open().get_data(as_text=True)
    assert "Choose yes or no for at least one use of photos" in html
    assert "already recorded" not in html and records(app, source="parent_link") == []


def test_a_double_press_of_save_records_the_answer_once(app, family):
    """Mary taps "Save my answers" twice: the second request read her answers before the first
    had committed, and recorded her withdrawal a second time."""
    from sqlalchemy.orm import Session

    from consent.models import Guardian
    from gatekeeper.extensions import db
    from gatekeeper.register import actions

    purposes, first_wrote, written = tuple(app.config["PURPOSES"]), threading.Event(), []

    def press(first: bool) -> None:
        with app.app_context(), Session(db.engine) as session:
            if not first:
                first_wrote.wait(5)
            mum = session.get(Guardian, family["mum"])
            written.extend(actions.parent_answers(session, mum, {"social_media": "no"},
                                                  purposes=purposes, on=today()))
            if first:
                first_wrote.set()
                time.sleep(0.5)  # the second press arrives while this one is being saved
            session.commit()

    presses = [threading.Thread(target=press, args=(first,)) for first in (True, False)]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join(30)
    assert len(written) == 1
    assert [(r.purpose, r.status) for r in records(app, source="parent_link")] == [
        ("social_media", "withdrawn")]


def test_a_tampered_or_foreign_token_opens_nothing(app, login_as, family):
    path = issue(login_as("admin"), family["mum"])
    client = app.test_client()
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for bad in (tampered, "/parent/1", "/parent/" + "x" * 80):
        response = client.get(bad)
        assert response.status_code == 404
        assert "does not work" in response.get_data(as_text=True)
    forged = URLSafeTimedSerializer("not the school's secret", salt=SALT).dumps(
        [family["mum"], "guess"])
    assert client.get(f"/parent/{forged}").status_code == 404
    # Signed by the school but for the wrong nonce (an old link): refused.
    with app.test_request_context():
        stale = URLSafeTimedSerializer(app.secret_key, salt=SALT).dumps([family["mum"], "old"])
    assert client.get(f"/parent/{stale}").status_code == 404


def test_a_new_link_or_stopping_it_ends_the_old_one(app, login_as, family):
    admin = login_as("admin")
    first = issue(admin, family["mum"])
    second = issue(admin, family["mum"])
    assert Parent(app, first).open().status_code == 404
    assert Parent(app, second).open().status_code == 200
    admin.post(f"/register/guardians/{family['mum']}/link/revoke")
    response = Parent(app, second).open()
    assert response.status_code == 404 and "withdrawn" in response.get_data(as_text=True)


def test_an_expired_link_says_so_and_records_nothing(app, login_as, family):
    path = issue(login_as("admin"), family["mum"])
    app.config["PARENT_LINK_DAYS"] = -1  # every link is older than its lifetime
    parent = Parent(app, path)
    response = parent.open()
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    response = parent.client.post(path, data={"social_media": "no"})
    assert response.status_code == 303  # no page token: shown again, and the link is expired
    assert parent.client.get(response.headers["Location"]).status_code == 410
    assert records(app, source="parent_link") == []


def test_a_leaver_has_no_link(app, login_as, family):
    admin = login_as("admin")
    path = issue(admin, family["mum"])
    admin.post(f"/register/pupils/{family['pupil']}/leave",
               {"leaving-left_on": today().isoformat()})
    assert Parent(app, path).open().status_code == 410
    refused = admin.post(f"/register/guardians/{family['mum']}/link")
    assert "has left" in page(admin, refused.headers["Location"])


def test_posting_needs_the_pages_csrf_token(app, login_as, family):
    path = issue(login_as("admin"), family["mum"])
    assert app.test_client().post(path, data={"social_media": "no"}).status_code == 303
    assert records(app, source="parent_link") == []


REFERRER_META = re.compile(r'<meta name="referrer" content="([^"]+)"')


def test_a_parent_answers_over_https_as_a_browser_sends_it(app, login_as, family):
    # Over https Flask-WTF refuses a form posted without a same-origin Referer, and a browser
    # sends one only when the page's referrer policy (its header, then any meta tag) allows it.
    path = issue(login_as("admin"), family["mum"])
    site = "https://gatekeeper.example"
    client = app.test_client()
    page = client.get(path, base_url=site)
    html = page.get_data(as_text=True)
    policy = (REFERRER_META.findall(html) or [page.headers["Referrer-Policy"]])[-1]
    assert policy in ("same-origin", "strict-origin-when-cross-origin", "origin")
    sent = {"Referer": site + path if policy == "same-origin" else site + "/"}
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    response = client.post(path, base_url=site, headers=sent,
                           data={"csrf_token": token, "social_media": "no"})
    assert response.status_code == 302
    assert [(r.purpose, r.status) for r in records(app, source="parent_link")] == [
        ("social_media", "withdrawn")]
    # Without the referrer (the old no-referrer policy) the same answer was refused.
    again = client.post(path, base_url=site, data={"csrf_token": token, "press": "no"})
    assert again.status_code == 303 and "again=1" in again.headers["Location"]
    assert [r.purpose for r in records(app, source="parent_link")] == ["social_media"]


def test_the_link_reveals_nothing_of_the_nopublish_list(app, login_as, family):
    from consent.models import Pupil
    from gatekeeper.cli import main
    from gatekeeper.extensions import db

    path = issue(login_as("admin"), family["mum"])
    with app.app_context():
        upn = db.session.get(Pupil, family["pupil"]).upn
    result = app.test_cli_runner().invoke(main, ["nopublish", "add", upn, "--reason",
                                                 "secret court order", "--category",
                                                 "court_order"])
    assert result.exit_code == 0, result.output
    html = Parent(app, path).open().get_data(as_text=True).lower()
    for word in ("protected", "no-publish", "court", "safeguarding"):
        assert word not in html


def test_the_blueprint_opens_only_the_consent_page(app):
    rules = [r for r in app.url_map.iter_rules() if r.endpoint.startswith("parents.")]
    assert [(r.rule, sorted(r.methods - {"HEAD", "OPTIONS"})) for r in rules] == [
        ("/parent/<token>", ["GET", "POST"])]
    assert app.blueprints["parents"].allowed_roles is None  # public: the token is the key


def test_the_link_page_is_not_a_way_into_the_staff_screens(app, login_as, family):
    parent = Parent(app, issue(login_as("admin"), family["mum"]))
    assert parent.open().status_code == 200
    for path in ("/register/", f"/register/pupils/{family['pupil']}", "/nopublish/", "/"):
        response = parent.client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_parent_answering_too_late_sees_the_page_again_with_a_note(app, login_as, family):
    path = issue(login_as("admin"), family["dad"])
    parent = Parent(app, path)
    answer = parent.client.post(path, data={"csrf_token": stale_token(app, parent.client, path),
                                            "social_media": "no"})
    assert answer.status_code == 303 and answer.headers["Location"] == f"{path}?again=1"
    assert records(app, source="parent_link") == []
    html = parent.client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "your answers were not saved. Please choose again." in html
    assert 'name="social_media"' in html
    assert parent.answer(social_media="no").status_code == 302  # a fresh page's answer is saved
    assert [r.status for r in records(app, source="parent_link")] == ["refused"]


def test_a_welsh_schools_parent_is_told_in_welsh(app, login_as, family):
    from consent.models import School
    from gatekeeper.extensions import db

    path = issue(login_as("admin"), family["dad"])
    with app.app_context():
        db.session.get(School, 1).language = "cy"
        db.session.commit()
    parent = Parent(app, path)
    answer = parent.client.post(path, data={"csrf_token": stale_token(app, parent.client, path),
                                            "social_media": "no"})
    html = parent.client.get(answer.headers["Location"]).get_data(as_text=True)
    assert "ni chadwyd eich atebion" in html and "not saved" not in html
    assert records(app, source="parent_link") == []


CONTACTS_HEADER = ("UPN,Contact Person ID,Contact Forename,Contact Surname,Relationship,"
                   "Primary Email\n")


def import_mary(app, school_id: int, upn: str, surname: str):
    """The MIS's contacts export with Mary (contact 5001) under this surname, applied."""
    from gatekeeper.extensions import db
    from gatekeeper.register.actions import import_contacts

    with app.app_context():
        plan = import_contacts(db.session, school_id, (
            CONTACTS_HEADER + f"{upn},5001,Mary,{surname},Mother,mary@example.test\n").encode(),
            apply=True, actor="test")
        db.session.commit()
        return plan


def guardian_id(app) -> int:
    from consent.models import Guardian
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.scalars(select(Guardian.id)).one()


def test_a_parent_renamed_by_the_contacts_import_keeps_her_own_answers(app, school, login_as):
    ava = pupils(app, school["id"], ("Ava", "Thompson", "6", {}))["Ava"]
    import_mary(app, school["id"], ava["upn"], "Thomson")  # her surname misspelt in the MIS
    parent = Parent(app, issue(login_as("admin"), guardian_id(app)))
    parent.answer(social_media="no")
    assert len(import_mary(app, school["id"], ava["upn"], "Thompson").updated) == 1  # corrected
    page = parent.open().get_data(as_text=True)
    assert 'id="answer-social_media">No<' in page  # still her own answer, not "not answered"
    parent.answer(social_media="yes")  # her change of mind counts: not another parent's "no"
    assert decision(app, ava["id"], "social_media").ok


def test_an_answer_typed_by_name_before_the_parent_was_on_the_register_is_theirs(
        app, school, login_as, cli):
    ava = pupils(app, school["id"], ("Ava", "Thompson", "6", {}))["Ava"]
    typed = cli("consent", "set", ava["upn"], "social_media", "refused", "--by", "Mary Thompson")
    assert typed.exit_code == 0, typed.output
    assert not decision(app, ava["id"], "social_media").ok
    import_mary(app, school["id"], ava["upn"], "Thompson")  # now she is on the register
    assert [r.guardian_id for r in records(app)] == [guardian_id(app)]
    parent = Parent(app, issue(login_as("admin"), guardian_id(app)))
    assert 'id="answer-social_media">No<' in parent.open().get_data(as_text=True)
    parent.answer(social_media="yes")
    assert decision(app, ava["id"], "social_media").ok


def test_a_parents_no_while_the_queue_is_down_is_saved_and_said_so(app, login_as, family):
    """The answer is committed before the notice is queued: with the queue down, the parent is
    thanked, not told that nothing was saved."""
    from gatekeeper.worker.queue import configure_queue

    post_id = queued_post(app, 1, [family["pupil"]])
    parent = Parent(app, issue(login_as("admin"), family["mum"]))
    html = parent.open().get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    app.config.update(HUEY_IMMEDIATE=False, REDIS_URL="redis://127.0.0.1:1/0")  # nothing there
    configure_queue(app)
    try:
        answer = parent.client.post(parent.path, data={"csrf_token": token, "social_media": "no"})
    finally:
        app.config.update(HUEY_IMMEDIATE=True, REDIS_URL="")
        configure_queue(app)
    assert answer.status_code == 302
    assert [(r.purpose, r.status) for r in records(app, source="parent_link")] == [
        ("social_media", "withdrawn")]
    assert post_state(app, post_id) == "withdrawn"
    assert "your answers are saved" in parent.open().get_data(as_text=True)


@pytest.mark.parametrize("how", ["replaced", "expired"])
def test_a_welsh_schools_old_link_is_refused_in_welsh(app, login_as, family, how):
    from consent.models import School
    from gatekeeper.extensions import db

    admin = login_as("admin")
    old = issue(admin, family["mum"])
    if how == "replaced":
        issue(admin, family["mum"])  # a reminder round's link replaces the first
    else:
        app.config["PARENT_LINK_DAYS"] = -1
    with app.app_context():
        db.session.get(School, 1).language = "cy"
        db.session.commit()
    page = Parent(app, old).open()
    assert page.status_code == (404 if how == "replaced" else 410)
    html = page.get_data(as_text=True)
    assert '<html lang="cy">' in html and "Ask the school office" not in html
