"""The screening rule: pure functions over plain data (encodings in, decisions out).

See DESIGN.md "Screening a photo for purpose P". Thresholds live in thresholds.py.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from copy import copy
from dataclasses import dataclass

import numpy as np

from gatekeeper.screening import thresholds as t
from gatekeeper.states import FaceStatus, PhotoState

ENCODING_SIZE = 128
EMBEDDING_SIZE = 192
# The distances a face can be matched by: dlib's encoding alone, MobileFaceNet's embedding alone,
# or both fused (thresholds.py: FUSED_DLIB_WEIGHT, MOBILEFACENET_SCALE).
DLIB, MOBILEFACENET, FUSED = "dlib", "mobilefacenet", "fused"
EMBEDDINGS = (DLIB, MOBILEFACENET, FUSED)


@dataclass(frozen=True)
class FaceVectors:
    """A face as the models see it: dlib's 128-d encoding and, where it was computed (not for
    faces screened or references enrolled before it existed), MobileFaceNet's 192-d embedding."""

    encoding: np.ndarray
    embedding: np.ndarray | None = None


def face_vectors(face: FaceVectors | np.ndarray) -> FaceVectors:
    """A face's vectors; a bare array is a dlib encoding alone."""
    return face if isinstance(face, FaceVectors) else FaceVectors(np.asarray(face))


@dataclass(frozen=True)
class Reference:
    """One enrolled reference face of a pupil."""

    pupil_id: int
    upn: str
    encoding: np.ndarray
    embedding: np.ndarray | None = None  # None: enrolled before MobileFaceNet, not re-embedded

    @classmethod
    def of(cls, pupil_id: int, upn: str, vectors: FaceVectors) -> Reference:
        return cls(pupil_id, upn, vectors.encoding, vectors.embedding)


def _squared(matrix: np.ndarray, norms: np.ndarray, probe: np.ndarray) -> np.ndarray:
    """Squared Euclidean distance from `probe` to every row of `matrix` (|row|^2 given)."""
    # |a-b|^2 = |a|^2 - 2a.b + |b|^2: one matrix-vector product instead of a 50k x 128 copy.
    return (norms - 2 * (matrix @ probe) + probe @ probe).clip(0)


def fuse(dlib: np.ndarray, mobilefacenet: np.ndarray) -> np.ndarray:
    """The fused distance: a weighted sum, MobileFaceNet's distance scaled to dlib's."""
    weight = t.FUSED_DLIB_WEIGHT
    return weight * dlib + (1 - weight) * t.MOBILEFACENET_SCALE * mobilefacenet


def pairwise_distances(faces: list[FaceVectors], embedding: str) -> np.ndarray:
    """Every face's distance to every other, by `embedding` (the pair evaluation's matrix)."""
    def euclidean(vectors):
        matrix = np.asarray(vectors, np.float64)
        norms = np.einsum("ij,ij->i", matrix, matrix)
        return np.sqrt((norms[:, None] + norms[None, :] - 2 * matrix @ matrix.T).clip(0))

    dlib = euclidean([f.encoding for f in faces]) if embedding != MOBILEFACENET else None
    mfn = euclidean([f.embedding for f in faces]) if embedding != DLIB else None
    if embedding == FUSED:
        return fuse(dlib, mfn)
    return dlib if embedding == DLIB else mfn


