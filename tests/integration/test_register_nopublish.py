"""The no-publish list: the DSL adds and removes entries with their reasons and history; every other
role, on every page it can open, sees only "protected — do not publish" and never the reason."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from consent.models import Guardian, NoPublishEntry
from gatekeeper.models import AuditEvent, Face, Photo, Post
from gatekeeper.register.forms import today
from tests.integration.test_register_screens import decision, page, post_state, pupils, queued_post

NOTE = "Court order of 3 March: father must not learn the school"
REMOVAL = "Order discharged by the family court"
CATEGORY_WORDS = ("court order", "court_order")


def biometric_granted(session, pupil_id: int) -> None:
    """Ava's parent agrees to her face being matched: her reference faces may be kept."""
    from consent import services
    from consent.models import Pupil

    services.record_biometric(session, session.get(Pupil, pupil_id), "granted",
                              given_by="Parent of Ava", recorded_by="test")


@pytest.fixture
def register(app, school):
    return pupils(app, school["id"],
                  ("Ava", "Thompson", "6", {"social_media": "granted", "website": "granted"}),
                  ("Ben", "Okafor", "5", {"social_media": "granted"}))


def add(dsl, upn: str, **fields):
    data = {"pupil": upn, "category": "court_order", "note": NOTE,
            "starts_on": today().isoformat(), "ends_on": ""}
    data.update(fields)
    return dsl.post("/nopublish/", data)


def entries(app) -> list[NoPublishEntry]:
    from gatekeeper.extensions import db

    with app.app_context():
        return list(db.session.scalars(select(NoPublishEntry).order_by(NoPublishEntry.id)))


def test_dsl_adds_a_pupil_who_is_then_blocked_and_whose_posts_are_pulled(app, login_as,
                                                                          register):
    ava = register["Ava"]
    post = queued_post(app, 1, [ava["id"]])
    dsl = login_as("dsl")
    assert add(dsl, ava["upn"].lower()).status_code == 302
    (entry,) = entries(app)
    assert (entry.category, entry.note, entry.starts_on, entry.ends_on) == (
        "court_order", NOTE, today(), None)
    for purpose in ("website", "social_media", "press"):
        assert decision(app, ava["id"], purpose).reason == "protected — do not publish"
    assert post_state(app, post) == "withdrawn"
    listing = page(dsl, "/nopublish/")
    assert NOTE in listing and "court order" in listing and "active" in listing


def test_the_dsl_finds_a_child_by_the_whole_name_as_typed_on_an_ipad(app, login_as, school):
    made = pupils(app, school["id"], ("Siôn", "ap Dafydd", "4", {}),
                  ("Zoë", "O'Brien", "4", {}), ("Mary Jane", "Smith-Jones", "2", {}))
    dsl = login_as("dsl")

    def found(text: str) -> list[str]:
        return [p["label"].split(",")[0] for p in dsl.get(
            "/nopublish/pupils", query_string={"q": text}).get_json()["pupils"]]

    assert found("Siôn ap Dafydd") == found("sion dafydd") == ["Siôn ap Dafydd"]
    assert found("Zoe O’Brien") == ["Zoë O'Brien"]  # no diaeresis, a curly apostrophe
    assert found("jane jones") == ["Mary Jane Smith-Jones"]
    assert add(dsl, "Sion ap Dafydd").status_code == 302
    (entry,) = entries(app)
    assert entry.pupil_id == made["Siôn"]["id"]


def test_no_reason_reaches_the_audit_trail(app, login_as, register):
    add(login_as("dsl"), register["Ava"]["upn"])
    from gatekeeper.extensions import db

    with app.app_context():
        for event in db.session.scalars(select(AuditEvent)):
            assert NOTE not in event.detail_json and "court" not in event.detail_json


