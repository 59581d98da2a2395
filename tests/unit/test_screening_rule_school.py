"""The school-size rule on hostile hand-made encodings: relative blocking, events, gallery size,
siblings and twins. Each test places faces at distances chosen around the named thresholds."""

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.screening import thresholds as t
from gatekeeper.screening.rule import (
    DEFAULT_MATCHING,
    Gallery,
    Matching,
    Reference,
    decide_faces,
    older_pupils,
)

ORIGIN = np.zeros(128)


def at(distance: float, axis: int = 0) -> np.ndarray:
    e = np.zeros(128)
    e[axis] = distance
    return e


def gallery(*placed: tuple[int, float, int]) -> Gallery:
    """Pupils (id, distance from the origin, axis), one reference each."""
    return Gallery([Reference(pid, f"U{pid}", at(d, axis)) for pid, d, axis in placed])


def crowd(first_id: int, count: int, distance: float = 1.2) -> list[tuple[int, float, int]]:
    """`count` pupils far from the origin (each on its own axis sign), to size a gallery."""
    return [(first_id + i, distance, 10 + i % 100) for i in range(count)]


def relative_band() -> tuple[float, float]:
    """A protected distance beyond LOOSE inside PLAUSIBLE, and a best match that clears and is
    more than BLOCK_MARGIN ahead of it."""
    behind = (t.LOOSE_TOLERANCE + t.PLAUSIBLE_TOLERANCE) / 2
    best = min(behind - max(t.BLOCK_MARGIN, t.CLEAR_MARGIN) - 0.02, t.STRICT_TOLERANCE - 0.02)
    assert t.LOOSE_TOLERANCE < behind < t.PLAUSIBLE_TOLERANCE and best <= t.STRICT_TOLERANCE
    return behind, best


def one(g, publishable, **kwargs):
    [face] = decide_faces([ORIGIN], g, publishable, **kwargs)
    return face


# --- Relative blocking -------------------------------------------------------------------------
def test_a_protected_pupil_far_behind_the_best_match_does_not_block_inside_plausible():
    # Protected pupil 2 within the plausible band but far behind pupil 1: not a plausible match.
    behind, best = relative_band()
    face = one(gallery((1, best, 0), (2, behind, 1)), {1})
    assert (face.status, face.pupil_id) == ("cleared", 1)


def test_a_protected_pupil_within_the_block_margin_of_the_best_match_blocks():
    # Beyond LOOSE, and level with (or within BLOCK_MARGIN of) a consented best match.
    near = (t.LOOSE_TOLERANCE + t.PLAUSIBLE_TOLERANCE) / 2
    best = near - t.BLOCK_MARGIN / 2
    assert t.LOOSE_TOLERANCE < best <= near <= t.PLAUSIBLE_TOLERANCE
    face = one(gallery((1, best, 0), (2, near, 1)), {1})
    assert (face.status, face.pupil_id) == ("blocked", 2)


def test_a_blocked_face_does_not_lift_the_two_faces_one_pupil_rule():
    # Two faces both confidently pupil 1; one is also level with protected pupil 2. Neither is
    # cleared: the blocked face still counts as a second face of pupil 1.
    g = gallery((1, 0.0, 0), (2, 0.65, 1))
    face_a, face_b = at(0.05, 3), at(0.30, 1)  # face_b: 0.30 from pupil 1, 0.35 from pupil 2
    loose = Matching(strict=1.0, strict_large=1.0, clear_margin=0.0, loose=0.4)
    assert [f.status for f in decide_faces([face_a], g, {1}, matching=loose)] == ["cleared"]
    faces = decide_faces([face_a, face_b], g, {1}, matching=loose)
    assert [f.status for f in faces] == ["unknown", "blocked"]


def test_a_protected_pupils_own_face_beyond_loose_is_blocked_when_it_is_the_best_match():
    own = (t.LOOSE_TOLERANCE + t.PLAUSIBLE_TOLERANCE) / 2
    face = one(gallery((2, own, 1), (1, own + 0.02, 0), *crowd(10, 50)), {1, *range(10, 60)})
    assert (face.status, face.pupil_id) == ("blocked", 2)


