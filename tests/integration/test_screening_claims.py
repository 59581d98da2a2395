"""A photo is screened by one worker at a time, and a late result from a lost worker is
discarded."""

import datetime as dt
import io

from PIL import Image
from sqlalchemy import func, select, update

from gatekeeper.models import AuditEvent, Event, Photo
from gatekeeper.screening.engine import analyse_bytes
from gatekeeper.screening.service import claim_photo, record_verdict
from gatekeeper.storage import app_storage
from gatekeeper.worker.tasks import requeue_stalled


def stored_photo(db, school_id: int) -> Photo:
    event = Event(school_id=school_id, name="Fair", date=dt.date(2026, 6, 1), purpose="website")
    db.session.add(event)
    db.session.flush()
    photo = Photo(uuid="6f1c8c1e-0000-4000-8000-000000000001", school_id=school_id,
                  event_id=event.id, purpose="website")
    db.session.add(photo)
    db.session.commit()
    data = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 40)).save(data, "JPEG")
    app_storage().write_bytes("originals", photo.uuid, data.getvalue())
    return photo


def screened_events(db) -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent)
                             .where(AuditEvent.action == "photo_screened"))


def test_second_claim_is_refused_while_the_first_holds_it(app, school):
    with app.app_context():
        from gatekeeper.extensions import db

        photo = stored_photo(db, school["id"])
        assert claim_photo(db.session, photo.id) == 1
        assert claim_photo(db.session, photo.id) is None


def test_late_result_after_recovery_is_discarded(app, school):
    with app.app_context():
        from gatekeeper.extensions import db

        photo = stored_photo(db, school["id"])
        data = app_storage().read("originals", photo.uuid)
        slow = claim_photo(db.session, photo.id)  # a worker that will take too long
        # Recovery finds the stalled claim and runs the photo again (inline in tests).
        assert requeue_stalled(db.session, stalled_after=dt.timedelta(0)) == 1
        db.session.expire_all()
        assert db.session.get(Photo, photo.id).status == "no_faces"  # its own state, never cleared
        assert screened_events(db) == 1
        # The slow worker finally finishes: its result is thrown away, not written twice.
        assert record_verdict(db.session, db.session.get(Photo, photo.id), slow,
                              analyse_bytes(data)) is None
        assert screened_events(db) == 1
        assert db.session.get(Photo, photo.id).screen_attempts == 2


def test_a_photo_that_stalls_with_no_attempt_left_fails_for_a_person(app, school):
    """A photo that kills its worker every time: after the last attempt it stayed "screening"
    for ever, saying it would be retried, and nobody was told."""
    from gatekeeper.worker.recovery import GAVE_UP, MAX_SCREEN_ATTEMPTS

    with app.app_context():
        from gatekeeper.extensions import db

        photo = stored_photo(db, school["id"])
        for attempt in range(1, MAX_SCREEN_ATTEMPTS + 1):
            assert claim_photo(db.session, photo.id) == attempt  # a worker takes it, and dies
            if attempt < MAX_SCREEN_ATTEMPTS:  # the sweep releases it, for the next worker
                db.session.execute(update(Photo).values(status="failed"))
                db.session.commit()
        assert requeue_stalled(db.session, stalled_after=dt.timedelta(0)) == 0
        db.session.expire_all()
        assert (db.session.get(Photo, photo.id).status,
                db.session.get(Photo, photo.id).error) == ("failed", GAVE_UP)


def test_a_biometric_key_that_cannot_open_the_references_fails_the_photo_and_stops_init(
        app, school, cli, faces_dir):
    """A key file missing (never copied to this host, or a database restored without it) was
    replaced by a new one without a word; every photo with a face then stayed "screening"."""
    import pytest

    from gatekeeper.compliance.crypto import app_cipher
    from gatekeeper.config import BIOMETRIC_KEY_FILE
    from gatekeeper.screening.service import screen_stored_photo
    from tests.support.fixtures import add_pupil
    from tests.support.publishing import enrol_made_up_face

    with app.app_context():
        from gatekeeper.extensions import db

        pupil = add_pupil(db.session, school["id"], 1, "Ava", "Jones")
        enrol_made_up_face(db.session, school["id"], pupil.id)
        db.session.commit()
        photo = stored_photo(db, school["id"])
        app_storage().write_bytes("originals", photo.uuid,  # a photo with a face in it
                                  (faces_dir / "people" / "obama" / "1.jpg").read_bytes())
    key = app.config["INSTANCE"] / BIOMETRIC_KEY_FILE
    key.unlink()
    refused = cli("init")
    assert refused.exit_code == 1 and "is missing, but the database holds data sealed" in (
        refused.stderr)
    assert not key.exists()  # not replaced by a new one
    with app.app_context():
        app_cipher()  # a new key, made as the web app would
    assert "another server's key" in cli("init").stderr
    with app.app_context():
        from cryptography.fernet import InvalidToken

        from gatekeeper.extensions import db

        with pytest.raises(InvalidToken):  # the worker's task fails, and Huey retries it
            screen_stored_photo(photo.id)
        db.session.expire_all()
        assert db.session.get(Photo, photo.id).status == "failed"  # not "screening" for ever