def test_removal_closes_the_entry_and_keeps_it_as_history(app, login_as, register):
    ava = register["Ava"]
    dsl = login_as("dsl")
    add(dsl, ava["upn"], category="safeguarding")
    add(dsl, ava["upn"], category="looked_after")
    first, second = entries(app)
    assert dsl.post(f"/nopublish/{first.id}/remove", {"reason": REMOVAL}).status_code == 302
    assert decision(app, ava["id"], "website").reason == "protected — do not publish"
    dsl.post(f"/nopublish/{second.id}/remove", {"reason": "no longer needed"})
    assert decision(app, ava["id"], "website").ok
    closed = entries(app)
    assert all(e.removed_at and e.removed_by for e in closed)
    assert [e.removal_reason for e in closed] == [REMOVAL, "no longer needed"]
    assert REMOVAL in page(dsl, "/nopublish/")
    again = dsl.post(f"/nopublish/{first.id}/remove", {"reason": "twice"})
    assert "already removed" in page(dsl, again.headers["Location"])


def test_an_ended_entry_no_longer_protects(app, login_as, register):
    from gatekeeper.extensions import db

    ava = register["Ava"]
    with app.app_context():  # an entry whose last day has since passed
        db.session.add(NoPublishEntry(school_id=1, pupil_id=ava["id"], category="court_order",
                                      note=NOTE, starts_on=today() - dt.timedelta(days=60),
                                      ends_on=today() - dt.timedelta(days=1), added_by="dsl"))
        db.session.commit()
    assert decision(app, ava["id"], "website").ok
    assert "ended" in page(login_as("dsl"), "/nopublish/")


def test_an_entry_that_is_over_before_it_is_written_is_refused(app, login_as, register):
    """The DSL copies an order's dates and the last day has passed (a year typed wrong): the
    child would not be protected at all, yet the page said so and pulled their posts."""
    ava = register["Ava"]
    post = queued_post(app, 1, [ava["id"]])
    dsl = login_as("dsl")
    response = add(dsl, ava["upn"], starts_on=(today() - dt.timedelta(days=300)).isoformat(),
                   ends_on=(today() - dt.timedelta(days=1)).isoformat())
    assert response.status_code == 400
    assert "The end date has passed: the pupil would not be protected." in response.get_data(
        as_text=True)
    assert entries(app) == [] and post_state(app, post) == "queued"
    today_ends = add(dsl, ava["upn"], ends_on=today().isoformat())  # protected today, still
    assert today_ends.status_code == 302
    assert decision(app, ava["id"], "website").reason == "protected — do not publish"
    from consent import services
    from consent.models import Pupil
    from gatekeeper.extensions import db

    with app.app_context():  # any other caller of the register gets the same answer
        with pytest.raises(services.RegisterError, match="end date has passed"):
            services.add_nopublish(db.session, db.session.get(Pupil, ava["id"]),
                                   category="other", note="", added_by="dsl",
                                   starts_on=today() - dt.timedelta(days=9),
                                   ends_on=today() - dt.timedelta(days=2))


@pytest.mark.parametrize("fields, problem", [
    ({"pupil": "X000000000000"}, "No pupil called “X000000000000” at this school."),
    ({"pupil": "Zebedee"}, "No pupil called “Zebedee” at this school."),
    ({"ends_on": "2020-01-01"}, "The end date is before the start date."),
    ({"category": "gossip"}, "Not a valid choice"),
    ({"pupil": ""}, "Type the pupil&#39;s name or UPN."),
    ({"pupil_id": "999999"}, "no such pupil at this school"),
    ({"pupil_id": "ava"}, "Not a valid integer value."),
])
def test_bad_entries_write_nothing(app, login_as, register, fields, problem):
    response = add(login_as("dsl"), register["Ava"]["upn"], **fields)
    assert response.status_code == 400
    assert problem in response.get_data(as_text=True)
    assert entries(app) == []


