"""Faces of one event named in groups: the groups follow the people, one answer reaches every photo,
the rule still decides each face, a wrong member can be left out, and a confirmed face can become
a reference (with biometric consent only)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from consent import services
from consent.models import Pupil, ReferenceFace
from gatekeeper.models import AuditEvent, Face, Photo
from tests.support.fixtures import SPORTS_DAY_HEIGHTS
from tests.support.fixtures import sports_day as make_sports_day

pytestmark = pytest.mark.slow

PHOTOS = len(SPORTS_DAY_HEIGHTS)


@pytest.fixture
def sports_day(app, school, login_as, faces_dir):
    return make_sports_day(app, school["id"], login_as("staff"), faces_dir / "people")


def groups(app, event_id):
    """The groups as (pupil suggested, blocked, sorted photo ids, face ids)."""
    from gatekeeper.extensions import db
    from gatekeeper.review.naming import event_groups
    from gatekeeper.screening.service import RegisterNow

    with app.app_context():
        found = event_groups(db.session, RegisterNow(db.session, 1), event_id)
        return [(g.suggestion, g.blocked, sorted(m.face.photo_id for m in g.members),
                 [m.face.id for m in g.members]) for g in found]


def statuses(app, photo_ids):
    from gatekeeper.extensions import db

    with app.app_context():
        return [db.session.get(Photo, p).status for p in photo_ids]


def name(media, event, face_ids, resolution, pupil=None):
    data = {"face_id": [str(f) for f in face_ids], "resolution": resolution}
    if pupil:
        data["pupil_id"] = str(pupil)
    return media.post(f"/review/events/{event}/faces", data, follow_redirects=True)


def test_the_faces_of_one_event_group_by_person(app, sports_day):
    found = groups(app, sports_day["event"])
    # Rose, Alex and Obama: unknown to the rule, one group each, one face in every photo.
    assert len(found) == 3
    assert all(photos == sorted(sports_day["photos"]) for _, _, photos, _ in found)
    assert not any(blocked for _, blocked, _, _ in found)
    assert statuses(app, sports_day["photos"]) == ["needs_review"] * PHOTOS


def test_one_answer_reaches_every_photo_and_the_rule_still_decides(app, login_as, sports_day):
    media, event = login_as("media_lead"), sports_day["event"]
    page = media.get(f"/review/events/{event}/faces").get_data(as_text=True)
    assert "Group 3: 4 face(s) in 4 photo(s)" in page

    rose_faces, alex_faces, obama_faces = identify(app, sports_day)
    said = name(media, event, rose_faces, "pupil", sports_day["rose"]).get_data(as_text=True)
    assert "4 face(s) named as Rose Leslie" in said
    name(media, event, obama_faces, "not_pupil")
    assert statuses(app, sports_day["photos"]) == ["needs_review"] * PHOTOS  # Alex still waits

    # Alex's parents refused: named, his faces are blocked, and a block is only ever blurred.
    name(media, event, alex_faces, "pupil", sports_day["alex"])
    assert statuses(app, sports_day["photos"]) == ["blocked"] * PHOTOS
    (_, blocked, _, faces), = groups(app, event)
    assert blocked and sorted(faces) == sorted(alex_faces)
    refused = name(media, event, alex_faces, "not_pupil").get_data(as_text=True)
    assert "may be a protected pupil" in refused
    assert statuses(app, sports_day["photos"]) == ["blocked"] * PHOTOS
    name(media, event, alex_faces, "blur")
    assert statuses(app, sports_day["photos"]) == ["cleared"] * PHOTOS
    assert groups(app, event) == []

    # Every photo's page shows the answer, and the queue offers every photo for release.
    photo = media.get(f"/review/{sports_day['photos'][2]}").get_data(as_text=True)
    assert "Identified as Rose Leslie" in photo and "Not a pupil (adult or visitor)" in photo
    assert "Will be blurred" in photo and 'id="verdict">Cleared' in photo
    queue = media.get("/review/").get_data(as_text=True)
    assert all(f'id="pick-{p}"' in queue for p in sports_day["photos"])
    from gatekeeper.extensions import db

    with app.app_context():
        resolved = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "face_resolved")).all()
        assert len(resolved) == 4 * PHOTOS  # Rose, Obama, Alex named, Alex blurred: one each
        assert {e.detail["group_of"] for e in resolved if e.detail["resolution"] == "blur"} == {
            min(alex_faces)}


def identify(app, sports_day):
    """Each person's group of face ids, told apart by where each was pasted in the first photo."""
    from gatekeeper.extensions import db

    with app.app_context():
        first = db.session.get(Photo, sports_day["photos"][0])
        who_is = {f.id: pasted_at(sports_day["first_boxes"], f) for f in first.faces}
    named = {}
    for _, _, _, faces in groups(app, sports_day["event"]):
        [face] = [f for f in faces if f in who_is]
        named[who_is[face]] = faces
    return named["rose"], named["alex"], named["obama"]


def pasted_at(boxes, face) -> str:
    """Who was pasted where the face's centre lies (the heads are in fixture order)."""
    cy, cx = (face.top + face.bottom) / 2, (face.left + face.right) / 2
    [who] = [name for name, (top, right, bottom, left) in zip(("kit", "rose", "alex", "obama"),
             boxes, strict=True) if top <= cy <= bottom and left <= cx <= right]
    return who


