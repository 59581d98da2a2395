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
