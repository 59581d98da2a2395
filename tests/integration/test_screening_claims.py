"""A photo is screened by one worker at a time, and a late result from a lost worker is
discarded."""

import datetime as dt
import io

from PIL import Image
from sqlalchemy import func, select

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