def test_the_key_is_checked_against_second_factors_too(app, school, cli):
    """No reference faces yet (a new school, or leavers purged) but staff second factors: a
    missing key was replaced, and every second factor then failed to open."""
    from gatekeeper.config import BIOMETRIC_KEY_FILE
    from gatekeeper.models import User
    from gatekeeper.people.models import SecondFactor
    from gatekeeper.people.second_factor import seal

    with app.app_context():
        from gatekeeper.extensions import db

        user = db.session.scalar(select(User).limit(1))
        db.session.add(SecondFactor(user_id=user.id, secret_sealed=seal("JBSWY3DPEHPK3PXP")))
        db.session.commit()
    (app.config["INSTANCE"] / BIOMETRIC_KEY_FILE).unlink()
    refused = cli("init")
    assert refused.exit_code == 1 and "second factors" in refused.stderr
    assert not (app.config["INSTANCE"] / BIOMETRIC_KEY_FILE).exists()


def test_the_uploader_is_told_when_screening_has_given_up(app, school, login_as):
    """After the last attempt the uploader's card still said "Failed, retrying" and the page
    asked for its status every two seconds for ever: nothing was going to retry it."""
    from gatekeeper.worker.recovery import MAX_SCREEN_ATTEMPTS
    from tests.support.publishing import user_id

    staff = login_as("staff")
    with app.app_context():
        from gatekeeper.extensions import db

        photo = stored_photo(db, school["id"])
        photo.uploaded_by_id = user_id(db.session, "staff@testschool.test")
        photo.status, photo.error = "failed", "screening failed; it will be retried"
        db.session.commit()
        photo_id = photo.id

    def card():
        return staff.get("/uploads/status").get_json()["photos"][0]

    assert (card()["label"], card()["waiting"], card()["error"]) == ("Failed, retrying", True, None)
    with app.app_context():
        from gatekeeper.extensions import db

        db.session.get(Photo, photo_id).screen_attempts = MAX_SCREEN_ATTEMPTS
        db.session.commit()
    shown = card()
    assert shown["label"] == "Could not be screened" and shown["waiting"] is False
    assert "Delete it, then upload it again" in shown["error"]
    page = staff.get("/uploads/").get_data(as_text=True)
    assert "Could not be screened" in page and "Delete it, then upload it again" in page
    assert "data-waiting" not in page.split('id="uploads"')[1].split("<template")[0]


def test_the_media_lead_sees_what_screening_gave_up_on_and_screens_it_again(app, school,
                                                                            login_as):
    """The worker's last word was "a person must look at this photo", but no media lead screen
    listed it: only its uploader saw it. The review queue lists it, to screen again or reject."""
    from gatekeeper.worker.recovery import MAX_SCREEN_ATTEMPTS

    with app.app_context():
        from gatekeeper.extensions import db

        photo = stored_photo(db, school["id"])
        photo.original_filename = "sports-day-042.jpg"
        photo.status, photo.screen_attempts = "failed", MAX_SCREEN_ATTEMPTS
        db.session.commit()
        photo_id = photo.id
    media = login_as("media_lead")
    page = media.get("/review/").get_data(as_text=True)
    assert "Could not be screened" in page and "sports-day-042.jpg" in page
    assert login_as("staff").post(f"/review/{photo_id}/screen-again").status_code == 403
    media.post(f"/review/{photo_id}/screen-again")
    with app.app_context():
        from gatekeeper.extensions import db

        again = db.session.get(Photo, photo_id)
        assert again.status not in ("failed", "screening")  # screened (the test queue runs it)
        actions = db.session.scalars(select(AuditEvent.action)).all()
    assert "screening_retried" in actions
    assert 'id="given-up"' not in media.get("/review/").get_data(as_text=True)
    refused = media.post(f"/review/{photo_id}/screen-again", follow_redirects=True)
    assert "This photo is" in refused.get_data(as_text=True)  # screened already: nothing to do


def test_a_photo_screening_gave_up_on_is_rejected_from_the_queue(app, school, login_as):
    from gatekeeper.worker.recovery import MAX_SCREEN_ATTEMPTS

    with app.app_context():
        from gatekeeper.extensions import db

        photo = stored_photo(db, school["id"])
        photo.status, photo.screen_attempts = "failed", MAX_SCREEN_ATTEMPTS
        db.session.commit()
        photo_id = photo.id
    media = login_as("media_lead")
    media.post(f"/review/{photo_id}/reject", {"reason": "could not be screened"})
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.get(Photo, photo_id).status == "rejected"
    assert 'id="given-up"' not in media.get("/review/").get_data(as_text=True)


def test_a_photo_a_person_rejected_shows_no_made_up_reason(app, school, login_as):
    """A media lead's rejection keeps no refusal: the card's error read "None"."""
    from tests.support.publishing import user_id

    staff = login_as("staff")
    with app.app_context():
        from gatekeeper.extensions import db

        photo = stored_photo(db, school["id"])
        photo.uploaded_by_id = user_id(db.session, "staff@testschool.test")
        photo.status = "rejected"
        db.session.commit()
    shown = staff.get("/uploads/status").get_json()["photos"][0]
    assert shown["label"] == "Refused" and shown["error"] is None