@pytest.mark.parametrize("role", ["admin", "head", "staff", "media_lead"])
def test_only_the_dsl_opens_the_list(login_as, register, role):
    browser = login_as(role)
    assert browser.get("/nopublish/").status_code == 403
    assert browser.post("/nopublish/", {"pupil": register["Ava"]["upn"]}).status_code == 403


def concrete(rule, ident: int) -> str:
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>",
                  lambda m: "cy" if m.group(1) == "lang" else str(ident), rule.rule)


@pytest.fixture
def protected_everywhere(app, school, login_as, register):
    """Ava on the list (one active entry, one removed), in a photo, a post and with a guardian."""
    from gatekeeper.extensions import db

    ava = register["Ava"]
    dsl = login_as("dsl")
    add(dsl, ava["upn"], category="looked_after", note="first note")
    (old,) = entries(app)
    dsl.post(f"/nopublish/{old.id}/remove", {"reason": REMOVAL})
    add(dsl, ava["upn"])
    post_id = queued_post(app, school["id"], [ava["id"]], state="published")
    with app.app_context():
        photo = db.session.scalar(select(Photo))
        db.session.add(Face(school_id=school["id"], photo_id=photo.id, index=0, top=1, right=2,
                            bottom=3, left=0, status="blocked", pupil_id=ava["id"]))
        guardian = Guardian(school_id=school["id"], pupil_id=ava["id"], name="Parent of Ava")
        db.session.add(guardian)
        db.session.commit()
        ids = {ava["id"], photo.id, post_id, guardian.id, old.id, 1}
    return ids


SECRETS = (NOTE, REMOVAL, "first note", *CATEGORY_WORDS, "looked after", "looked_after")


@pytest.mark.parametrize("role", ["admin", "head", "staff", "media_lead"])
def test_no_other_role_ever_sees_the_reason(app, login_as, protected_everywhere, role):
    browser = login_as(role)
    opened = 0
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.rule.startswith(("/static", "/bootstrap")):
            continue
        for ident in protected_everywhere:
            response = browser.get(concrete(rule, ident))
            if response.status_code != 200 or response.mimetype.startswith("image/"):
                continue
            opened += 1
            body = response.get_data(as_text=True)
            for secret in SECRETS:
                assert secret.lower() not in body.lower(), (role, rule.rule, ident, secret)
    assert opened >= 2, opened  # not vacuous: staff can open few pages, the others many


def test_admin_and_head_see_that_the_pupil_is_protected(app, login_as, register,
                                                        protected_everywhere):
    ava = register["Ava"]["id"]
    for role in ("admin", "head"):
        browser = login_as(role)
        assert "protected — do not publish" in page(browser, f"/register/pupils/{ava}")
        assert "protected — do not publish" in page(browser, "/register/")
        assert "No-publish list" not in page(browser, f"/register/pupils/{ava}")


def test_cli_add_and_remove_by_upn_are_on_the_same_list(app, login_as, register):
    from gatekeeper.cli import main

    upn = register["Ben"]["upn"]
    runner = app.test_cli_runner()
    added = runner.invoke(main, ["nopublish", "add", upn, "--reason", NOTE,
                                 "--category", "parental_request"])
    assert added.exit_code == 0, added.output
    assert "protected" in decision(app, register["Ben"]["id"], "website").reason
    assert NOTE in page(login_as("dsl"), "/nopublish/")
    removed = runner.invoke(main, ["nopublish", "remove", upn, "--reason", REMOVAL])
    assert removed.exit_code == 0, removed.output
    assert decision(app, register["Ben"]["id"], "social_media").ok
    assert [e.removal_reason for e in entries(app)] == [REMOVAL]
    assert entries(app)[0].starts_on == today()
    assert entries(app)[0].removed_at <= dt.datetime.now(dt.UTC).replace(tzinfo=None)


def leaves_on_the_web(app, login_as, pupil):
    assert login_as("admin").post(f"/register/pupils/{pupil['id']}/leave", {
        "leaving-left_on": today().isoformat()}).status_code == 302