class Gallery:
    """All reference vectors as matrices, sorted by pupil, for vectorised matching.

    `embedding` says which distance it matches by; by default thresholds.MATCH_BY when every
    reference has MobileFaceNet's embedding, else DLIB (the measured rule for dlib alone)."""

    def __init__(self, references: Iterable[Reference], embedding: str | None = None):
        refs = sorted(references, key=lambda r: r.pupil_id)
        self.matrix = np.array([r.encoding for r in refs], dtype=np.float64).reshape(
            -1, ENCODING_SIZE
        )
        complete = bool(refs) and all(r.embedding is not None for r in refs)
        self.embeddings = np.array(
            [r.embedding for r in refs] if complete else [], dtype=np.float64
        ).reshape(-1, EMBEDDING_SIZE)
        self.embedding = embedding or (t.MATCH_BY if complete else DLIB)
        if self.embedding != DLIB and not complete:
            raise ValueError(f"a {self.embedding} gallery needs every reference's embedding")
        ids = np.array([r.pupil_id for r in refs], dtype=np.int64)
        # Index of each pupil's first reference: the segments np.minimum.reduceat works on.
        self.starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else ids
        self.squared_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self.squared_embedding_norms = np.einsum("ij,ij->i", self.embeddings, self.embeddings)
        self.pupil_ids = ids[self.starts]
        self.upns = [refs[i].upn for i in self.starts]

    def __len__(self) -> int:
        return len(self.pupil_ids)

    def by(self, embedding: str) -> Gallery:
        """The same references, matched by another distance."""
        if embedding != DLIB and len(self.embeddings) != len(self.matrix):
            raise ValueError(f"a {embedding} gallery needs every reference's embedding")
        other = copy(self)
        other.embedding = embedding
        return other

    def for_faces(self, faces) -> Gallery:
        """This gallery, or its DLIB view when some face lacks MobileFaceNet's embedding (a face
        screened before it existed): one photo is always decided by one distance."""
        vectors = [face_vectors(f) for f in faces if f is not None]
        if self.embedding == DLIB or all(v.embedding is not None for v in vectors):
            return self
        return self.by(DLIB)

    def distances(self, face: FaceVectors | np.ndarray) -> np.ndarray:
        """Each pupil's distance to the face: the nearest of that pupil's references."""
        if not len(self):
            return np.empty(0)
        vectors = face_vectors(face)
        if self.embedding == DLIB:
            per_reference = np.sqrt(_squared(
                self.matrix, self.squared_norms, np.asarray(vectors.encoding, np.float64)))
        else:
            if vectors.embedding is None:
                raise ValueError(f"matching by {self.embedding} needs the face's embedding")
            per_reference = np.sqrt(_squared(self.embeddings, self.squared_embedding_norms,
                                             np.asarray(vectors.embedding, np.float64)))
            if self.embedding == FUSED:
                dlib = np.sqrt(_squared(self.matrix, self.squared_norms,
                                        np.asarray(vectors.encoding, np.float64)))
                per_reference = fuse(dlib, per_reference)
        return np.minimum.reduceat(per_reference, self.starts)

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

    status: FaceStatus
    pupil_id: int | None = None
    upn: str | None = None
    distance: float | None = None


UNKNOWN_FACE = FaceDecision(FaceStatus.UNKNOWN)


@dataclass(frozen=True)
class Matching:
    """The matching thresholds as one value, so the evaluation can sweep them (thresholds.py)."""

    strict: float = t.STRICT_TOLERANCE  # clear radius with up to SMALL_GALLERY candidates
    strict_event: float = t.STRICT_TOLERANCE_EVENT  # ... with EVENT_GALLERY
    strict_large: float = t.STRICT_TOLERANCE_LARGE  # ... and with LARGE_GALLERY or more
    older_bonus: float = t.OLDER_TOLERANCE_BONUS  # added for pupils known to be older
    kin_drop: float = t.KIN_TOLERANCE_DROP  # taken off for pupils with a sibling at the school
    clear_margin: float = t.CLEAR_MARGIN
    loose: float = t.LOOSE_TOLERANCE
    plausible: float = t.PLAUSIBLE_TOLERANCE
    block_margin: float = t.BLOCK_MARGIN
    sibling: float = t.SIBLING_TOLERANCE

    def strict_for(self, candidates: int) -> float:
        """The clear radius for this many candidates, interpolated in log(candidates) between
        the three measured sizes: the chance that some stranger falls within a distance of some
        candidate grows with their number."""
        sizes = np.log([t.SMALL_GALLERY, t.EVENT_GALLERY, t.LARGE_GALLERY])
        radii = [self.strict, self.strict_event, self.strict_large]
        return float(np.interp(np.log(max(candidates, 1)), sizes, radii))


DEFAULT_MATCHING = Matching()  # dlib's encoding alone
# Each distance has its own scale, so its own thresholds (thresholds.py, with their evidence).
MATCHINGS = {
    DLIB: DEFAULT_MATCHING,
    MOBILEFACENET: Matching(**t.MOBILEFACENET_MATCHING),
    FUSED: Matching(**t.FUSED_MATCHING),
}


@dataclass(frozen=True)
class Context:
    """What one photo is decided against, as masks over the gallery's pupils."""

    protected: np.ndarray  # not publishable for the purpose: blocks where a plausible match
    candidates: np.ndarray  # may be cleared (an event's pupils; the whole school outside one)
    never_clear: np.ndarray  # has a twin, or a sibling at the school with no reference face
    guarded_by: dict[int, np.ndarray]  # pupil index -> indices of its protected siblings
    kin_of: dict[int, np.ndarray]  # pupil index -> indices of all its siblings with a reference
    strict: np.ndarray  # each pupil's clear radius (number of candidates, age, kin)
    matching: Matching