def test_a_protected_pupils_own_face_is_never_cleared_as_a_close_lookalike():
    # The lookalike is within the clear radius and beats everyone else by far, but the
    # protected pupil is just behind it: blocked, never cleared.
    look = t.STRICT_TOLERANCE - 0.05
    face = one(gallery((1, look, 0), (2, look + t.BLOCK_MARGIN - 0.01, 1)), {1})
    assert face.status == "blocked" and face.pupil_id == 2


# --- Events ------------------------------------------------------------------------------------
def test_only_the_events_pupils_are_cleared():
    g = gallery((1, 0.25, 0), (2, 0.9, 1), *crowd(10, 5))
    assert one(g, {1, 2}).status == "cleared"
    assert one(g, {1, 2}, candidates={2, 10}).status == "unknown"
    assert one(g, {1, 2}, candidates={1}).pupil_id == 1


def test_a_face_nearest_a_pupil_outside_the_event_is_not_cleared_as_an_event_pupil():
    # Pupil 1 (not in the event) is the face; pupil 2 (in it) is within the clear radius too.
    g = gallery((1, 0.10, 0), (2, 0.10 + t.CLEAR_MARGIN + 0.1, 1))
    assert one(g, {1, 2}, candidates={2}).status == "unknown"


def test_a_protected_pupil_outside_the_event_still_blocks():
    g = gallery((1, 0.30, 0), (2, t.LOOSE_TOLERANCE - 0.01, 1))
    face = one(g, {1}, candidates={1})
    assert (face.status, face.pupil_id) == ("blocked", 2)


# --- Calibrated for the number of candidates ----------------------------------------------------
def test_the_clear_radius_shrinks_as_the_candidates_grow():
    m = DEFAULT_MATCHING
    assert m.strict_for(1) == m.strict_for(t.SMALL_GALLERY) == pytest.approx(m.strict)
    assert m.strict_for(t.EVENT_GALLERY) == pytest.approx(m.strict_event)
    assert m.strict_for(t.LARGE_GALLERY) == m.strict_for(10**6) == pytest.approx(m.strict_large)
    assert m.strict > m.strict_for(20) > m.strict_event > m.strict_for(300) > m.strict_large


def test_a_face_cleared_in_a_small_event_is_unknown_against_a_large_school():
    between = (t.STRICT_TOLERANCE + t.STRICT_TOLERANCE_LARGE) / 2
    g = gallery((1, between, 0), *crowd(10, t.LARGE_GALLERY))
    everyone = {1, *range(10, 10 + t.LARGE_GALLERY)}
    assert one(g, everyone).status == "unknown"
    assert one(g, everyone, candidates={1, 10, 11}).status == "cleared"


def test_consent_does_not_change_the_clear_radius():
    # Counting only publishable candidates would widen the radius when consent is withdrawn.
    between = (t.STRICT_TOLERANCE + t.STRICT_TOLERANCE_LARGE) / 2
    g = gallery((1, between, 0), *crowd(10, t.LARGE_GALLERY))
    assert one(g, {1}).status == "unknown"


# --- Siblings and twins -------------------------------------------------------------------------
def test_never_cleared_as_a_pupil_whose_protected_sibling_is_a_plausible_match():
    # The sibling is too far behind to block on its own, but still plausible.
    sibling, best = relative_band()
    g = gallery((1, best, 0), (2, sibling, 1))
    assert one(g, {1}).status == "cleared"
    assert one(g, {1}, siblings={1: {2}, 2: {1}}).status == "unknown"


def test_a_sibling_beyond_the_sibling_tolerance_does_not_stop_clearing():
    g = gallery((1, 0.30, 0), (2, t.SIBLING_TOLERANCE + 0.02, 1))
    assert one(g, {1}, siblings={1: {2}}).status == "cleared"
    assert one(g, {1}, siblings={1: {2}}, twins={1}).status == "unknown"


def test_a_consented_sibling_within_the_sibling_tolerance_stops_clearing():
    # Far enough behind to clear without siblings, but a sibling that close may be the face.
    g = gallery((1, 0.30, 0), (2, t.SIBLING_TOLERANCE - 0.02, 1))
    assert one(g, {1, 2}).status == "cleared"
    assert one(g, {1, 2}, siblings={1: {2}, 2: {1}}).status == "unknown"