def withdraws_biometric_consent(app, login_as, pupil):
    from gatekeeper.cli import main

    done = app.test_cli_runner().invoke(main, ["consent", "biometric", pupil["upn"], "withdrawn",
                                               "--by", "Parent of Ava"])
    assert done.exit_code == 0, done.output


def has_faces_deleted(app, login_as, pupil):
    assert login_as("admin").post(
        f"/register/pupils/{pupil['id']}/faces/delete").status_code == 302


def leaves_by_the_mis_import(app, login_as, pupil):
    from gatekeeper.extensions import db
    from gatekeeper.register import actions

    export = (b"upn,first_name,last_name,date_of_birth,year_group\n"
              + f"{pupil['other_upn']},Ben,Okafor,2016-02-02,5\n".encode())
    with app.app_context():
        plan = actions.import_pupils(db.session, 1, export, purposes=("social_media",),
                                     today=today(), full=True, apply=True, actor="test",
                                     confirmed_leavers=1)
        assert [p.upn for p in plan.leaving] == [pupil["upn"]]
        db.session.commit()


@pytest.mark.parametrize("goes", [leaves_on_the_web, withdraws_biometric_consent,
                                  has_faces_deleted, leaves_by_the_mis_import])
def test_a_protected_pupils_photos_stay_blocked_when_their_reference_faces_go(
        app, login_as, register, goes):
    """Ava, on the list, is blocked in a photo waiting for review. Her reference faces then go
    (she leaves, her parents withdraw biometric consent, someone deletes them): the rule can no
    longer match her, but her face must not turn into an unknown one that the media lead may
    call "not a pupil" and release."""
    import numpy as np

    from gatekeeper.extensions import db
    from tests.support.publishing import enrol_made_up_face, release, screened_photo

    ava = register["Ava"]
    add(login_as("dsl"), ava["upn"])
    look = np.random.default_rng(5).normal(0, 0.1, 128)
    with app.app_context():

        biometric_granted(db.session, ava["id"])
        enrol_made_up_face(db.session, 1, ava["id"], look + 0.01)
        db.session.commit()
        photo_id = screened_photo(db.session, 1, [look])
        face_id = db.session.get(Photo, photo_id).faces[0].id
    assert face_state(app, face_id) == ("blocked", "blocked")
    goes(app, login_as, {**ava, "other_upn": register["Ben"]["upn"]})
    assert face_state(app, face_id) == ("blocked", "blocked")
    media = login_as("media_lead")
    shown = media.get(f"/review/{photo_id}").get_data(as_text=True)
    assert "Protected: must not be published." in shown
    assert "Ava" not in shown and "Thompson" not in shown  # nor is the media lead told who
    media.post(f"/review/{photo_id}/faces/{face_id}", {"resolution": "not_pupil"})
    release(media, photo_id, 1, "Sports day")
    assert face_state(app, face_id) == ("blocked", "blocked")
    with app.app_context():
        assert db.session.scalar(select(Post.id)) is None
        [event] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "face_named_before_references_removed")).all()
        assert event.detail["pupil_id"] == ava["id"] and event.detail["photo_id"] == photo_id
    blurred = media.post(f"/review/{photo_id}/faces/{face_id}", {"resolution": "blur"})
    assert blurred.status_code == 302  # a blur still lets the photo go
    assert face_state(app, face_id)[0] == "cleared"


def face_state(app, face_id: int) -> tuple[str, str]:
    from gatekeeper.extensions import db

    with app.app_context():
        face = db.session.get(Face, face_id)
        return face.photo.status, face.status


