"""The register's admin screens through the web client: list and matrix, pupil page, paper form,
biometric consent, leaving, guardians, renewals; every change audited, withdrawals pulling posts."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from sqlalchemy import select

from consent import rules
from consent.models import ConsentRecord, Guardian, Pupil, ReferenceFace
from gatekeeper.models import AuditEvent, OfficialAccount, Photo, Post
from gatekeeper.register.forms import today
from tests.support.fixtures import add_pupil

ALL = ("website", "social_media", "newsletter", "press", "internal_display")


# Helpers shared by the register's integration tests (imported by test_register_*.py).

def pupils(app, school_id: int, *specs) -> dict[str, dict]:
    """Pupils from (first, last, year, {purpose: status}); returns {first: {id, upn}}."""
    from gatekeeper.extensions import db

    made = {}
    with app.app_context():
        for index, (first, last, year, consents) in enumerate(specs, start=1):
            pupil = add_pupil(db.session, school_id, index, first, last, consents=consents,
                              year=year)
            made[first] = {"id": pupil.id, "upn": pupil.upn}
    return made


def queued_post(app, school_id: int, pupil_ids: list[int], state: str = "queued") -> int:
    """A released post (on the test school's social media account) showing the pupils."""
    from gatekeeper.extensions import db

    with app.app_context():
        account = db.session.scalar(select(OfficialAccount).where(
            OfficialAccount.school_id == school_id))
        photo = Photo(school_id=school_id, purpose=account.purpose, status=state)
        db.session.add(photo)
        db.session.flush()
        post = Post(school_id=school_id, photo_id=photo.id, account_id=account.id,
                    pupil_ids_json=json.dumps(pupil_ids), state=state)
        db.session.add(post)
        db.session.commit()
        return post.id


def enrolled_faces(app, pupil_id: int, count: int = 2) -> None:
    """Reference face rows (sealed bytes stand-ins: these tests count and delete, never match)."""
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = db.session.get(Pupil, pupil_id)
        for _ in range(count):
            db.session.add(ReferenceFace(school_id=pupil.school_id, pupil_id=pupil.id,
                                         encoding_encrypted=b"sealed", created_by="test"))
        db.session.commit()


def actions_logged(app, action: str) -> list[AuditEvent]:
    from gatekeeper.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                       .order_by(AuditEvent.id)))


def decision(app, pupil_id: int, purpose: str) -> rules.Decision:
    from consent.services import pupil_facts
    from gatekeeper.extensions import db

    with app.app_context():
        return rules.decide(pupil_facts(db.session.get(Pupil, pupil_id)), purpose, today())


def post_state(app, post_id: int) -> str:
    from gatekeeper.extensions import db

    with app.app_context():
        return db.session.get(Post, post_id).state


@pytest.fixture
def register(app, school):
    return pupils(app, school["id"],
                  ("Ava", "Thompson", "6", {"social_media": "granted", "website": "granted"}),
                  ("Ben", "Okafor", "5", {"social_media": "refused"}),
                  ("Cara", "Williams", "5", {}))


def page(browser, path: str) -> str:
    response = browser.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def test_list_shows_the_matrix_in_words_as_well_as_colour(login_as, register):
    html = page(login_as("admin"), "/register/")
    assert "Thompson, Ava" in html and "Okafor, Ben" in html
    assert "✔ yes" in html and "consent granted" in html
    assert "✘ no" in html and "consent refused" in html and "no consent recorded" in html


def test_search_takes_every_word_and_the_upn(login_as, register):
    admin = login_as("admin")
    assert "Okafor" not in page(admin, "/register/?q=ava+thom")
    assert "Thompson, Ava" in page(admin, "/register/?q=ava+thom")
    assert "Okafor, Ben" in page(admin, f"/register/?q={register['Ben']['upn'].lower()}")
    by_year = page(admin, "/register/?year=5")
    assert "Okafor, Ben" in by_year and "Williams, Cara" in by_year and "Thompson" not in by_year