def test_a_face_left_out_of_a_group_stays_to_be_decided(app, login_as, sports_day):
    media, event = login_as("media_lead"), sports_day["event"]
    rose_faces, _, _ = identify(app, sports_day)
    name(media, event, rose_faces[1:], "pupil", sports_day["rose"])
    waiting = [faces for _, _, _, faces in groups(app, event)]
    assert [rose_faces[0]] in waiting  # a group of its own now...
    suggestion = [s for s, _, _, faces in groups(app, event) if faces == [rose_faces[0]]]
    assert suggestion == [sports_day["rose"]]  # ...that the named faces suggest is Rose


def test_a_group_holding_a_blocked_face_can_only_be_blurred(app, login_as, sports_day, faces_dir):
    from gatekeeper.extensions import db
    from gatekeeper.screening.enrolment import enrol_pupil

    with app.app_context():  # Alex is enrolled now: the rule itself blocks his faces
        services.record_biometric(db.session, db.session.get(Pupil, sports_day["alex"]),
                                  "granted", given_by="Parent of Alex", recorded_by="test")
        enrol_pupil(db.session, 1, db.session.get(Pupil, sports_day["alex"]).upn,
                    [faces_dir / "people" / "alex_lacamoire" / "1.jpg"], "test")
        db.session.commit()
    blocked = [faces for _, is_blocked, _, faces in groups(app, sports_day["event"]) if is_blocked]
    assert len(blocked) == 1 and len(blocked[0]) == PHOTOS
    media = login_as("media_lead")
    for resolution in ("pupil", "not_pupil"):
        page = name(media, sports_day["event"], blocked[0], resolution, sports_day["rose"])
        assert "may be a protected pupil" in page.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalars(select(Face).where(Face.resolution.is_not(None))).all() == []


def test_a_confirmed_face_becomes_a_reference_with_biometric_consent_only(
        app, login_as, sports_day):
    media, event = login_as("media_lead"), sports_day["event"]
    rose_faces, alex_faces, _ = identify(app, sports_day)
    name(media, event, rose_faces[:1], "pupil", sports_day["rose"])
    from gatekeeper.extensions import db

    with app.app_context():
        face = db.session.get(Face, rose_faces[0])
        photo_id = face.photo_id
    page = media.get(f"/review/{photo_id}").get_data(as_text=True)
    assert "Keep as a reference face of Rose Leslie" in page
    kept = media.post(f"/review/{photo_id}/faces/{rose_faces[0]}/reference",
                      follow_redirects=True).get_data(as_text=True)
    assert "now a reference face of Rose Leslie" in kept
    with app.app_context():
        assert db.session.scalars(select(ReferenceFace.pupil_id)).all().count(
            sports_day["rose"]) == 1
        audit = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "face_added_as_reference")).one()
        assert audit.detail["photo_id"] == photo_id and audit.actor == "media_lead@testschool.test"
        # The school was screened again: Rose's faces in the other photos now clear by the rule.
        others = db.session.scalars(select(Face).where(Face.id.in_(rose_faces[1:]))).all()
        assert {(f.status, f.pupil_id) for f in others} == {("cleared", sports_day["rose"])}

    # Alex has no biometric consent: no button, and the route refuses with the reason.
    name(media, event, alex_faces[:1], "pupil", sports_day["alex"])
    with app.app_context():
        alex_photo = db.session.get(Face, alex_faces[0]).photo_id
    assert "Keep as a reference face of Alex" not in media.get(
        f"/review/{alex_photo}").get_data(as_text=True)
    refused = media.post(f"/review/{alex_photo}/faces/{alex_faces[0]}/reference",
                         follow_redirects=True).get_data(as_text=True)
    assert "needs written biometric consent" in refused
    with app.app_context():
        assert sports_day["alex"] not in db.session.scalars(select(ReferenceFace.pupil_id)).all()


def test_a_decision_can_be_undone_and_a_blur_lifted(app, login_as, sports_day):
    media, event = login_as("media_lead"), sports_day["event"]
    rose_faces, _, obama_faces = identify(app, sports_day)
    name(media, event, obama_faces[:1], "blur")
    from gatekeeper.extensions import db

    with app.app_context():
        face = db.session.get(Face, obama_faces[0])
        photo_id = face.photo_id
    media.post(f"/review/{photo_id}/faces/{obama_faces[0]}/undo")
    name(media, event, rose_faces[:1], "pupil", sports_day["rose"])
    with app.app_context():
        face = db.session.get(Face, rose_faces[0])
        media.post(f"/review/{face.photo_id}/faces/{face.id}", {"resolution": "blur"})
    media.post(f"/review/{face.photo_id}/faces/{rose_faces[0]}/undo")  # the blur only
    with app.app_context():
        obama = db.session.get(Face, obama_faces[0])
        rose = db.session.get(Face, rose_faces[0])
        assert (obama.blur, obama.resolution) == (False, None)
        assert (rose.blur, rose.resolution, rose.resolved_pupil_id) == (
            False, "pupil", sports_day["rose"])
        undone = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "face_decision_undone")).all()
        assert [e.detail["was"] for e in undone] == ["blur", "blur"]