def test_a_held_post_taken_back_to_review_keeps_a_protected_leavers_face_blocked(
        app, login_as, register):
    """A photo of Ben was released for later. Ava, who looks like him, went on the list: the post
    was held, its photo still queued. Ava then left, and her reference faces went; the media lead
    took the held post back to review, where the face, no longer near anyone protected, cleared
    as Ben again and the photo could be released, though it may be Ava."""
    import numpy as np

    from gatekeeper.extensions import db
    from tests.support.publishing import enrol_made_up_face, release, screened_photo

    ava, ben = register["Ava"], register["Ben"]
    look = np.random.default_rng(7).normal(0, 0.1, 128)
    with app.app_context():

        biometric_granted(db.session, ava["id"])
        enrol_made_up_face(db.session, 1, ben["id"], look + 0.001)
        db.session.commit()
        photo_id = screened_photo(db.session, 1, [look])
        face_id = db.session.get(Photo, photo_id).faces[0].id
    assert face_state(app, face_id) == ("cleared", "cleared")
    media = login_as("media_lead")
    assert release(media, photo_id, 1, "Sports day", "2099-06-01T09:30").status_code == 302
    with app.app_context():  # Ava is enrolled afterwards, 0.25 from the face
        enrol_made_up_face(db.session, 1, ava["id"], look + 0.25 / np.sqrt(128))
        db.session.commit()
    assert add(login_as("dsl"), ava["upn"]).status_code == 302
    with app.app_context():
        post = db.session.scalar(select(Post).where(Post.photo_id == photo_id))
        post_id = post.id
        assert (post.state, post.photo.status) == ("held", "queued")
    leaves_on_the_web(app, login_as, ava)
    assert media.post(f"/queue/{post_id}/back-to-review").status_code == 302
    assert face_state(app, face_id) == ("blocked", "blocked")
    media.post(f"/review/{photo_id}/faces/{face_id}", {"resolution": "not_pupil"})
    release(media, photo_id, 1, "Sports day")
    with app.app_context():
        assert db.session.scalars(select(Post.state).where(Post.photo_id == photo_id)).all() == [
            "withdrawn"]


@pytest.mark.parametrize("said", [{"resolution": "pupil", "pupil": "Ben"},
                                  {"resolution": "not_pupil"}])
def test_a_face_a_person_decided_stays_blocked_when_a_protected_pupils_references_go(
        app, login_as, register, said):
    """The media lead said who an unknown face was (Ben, or nobody of the school). Ava was then
    enrolled and put on the list, and the rule blocked the face as her. When her reference faces
    went, the face was left with the person's earlier word, Ben or "not a pupil", and the photo
    could be released, though it may be Ava."""
    import numpy as np

    from gatekeeper.extensions import db
    from tests.support.publishing import enrol_made_up_face, release, screened_photo

    ava, ben = register["Ava"], register["Ben"]
    look = np.random.default_rng(9).normal(0, 0.1, 128)
    with app.app_context():

        biometric_granted(db.session, ava["id"])
        photo_id = screened_photo(db.session, 1, [look])
        face_id = db.session.get(Photo, photo_id).faces[0].id
    assert face_state(app, face_id) == ("needs_review", "unknown")
    media = login_as("media_lead")
    form = {**said, "pupil_id": str(ben["id"])} if "pupil" in said else said
    assert media.post(f"/review/{photo_id}/faces/{face_id}", form).status_code == 302
    assert face_state(app, face_id)[0] == "cleared"
    with app.app_context():
        enrol_made_up_face(db.session, 1, ava["id"], look + 0.25 / np.sqrt(128))
        db.session.commit()
    assert add(login_as("dsl"), ava["upn"]).status_code == 302
    assert face_state(app, face_id) == ("blocked", "blocked")
    leaves_on_the_web(app, login_as, ava)
    assert face_state(app, face_id) == ("blocked", "blocked")
    release(media, photo_id, 1, "Sports day")