def test_never_cleared_as_a_pupil_whose_sibling_has_no_reference():
    g = gallery((1, 0.20, 0), (3, 0.9, 1))
    assert one(g, {1, 3}, siblings={1: {99}}).status == "unknown"
    assert one(g, {1, 3}, siblings={3: {99}}).status == "cleared"


def test_never_cleared_as_a_pupil_with_a_twin_however_close():
    g = gallery((1, 0.05, 0), (2, 0.9, 1))
    assert one(g, {1, 2}, twins={1}).status == "unknown"
    assert one(g, {1, 2}, twins={2}).status == "cleared"


# --- Properties ----------------------------------------------------------------------------------
encodings = st.lists(st.floats(-0.3, 0.3), min_size=128, max_size=128).map(np.array)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(encodings, min_size=1, max_size=6),
    st.lists(encodings, min_size=1, max_size=4),
    st.sets(st.integers(0, 5)),
    st.sets(st.integers(0, 5)),
    st.dictionaries(st.integers(0, 5), st.sets(st.integers(0, 7), max_size=2), max_size=3),
)
def test_clears_only_publishable_event_pupils_and_fewer_with_kin(refs, faces, pub, event, kin):
    g = Gallery([Reference(i, f"U{i}", e) for i, e in enumerate(refs)])
    plain = decide_faces(faces, g, pub, candidates=event)
    with_kin = decide_faces(faces, g, pub, candidates=event, siblings=kin, twins=set(kin))
    for face, a, b in zip(faces, plain, with_kin, strict=True):
        assert a.status != "cleared" or (a.pupil_id in pub and a.pupil_id in event)
        assert not (b.status == "cleared" and a != b)  # kin only ever take clears away
        assert b.status != "blocked" or a == b  # ... and never add or move a block
        if a.status == "blocked" and b.status != "blocked":
            # Only a block by a protected sibling of a consented pupil strictly nearer the face
            # is handed to a person instead: no model tells siblings apart.
            dist = g.distances(face)
            nearest = int(g.pupil_ids[int(np.argmin(dist))])
            assert b.status == "unknown" and nearest in pub
            assert a.pupil_id in kin.get(nearest, ()) and dist[nearest] < dist[a.pupil_id]


def test_a_protected_sibling_level_with_the_consented_one_blocks():
    # Both siblings enrolled with the very same reference (one photo filed for both): the face
    # is as much the protected one's as the consented one's, so it is blocked, not handed on.
    g = Gallery([Reference(0, "U0", ORIGIN), Reference(1, "U1", ORIGIN)])
    plain = decide_faces([ORIGIN], g, {0})
    with_kin = decide_faces([ORIGIN], g, {0}, siblings={0: {1}}, twins={0})
    assert [d.status for d in plain] == [d.status for d in with_kin] == ["blocked"]
    assert with_kin[0].pupil_id == 1


def test_matching_value_is_the_thresholds_module():
    assert DEFAULT_MATCHING == Matching(
        t.STRICT_TOLERANCE, t.STRICT_TOLERANCE_EVENT, t.STRICT_TOLERANCE_LARGE,
        t.OLDER_TOLERANCE_BONUS,
        t.KIN_TOLERANCE_DROP, t.CLEAR_MARGIN, t.LOOSE_TOLERANCE, t.PLAUSIBLE_TOLERANCE,
        t.BLOCK_MARGIN, t.SIBLING_TOLERANCE)
    assert t.LOOSE_TOLERANCE <= t.PLAUSIBLE_TOLERANCE
    assert t.STRICT_TOLERANCE_LARGE <= t.STRICT_TOLERANCE_EVENT <= t.STRICT_TOLERANCE


# --- Children, older pupils and kin -------------------------------------------------------------
def test_everyone_is_matched_as_a_child_unless_known_to_be_older():
    wider = t.STRICT_TOLERANCE + t.OLDER_TOLERANCE_BONUS / 2
    g = gallery((1, wider, 0), (2, 1.2, 1))
    assert one(g, {1, 2}).status == "unknown"
    assert one(g, {1, 2}, older={1}).status == "cleared"
    assert one(g, {1, 2}, older={2}).status == "unknown"


