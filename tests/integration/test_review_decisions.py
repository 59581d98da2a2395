"""Review decisions through the web client: the register decides a named face, a block is never
overridden, and staff see only their own uploads."""

import pytest
from sqlalchemy import select

from gatekeeper.models import AuditEvent, Face, Photo
from tests.support.fixtures import add_pupil, upload_photo

pytestmark = pytest.mark.slow


@pytest.fixture
def unknown_face(app, school, login_as, faces_dir):
    """A photo of someone not enrolled (one unknown face), and a pupil whose parents refused."""
    with app.app_context():
        from gatekeeper.extensions import db

        pupil = add_pupil(db.session, school["id"], 1, "Lin", "Miranda",
                          consents={"social_media": "refused"})
        pupil_id = pupil.id
    staff = login_as("staff")
    event_id = staff.post("/uploads/events", {"name": "Visit", "date": "2026-07-10",
                                              "purpose": "social_media"}).get_json()["id"]
    path = faces_dir / "events" / "lin_manuel_miranda.png"
    photo_id = upload_photo(staff, event_id, path.name, path.read_bytes()).get_json()["id"]
    with app.app_context():
        from gatekeeper.extensions import db

        face_id = db.session.get(Photo, photo_id).faces[0].id
    return {"photo": photo_id, "face": face_id, "pupil": pupil_id, "staff": staff}


def face_and_photo(app, ids):
    with app.app_context():
        from gatekeeper.extensions import db

        face = db.session.get(Face, ids["face"])
        return face.status, face.blur, face.photo.status


def test_naming_a_protected_pupil_blocks_the_face(app, login_as, unknown_face):
    media = login_as("media_lead")
    found = media.get("/review/pupils?q=mir").get_json()["pupils"]
    assert [p["name"] for p in found] == ["Lin Miranda"]
    url = f"/review/{unknown_face['photo']}/faces/{unknown_face['face']}"
    media.post(url, {"resolution": "pupil", "pupil_id": unknown_face["pupil"]})
    assert face_and_photo(app, unknown_face) == ("blocked", False, "blocked")

    media.post(url, {"resolution": "not_pupil"})  # no override of a block
    assert face_and_photo(app, unknown_face) == ("blocked", False, "blocked")
    assert "can only be blurred" in media.get(
        f"/review/{unknown_face['photo']}").get_data(as_text=True)

    media.post(url, {"resolution": "blur"})
    # Still the protected pupil, blurred: nothing holds the photo now, and the page says so.
    assert face_and_photo(app, unknown_face) == ("blocked", True, "cleared")
    with app.app_context():
        from gatekeeper.extensions import db

        details = [e.detail for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "face_resolved").order_by(AuditEvent.id))]
    assert [d["resolution"] for d in details] == ["pupil", "blur"]
    dsl = login_as("dsl").get("/safeguarding/").get_data(as_text=True)
    assert "Face decided" in dsl and "named as Lin Miranda" in dsl and "blurred" in dsl


def test_staff_see_only_their_own_uploads(app, login_as, unknown_face):
    photo = unknown_face["photo"]
    assert unknown_face["staff"].get(f"/uploads/{photo}/thumb").status_code == 200
    with app.app_context():
        from gatekeeper.extensions import db
        from gatekeeper.models import Membership, User

        other = User(email="other@testschool.test", name="Other", password_hash="x")
        db.session.add(other)
        db.session.flush()
        db.session.add(Membership(user_id=other.id,
                                  school_id=db.session.get(Photo, photo).school_id,
                                  role="staff"))
        db.session.commit()
    media_thumb = login_as("media_lead").get(f"/uploads/{photo}/thumb")
    assert media_thumb.status_code == 200 and media_thumb.data[:2] == b"\xff\xd8"
    status = unknown_face["staff"].get("/uploads/status").get_json()["photos"]
    assert [p["id"] for p in status] == [photo]
    assert "pupil" not in str(status).lower()


def test_rejected_photo_leaves_the_queue(app, login_as, unknown_face):
    media = login_as("media_lead")
    media.post(f"/review/{unknown_face['photo']}/reject", {"reason": "eyes closed"})
    assert f"/review/{unknown_face['photo']}\"" not in media.get("/review/").get_data(as_text=True)
    media.post(f"/review/{unknown_face['photo']}/reject", {"reason": "again"})
    with app.app_context():
        from gatekeeper.extensions import db

        rejected = db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == "photo_rejected"))
        assert len(list(rejected)) == 1