def test_search_and_order_set_accents_apostrophes_and_case_aside(app, login_as, school):
    pupils(app, school["id"], ("Siôn", "ap Dafydd", "4", {}), ("Zoë", "O'Brien", "4", {}),
           ("Ava", "Zephaniah", "4", {}), ("Ben", "Évans", "4", {}))
    admin = login_as("admin")
    # An iPad types no circumflex by default and makes every apostrophe a curly one.
    assert "ap Dafydd, Siôn" in page(admin, "/register/?q=sion+dafydd")
    assert "O&#39;Brien, Zoë" in page(admin, "/register/?q=zoe+o%E2%80%99brien")
    assert "Évans, Ben" in page(admin, "/register/?q=EVANS")
    # Surnames are listed as a school's office files them: "ap" and "É" with the a's and e's.
    listed = page(admin, "/register/?year=4")
    order = [listed.index(name) for name in ("ap Dafydd", "Évans", "O&#39;Brien", "Zephaniah")]
    assert order == sorted(order)


def test_leavers_are_hidden_unless_asked_for(app, login_as, register):
    admin = login_as("admin")
    admin.post(f"/register/pupils/{register['Cara']['id']}/leave",
               {"leaving-left_on": today().isoformat()})
    assert "Williams, Cara" not in page(admin, "/register/")
    assert "Williams, Cara" in page(admin, "/register/?leavers=1")


def test_pupil_page_shows_status_reasons_history_faces_and_posts(app, login_as, register):
    ava = register["Ava"]
    post = queued_post(app, 1, [ava["id"]])
    enrolled_faces(app, ava["id"], 3)
    html = page(login_as("head"), f"/register/pupils/{ava['id']}")
    assert "Publishable today" in html and "consent granted" in html
    assert f"until {rules.default_expiry(today()):%d/%m/%Y}" in html
    assert "no consent recorded" in html  # newsletter, press, display
    assert html.count("Parent of Ava") >= 2  # the two records in the history
    assert "Reference faces enrolled: 3." in html
    assert f'src="/register/posts/{post}/image"' in html and "Waiting to post" in html


def test_pupil_of_another_school_is_not_found(app, login_as, register):
    from gatekeeper.extensions import db
    from tests.support.fixtures import make_school

    with app.app_context():
        other = make_school(db.session, "Other School")
        stranger = add_pupil(db.session, other.id, 50, "Zed", "Stranger")
        stranger_id = stranger.id
    assert login_as("admin").get(f"/register/pupils/{stranger_id}").status_code == 404


def paper(browser, pupil_id: int, **fields):
    data = {"giver": "new", "new_name": "Jane Okafor", "new_relationship": "parent",
            "form_date": today().isoformat(), "evidence_ref": "form 2026/17", "same_for_all": ""}
    data.update(fields)
    return browser.post(f"/register/pupils/{pupil_id}/form", data)


def test_paper_form_same_for_all_purposes_with_one_exception(app, login_as, register):
    ben = register["Ben"]
    admin = login_as("admin")
    assert "The same for all purposes" in page(admin, f"/register/pupils/{ben['id']}/form")
    response = paper(admin, ben["id"], same_for_all="granted", purpose_press="refused")
    assert response.status_code == 302
    from gatekeeper.extensions import db

    with app.app_context():
        guardian = db.session.scalar(select(Guardian).where(Guardian.pupil_id == ben["id"]))
        assert (guardian.name, guardian.relationship_to_pupil) == ("Jane Okafor", "parent")
        records = db.session.scalars(select(ConsentRecord).where(
            ConsentRecord.guardian_id == guardian.id)).all()
    assert {r.purpose: r.status for r in records} == {
        **dict.fromkeys(ALL, "granted"), "press": "refused"}
    assert {(r.source, r.evidence_ref, r.form_date) for r in records} == {
        ("paper", "form 2026/17", today())}
    # The other parent's refusal (the fixture's record) still stands for social media.
    assert decision(app, ben["id"], "social_media").reason == "consent refused"
    assert decision(app, ben["id"], "website").ok
    assert len(actions_logged(app, "consent_recorded")) >= 5
    assert len(actions_logged(app, "guardian_added")) == 1