def test_a_protected_pupils_photos_stay_blocked_when_an_import_that_brought_them_back_is_undone(
        app, login_as, register):
    """Ava, on the list, left with an import and came back with the next; a photo of her waiting
    for review is blocked. Undoing that second import takes her off roll again and seals her
    reference faces: her face must not turn into an unknown one the media lead may release."""
    import numpy as np

    from consent.models import ImportBatch, Pupil
    from gatekeeper.extensions import db
    from gatekeeper.register import actions
    from tests.support.publishing import enrol_made_up_face, release, screened_photo

    ava, ben = register["Ava"], register["Ben"]
    add(login_as("dsl"), ava["upn"])
    look = np.random.default_rng(5).normal(0, 0.1, 128)
    rows = {"Ava": f"{ava['upn']},Ava,Thompson,2015-01-01,6\n",
            "Ben": f"{ben['upn']},Ben,Okafor,2016-02-02,5\n"}
    with app.app_context():
        biometric_granted(db.session, ava["id"])
        enrol_made_up_face(db.session, 1, ava["id"], look + 0.01)
        for names, leavers in ((("Ben",), 1), (("Ava", "Ben"), None)):
            export = b"upn,first_name,last_name,date_of_birth,year_group\n" + "".join(
                rows[name] for name in names).encode()
            actions.import_pupils(db.session, 1, export, purposes=("social_media",),
                                  today=today(), full=True, apply=True, actor="test",
                                  confirmed_leavers=leavers)
            db.session.commit()
        assert db.session.get(Pupil, ava["id"]).left_on is None  # back on roll
        rejoined = db.session.scalar(select(ImportBatch.id).order_by(ImportBatch.id.desc()))
        photo_id = screened_photo(db.session, 1, [look])
        face_id = db.session.get(Photo, photo_id).faces[0].id
    assert face_state(app, face_id) == ("blocked", "blocked")
    admin = login_as("admin")
    assert admin.post(f"/register/import/{rejoined}/undo").status_code == 302
    with app.app_context():
        assert db.session.get(Pupil, ava["id"]).left_on is not None  # off roll again
    assert face_state(app, face_id) == ("blocked", "blocked")
    media = login_as("media_lead")
    media.post(f"/review/{photo_id}/faces/{face_id}", {"resolution": "not_pupil"})
    release(media, photo_id, 1, "Sports day")
    assert face_state(app, face_id) == ("blocked", "blocked")
    with app.app_context():
        assert db.session.scalar(select(Post.id)) is None


@pytest.mark.parametrize("goes", [leaves_on_the_web, leaves_by_the_mis_import])
def test_a_leavers_cleared_face_is_blocked_not_forgotten(app, login_as, register, goes):
    """Ava, with consent, is cleared in a photo waiting for review (the leavers' assembly); then
    she leaves. A pupil who has left may not be published, but with her reference faces gone the
    rule no longer knew the face: it turned "unknown", and the media lead could call it "not a
    pupil" and release the photo."""
    import numpy as np

    from gatekeeper.extensions import db
    from tests.support.publishing import enrol_made_up_face, release, screened_photo

    ava = register["Ava"]
    look = np.random.default_rng(5).normal(0, 0.1, 128)
    with app.app_context():

        biometric_granted(db.session, ava["id"])
        enrol_made_up_face(db.session, 1, ava["id"], look + 0.01)
        db.session.commit()
        photo_id = screened_photo(db.session, 1, [look])
        face_id = db.session.get(Photo, photo_id).faces[0].id
    assert face_state(app, face_id) == ("cleared", "cleared")
    goes(app, login_as, {**ava, "other_upn": register["Ben"]["upn"]})
    assert face_state(app, face_id) == ("blocked", "blocked")
    media = login_as("media_lead")
    media.post(f"/review/{photo_id}/faces/{face_id}", {"resolution": "not_pupil"})
    release(media, photo_id, 1, "Leavers' assembly")
    assert face_state(app, face_id) == ("blocked", "blocked")
    with app.app_context():
        assert db.session.scalar(select(Post.id)) is None


