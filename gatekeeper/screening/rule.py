"""The screening rule: pure functions over plain data (encodings in, decisions out).

See DESIGN.md "Screening a photo for purpose P". Thresholds live in thresholds.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np

from gatekeeper.screening import thresholds as t

CLEARED, BLOCKED, UNKNOWN = "cleared", "blocked", "unknown"
PHOTO_BLOCKED, PHOTO_NEEDS_REVIEW, PHOTO_CLEARED = "blocked", "needs_review", "cleared"
PHOTO_NO_FACES = "no_faces"  # nobody was screened: a person must look before release
ENCODING_SIZE = 128


@dataclass(frozen=True)
class Reference:
    """One enrolled reference face of a pupil."""

    pupil_id: int
    upn: str
    encoding: np.ndarray


class Gallery:
    """All reference encodings as one matrix, sorted by pupil, for vectorised matching."""

    def __init__(self, references: Iterable[Reference]):
        refs = sorted(references, key=lambda r: r.pupil_id)
        self.matrix = np.array([r.encoding for r in refs], dtype=np.float64).reshape(
            -1, ENCODING_SIZE
        )
        ids = np.array([r.pupil_id for r in refs], dtype=np.int64)
        # Index of each pupil's first reference: the segments np.minimum.reduceat works on.
        self.starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else ids
        self.squared_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self.pupil_ids = ids[self.starts]
        self.upns = [refs[i].upn for i in self.starts]

    def __len__(self) -> int:
        return len(self.pupil_ids)

    def distances(self, encoding: np.ndarray) -> np.ndarray:
        """Each pupil's distance to `encoding`: the nearest of that pupil's references."""
        if not len(self):
            return np.empty(0)
        probe = np.asarray(encoding, np.float64)
        # |a-b|^2 = |a|^2 - 2a.b + |b|^2: one matrix-vector product instead of a 50k x 128 copy.
        squared = self.squared_norms - 2 * (self.matrix @ probe) + probe @ probe
        return np.sqrt(np.minimum.reduceat(squared, self.starts).clip(0))

    def protected(self, publishable: Collection[int]) -> np.ndarray:
        """Mask over pupils: True for every pupil not in `publishable`."""
        allowed = np.fromiter(publishable, np.int64, len(publishable))
        return ~np.isin(self.pupil_ids, allowed)

    def best_per_pupil(self, encoding: np.ndarray) -> list[tuple[int, str, float]]:
        """(pupil_id, upn, distance) for every pupil, nearest first."""
        dist = self.distances(encoding)
        return [
            (int(self.pupil_ids[i]), self.upns[i], float(dist[i]))
            for i in np.argsort(dist, kind="stable")
        ]


@dataclass(frozen=True)
class FaceDecision:
    """The status of one detected face, with the pupil it concerns (if any)."""

    status: str  # "cleared" | "blocked" | "unknown"
    pupil_id: int | None = None
    upn: str | None = None
    distance: float | None = None


UNKNOWN_FACE = FaceDecision(UNKNOWN)


def decide_face(
    encoding: np.ndarray | None, gallery: Gallery, protected: np.ndarray
) -> FaceDecision:
    """One face on its own: blocked, a candidate clear, or unknown (`protected` per pupil)."""
    if encoding is None or not len(gallery):
        return UNKNOWN_FACE
    dist = gallery.distances(encoding)
    near_protected = np.flatnonzero(protected & (dist <= t.LOOSE_TOLERANCE))
    if near_protected.size:
        return _decision(BLOCKED, gallery, near_protected[np.argmin(dist[near_protected])], dist)
    order = np.argsort(dist, kind="stable")
    best = order[0]
    runner_up = dist[order[1]] if order.size > 1 else np.inf
    if dist[best] <= t.STRICT_TOLERANCE and runner_up - dist[best] >= t.CLEAR_MARGIN:
        return _decision(CLEARED, gallery, best, dist)
    return UNKNOWN_FACE


def _decision(status: str, gallery: Gallery, index: int, dist: np.ndarray) -> FaceDecision:
    return FaceDecision(
        status, int(gallery.pupil_ids[index]), gallery.upns[index], float(dist[index])
    )


def decide_faces(
    encodings: list[np.ndarray | None], gallery: Gallery, publishable: Collection[int]
) -> list[FaceDecision]:
    """Every face of one photo; a pupil cleared on two faces clears on neither."""
    protected = gallery.protected(publishable)
    decisions = [decide_face(e, gallery, protected) for e in encodings]
    cleared = Counter(d.pupil_id for d in decisions if d.status == CLEARED)
    return [
        UNKNOWN_FACE if d.status == CLEARED and cleared[d.pupil_id] > 1 else d for d in decisions
    ]


def photo_verdict(decisions: list[FaceDecision]) -> str:
    """Blocked if any face is, else needs_review if any is unknown, else cleared; no_faces for none
    (a face the detector missed is a child nobody screened)."""
    if not decisions:
        return PHOTO_NO_FACES
    statuses = {d.status for d in decisions}
    if BLOCKED in statuses:
        return PHOTO_BLOCKED
    if UNKNOWN in statuses:
        return PHOTO_NEEDS_REVIEW
    return PHOTO_CLEARED