def test_a_correction_is_a_new_record_and_the_latest_counts(app, login_as, register):
    ava = register["Ava"]
    admin = login_as("admin")
    from gatekeeper.extensions import db

    def website_records():
        with app.app_context():
            return [(r.id, r.status, r.given_by, r.recorded_at) for r in db.session.scalars(
                select(ConsentRecord).where(ConsentRecord.pupil_id == ava["id"],
                                            ConsentRecord.purpose == "website")
                .order_by(ConsentRecord.id))]

    first = website_records()
    # The parent who gave the fixture's grant, now on the register, refuses: it supersedes.
    paper(admin, ava["id"], new_name="Parent of Ava", purpose_website="refused")
    assert decision(app, ava["id"], "website").reason == "consent refused"
    with app.app_context():
        guardian = db.session.scalar(select(Guardian).where(Guardian.name == "Parent of Ava"))
    paper(admin, ava["id"], giver=str(guardian.id), purpose_website="granted")
    assert decision(app, ava["id"], "website").ok
    rows = website_records()
    assert rows[0] == first[0]  # never edited in place
    assert [(r[1], r[2]) for r in rows] == [("granted", "Parent of Ava"),
                                            ("refused", "Parent of Ava"),
                                            ("granted", "Parent of Ava")]


def test_an_older_yes_keyed_in_late_does_not_undo_the_same_parents_later_no(app, login_as,
                                                                            register):
    ava = register["Ava"]
    admin = login_as("admin")
    paper(admin, ava["id"], new_name="Parent of Ava", purpose_website="withdrawn")
    from gatekeeper.extensions import db

    with app.app_context():
        guardian = db.session.scalar(select(Guardian).where(Guardian.name == "Parent of Ava"))
        before = len(db.session.scalars(select(ConsentRecord)).all())
    # The form they signed weeks earlier comes back from a book bag and is keyed in now.
    signed = today() - dt.timedelta(days=40)
    response = paper(admin, ava["id"], giver=str(guardian.id), form_date=signed.isoformat(),
                     purpose_press="granted", purpose_website="granted")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert ("Parent of Ava answered “withdrawn” for website on " + today().strftime("%d/%m/%Y")
            in html)
    assert "form 2026/17" in html  # what the admin typed is still there
    assert decision(app, ava["id"], "website").reason == "consent withdrawn"
    with app.app_context():
        assert len(db.session.scalars(select(ConsentRecord)).all()) == before  # press neither
    # A form signed since says yes again.
    assert paper(admin, ava["id"], giver=str(guardian.id),
                 purpose_website="granted").status_code == 302
    assert decision(app, ava["id"], "website").ok


def test_a_yes_from_a_contact_without_parental_responsibility_is_refused(app, login_as,
                                                                        register):
    cara = register["Cara"]["id"]
    from gatekeeper.extensions import db

    with app.app_context():  # the MIS's contacts export says the childminder has none
        minder = Guardian(school_id=1, pupil_id=cara, name="Pat Minder",
                          relationship_to_pupil="carer", parental_responsibility=False)
        db.session.add(minder)
        db.session.commit()
        minder_id = minder.id
    admin = login_as("admin")
    response = paper(admin, cara, giver=str(minder_id), same_for_all="granted")
    assert response.status_code == 200
    assert "Pat Minder has no parental responsibility" in response.get_data(as_text=True)
    assert not decision(app, cara, "website").ok
    with app.app_context():
        assert not db.session.scalars(select(ConsentRecord).where(
            ConsentRecord.pupil_id == cara)).all()
    # Their "no" is still respected.
    assert paper(admin, cara, giver=str(minder_id), purpose_press="refused").status_code == 302
    assert decision(app, cara, "press").reason == "consent refused"


def test_a_yes_recorded_before_the_mis_said_no_responsibility_stops_counting(app, login_as,
                                                                             register):
    """The childminder's "yes" was keyed in before the contacts import said she has no parental
    responsibility: it went on making the child publishable (the rules never saw it)."""
    from consent.services import publishable_pupils
    from gatekeeper.extensions import db

    cara = register["Cara"]["id"]
    with app.app_context():
        minder = Guardian(school_id=1, pupil_id=cara, name="Pat Minder",
                          relationship_to_pupil="carer")
        db.session.add(minder)
        db.session.commit()
        minder_id = minder.id
    admin = login_as("admin")
    assert paper(admin, cara, giver=str(minder_id), same_for_all="granted").status_code == 302
    assert decision(app, cara, "website").ok
    with app.app_context():  # the next contacts import: no parental responsibility
        db.session.get(Guardian, minder_id).parental_responsibility = False
        db.session.commit()
        assert cara not in publishable_pupils(db.session, 1, "website", today())
    assert decision(app, cara, "website").reason == "no consent recorded"
    assert "no consent recorded" in page(admin, f"/register/pupils/{cara}")


