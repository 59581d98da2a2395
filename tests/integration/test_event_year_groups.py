"""Events name the year groups taking part: only their pupils may be cleared on the event's photos,
while a protected pupil of any year still blocks. Encodings are hand-placed, no photos."""

import datetime as dt

import numpy as np
from sqlalchemy import func, select

from consent.models import ReferenceFace
from gatekeeper.compliance.crypto import app_cipher, seal_encoding
from gatekeeper.models import Event
from gatekeeper.screening.engine import Analysis, Box, DetectedFace
from gatekeeper.screening.events import event_candidates
from gatekeeper.screening.service import screen_analysis
from tests.support.fixtures import add_pupil


def at(distance: float, axis: int) -> np.ndarray:
    e = np.zeros(128)
    e[axis] = distance
    return e


def test_staff_create_an_event_for_some_year_groups(login_as, app):
    staff = login_as("staff")
    made = staff.post("/uploads/events", {"name": "Trip", "date": "2026-07-10",
                                          "purpose": "social_media",
                                          "year_groups": ["4", "R", "4"]})
    assert made.status_code == 200, made.get_data(as_text=True)
    assert made.get_json()["year_groups"] == ["R", "4"]
    whole = staff.post("/uploads/events", {"name": "Fair", "date": "2026-07-11",
                                           "purpose": "social_media"})
    assert whole.get_json()["year_groups"] == []
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.get(Event, made.get_json()["id"]).year_groups == "R,4"


def test_an_unknown_year_group_is_refused_and_nothing_is_created(login_as, app):
    staff = login_as("staff")
    for bogus in ("15", "3,4", "<b>", ""):
        response = staff.post("/uploads/events", {"name": "Trip", "date": "2026-07-10",
                                                  "purpose": "social_media",
                                                  "year_groups": ["3", bogus]})
        assert response.status_code == 400, bogus
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(func.count()).select_from(Event)) == 0


def enrol(db, pupil, encoding) -> None:
    db.session.add(ReferenceFace(school_id=pupil.school_id, pupil_id=pupil.id, created_by="test",
                                 encoding_encrypted=seal_encoding(app_cipher(), encoding)))
    db.session.commit()


def test_only_the_events_year_groups_clear_and_protected_pupils_of_any_year_block(app, school):
    with app.app_context():
        from gatekeeper.extensions import db

        granted = {"social_media": "granted"}
        year3 = add_pupil(db.session, school["id"], 1, "Ann", "Ash", consents=granted, year="3")
        year5 = add_pupil(db.session, school["id"], 2, "Bo", "Birch", consents=granted, year="5")
        hidden = add_pupil(db.session, school["id"], 3, "Cy", "Cedar", consents={
            "social_media": "refused"}, year="5")
        for axis, pupil in enumerate((year3, year5, hidden)):
            enrol(db, pupil, at(1.0, axis))
        trip = Event(school_id=school["id"], name="Trip", date=dt.date(2026, 7, 1),
                     purpose="social_media", year_groups="3")
        fair = Event(school_id=school["id"], name="Fair", date=dt.date(2026, 7, 1),
                     purpose="social_media")
        db.session.add_all([trip, fair])
        db.session.commit()
        assert event_candidates(db.session, trip.id) == {year3.id}
        assert event_candidates(db.session, fair.id) is None
        assert event_candidates(db.session, None) is None

        def verdict(encoding, event):
            analysis = Analysis(100, 100, [DetectedFace(Box(0, 50, 50, 0), 0.9, encoding)])
            decisions, photo = screen_analysis(
                db.session, school["id"], analysis, "social_media", dt.date.today(),
                app_cipher(), candidates=event_candidates(db.session, event.id))
            return decisions[0].status, photo

        face_of = {p: at(1.0, axis) + at(0.2, 50) for axis, p in enumerate("ABC")}
        assert verdict(face_of["A"], trip) == ("cleared", "cleared")
        assert verdict(face_of["B"], fair) == ("cleared", "cleared")
        # Bo is not on the trip: his face is unknown to clearing there.
        assert verdict(face_of["B"], trip) == ("unknown", "needs_review")
        # Cy is protected and not on the trip either: still blocked.
        assert verdict(face_of["C"], trip) == ("blocked", "blocked")
