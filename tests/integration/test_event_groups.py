"""Events name the classes and clubs taking part, beside year groups: the admin (or head) defines
the groups and ticks their pupils; only those pupils may be cleared on the event's photos, and
a protected pupil of any group still blocks."""

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import func, select

from consent.models import PupilGroup, PupilGroupMember, ReferenceFace
from gatekeeper.compliance.crypto import app_cipher, seal_encoding
from gatekeeper.models import AuditEvent, Event
from gatekeeper.screening.engine import Analysis, Box, DetectedFace
from gatekeeper.screening.events import event_candidates
from gatekeeper.screening.service import screen_analysis
from tests.support.fixtures import add_pupil

GRANTED = {"social_media": "granted"}


def at(distance: float, axis: int) -> np.ndarray:
    e = np.zeros(128)
    e[axis] = distance
    return e


@pytest.fixture
def pupils(app, school):
    from gatekeeper.extensions import db

    with app.app_context():
        found = {
            "ann": add_pupil(db.session, school["id"], 1, "Ann", "Ash", consents=GRANTED, year="5"),
            "bo": add_pupil(db.session, school["id"], 2, "Bo", "Birch", consents=GRANTED, year="5"),
            "cy": add_pupil(db.session, school["id"], 3, "Cy", "Cedar",
                            consents={"social_media": "refused"}, year="6"),
            "di": add_pupil(db.session, school["id"], 4, "Di", "Dale", consents=GRANTED, year="3"),
        }
        for axis, pupil in enumerate(found.values()):
            db.session.add(ReferenceFace(school_id=school["id"], pupil_id=pupil.id,
                                         created_by="test", encoding_encrypted=seal_encoding(
                                             app_cipher(), at(1.0, axis))))
        db.session.commit()
        return {name: pupil.id for name, pupil in found.items()}


def make_group(admin, name="Choir", kind="club"):
    response = admin.post("/register/groups/", {"name": name, "kind": kind})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[1])


def members(app, group_id):
    from gatekeeper.extensions import db

    with app.app_context():
        return set(db.session.scalars(select(PupilGroupMember.pupil_id).where(
            PupilGroupMember.group_id == group_id)))


def test_the_admin_defines_a_club_and_ticks_its_pupils(app, login_as, pupils):
    admin = login_as("admin")
    choir = make_group(admin)
    year5 = admin.get(f"/register/groups/{choir}?year=5").get_data(as_text=True)
    assert "Ann Ash" in year5 and "Bo Birch" in year5 and "Di Dale" not in year5
    both = [pupils["ann"], pupils["bo"]]
    admin.post(f"/register/groups/{choir}", {"year": "5", "pupil_id": both})
    admin.post(f"/register/groups/{choir}", {"year": "3", "pupil_id": [pupils["di"]]})
    assert members(app, choir) == {pupils["ann"], pupils["bo"], pupils["di"]}
    # The members-only view: unticking Bo removes him, the others stay.
    kept = [pupils["ann"], pupils["di"]]
    admin.post(f"/register/groups/{choir}", {"year": "", "pupil_id": kept})
    assert members(app, choir) == {pupils["ann"], pupils["di"]}
    # A pupil who is not on the page shown cannot be slipped in.
    refused = admin.post(f"/register/groups/{choir}", {"year": "3", "pupil_id": [pupils["bo"]]})
    assert "choose pupils of this school" in admin.get(refused.headers["Location"]).get_data(
        as_text=True)
    assert members(app, choir) == {pupils["ann"], pupils["di"]}
    with app.app_context():
        from gatekeeper.extensions import db

        changes = [e.detail for e in db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "group_members_changed").order_by(AuditEvent.id))]
    assert changes == [{"added": 2, "removed": 0}, {"added": 1, "removed": 0},
                       {"added": 0, "removed": 1}]


def test_a_group_name_is_unique_and_never_markup(app, login_as, pupils):
    admin = login_as("admin")
    make_group(admin, "<b>Choir</b>")
    again = admin.post("/register/groups/", {"name": "<B>choir</B>", "kind": "club"})
    assert "already has a group called" in again.get_data(as_text=True)
    for bad in ({"name": "  ", "kind": "club"}, {"name": "Band", "kind": "gang"},
                {"name": "x" * 101, "kind": "club"}):
        assert admin.post("/register/groups/", bad).status_code == 200
    page = admin.get("/register/groups/").get_data(as_text=True)
    assert "<b>Choir</b>" not in page and "&lt;b&gt;Choir&lt;/b&gt;" in page
    with app.app_context():
        from gatekeeper.extensions import db

        assert db.session.scalar(select(func.count()).select_from(PupilGroup)) == 1


@pytest.mark.parametrize("role,status", [("head", 200), ("staff", 403), ("dsl", 403),
                                         ("media_lead", 403)])
def test_who_may_manage_groups(login_as, role, status):
    assert login_as(role).get("/register/groups/").status_code == status


def test_an_event_names_its_groups_and_only_their_pupils_clear(app, school, login_as, pupils):
    admin = login_as("admin")
    choir = make_group(admin)
    admin.post(f"/register/groups/{choir}", {"year": "5", "pupil_id": [pupils["ann"]]})
    staff = login_as("staff")
    assert "Choir" in staff.get("/uploads/").get_data(as_text=True)
    made = staff.post("/uploads/events", {"name": "Concert", "date": "2026-07-10",
                                          "purpose": "social_media", "groups": [str(choir)],
                                          "year_groups": ["3"]})
    assert made.status_code == 200 and made.get_json()["groups"] == [choir]
    for bogus in ("999", "abc"):
        assert staff.post("/uploads/events", {"name": "X", "date": "2026-07-10",
                                              "purpose": "social_media",
                                              "groups": [bogus]}).status_code == 400
    with app.app_context():
        from gatekeeper.extensions import db

        event = db.session.get(Event, made.get_json()["id"])
        assert event_candidates(db.session, event.id) == {pupils["ann"], pupils["di"]}

        def status(axis):
            face = at(1.0, axis) + at(0.2, 60)
            analysis = Analysis(100, 100, [DetectedFace(Box(0, 50, 50, 0), 0.9, face)])
            decisions, _ = screen_analysis(db.session, school["id"], analysis, "social_media",
                                           dt.date.today(), app_cipher(),
                                           candidates=event_candidates(db.session, event.id))
            return decisions[0].status

        assert [status(axis) for axis in range(4)] == ["cleared", "unknown", "blocked", "cleared"]


def test_another_school_s_group_is_not_there(app, login_as, pupils):
    from gatekeeper.extensions import db
    from tests.support.fixtures import Browser, make_school

    choir = make_group(login_as("admin"))
    with app.app_context():
        make_school(db.session, "Other School")
    other = Browser(app.test_client())
    assert other.login("admin@otherschool.test").status_code == 302
    assert other.get(f"/register/groups/{choir}").status_code == 404
    assert other.post(f"/register/groups/{choir}", {"year": "5", "pupil_id": [pupils["ann"]]}
                      ).status_code == 404
    staff = Browser(app.test_client())
    staff.login("staff@otherschool.test")
    assert staff.post("/uploads/events", {"name": "X", "date": "2026-07-10",
                                          "purpose": "social_media",
                                          "groups": [str(choir)]}).status_code == 400
    assert members(app, choir) == set()
