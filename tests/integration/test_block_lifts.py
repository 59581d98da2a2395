"""A safe way out of a false block: a media lead asks, the DSL (and only the DSL) compares the face
with the protected pupil's reference photos and lifts the block for that one pupil on that one face;
the face is then decided again without them, and both people are in the audit trail."""

import numpy as np
import pytest
from sqlalchemy import select

from consent.models import ReferenceFace
from gatekeeper.models import AuditEvent, BlockLift, Face, Photo
from tests.support.fixtures import add_pupil
from tests.support.publishing import enrol_made_up_face, sample_jpeg, screened_photo

REFUSED = {"social_media": "refused"}
GRANTED = {"social_media": "granted"}


def around(face: np.ndarray, axis: int, distance: float) -> np.ndarray:
    """A reference `distance` from the face, along its own axis (so references lie apart)."""
    step = np.zeros(128)
    step[axis] = distance
    return face + step


@pytest.fixture
def blocked(app, school):
    """Efa (protected: her parents refused) is 0.30 from the face, Cara (consented) 0.34: the face
    is blocked for Efa; without her it would clear as Cara."""
    from gatekeeper.extensions import db

    face = np.random.default_rng(3).normal(0, 0.1, 128)
    with app.app_context():
        efa = add_pupil(db.session, school["id"], 1, "Efa", "Jones", consents=REFUSED)
        cara = add_pupil(db.session, school["id"], 2, "Cara", "Williams", consents=GRANTED)
        enrol_made_up_face(db.session, school["id"], efa.id, around(face, 0, 0.30))
        enrol_made_up_face(db.session, school["id"], cara.id, around(face, 1, 0.34))
        db.session.commit()
        photo_id = screened_photo(db.session, school["id"], [face])
        face_id = db.session.get(Photo, photo_id).faces[0].id
        ids = {"efa": efa.id, "efa_upn": efa.upn, "cara": cara.id, "photo": photo_id,
               "face": face_id, "school": school["id"], "encoding": face}
    assert state(app, ids) == ("blocked", "blocked", ids["efa"])
    return ids


def state(app, ids):
    with app.app_context():
        from gatekeeper.extensions import db

        face = db.session.get(Face, ids["face"])
        return face.photo.status, face.status, face.pupil_id


def audit(app, action):
    with app.app_context():
        from gatekeeper.extensions import db

        return [(e.actor, e.detail) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def test_the_media_lead_asks_and_the_dsl_lifts_the_block(app, login_as, blocked):
    media = login_as("media_lead")
    asked = media.post(f"/review/{blocked['photo']}/faces/{blocked['face']}/ask-dsl")
    assert asked.status_code == 302
    page = media.get(f"/review/{blocked['photo']}").get_data(as_text=True)
    assert "The DSL has been asked to check this face." in page
    assert "Efa" not in page  # the media lead is not told who the protected pupil is
    again = media.post(f"/review/{blocked['photo']}/faces/{blocked['face']}/ask-dsl")
    assert "already been asked" in media.get(again.headers["Location"]).get_data(as_text=True)

    dsl = login_as("dsl")
    listed = dsl.get("/safeguarding/").get_data(as_text=True)
    assert "Is face 1 of photo" in listed and "Efa Jones" in listed
    check = dsl.get(f"/safeguarding/faces/{blocked['face']}/check").get_data(as_text=True)
    assert "This is not Efa Jones" in check and "Test School media_lead asked you" in check
    crop = dsl.get(f"/safeguarding/faces/{blocked['face']}/crop")
    assert crop.status_code == 200 and crop.data[:2] == b"\xff\xd8"

    lifted = dsl.post(f"/safeguarding/faces/{blocked['face']}/lift", {"pupil_id": blocked["efa"]})
    assert lifted.status_code == 302
    assert state(app, blocked) == ("cleared", "cleared", blocked["cara"])
    [(asker, asked_detail)] = audit(app, "block_lift_requested")
    [(lifter, detail)] = audit(app, "block_lifted")
    assert asker == "media_lead@testschool.test" and asked_detail["face"] == 1
    assert lifter == "dsl@testschool.test"
    assert detail["asked_by"] == "media_lead@testschool.test"
    assert detail["pupil_id"] == blocked["efa"]
    assert "not Efa Jones" in dsl.get("/safeguarding/").get_data(as_text=True)


@pytest.mark.parametrize("role", ["media_lead", "head", "admin", "staff"])
def test_nobody_but_the_dsl_lifts_a_block(app, login_as, blocked, role):
    other = login_as(role)
    assert other.post(f"/safeguarding/faces/{blocked['face']}/lift",
                      {"pupil_id": blocked["efa"]}).status_code == 403
    assert other.get(f"/safeguarding/faces/{blocked['face']}/check").status_code == 403
    assert other.get(f"/safeguarding/faces/{blocked['face']}/crop").status_code == 403
    assert state(app, blocked) == ("blocked", "blocked", blocked["efa"])


def test_a_lift_names_the_pupil_who_blocks_now(app, login_as, blocked):
    dsl = login_as("dsl")
    wrong = dsl.post(f"/safeguarding/faces/{blocked['face']}/lift", {"pupil_id": blocked["cara"]})
    assert "Cara Williams does not block this face now." in dsl.get(
        wrong.headers["Location"]).get_data(as_text=True)
    assert state(app, blocked) == ("blocked", "blocked", blocked["efa"])
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(BlockLift.id)) is None  # nothing half-written
    assert audit(app, "block_lifted") == []