def build_context(
    gallery: Gallery,
    publishable: Collection[int],
    candidates: Collection[int] | None = None,
    siblings: Mapping[int, Collection[int]] | None = None,
    twins: Collection[int] = (),
    matching: Matching | None = None,
    older: Collection[int] = (),
) -> Context:
    """The masks `decide_distances` needs; `candidates` None means the whole school; `matching`
    None means the thresholds of the distance the gallery matches by."""
    matching = matching or MATCHINGS[gallery.embedding]
    protected = gallery.protected(publishable)
    if candidates is None:
        allowed = np.ones(len(gallery), dtype=bool)
    else:
        allowed = np.isin(gallery.pupil_ids, np.fromiter(candidates, np.int64, len(candidates)))
    index = {int(pid): i for i, pid in enumerate(gallery.pupil_ids)}
    never_clear = np.zeros(len(gallery), dtype=bool)
    guarded_by: dict[int, np.ndarray] = {}
    kin_of: dict[int, np.ndarray] = {}
    twins = set(twins)
    for pid, kin in (siblings or {}).items():
        if pid not in index:
            continue
        i = index[pid]
        # A sibling with no reference could be the face and nothing would show it: no clearing.
        never_clear[i] = any(s not in index for s in kin)
        known = [index[s] for s in kin if s in index]
        if known:
            kin_of[i] = np.array(known, dtype=np.int64)
        shielding = [k for k in known if protected[k]]
        if shielding:
            guarded_by[i] = np.array(shielding, dtype=np.int64)
    for pid in twins & index.keys():
        never_clear[index[pid]] = True  # no model tells twins apart
    radius = np.full(len(gallery), matching.strict_for(int(allowed.sum())))
    if older:
        radius[np.isin(gallery.pupil_ids, np.fromiter(older, np.int64, len(older)))] += (
            matching.older_bonus)
    with_kin = [index[p] for p, kin in (siblings or {}).items() if p in index and kin]
    radius[with_kin] -= matching.kin_drop  # siblings sit closer than strangers
    return Context(protected, allowed, never_clear, guarded_by, kin_of, radius, matching)


def decide_distances(dist: np.ndarray, ctx: Context) -> tuple[FaceStatus, int | None]:
    """One face from its distance to every pupil: (status, index of the pupil concerned).

    Blocked when a protected pupil is within `loose`, or within `plausible` and no more than
    `block_margin` further than the nearest pupil (a plausible match relative to the others),
    unless the nearest pupil is a consented sibling of theirs: then unknown, for a person.
    Cleared only as the confident match (nearest of the whole school, within the clear radius for
    the number of candidates, `clear_margin` ahead of every other pupil) when that pupil is a
    candidate, publishable, with no twin, no reference-less sibling, no protected sibling within
    `plausible` and no sibling at all within `sibling`. Anything else is unknown: a person decides.
    """
    m = ctx.matching
    if not dist.size:
        return FaceStatus.UNKNOWN, None
    closest = int(np.argmin(dist))
    nearest = float(dist[closest])
    blocking = ctx.protected & (
        (dist <= m.loose) | ((dist <= m.plausible) & (dist - nearest <= m.block_margin))
    )
    if not ctx.protected[closest] and closest in ctx.guarded_by:
        # Nearer to a consented pupil than to that pupil's protected sibling: no model tells
        # siblings apart, so a person decides (never cleared: see the sibling check below).
        blocking[ctx.guarded_by[closest]] = False
    if blocking.any():
        hits = np.flatnonzero(blocking)
        return FaceStatus.BLOCKED, int(hits[np.argmin(dist[hits])])
    best = confident_match(dist, ctx)
    clear = (
        best is not None
        and ctx.candidates[best]
        and not ctx.protected[best]
        and not ctx.never_clear[best]
        and not (best in ctx.guarded_by and (dist[ctx.guarded_by[best]] <= m.plausible).any())
        and not (best in ctx.kin_of and (dist[ctx.kin_of[best]] <= m.sibling).any())
    )
    return (FaceStatus.CLEARED, best) if clear else (FaceStatus.UNKNOWN, None)


def confident_match(dist: np.ndarray, ctx: Context) -> int | None:
    """The nearest pupil when within the clear radius and `clear_margin` ahead of every other
    pupil, whatever the consent: the only pupil a face may ever be cleared as."""
    if not dist.size:
        return None
    best = int(np.argmin(dist))
    # The second-smallest distance without sorting 25,000 pupils (a tie gives no margin).
    runner_up = np.partition(dist, 1)[1] if dist.size > 1 else np.inf
    if dist[best] <= ctx.strict[best] and runner_up - dist[best] >= ctx.matching.clear_margin:
        return best
    return None


