"""The life cycles in gatekeeper/states.py: the table of moves is what `move` enforces, and no
module compares a state with a bare string (so the states cannot drift out of the one module)."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper import states
from gatekeeper.states import (
    FIELDS,
    TRANSITIONS,
    InvalidTransition,
    PhotoState,
    PostState,
    TakedownState,
    check_transition,
    move,
)

ROOT = Path(__file__).resolve().parents[2]
MACHINES = list(TRANSITIONS)
# Sorted, so that every pytest-xdist worker collects the same tests in the same order.
ALLOWED = sorted(((old, new) for machine in MACHINES for old, news in TRANSITIONS[machine].items()
                  for new in news), key=lambda move: (type(move[0]).__name__, move[0], move[1]))


def row(state) -> SimpleNamespace:
    """A stand-in for a Photo, Post or Takedown: `move` only reads and sets the state column."""
    return SimpleNamespace(status=state, state=state)


def test_every_state_has_a_row_in_its_table_and_moves_only_to_its_own_states():
    for machine in MACHINES:
        assert set(TRANSITIONS[machine]) == set(machine)
        for news in TRANSITIONS[machine].values():
            assert all(type(new) is machine for new in news)


def test_the_values_are_those_in_the_database():
    assert {s.value for s in PhotoState} == {
        "uploaded", "screening", "failed", "blocked", "needs_review", "cleared", "no_faces",
        "queued", "published", "rejected", "withdrawn"}
    assert {s.value for s in PostState} == {
        "queued", "publishing", "published", "failed", "held", "withdrawn"}
    assert {s.value for s in TakedownState} == {"pending", "manual", "done"}
    assert {s.value for s in states.FaceStatus} == {"cleared", "blocked", "unknown"}


@pytest.mark.parametrize(("old", "new"), ALLOWED,
                         ids=[f"{type(o).__name__}:{o}->{n}" for o, n in ALLOWED])
def test_every_move_in_the_table_is_accepted(old, new):
    moved = row(old.value)  # as read from the database: a plain string
    move(moved, new)
    assert getattr(moved, FIELDS[type(new)]) == new


@pytest.mark.parametrize(("old", "new"), [
    (PhotoState.PUBLISHED, PhotoState.UPLOADED),
    (PhotoState.PUBLISHED, PhotoState.BLOCKED),
    (PhotoState.QUEUED, PhotoState.BLOCKED),
    (PhotoState.REJECTED, PhotoState.CLEARED),
    (PhotoState.WITHDRAWN, PhotoState.QUEUED),
    (PhotoState.UPLOADED, PhotoState.CLEARED),
    (PhotoState.SCREENING, PhotoState.QUEUED),
    (PhotoState.CLEARED, PhotoState.PUBLISHED),
    (PostState.WITHDRAWN, PostState.QUEUED),
    (PostState.WITHDRAWN, PostState.FAILED),
    (PostState.PUBLISHED, PostState.PUBLISHING),
    (PostState.HELD, PostState.PUBLISHING),
    (PostState.QUEUED, PostState.PUBLISHED),
    (PostState.FAILED, PostState.PUBLISHED),
    (TakedownState.DONE, TakedownState.MANUAL),
])
def test_impossible_moves_raise_naming_both_states(old, new):
    moved = row(old.value)
    with pytest.raises(InvalidTransition) as raised:
        move(moved, new)
    assert f"from {old} to {new}" in str(raised.value)
    assert getattr(moved, FIELDS[type(new)]) == old  # nothing was changed
    assert isinstance(raised.value, ValueError)


def test_a_value_that_is_no_state_of_the_machine_raises():
    with pytest.raises(InvalidTransition, match="'pending' is not a state"):
        move(row("pending"), PostState.WITHDRAWN)
    with pytest.raises(InvalidTransition, match="None is not a state"):
        move(row(None), PhotoState.SCREENING)


def test_check_transition_takes_every_state_of_a_bulk_update():
    check_transition(states.PHOTO_SCREENABLE, PhotoState.SCREENING)
    with pytest.raises(InvalidTransition, match="from uploaded to failed"):
        check_transition([PhotoState.SCREENING, PhotoState.UPLOADED], PhotoState.FAILED)


@st.composite
def pairs(draw):
    machine = draw(st.sampled_from(MACHINES))
    return draw(st.sampled_from(list(machine))), draw(st.sampled_from(list(machine)))


@given(pairs())
def test_move_accepts_exactly_the_pairs_in_the_table(pair):
    old, new = pair
    moved = row(str(old))
    try:
        move(moved, new)
        accepted = True
    except InvalidTransition:
        accepted = False
    assert accepted == (new in TRANSITIONS[type(new)][old])


def test_the_groups_hold_states_of_one_machine():
    groups = {name: value for name, value in vars(states).items()
              if name.startswith(("PHOTO_", "POST_"))}
    assert groups
    for name, group in groups.items():
        machine = PhotoState if name.startswith("PHOTO_") else PostState
        assert group and all(type(s) is machine for s in group), name


# --- No bare strings -------------------------------------------------------------------------

STATE_ATTRIBUTES = {"status", "state"}
# consent/ keeps its own statuses (granted, refused, ...) and may not import gatekeeper.
CONSENT_MODELS = {"ConsentRecord", "BiometricConsent"}


def bare_strings(node: ast.expr) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(bare_strings(e) for e in node.elts)
    return False


def string_comparisons(tree: ast.AST) -> list[int]:
    """Lines comparing `<x>.status` or `<x>.state` with a string literal (or a collection of)."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Compare):
            continue
        left = node.left
        if not (isinstance(left, ast.Attribute) and left.attr in STATE_ATTRIBUTES):
            continue
        if isinstance(left.value, ast.Name) and left.value.id in CONSENT_MODELS:
            continue
        if any(bare_strings(c) for c in node.comparators):
            found.append(node.lineno)
    return found


def test_the_checker_finds_bare_strings():
    source = ('a = photo.status == "cleared"\nb = post.state in ("queued", "held")\n'
              'c = photo.status != PhotoState.CLEARED\nd = answer.status in (404, 410)\n'
              'e = ConsentRecord.status == "granted"\nf = Post.state.in_(POST_LIVE)\n')
    assert string_comparisons(ast.parse(source)) == [1, 2]


def test_no_module_compares_a_state_with_a_bare_string():
    found = []
    for path in sorted((ROOT / "gatekeeper").rglob("*.py")):
        if path.name == "states.py" or "migrations" in path.parts:
            continue
        for line in string_comparisons(ast.parse(path.read_text())):
            found.append(f"{path.relative_to(ROOT)}:{line}")
    assert found == []