def test_another_protected_pupil_still_blocks_after_a_lift(app, login_as, blocked):
    from gatekeeper.extensions import db

    with app.app_context():
        gwen = add_pupil(db.session, blocked["school"], 3, "Gwen", "Hughes", consents=REFUSED)
        enrol_made_up_face(db.session, blocked["school"], gwen.id,
                           around(blocked["encoding"], 2, 0.33))
        db.session.commit()
        gwen_id = gwen.id
    dsl = login_as("dsl")
    dsl.post(f"/safeguarding/faces/{blocked['face']}/lift", {"pupil_id": blocked["efa"]})
    assert state(app, blocked) == ("blocked", "blocked", gwen_id)
    assert "Gwen Hughes" in dsl.get(f"/safeguarding/faces/{blocked['face']}/check").get_data(
        as_text=True)


def test_a_lift_holds_through_register_changes_until_the_dsl_takes_it_back(
        app, login_as, blocked):
    from gatekeeper.register import actions

    dsl = login_as("dsl")
    dsl.post(f"/safeguarding/faces/{blocked['face']}/lift", {"pupil_id": blocked["efa"]})
    with app.app_context():  # any register change screens every unpublished photo again
        from gatekeeper.extensions import db

        actions.add_nopublish(db.session, blocked["school"], blocked["efa_upn"],
                              category="court_order", note="", added_by="dsl@testschool.test")
        db.session.commit()
        lift_id = db.session.scalar(select(BlockLift.id))
    assert state(app, blocked) == ("cleared", "cleared", blocked["cara"])
    dsl.post(f"/safeguarding/lifts/{lift_id}/revoke")
    assert state(app, blocked) == ("blocked", "blocked", blocked["efa"])
    assert [d["pupil_id"] for _, d in audit(app, "block_lift_revoked")] == [blocked["efa"]]


def test_the_dsl_may_keep_the_block(app, login_as, blocked):
    media = login_as("media_lead")
    media.post(f"/review/{blocked['photo']}/faces/{blocked['face']}/ask-dsl")
    dsl = login_as("dsl")
    with app.app_context():
        from gatekeeper.extensions import db

        lift_id = db.session.scalar(select(BlockLift.id))
    assert dsl.post(f"/safeguarding/lifts/{lift_id}/keep").status_code == 302
    again = dsl.post(f"/safeguarding/lifts/{lift_id}/keep")  # a double tap on the iPad
    assert again.status_code == 302  # not a bare server page: the list, saying so
    assert "This was answered already: nothing changed." in dsl.get(
        again.headers["Location"]).get_data(as_text=True)
    assert dsl.post(f"/safeguarding/lifts/{lift_id}/revoke").status_code == 302  # not lifted
    assert state(app, blocked) == ("blocked", "blocked", blocked["efa"])
    assert "kept the block" in media.get(f"/review/{blocked['photo']}").get_data(as_text=True)
    [(actor, _detail)] = audit(app, "block_lift_declined")
    assert actor == "dsl@testschool.test"