def test_older_pupils_are_those_of_the_older_age_on_the_day():
    on = dt.date(2026, 9, 1)
    births = {
        1: dt.date(2026 - t.OLDER_PUPIL_AGE, 9, 1),  # the birthday itself
        2: dt.date(2026 - t.OLDER_PUPIL_AGE, 9, 2),  # one day short
        3: dt.date(2010 - t.OLDER_PUPIL_AGE, 1, 1),
        4: None,  # no date of birth: a child
    }
    assert older_pupils(births, on) == {1, 3}
    leap = {5: dt.date(2008, 2, 29)}  # born on 29 February
    assert older_pupils(leap, dt.date(2008 + t.OLDER_PUPIL_AGE, 2, 28)) == set()
    assert older_pupils(leap, dt.date(2008 + t.OLDER_PUPIL_AGE, 2, 29)) == {5}
    assert older_pupils(leap, dt.date(2009 + t.OLDER_PUPIL_AGE, 2, 28)) == {5}  # and after


def test_a_pupil_with_a_sibling_at_the_school_is_matched_tighter():
    tighter = t.STRICT_TOLERANCE - t.KIN_TOLERANCE_DROP / 2
    g = gallery((1, tighter, 0), (2, 1.2, 1), (3, 1.2, 2))
    assert one(g, {1, 2, 3}).status == "cleared"
    assert one(g, {1, 2, 3}, siblings={1: {3}, 3: {1}}).status == "unknown"
    assert one(g, {1, 2, 3}, siblings={2: {3}, 3: {2}}).status == "cleared"


def test_a_protected_sibling_behind_a_consented_sibling_sends_the_face_to_a_person():
    # Within LOOSE of the protected sibling, but nearer the consented one: review, not a block
    # (and never a clear); an unrelated protected pupil that close still blocks.
    g = gallery((1, 0.30, 0), (2, t.LOOSE_TOLERANCE - 0.02, 1), (3, 1.2, 2))
    assert one(g, {1, 3}).status == "blocked"
    assert one(g, {1, 3}, siblings={1: {2}, 2: {1}}).status == "unknown"
    assert one(g, {1, 3}, siblings={1: {3}, 3: {1}}).status == "blocked"


def test_a_protected_sibling_who_is_the_nearest_match_blocks():
    g = gallery((2, 0.30, 1), (1, 0.35, 0))
    face = one(g, {1}, siblings={1: {2}, 2: {1}})
    assert (face.status, face.pupil_id) == ("blocked", 2)


def test_families_from_shared_guardians_and_twins_from_the_same_birthday():

    from gatekeeper.screening.rule import families

    guardians = {1: ["Ann  Jones"], 2: ["ann jones", "Bob Jones"], 3: ["Bob Jones"],
                 4: ["Cy Lee"], 5: [""], 6: ["  "]}
    births = {1: dt.date(2016, 3, 1), 2: dt.date(2016, 3, 1), 3: dt.date(2016, 3, 1),
              4: dt.date(2016, 3, 1)}
    siblings, twins = families(guardians, births)
    assert siblings == {1: {2}, 2: {1, 3}, 3: {2}}
    assert twins == {1, 2, 3}  # 1 and 3 share no guardian but each is a twin of 2
    assert families(guardians, {1: dt.date(2016, 3, 1), 2: None})[1] == set()
    assert families({}, {}) == ({}, set())


# --- A block the DSL lifted --------------------------------------------------------------------
def test_a_lifted_pupil_is_out_of_that_face_s_decision_only():
    g = gallery((1, 0.30, 0), (2, 0.34, 1))  # 1 protected and nearest; 2 consented
    blocked, twin = decide_faces([ORIGIN, ORIGIN], g, {2})
    assert (blocked.status, blocked.pupil_id) == ("blocked", 1) == (twin.status, twin.pupil_id)
    first, second = decide_faces([ORIGIN, at(0.0, 5)], g, {2}, lifted={0: {1}})
    assert (first.status, first.pupil_id) == ("cleared", 2)
    assert (second.status, second.pupil_id) == ("blocked", 1)  # the other face is not lifted