def test_withdrawal_on_a_paper_form_pulls_the_posts_at_once(app, login_as, register):
    ava = register["Ava"]
    post = queued_post(app, 1, [ava["id"]])
    paper(login_as("admin"), ava["id"], purpose_social_media="withdrawn")
    assert post_state(app, post) == "withdrawn"
    assert not decision(app, ava["id"], "social_media").ok
    assert actions_logged(app, "post_withdrawn")


def test_the_pupils_own_objection_is_recorded_and_overrides(app, login_as, register):
    ava = register["Ava"]
    paper(login_as("admin"), ava["id"], giver="pupil", same_for_all="refused")
    assert decision(app, ava["id"], "website").reason == "the pupil has objected"


def test_an_empty_paper_form_is_refused_in_welsh_on_the_welsh_interface(login_as, register):
    admin = login_as("admin")
    admin.post("/auth/language/cy", {"next": "/register/"})
    html = paper(admin, register["Cara"]["id"]).get_data(as_text=True)
    assert "dewiswch ateb ar gyfer o leiaf un diben" in html
    assert "choose an answer" not in html


@pytest.mark.parametrize("fields, problem", [
    ({"new_name": ""}, "Give the name of the parent or carer."),
    ({"form_date": "tomorrow"}, "cannot be in the future"),
    ({}, "choose an answer for at least one purpose"),
    ({"expires_on": "2001-01-01", "same_for_all": "granted"}, "expiry date is before"),
])
def test_a_bad_paper_form_writes_nothing(app, login_as, register, fields, problem):
    if fields.get("form_date") == "tomorrow":  # worked out when the test runs, not when collected
        fields = {"form_date": (today() + dt.timedelta(days=1)).isoformat()}
    response = paper(login_as("admin"), register["Cara"]["id"], **fields)
    assert response.status_code == 200
    assert problem in response.get_data(as_text=True)
    from gatekeeper.extensions import db

    with app.app_context():
        assert not db.session.scalars(select(ConsentRecord).where(
            ConsentRecord.pupil_id == register["Cara"]["id"])).all()
        assert not db.session.scalars(select(Guardian)).all()


def biometric(browser, pupil_id: int, **fields):
    data = {"giver": "new", "new_name": "Sam Thompson", "new_relationship": "parent",
            "form_date": today().isoformat(), "status": "granted", "written": "y"}
    data.update(fields)
    return browser.post(f"/register/pupils/{pupil_id}/biometric", data)


def test_biometric_consent_must_be_written_and_from_a_parent(app, login_as, register):
    admin, cara = login_as("admin"), register["Cara"]["id"]
    assert "tick that you hold" in biometric(admin, cara, written="").get_data(as_text=True)
    refused = biometric(admin, cara, giver="pupil", status="withdrawn").get_data(as_text=True)
    assert "biometric consent itself is given in writing by a parent" in refused
    assert biometric(admin, cara).status_code == 302
    assert "Enrolment: <strong>allowed</strong>" in page(admin, f"/register/pupils/{cara}")


def test_a_pupil_who_objected_may_take_the_objection_back(app, login_as, register):
    """A pupil's objection stopped enrolment for good: the form let a pupil only object, so a
    child who changed their mind (with a parent's written consent) could never be enrolled. A
    pupil's own word never stands for a parent's consent."""
    admin, cara = login_as("admin"), register["Cara"]["id"]
    assert biometric(admin, cara, giver="pupil", status="granted").status_code == 302
    assert "Enrolment: <strong>not allowed</strong>" in page(admin, f"/register/pupils/{cara}")
    assert biometric(admin, cara).status_code == 302  # the parent's written consent
    assert biometric(admin, cara, giver="pupil", status="objected").status_code == 302
    assert "Enrolment: <strong>not allowed</strong>" in page(admin, f"/register/pupils/{cara}")
    assert biometric(admin, cara, giver="pupil", status="granted").status_code == 302
    html = page(admin, f"/register/pupils/{cara}")
    assert "Enrolment: <strong>allowed</strong>" in html and "objection taken back" in html


