"""Faces of one event grouped by likeness, so that a person names the same child once, not in
every photo.

Pure: encodings in, groups of indices out. The faces of one day (the same light, clothes, hair and
camera) match each other far better than a reference photo taken months before does, so faces
that the rule could not put a name to still fall together. A group holds only faces that are all
within GROUP_TOLERANCE of one another (complete linkage): one face can never chain two people into
one group. Nothing here decides anything: a person names the group, and the rule still decides
each face (gatekeeper/review/service.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

# Measured with `make bench-grouping` (bench/bench_grouping.py; the README's "Review at the speed
# of a sports day" has the table): events of 20 labelled adults (LFW, read in place), five faces
# each. One day (each person's photo re-composed at other sizes and places): a person's faces were
# 0.10 apart (median; 95th percentile 0.19), while the nearest other person was never nearer than
# 0.46. No group held two people up to 0.46; at 0.50 five wrong pairs appeared. Photos of other
# days (the hard case) group far less: at 0.38 a person's faces fell into 3.7 groups.
# 0.38 is the rule's LOOSE_TOLERANCE: faces this close are what the rule already treats as
# plausibly one person. A wrong member costs a person's look, never a release: the media lead
# sees every face of a group before naming it and can take one out.
GROUP_TOLERANCE = 0.38
# A name is suggested for a group only when faces the rule cleared, or a person named, in the same
# group agree on it this often (and at least twice): a suggestion is a shortcut, never a decision.
SUGGEST_AGREEMENT = 0.75
SUGGEST_MIN_FACES = 2


def group_by_likeness(encodings: Sequence[np.ndarray],
                      tolerance: float = GROUP_TOLERANCE) -> list[list[int]]:
    """Indices of `encodings` in groups whose members are all within `tolerance` of each other.

    Faces are taken in the order given (put the clearest first): each joins the group it is
    nearest to on average among those it is close enough to every member of, or starts one.
    Groups come out largest first, members in the order given."""
    count = len(encodings)
    if not count:
        return []
    matrix = np.asarray(encodings, dtype=np.float64).reshape(count, -1)
    labels = np.full(count, -1, dtype=np.int64)
    groups = 0
    for i in range(count):
        if i:
            labels[i] = _nearest_group(matrix, labels[:i], i, groups, tolerance)
        if labels[i] < 0:
            labels[i], groups = groups, groups + 1
    members: list[list[int]] = [[] for _ in range(groups)]
    for index, label in enumerate(labels):
        members[label].append(index)
    return sorted(members, key=lambda group: (-len(group), group[0]))


def _nearest_group(matrix: np.ndarray, labels: np.ndarray, i: int, groups: int,
                   tolerance: float) -> int:
    """The group face `i` joins (every member within `tolerance`), or -1 for a new one."""
    distances = np.linalg.norm(matrix[:i] - matrix[i], axis=1)
    farthest = np.zeros(groups)
    np.maximum.at(farthest, labels, distances)
    mean = np.bincount(labels, weights=distances, minlength=groups) / np.bincount(
        labels, minlength=groups)
    mean[farthest > tolerance] = np.inf
    best = int(np.argmin(mean))
    return best if np.isfinite(mean[best]) else -1


def suggested_pupil(named: Sequence[int | None]) -> int | None:
    """The pupil that the named members of a group (cleared by the rule or named by a person)
    agree on, or None: `named` holds one pupil id (or None) per member."""
    ids = [pupil for pupil in named if pupil is not None]
    if not ids:
        return None
    pupil, votes = Counter(ids).most_common(1)[0]
    if votes < SUGGEST_MIN_FACES or votes < SUGGEST_AGREEMENT * len(ids):
        return None
    return pupil
