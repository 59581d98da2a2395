"""Grouping faces by likeness (pure): groups follow people, a chain of faces never joins two people,
and a name is suggested only when the named faces of a group agree."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.review import gate
from gatekeeper.review.groups import GROUP_TOLERANCE, group_by_likeness, suggested_pupil
from gatekeeper.screening.rule import FaceDecision
from gatekeeper.states import FaceStatus, PhotoState


def person(rng, centre, n, spread=0.05):
    """n encodings scattered around one person's face."""
    return [centre + rng.normal(0, spread / np.sqrt(128), 128) for _ in range(n)]


def apart(rng, distance):
    """A unit direction scaled to `distance`."""
    direction = rng.normal(size=128)
    return direction / np.linalg.norm(direction) * distance


def test_faces_fall_into_one_group_per_person():
    rng = np.random.default_rng(1)
    centres = [apart(rng, 1.0) for _ in range(5)]  # people about 1.4 apart from each other
    faces = [e for c in centres for e in person(rng, c, 6)]
    groups = group_by_likeness(faces)
    assert sorted(sorted(g) for g in groups) == [list(range(i, i + 6)) for i in range(0, 30, 6)]


def test_a_chain_of_faces_never_joins_two_people():
    """A, then faces a little further each step, then B: single linkage would make one group."""
    rng = np.random.default_rng(2)
    a = apart(rng, 1.0)
    step = apart(rng, GROUP_TOLERANCE * 0.6)
    chain = [a + step * i for i in range(5)]  # neighbours within the tolerance, ends far apart
    for group in group_by_likeness(chain):
        members = np.array([chain[i] for i in group])
        spread = max(np.linalg.norm(x - y) for x in members for y in members)
        assert spread <= GROUP_TOLERANCE


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 40), st.integers(0, 2**31))
def test_every_group_is_within_the_tolerance_and_every_face_in_one_group(count, seed):
    rng = np.random.default_rng(seed)
    faces = [apart(rng, rng.uniform(0, 0.6)) for _ in range(count)]
    groups = group_by_likeness(faces)
    assert sorted(i for g in groups for i in g) == list(range(count))
    for group in groups:
        for i in group:
            for j in group:
                assert np.linalg.norm(faces[i] - faces[j]) <= GROUP_TOLERANCE + 1e-9


def test_no_faces_no_groups():
    assert group_by_likeness([]) == []


def test_a_name_is_suggested_only_when_the_named_faces_agree():
    assert suggested_pupil([7, 7, 7, None]) == 7
    assert suggested_pupil([7, 7, 7, 8]) == 7  # three in four agree
    assert suggested_pupil([7, 7, 8]) is None  # two in three: not enough
    assert suggested_pupil([7]) is None  # one face is not enough
    assert suggested_pupil([None, None]) is None


def face(status, *, pupil=None, blur=False, resolution=None, named=None):
    return gate.FaceNow(0, FaceDecision(status, pupil), blur, resolution, named)


def test_each_face_shows_the_gate_now_and_the_photo_follows():
    publishable = {1}
    shown = {
        "cleared": face(FaceStatus.CLEARED, pupil=1),
        "named": face(FaceStatus.UNKNOWN, resolution="pupil", named=1),
        "not_pupil": face(FaceStatus.UNKNOWN, resolution="not_pupil"),
        "blurred": face(FaceStatus.BLOCKED, blur=True, resolution="blur"),
        "blocked": face(FaceStatus.UNKNOWN, resolution="pupil", named=2),  # not publishable
        "unknown": face(FaceStatus.UNKNOWN),
    }
    assert {k: gate.face_outcome(f, publishable) for k, f in shown.items()} == {
        k: k for k in shown}
    holds = gate.holds([shown["named"], shown["unknown"]], publishable, no_faces=False,
                       no_faces_confirmed=False)
    assert gate.verdict(holds, no_faces=False) == PhotoState.NEEDS_REVIEW
    holds = gate.holds([shown["blocked"], shown["unknown"]], publishable, no_faces=False,
                       no_faces_confirmed=False)
    assert gate.verdict(holds, no_faces=False) == PhotoState.BLOCKED
    holds = gate.holds([shown["named"], shown["blurred"]], publishable, no_faces=False,
                       no_faces_confirmed=False)
    assert gate.verdict(holds, no_faces=False) == PhotoState.CLEARED
    assert gate.verdict([], no_faces=True) == PhotoState.NO_FACES


def test_a_blurred_face_named_as_a_protected_pupil_is_still_that_pupil():
    blurred = face(FaceStatus.UNKNOWN, blur=True, resolution="blur", named=2)
    assert gate.shown_status(blurred, {1}) == FaceStatus.BLOCKED
    assert gate.face_hold(blurred, {1}) is None  # hidden: it holds nothing