def test_a_leaving_recorded_by_mistake_is_taken_back(app, login_as, register):
    """Ava was marked as left instead of Cara: nothing on the web put her back (only a
    whole-school import did), and she stayed unpublishable. The admin puts her back on roll."""
    admin, ava = login_as("admin"), register["Ava"]["id"]
    assert admin.post(f"/register/pupils/{ava}/leave",
                      {"leaving-left_on": today().isoformat()}).status_code == 302
    assert not decision(app, ava, "website").ok
    html = page(admin, f"/register/pupils/{ava}")
    assert f'action="/register/pupils/{ava}/back-on-roll"' in html
    back = admin.post(f"/register/pupils/{ava}/back-on-roll", follow_redirects=True)
    assert "Ava Thompson is on roll again" in back.get_data(as_text=True)
    assert decision(app, ava, "website").ok  # her consent counts again
    assert [e.detail["left_on_was"] for e in actions_logged(app, "pupil_back_on_roll")] == [
        today().isoformat()]
    again = admin.post(f"/register/pupils/{ava}/back-on-roll", follow_redirects=True)
    assert "is on roll" in again.get_data(as_text=True)
    assert len(actions_logged(app, "pupil_back_on_roll")) == 1
    assert login_as("staff").post(f"/register/pupils/{ava}/back-on-roll").status_code == 403


def test_an_objection_deletes_the_reference_faces_at_once(app, login_as, register):
    admin, ava = login_as("admin"), register["Ava"]["id"]
    biometric(admin, ava)
    enrolled_faces(app, ava, 2)
    assert biometric(admin, ava, giver="pupil", status="objected").status_code == 302
    html = page(admin, f"/register/pupils/{ava}")
    assert "Reference faces enrolled: 0." in html and "not allowed" in html
    deleted = actions_logged(app, "reference_faces_deleted")
    assert [e.detail["faces"] for e in deleted] == [2]


def test_leaving_deletes_faces_and_ends_publishing(app, login_as, register):
    ava = register["Ava"]["id"]
    enrolled_faces(app, ava, 1)
    admin = login_as("admin")
    assert admin.post(f"/register/pupils/{ava}/leave",
                      {"leaving-left_on": today().isoformat()}).status_code == 302
    assert decision(app, ava, "website").reason == "has left the school"
    assert "Reference faces enrolled: 0." in page(admin, f"/register/pupils/{ava}")
    assert actions_logged(app, "pupil_left") and actions_logged(app, "reference_faces_deleted")
    again = admin.post(f"/register/pupils/{ava}/leave", {"leaving-left_on": today().isoformat()})
    assert "already left" in page(admin, again.headers["Location"])


def test_delete_faces_by_hand(app, login_as, register):
    ava = register["Ava"]["id"]
    enrolled_faces(app, ava, 2)
    admin = login_as("admin")
    # One tap on an iPad deleted them all: the button only opens the confirmation, which names
    # how many and whose.
    html = page(admin, f"/register/pupils/{ava}")
    details = html[html.index('<details class="d-inline-block delete-faces">'):]
    details = details[:details.index("</details>")]
    assert f'action="/register/pupils/{ava}/faces/delete"' in details
    assert "Delete all 2 reference faces of Ava Thompson now" in details
    admin.post(f"/register/pupils/{ava}/faces/delete")
    assert [e.detail["reason"] for e in actions_logged(app, "reference_faces_deleted")] == [
        "deleted by hand"]


def test_enrol_from_the_pupil_page_needs_biometric_consent(app, login_as, register, faces_dir):
    import io as _io

    admin, ava = login_as("admin"), register["Ava"]["id"]
    photo = (faces_dir / "people" / "obama" / "1.jpg").read_bytes()

    def enrol():
        return admin.client.post(f"/register/pupils/{ava}/faces", data={
            "csrf_token": admin.token, "photos": [(_io.BytesIO(photo), "1.jpg")]},
            content_type="multipart/form-data")

    refused = enrol()
    assert "no written biometric consent" in page(admin, refused.headers["Location"])
    biometric(admin, ava)
    assert "1 reference photo(s) enrolled." in page(admin, enrol().headers["Location"])