def asked_and_listed(login_as, blocked):
    """The media lead asks about the face; the DSL's page lists the question."""
    media = login_as("media_lead")
    media.post(f"/review/{blocked['photo']}/faces/{blocked['face']}/ask-dsl")
    dsl = login_as("dsl")
    assert "really Efa Jones?" in dsl.get("/safeguarding/").get_data(as_text=True)
    return media, dsl


def test_a_question_about_a_photo_no_longer_under_review_leaves_the_dsls_list(
        app, login_as, blocked):
    """Asked, then the media lead rejected the photo: nothing is left to decide, and the DSL is
    not made to answer "it may be them" to clear the question away."""
    media, dsl = asked_and_listed(login_as, blocked)
    assert media.post(f"/review/{blocked['photo']}/reject", {"reason": "blurred"}).status_code \
        == 302
    listed = dsl.get("/safeguarding/").get_data(as_text=True)
    assert "really Efa Jones?" not in listed and "No questions waiting." in listed
    assert audit(app, "block_lift_declined") == []


def test_a_question_about_a_pupil_who_no_longer_blocks_leaves_the_dsls_list(
        app, login_as, blocked):
    """Asked, then Efa's parents gave consent: the face is not blocked for her any more, the check
    page says so and offers nothing, so the question must not wait there for ever; it comes back
    if she blocks the face again."""
    from gatekeeper.register import actions

    _media, dsl = asked_and_listed(login_as, blocked)

    def consent(status):
        with app.app_context():
            from gatekeeper.extensions import db

            actions.set_consent(db.session, blocked["school"], blocked["efa_upn"],
                                "social_media", status, given_by="Parent of Efa",
                                recorded_by="admin@testschool.test")
            db.session.commit()

    consent("granted")
    assert "No protected pupil blocks this face now." in dsl.get(
        f"/safeguarding/faces/{blocked['face']}/check").get_data(as_text=True)
    assert "No questions waiting." in dsl.get("/safeguarding/").get_data(as_text=True)
    consent("withdrawn")
    assert "really Efa Jones?" in dsl.get("/safeguarding/").get_data(as_text=True)


def test_the_dsl_sees_the_reference_photos_and_only_their_school_s(app, login_as, blocked):
    from gatekeeper.compliance.crypto import app_cipher
    from gatekeeper.extensions import db

    with app.app_context():
        reference = db.session.scalar(select(ReferenceFace).where(
            ReferenceFace.pupil_id == blocked["efa"]))
        reference.photo_encrypted = app_cipher().encrypt(sample_jpeg())
        db.session.commit()
        reference_id = reference.id
    dsl = login_as("dsl")
    page = dsl.get(f"/safeguarding/faces/{blocked['face']}/check").get_data(as_text=True)
    assert f"/safeguarding/references/{reference_id}/photo" in page
    picture = dsl.get(f"/safeguarding/references/{reference_id}/photo")
    assert picture.status_code == 200 and picture.data[:2] == b"\xff\xd8"
    assert b"PhoneCo" not in picture.data and b"Smith" not in picture.data  # no metadata
    with app.app_context():
        from tests.support.fixtures import make_school

        make_school(db.session, "Other School")
    from tests.support.fixtures import Browser

    other = Browser(app.test_client())
    assert other.login("dsl@otherschool.test").status_code == 302
    for path in (f"/safeguarding/faces/{blocked['face']}/check",
                 f"/safeguarding/faces/{blocked['face']}/crop",
                 f"/safeguarding/references/{reference_id}/photo"):
        assert other.get(path).status_code == 404
    assert other.post(f"/safeguarding/faces/{blocked['face']}/lift",
                      {"pupil_id": blocked["efa"]}).status_code == 404
    assert state(app, blocked) == ("blocked", "blocked", blocked["efa"])