def test_a_lift_never_makes_another_protected_pupil_harmless():
    g = gallery((1, 0.30, 0), (2, 0.34, 1), (3, 0.33, 2))  # 1 and 3 protected
    face = one(g, {2}, lifted={0: {1}})
    assert (face.status, face.pupil_id) == ("blocked", 3)
    face = one(g, {2}, lifted={0: {1, 3}})
    assert (face.status, face.pupil_id) == ("cleared", 2)


def test_lifting_every_pupil_leaves_an_unknown_face():
    face = one(gallery((1, 0.30, 0)), set(), lifted={0: {1}})
    assert (face.status, face.pupil_id) == ("unknown", None)


# --- Lookalikes and "may be X or their sibling Y" ----------------------------------------------
def lookalike_gallery(second_axis: int, sign: float = 1.0) -> Gallery:
    """Pupil 1 is 0.10 from the face; pupil 2 is 0.30 from it, either 0.32 from pupil 1 (on
    another axis: lookalikes) or 0.40 from pupil 1 (on the same axis, behind the face)."""
    return Gallery([Reference(1, "U1", at(0.10)),
                    Reference(2, "U2", at(sign * 0.30, second_axis))])


def test_lookalikes_are_pupils_whose_references_lie_within_the_blocking_distance():
    alike = lookalike_gallery(1)
    assert [(a, b) for a, b, _ in alike.lookalike_pairs(t.LOOSE_TOLERANCE)] == [(1, 2)]
    assert alike.lookalike_pairs(t.LOOSE_TOLERANCE)[0][2] == pytest.approx(0.1 ** .5)
    assert lookalike_gallery(0, -1.0).lookalike_pairs(t.LOOSE_TOLERANCE) == []


def test_a_face_is_never_cleared_as_one_of_two_lookalikes_that_are_both_near():
    apart = one(lookalike_gallery(0, -1.0), {1, 2})
    assert (apart.status, apart.pupil_id, apart.maybe) == ("cleared", 1, ())
    alike = one(lookalike_gallery(1), {1, 2})
    assert (alike.status, alike.pupil_id, alike.maybe) == ("unknown", None, (1, 2))
    # A protected sibling within the plausible distance: a person decides, and is not told who.
    protected = one(gallery((1, 0.10, 0), (2, 0.42, 1)), {1}, siblings={1: {2}, 2: {1}})
    assert (protected.status, protected.maybe, protected.maybe_protected) == (
        "unknown", (1,), True)


def test_a_lookalike_far_from_the_face_does_not_stop_the_clear():
    # Pupil 2's reference is 0.37 from pupil 1's but on the far side: 0.47 from the face.
    g = Gallery([Reference(1, "U1", at(0.10)), Reference(2, "U2", at(0.47))])
    assert [(a, b) for a, b, _ in g.lookalike_pairs(t.LOOSE_TOLERANCE)] == [(1, 2)]
    face = one(g, {1, 2})
    assert (face.status, face.pupil_id) == ("cleared", 1)


def test_an_unknown_face_says_which_siblings_it_may_be():
    g = gallery((1, 0.10, 0), (2, 0.40, 1))
    face = one(g, {1, 2}, siblings={1: {2}, 2: {1}})
    assert (face.status, face.maybe, face.no_reference_kin) == ("unknown", (1, 2), False)
    face = one(gallery((1, 0.10, 0)), {1}, siblings={1: {9}})  # 9 has no reference
    assert (face.status, face.maybe, face.no_reference_kin) == ("unknown", (1,), True)
    face = one(gallery((1, 0.10, 0)), {1}, twins={1})
    assert (face.status, face.maybe) == ("unknown", (1,))
    # No margin between two pupils: both named, nearest first; nobody near: nobody named.
    face = one(gallery((1, 0.20, 0), (2, 0.22, 1)), {1, 2})
    assert (face.status, face.maybe) == ("unknown", (1, 2))
    assert one(gallery((1, 0.70, 0)), {1}).maybe == ()