def test_guardian_and_the_link_buttons(app, login_as, register):
    admin, ava = login_as("admin"), register["Ava"]["id"]
    admin.post(f"/register/pupils/{ava}/guardians",
               {"guardian-name": "Jo Thompson", "guardian-relationship": "carer",
                "guardian-email": "jo@example.test"})
    html = page(admin, f"/register/pupils/{ava}")
    assert "Jo Thompson" in html and "carer" in html and "Create link" in html
    bad = admin.post(f"/register/pupils/{ava}/guardians", {"guardian-name": "",
                                                            "guardian-email": "nope"})
    assert "Give the parent or carer" in page(admin, bad.headers["Location"])


def grant_lapsing(app, pupil_id: int, purpose: str, days: int, giver: str = "Mum") -> None:
    from consent import services
    from gatekeeper.extensions import db

    with app.app_context():
        pupil = db.session.get(Pupil, pupil_id)
        services.record_consent(db.session, pupil, purpose, "granted", given_by=giver,
                                recorded_by="test", effective_from=today() - dt.timedelta(days=300),
                                expires_on=today() + dt.timedelta(days=days))
        db.session.commit()


def test_renewals_list_csv_and_bulk_renewal(app, login_as, register):
    ava, ben, cara = (register[n]["id"] for n in ("Ava", "Ben", "Cara"))
    grant_lapsing(app, ben, "website", 10)
    grant_lapsing(app, cara, "press", 20)
    grant_lapsing(app, cara, "newsletter", 200)  # not lapsing soon
    admin = login_as("admin")
    html = page(admin, "/register/renewals")
    assert "Okafor" in html and "Williams" in html and "Thompson" not in html
    rows = list(csv.DictReader(io.StringIO(page(admin, "/register/renewals.csv"))))
    assert [(r["Last name"], r["Purposes"], r["Parent or carer"]) for r in rows] == [
        ("Okafor", "School website", "Mum"), ("Williams", "Press", "Mum")]
    assert "website" not in rows[0] and "press" not in rows[1].values()  # labels, not keys
    assert admin.post("/register/renewals", {"pupil_id": [str(cara)],
                                             "evidence_ref": "returned forms"}).status_code == 302
    from gatekeeper.extensions import db

    with app.app_context():
        renewed = db.session.scalars(select(ConsentRecord).where(
            ConsentRecord.source == "renewal")).all()
    assert [(r.pupil_id, r.purpose, r.given_by, r.effective_from) for r in renewed] == [
        (cara, "press", "Mum", today())]
    assert renewed[0].expires_on == rules.renewal_expiry(today() + dt.timedelta(days=20))
    html = page(admin, "/register/renewals")
    assert "Williams" not in html and "Okafor" in html
    assert ava  # Ava's grants run to 31 August: listed only within 30 days of it


def test_a_longer_renewal_window_renews_what_it_lists(app, login_as, register):
    cara = register["Cara"]["id"]
    grant_lapsing(app, cara, "press", 45)
    admin = login_as("admin")
    assert "Williams" not in page(admin, "/register/renewals")
    assert "Williams" in page(admin, "/register/renewals?days=60")
    response = admin.post("/register/renewals?days=60", {"pupil_id": [str(cara)],
                                                         "evidence_ref": "returned forms"})
    from gatekeeper.extensions import db

    with app.app_context():
        renewed = db.session.scalars(select(ConsentRecord).where(
            ConsentRecord.source == "renewal")).all()
    assert [(r.pupil_id, r.purpose) for r in renewed] == [(cara, "press")]
    assert response.headers["Location"].endswith("/register/renewals?days=60")  # still 60 days