def test_a_stale_page_cannot_take_back_a_blur_or_a_name(app, school, login_as):
    """Lead A names the face as a protected pupil and blurs it; lead B's page, open since the
    face was unknown, says "not a pupil": refused, and the photo stays unreleasable unblurred."""
    import numpy as np

    from gatekeeper.extensions import db
    from tests.support.publishing import screened_photo

    with app.app_context():
        lin = add_pupil(db.session, school["id"], 1, "Lin", "Miranda",
                        consents={"social_media": "refused"})
        photo_id = screened_photo(db.session, school["id"],
                                  [np.random.default_rng(99).normal(0, 0.1, 128)])
        face_id, lin_id = db.session.get(Photo, photo_id).faces[0].id, lin.id
    url = f"/review/{photo_id}/faces/{face_id}"
    lead_a, lead_b = login_as("media_lead"), login_as("media_lead")
    assert 'value="not_pupil"' in lead_b.get(f"/review/{photo_id}").get_data(as_text=True)
    lead_a.post(url, {"resolution": "pupil", "pupil_id": str(lin_id)})
    lead_a.post(url, {"resolution": "blur"})
    refused = lead_b.post(url, {"resolution": "not_pupil"}, follow_redirects=True)
    assert "Someone has decided about this face meanwhile" in refused.get_data(as_text=True)
    with app.app_context():
        face = db.session.get(Face, face_id)
        assert (face.blur, face.resolution, face.resolved_pupil_id) == (True, "blur", lin_id)


def test_twins_named_as_the_one_with_consent_are_not_released(app, school, login_as):
    """Ava (consented, enrolled) and her twin Bella (parents refused, no reference photo): both
    faces of one photo named Ava, one at a time or as a group, and the photo waits for a person."""
    import datetime as dt

    import numpy as np

    from consent.models import Guardian
    from gatekeeper.extensions import db
    from gatekeeper.models import Event, Post
    from tests.support.publishing import enrol_made_up_face, release, screened_photo

    rng = np.random.default_rng(3)
    ava_ref = rng.normal(0, 0.1, 128)
    faces = [ava_ref + rng.normal(0, 0.013, 128), ava_ref + rng.normal(0, 0.02, 128)]
    with app.app_context():
        ava = add_pupil(db.session, school["id"], 1, "Ava", "Khan",
                        consents={"social_media": "granted"})
        bella = add_pupil(db.session, school["id"], 2, "Bella", "Khan",
                          consents={"social_media": "refused"})
        for pupil in (ava, bella):
            db.session.add(Guardian(school_id=school["id"], pupil_id=pupil.id, name="Sara Khan",
                                    email="sara@example.test"))
        enrol_made_up_face(db.session, school["id"], ava.id, ava_ref)
        event = Event(school_id=school["id"], name="Sports day", date=dt.date(2026, 7, 10),
                      purpose="social_media")
        db.session.add(event)
        db.session.commit()
        photo_id = screened_photo(db.session, school["id"], faces)
        photo = db.session.get(Photo, photo_id)
        photo.event_id = event.id
        db.session.commit()
        ava_id, event_id, face_ids = ava.id, event.id, [f.id for f in photo.faces]
        assert [f.status for f in photo.faces] == ["unknown", "unknown"]
    lead = login_as("media_lead")
    group = lead.post(f"/review/events/{event_id}/faces", {
        "face_id": [str(i) for i in face_ids], "resolution": "pupil",
        "pupil_id": str(ava_id)}, follow_redirects=True).get_data(as_text=True)
    assert "Two of the ticked faces are in one photo" in group
    for face_id in face_ids:  # the photo page, one face at a time
        lead.post(f"/review/{photo_id}/faces/{face_id}",
                  {"resolution": "pupil", "pupil_id": str(ava_id)})
    page = lead.get(f"/review/{photo_id}").get_data(as_text=True)
    assert "Face 2 is named as a pupil another face already shows" in page
    release(lead, photo_id, 1, "Sports day")
    with app.app_context():
        assert db.session.scalars(select(Post).where(Post.photo_id == photo_id)).all() == []
        assert db.session.get(Photo, photo_id).status == "needs_review"