def decide_face(
    encoding: np.ndarray | None, gallery: Gallery, context: Context | np.ndarray
) -> FaceDecision:
    """One face on its own: blocked, a candidate clear, or unknown.

    `context` is a Context, or (older callers) the per-pupil protected mask, whole school."""
    if encoding is None or not len(gallery):
        return UNKNOWN_FACE
    gallery = gallery.for_faces([encoding])
    if not isinstance(context, Context):
        context = _whole_school(gallery, np.asarray(context, dtype=bool))
    return _decide(gallery.distances(encoding), gallery, context)


def _decide(dist: np.ndarray, gallery: Gallery, context: Context) -> FaceDecision:
    status, index = decide_distances(dist, context)
    return UNKNOWN_FACE if index is None else _decision(status, gallery, index, dist)


def _whole_school(gallery: Gallery, protected: np.ndarray) -> Context:
    publishable = gallery.pupil_ids[~protected].tolist()
    return build_context(gallery, publishable)


def _decision(status: FaceStatus, gallery: Gallery, index: int, dist: np.ndarray) -> FaceDecision:
    return FaceDecision(
        status, int(gallery.pupil_ids[index]), gallery.upns[index], float(dist[index])
    )


def decide_faces(
    encodings: list[np.ndarray | None],
    gallery: Gallery,
    publishable: Collection[int],
    candidates: Collection[int] | None = None,
    siblings: Mapping[int, Collection[int]] | None = None,
    twins: Collection[int] = (),
    matching: Matching | None = None,
    older: Collection[int] = (),
) -> list[FaceDecision]:
    """Every face of one photo; a pupil cleared on two faces clears on neither.

    `candidates`: the pupils who may be cleared (an event's pupils; None = the whole school).
    Every pupil still counts for blocking and for the margin, so a face nearest a pupil outside
    the event is unknown. `siblings`: pupil -> the pupil's siblings at the school (sharing a
    guardian); `twins`: pupils who have a twin at the school (never auto-cleared); `older`:
    pupils known to be older (adult-like faces), whose clear radius is wider. Everyone else is
    matched as a child, the safe default. `encodings`: each face's FaceVectors (or a bare dlib
    encoding); a photo with any face lacking MobileFaceNet's embedding is matched by dlib."""
    gallery = gallery.for_faces(encodings)
    context = build_context(gallery, publishable, candidates, siblings, twins, matching, older)
    dists = [None if e is None or not len(gallery) else gallery.distances(e) for e in encodings]
    decisions = [UNKNOWN_FACE if d is None else _decide(d, gallery, context) for d in dists]
    # Counted over confident matches, not clears: whether another face of the same pupil is
    # blocked must not turn this one from unknown into cleared when consent is withdrawn.
    matches = Counter(
        int(gallery.pupil_ids[i]) for d in dists if d is not None
        for i in [confident_match(d, context)] if i is not None
    )
    return [
        UNKNOWN_FACE if d.status == FaceStatus.CLEARED and matches[d.pupil_id] > 1 else d
        for d in decisions
    ]


def photo_verdict(decisions: list[FaceDecision]) -> PhotoState:
    """Blocked if any face is, else needs_review if any is unknown, else cleared; no_faces for none
    (a face the detector missed is a child nobody screened)."""
    if not decisions:
        return PhotoState.NO_FACES  # nobody was screened: a person must look before release
    statuses = {d.status for d in decisions}
    if FaceStatus.BLOCKED in statuses:
        return PhotoState.BLOCKED
    if FaceStatus.UNKNOWN in statuses:
        return PhotoState.NEEDS_REVIEW
    return PhotoState.CLEARED


def families(
    guardians: Mapping[int, Collection[str]], births: Mapping[int, object] | None = None
) -> tuple[dict[int, set[int]], set[int]]:
    """Siblings and twins from the register: pupils who share a guardian (by name, compared
    case- and space-insensitively) are siblings; siblings born the same day are twins.
    Returns (pupil -> siblings, pupils with a twin), the `siblings` and `twins` of decide_faces."""
    by_guardian: dict[str, set[int]] = {}
    for pupil, names in guardians.items():
        for name in names:
            key = " ".join(str(name).casefold().split())
            if key:
                by_guardian.setdefault(key, set()).add(pupil)
    siblings: dict[int, set[int]] = {}
    for group in by_guardian.values():
        for pupil in group:
            siblings.setdefault(pupil, set()).update(group - {pupil})
    births = births or {}
    twins = {
        p for p, kin in siblings.items()
        if births.get(p) is not None and any(births.get(s) == births[p] for s in kin)
    }
    return {p: kin for p, kin in siblings.items() if kin}, twins