def test_a_protected_pupils_face_stays_blocked_when_an_import_renumbers_them_and_withdraws(
        app, login_as, register):
    """The MIS export gives Ava her permanent UPN (her temporary one in the Former UPN column) and
    says her parents withdrew biometric consent: her reference faces go, and her blocked face
    in a photo waiting for review must stay blocked. The import looked her up by the new UPN,
    which the register did not hold yet, so her face was never named and turned unknown."""
    import numpy as np

    from consent import services
    from consent.models import Pupil
    from gatekeeper.extensions import db
    from gatekeeper.register import actions
    from tests.integration.test_import_mis import temporary_upn
    from tests.support.publishing import enrol_made_up_face, screened_photo

    ava, ben, temporary = register["Ava"], register["Ben"], temporary_upn(1)
    look = np.random.default_rng(5).normal(0, 0.1, 128)
    with app.app_context():
        db.session.get(Pupil, ava["id"]).upn = temporary
        db.session.commit()
    add(login_as("dsl"), temporary)
    with app.app_context():
        biometric_granted(db.session, ava["id"])
        enrol_made_up_face(db.session, 1, ava["id"], look + 0.01)
        db.session.commit()
        photo_id = screened_photo(db.session, 1, [look])
        face_id = db.session.get(Photo, photo_id).faces[0].id
    assert face_state(app, face_id) == ("blocked", "blocked")
    export = ("upn,former_upn,first_name,last_name,date_of_birth,year_group,biometric_consent\n"
              f"{ava['upn']},{temporary},Ava,Thompson,2015-01-01,6,no\n"
              f"{ben['upn']},,Ben,Okafor,2016-02-02,5,\n").encode()
    with app.app_context():
        plan = actions.import_pupils(db.session, 1, export, purposes=("social_media",),
                                     today=today(), full=True, apply=True, actor="test")
        assert plan.ok and [p.id for p, _row in plan.renumbered] == [ava["id"]], plan.errors
        db.session.commit()
        assert services.reference_face_count(db.session, ava["id"]) == 0
    assert face_state(app, face_id) == ("blocked", "blocked")


def test_a_protected_pupils_face_stays_blocked_when_a_new_reference_retires_an_old_one(
        app, login_as, register, faces_dir):
    """Ava, on the list, has five reference faces, and a photo waiting for review is blocked by
    the oldest. A sixth retires that one: the rule no longer matched her face, which turned
    unknown, for the media lead to call "not a pupil" and release."""
    import numpy as np

    from consent.models import ReferenceFace
    from gatekeeper.compliance.crypto import app_cipher, seal_encoding
    from gatekeeper.extensions import db
    from gatekeeper.screening.enrolment import enrol_pupil
    from tests.support.publishing import screened_photo

    ava = register["Ava"]
    add(login_as("dsl"), ava["upn"])
    rng = np.random.default_rng(5)
    look = rng.normal(0, 0.1, 128)
    with app.app_context():
        biometric_granted(db.session, ava["id"])
        for year, encoding in enumerate([look + 0.01] + [rng.normal(0, 0.1, 128)
                                                          for _ in range(4)]):
            db.session.add(ReferenceFace(
                school_id=1, pupil_id=ava["id"], created_by="test",
                taken_on=dt.date(2020 + year, 9, 1),
                encoding_encrypted=seal_encoding(app_cipher(), encoding)))
        db.session.commit()
        photo_id = screened_photo(db.session, 1, [look])
        face_id = db.session.get(Photo, photo_id).faces[0].id
    assert face_state(app, face_id) == ("blocked", "blocked")
    with app.app_context():
        done = enrol_pupil(db.session, 1, ava["upn"],
                           sorted((faces_dir / "people" / "obama").iterdir())[:1], by="test",
                           taken=today())
        db.session.commit()
        assert done.retired == 1
    assert face_state(app, face_id) == ("blocked", "blocked")
