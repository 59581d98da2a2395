"""The screening rule on plain data: hand-made encodings at chosen distances, no photos."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.screening import thresholds as t
from gatekeeper.screening.rule import (
    FaceDecision,
    Gallery,
    Reference,
    decide_faces,
    photo_verdict,
)

ORIGIN = np.zeros(128)


def at(distance: float, axis: int = 0) -> np.ndarray:
    """An encoding `distance` from the origin along one axis."""
    e = np.zeros(128)
    e[axis] = distance
    return e


def gallery(*placed: tuple[int, float, int]) -> Gallery:
    """Pupils (id, distance from the origin, axis), one reference each, upn 'U<id>'."""
    return Gallery([Reference(pid, f"U{pid}", at(d, axis)) for pid, d, axis in placed])


def test_best_per_pupil_takes_each_pupils_nearest_reference_sorted():
    refs = [
        Reference(2, "U2", at(0.9)),
        Reference(1, "U1", at(0.5)),
        Reference(2, "U2", at(0.2)),
        Reference(1, "U1", at(0.7)),
    ]
    best = Gallery(refs).best_per_pupil(ORIGIN)
    assert [(p, u) for p, u, _ in best] == [(2, "U2"), (1, "U1")]
    assert [round(d, 6) for _, _, d in best] == [0.2, 0.5]


def test_a_close_publishable_pupil_with_a_margin_is_cleared():
    [face] = decide_faces([ORIGIN], gallery((1, 0.3, 0), (2, 0.9, 1)), {1, 2})
    assert face == FaceDecision("cleared", 1, "U1", pytest.approx(0.3))


def test_a_protected_pupil_within_loose_tolerance_blocks_even_when_another_is_closer():
    g = gallery((1, 0.1, 0), (2, t.LOOSE_TOLERANCE - 0.01, 1))
    [face] = decide_faces([ORIGIN], g, {1})
    assert (face.status, face.pupil_id, face.upn) == ("blocked", 2, "U2")
    assert face.distance == pytest.approx(t.LOOSE_TOLERANCE - 0.01)


def test_a_protected_pupil_beyond_loose_tolerance_does_not_block():
    [face] = decide_faces([ORIGIN], gallery((1, 0.1, 0), (2, t.LOOSE_TOLERANCE + 0.01, 1)), {1})
    assert face.status == "cleared"


def test_beyond_strict_tolerance_is_unknown():
    [face] = decide_faces([ORIGIN], gallery((1, t.STRICT_TOLERANCE + 0.01, 0)), {1})
    assert face == FaceDecision("unknown")


def test_without_the_margin_to_the_second_pupil_it_is_unknown():
    g = gallery((1, 0.30, 0), (2, 0.30 + t.CLEAR_MARGIN / 2, 1))
    [face] = decide_faces([ORIGIN], g, {1, 2})
    assert face.status == "unknown"


def test_two_faces_clearing_as_the_same_pupil_both_become_unknown():
    g = gallery((1, 0.2, 0), (2, 0.3, 1))
    faces = decide_faces([ORIGIN, ORIGIN + at(0.01, 5), at(0.3, 1) + at(0.0, 2)], g, {1, 2})
    assert [f.status for f in faces[:2]] == ["unknown", "unknown"]
    assert photo_verdict(faces) == "needs_review"


def test_no_encoding_and_empty_gallery_are_unknown():
    assert decide_faces([None], gallery((1, 0.1, 0)), {1}) == [FaceDecision("unknown")]
    assert decide_faces([ORIGIN], Gallery([]), set()) == [FaceDecision("unknown")]


def test_photo_verdicts():
    cleared, unknown = FaceDecision("cleared", 1, "U1", 0.2), FaceDecision("unknown")
    blocked = FaceDecision("blocked", 2, "U2", 0.5)
    assert photo_verdict([]) == "no_faces"  # a face the detector missed was never screened
    assert photo_verdict([cleared]) == "cleared"
    assert photo_verdict([cleared, unknown]) == "needs_review"
    assert photo_verdict([unknown, blocked, cleared]) == "blocked"


encodings = st.lists(st.floats(-0.3, 0.3), min_size=128, max_size=128).map(np.array)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(encodings, min_size=1, max_size=6),
    st.lists(encodings, min_size=1, max_size=4),
    st.sets(st.integers(0, 5)),
    st.integers(0, 5),
)
def test_withdrawing_a_pupil_never_clears_a_face_that_was_not_cleared(refs, faces, pub, gone):
    g = Gallery([Reference(i, f"U{i}", e) for i, e in enumerate(refs)])
    before = decide_faces(faces, g, pub | {gone})
    after = decide_faces(faces, g, pub - {gone})
    for was, now in zip(before, after, strict=False):
        assert not (was.status == "blocked" and now.status != "blocked")
        assert not (now.status == "cleared" and was != now)
        assert not (now.status == "cleared" and now.pupil_id == gone)


@settings(max_examples=60, deadline=None)
@given(st.lists(encodings, min_size=1, max_size=6), st.lists(encodings, min_size=0, max_size=4))
def test_nobody_publishable_means_no_face_is_ever_cleared(refs, faces):
    g = Gallery([Reference(i, f"U{i}", e) for i, e in enumerate(refs)])
    decisions = decide_faces(faces, g, frozenset())
    assert all(d.status != "cleared" for d in decisions)
    assert photo_verdict(decisions) != "cleared" or not faces


def test_matching_50k_references_finds_the_nearest_pupil_exactly():
    """Its speed is measured by `make bench` (match_ms_per_face_50k), not here."""
    rng = np.random.default_rng(0)
    matrix = rng.normal(0, 0.1, (50_000, 128))
    refs = [Reference(i // 2, f"U{i // 2}", e) for i, e in enumerate(matrix)]
    g = Gallery(refs)
    # Nearest pupil found exactly, as a brute-force loop would.
    probe = refs[12_345].encoding
    assert g.best_per_pupil(probe)[0][:2] == (12_345 // 2, f"U{12_345 // 2}")