def test_consent_that_lapsed_over_the_summer_is_still_on_the_renewals_list(app, login_as,
                                                                           register):
    # Grants lapse on 31 August, in the holidays: in September the forms are still to collect.
    cara = register["Cara"]["id"]
    grant_lapsing(app, cara, "press", -10)
    grant_lapsing(app, register["Ben"]["id"], "press", -40)  # long gone: a new form, not renewal
    admin = login_as("admin")
    html = page(admin, "/register/renewals")
    assert "Williams" in html and "Okafor" not in html
    assert "or lapsed in the last 30 days" in html
    rows = list(csv.DictReader(io.StringIO(page(admin, "/register/renewals.csv"))))
    assert [(r["Last name"], r["Lapses on"]) for r in rows] == [
        ("Williams", (today() - dt.timedelta(days=10)).isoformat())]
    admin.post("/register/renewals", {"pupil_id": [str(cara)], "evidence_ref": "back in Sept"})
    assert decision(app, cara, "press").ok


def test_renewal_csv_cannot_carry_a_formula(app, login_as, register):
    grant_lapsing(app, register["Ben"]["id"], "website", 5, giver="=HYPERLINK(1)")
    rows = list(csv.reader(io.StringIO(page(login_as("admin"), "/register/renewals.csv"))))
    assert rows[1][4] == "'=HYPERLINK(1)"


@pytest.mark.parametrize("role", ["staff", "media_lead"])
def test_other_roles_cannot_open_the_register(login_as, register, role):
    assert login_as(role).get("/register/").status_code == 403


def test_a_grant_from_a_contact_without_parental_responsibility_is_not_renewed(app, login_as,
                                                                               register):
    """The childminder's "yes" was keyed in before the MIS said she has no parental
    responsibility, and lapses soon: it is no consent, so it is no form to collect, and the
    renewal must not record a "yes" from her again."""
    cara = register["Cara"]["id"]
    with app.app_context():
        from consent import services
        from gatekeeper.extensions import db

        minder = Guardian(school_id=1, pupil_id=cara, name="Pat Minder",
                          relationship_to_pupil="carer")
        db.session.add(minder)
        db.session.flush()
        services.record_consent(db.session, db.session.get(Pupil, cara), "press", "granted",
                                given_by="Pat Minder", guardian_id=minder.id, recorded_by="test",
                                effective_from=today() - dt.timedelta(days=300),
                                expires_on=today() + dt.timedelta(days=10))
        minder.parental_responsibility = False  # the next contacts import
        db.session.commit()
    admin = login_as("admin")
    assert "Williams" not in page(admin, "/register/renewals")
    assert list(csv.DictReader(io.StringIO(page(admin, "/register/renewals.csv")))) == []
    admin.post("/register/renewals", {"pupil_id": [str(cara)], "evidence_ref": "forms"})
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalars(select(ConsentRecord).where(
            ConsentRecord.source == "renewal")).all() == []


def test_a_contacts_import_that_takes_away_responsibility_takes_the_posts_down(app, login_as,
                                                                              register):
    """Cara's only "yes" is her carer's. The next contacts export says the carer has no
    parental responsibility: Cara is no longer publishable, so her post that is out comes down
    and the one waiting is held, as for any change to the register; they stayed, as the
    import never said the register had changed."""
    cara = register["Cara"]

    def contacts(responsible: str) -> bytes:
        return ("UPN,Legal Surname,Legal Forename,Contact Person ID,Contact Title,"
                "Contact Forename,Contact Surname,Relationship,Parental Responsibility,Priority,"
                "Primary Email\n"
                f"{cara['upn']},Williams,Cara,7001,Ms,Pat,Minder,Carer,{responsible},1,\n"
                ).encode()

    admin = login_as("admin")
    with app.app_context():
        from gatekeeper.extensions import db
        from gatekeeper.register import actions

        actions.import_contacts(db.session, 1, contacts("Yes"), apply=True, actor="test")
        db.session.commit()
        minder = db.session.scalar(select(Guardian.id).where(Guardian.pupil_id == cara["id"]))
    assert paper(admin, cara["id"], giver=str(minder), same_for_all="granted").status_code == 302
    assert decision(app, cara["id"], "social_media").ok
    out, waiting = queued_post(app, 1, [cara["id"]], "published"), queued_post(app, 1, [cara["id"]])
    with app.app_context():
        plan = actions.import_contacts(db.session, 1, contacts("No"), apply=True, actor="test")
        assert not plan.errors and len(plan.updated) == 1
        db.session.commit()
    assert decision(app, cara["id"], "social_media").reason == "no consent recorded"
    assert post_state(app, out) == "withdrawn"
    assert post_state(app, waiting) == "held"
