"""The gate's pure part: the rule's fresh decision on each face combined with people's decisions."""

from gatekeeper.review import gate
from gatekeeper.review.gate import FaceNow, Hold
from gatekeeper.screening.rule import FaceDecision

CLEARED = FaceDecision("cleared", 1, "U1", 0.3)
BLOCKED = FaceDecision("blocked", 2, "U2", 0.5)
UNKNOWN = FaceDecision("unknown")


def holds(*faces, publishable=(1, 3), no_faces=False, confirmed=False):
    return gate.holds(list(faces), set(publishable), no_faces=no_faces,
                      no_faces_confirmed=confirmed)


def test_a_block_is_never_settled_by_a_person_only_by_a_blur():
    assert holds(FaceNow(0, BLOCKED)) == [Hold("blocked", 0, "U2")]
    assert holds(FaceNow(0, BLOCKED, resolution="not_pupil")) == [Hold("blocked", 0, "U2")]
    assert holds(FaceNow(0, BLOCKED, resolution="pupil", resolved_pupil_id=3)) == [
        Hold("blocked", 0, "U2")]
    assert holds(FaceNow(0, BLOCKED, blur=True, resolution="blur")) == []


def test_an_unknown_face_needs_a_person_and_a_named_pupil_must_be_publishable():
    assert holds(FaceNow(0, UNKNOWN)) == [Hold("unknown", 0)]
    assert holds(FaceNow(0, UNKNOWN, resolution="not_pupil")) == []
    assert holds(FaceNow(0, UNKNOWN, resolution="pupil", resolved_pupil_id=3)) == []
    assert holds(FaceNow(0, UNKNOWN, resolution="pupil", resolved_pupil_id=4)) == [
        Hold("named_not_publishable", 0)]


def test_a_face_cleared_before_and_unknown_now_holds_again():
    assert holds(FaceNow(0, CLEARED), FaceNow(1, UNKNOWN)) == [Hold("unknown", 1)]


def test_no_faces_found_holds_until_a_person_confirms():
    assert holds(no_faces=True) == [Hold("no_faces")]
    assert holds(no_faces=True, confirmed=True) == []


def test_pupils_shown_counts_the_rule_and_people_but_not_blurred_faces():
    faces = [FaceNow(0, CLEARED), FaceNow(1, UNKNOWN, resolution="pupil", resolved_pupil_id=3),
             FaceNow(2, FaceDecision("cleared", 5, "U5", 0.2), blur=True)]
    assert gate.pupils_shown(faces) == [1, 3]


def test_the_status_shown_is_blocked_when_a_person_named_a_protected_pupil():
    named = FaceNow(0, UNKNOWN, resolution="pupil", resolved_pupil_id=4)
    assert gate.shown_status(named, {1}) == "blocked"
    assert gate.shown_status(FaceNow(0, UNKNOWN, resolution="not_pupil"), {1}) == "unknown"


def test_one_pupil_on_two_unblurred_faces_holds_the_second():
    named_3 = {"resolution": "pupil", "resolved_pupil_id": 3}
    # Twins: a person named both faces as the one with consent.
    assert holds(FaceNow(0, UNKNOWN, **named_3), FaceNow(1, UNKNOWN, **named_3)) == [
        Hold("shown_twice", 1)]
    # A face the rule cleared as pupil 1, and another a person named as pupil 1.
    assert holds(FaceNow(0, CLEARED), FaceNow(1, UNKNOWN, resolution="pupil",
                                                  resolved_pupil_id=1)) == [Hold("shown_twice", 1)]
    # Blurred, the second face shows nobody; two different pupils are no conflict.
    assert holds(FaceNow(0, UNKNOWN, **named_3),
                 FaceNow(1, UNKNOWN, blur=True, resolution="blur", resolved_pupil_id=3)) == []
    assert holds(FaceNow(0, CLEARED), FaceNow(1, UNKNOWN, **named_3)) == []
    assert gate.verdict([Hold("shown_twice", 1)], no_faces=False) == "needs_review"