@pytest.fixture
def mixed_track(app, school):
    """A clip whose one track holds two people: Efa (protected) looked at 0.2 s, a stranger at
    1.2 s, the track's largest sighting. The track is blocked for Efa."""
    import json

    from gatekeeper.compliance.crypto import app_cipher
    from gatekeeper.extensions import db
    from gatekeeper.screening.service import seal_looks

    rng = np.random.default_rng(8)
    efa_face, stranger = rng.normal(0, 0.1, 128), rng.normal(0, 0.1, 128)
    with app.app_context():
        efa = add_pupil(db.session, school["id"], 1, "Efa", "Jones", consents=REFUSED)
        enrol_made_up_face(db.session, school["id"], efa.id, around(efa_face, 0, 0.05))
        photo = Photo(school_id=school["id"], purpose="social_media", status="blocked",
                      width=960, height=540, original_filename="race.mp4", size_bytes=1,
                      kind="video", duration_s=2.0)
        db.session.add(photo)
        db.session.flush()
        boxes = [[0.2, 100, 300, 220, 180], [0.4, 100, 310, 220, 190],
                 [1.2, 80, 380, 240, 220], [1.4, 100, 360, 220, 240]]
        photo.faces.append(Face(
            school_id=school["id"], photo_id=photo.id, index=0, top=80, right=380, bottom=240,
            left=220, score=0.9, status="blocked",
            encoding_encrypted=seal_looks(app_cipher(), [efa_face, stranger]),
            track_json=json.dumps({"boxes": boxes, "best": 1.2, "looks": [0.2, 1.2]})))
        db.session.commit()
        return {"efa": efa.id, "photo": photo.id, "face": photo.faces[0].id}


def test_on_a_clip_the_dsl_is_shown_the_look_the_block_stands_on(app, mixed_track):
    # The track's largest sighting is the stranger: shown that, the DSL lifted Efa's block and
    # the media lead could then pass the whole track, Efa's own look with it.
    from gatekeeper.extensions import db
    from gatekeeper.safeguarding.lifts import blocking_pupil, nearest_look
    from gatekeeper.screening.service import RegisterNow

    with app.app_context():
        face = db.session.get(Face, mixed_track["face"])
        register = RegisterNow(db.session, face.school_id)
        assert blocking_pupil(register, face) == mixed_track["efa"]
        assert nearest_look(register, face, mixed_track["efa"]) == 0.2
        assert nearest_look(register, face, None) is None


def test_splitting_a_lifted_track_takes_the_lift_back(app, mixed_track):
    """The half that holds Efa's own look must not keep a lift given for the whole track."""
    from consent.models import Pupil
    from gatekeeper.extensions import db
    from gatekeeper.models import User
    from gatekeeper.review import clips
    from gatekeeper.safeguarding.lifts import lift_block

    with app.app_context():
        session = db.session
        face = session.get(Face, mixed_track["face"])
        dsl = session.scalar(select(User).where(User.email == "dsl@testschool.test"))
        media = session.scalar(select(User).where(User.email == "media_lead@testschool.test"))
        lift_block(session, face, session.get(Pupil, mixed_track["efa"]), dsl)
        session.commit()
        assert session.get(Face, mixed_track["face"]).status != "blocked"
        clips.split_track(session, face, 1.0, media)
        session.commit()
        session.expire_all()
        efa_half = session.get(Face, mixed_track["face"])
        assert efa_half.track["looks"] == [0.2]
        assert (efa_half.status, efa_half.pupil_id) == ("blocked", mixed_track["efa"])
        assert [lift.state for lift in efa_half.lifts] == ["revoked"]
        assert session.get(Photo, mixed_track["photo"]).status == "blocked"
    assert [detail["why"] for _actor, detail in audit(app, "block_lift_dropped")] == [
        "track split"]
