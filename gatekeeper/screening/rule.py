"""The screening rule: pure functions over plain data (encodings in, decisions out).

See DESIGN.md "Screening a photo for purpose P". Thresholds live in thresholds.py.
"""

from __future__ import annotations

import datetime as dt
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
    taken_on: dt.date | None = None  # None: undated (counted as new)

    @classmethod
    def of(cls, pupil_id: int, upn: str, vectors: FaceVectors,
           taken_on: dt.date | None = None) -> Reference:
        return cls(pupil_id, upn, vectors.encoding, vectors.embedding, taken_on)


def years_past_fresh(taken_on: dt.date | None, on: dt.date | None) -> float:
    """How many years past REFERENCE_FRESH_YEARS a reference is on `on` (0 when undated): each
    adds the matching's age penalty to its distance when clearing (never when blocking)."""
    if taken_on is None or on is None:
        return 0.0
    return max(0.0, (on - taken_on).days / 365.25 - t.REFERENCE_FRESH_YEARS)


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
    reference has MobileFaceNet's embedding, else DLIB (the measured rule for dlib alone). `on`:
    the date the references' ages are counted at (older references weigh less when clearing)."""

    def __init__(self, references: Iterable[Reference], embedding: str | None = None,
                 on: dt.date | None = None):
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
        self.ages = np.array([years_past_fresh(r.taken_on, on) for r in refs], dtype=np.float64)
        ids = np.array([r.pupil_id for r in refs], dtype=np.int64)
        # Index of each pupil's first reference: the segments np.minimum.reduceat works on.
        self.starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else ids
        self.squared_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self.squared_embedding_norms = np.einsum("ij,ij->i", self.embeddings, self.embeddings)
        self.pupil_ids = ids[self.starts]
        self.upns = [refs[i].upn for i in self.starts]
        self._alike: dict[tuple[int, float, str], np.ndarray] = {}

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
        return np.minimum.reduceat(self._to_references(face_vectors(face)), self.starts)

    def aged_distances(self, face: FaceVectors | np.ndarray,
                       per_year: float) -> np.ndarray | None:
        """Each pupil's distance for clearing: the nearest reference once `per_year` for each
        year of its age past the fresh period is added; None when no reference is that old (the
        same as `distances`)."""
        if not len(self) or not per_year or not self.ages.any():
            return None
        per_reference = self._to_references(face_vectors(face)) + per_year * self.ages
        return np.minimum.reduceat(per_reference, self.starts)

    def _to_references(self, vectors: FaceVectors) -> np.ndarray:
        """The face's distance to every reference, by the gallery's distance."""
        probes = (vectors.encoding[None, :], vectors.embedding[None, :]
                  if vectors.embedding is not None else None)
        if self.embedding != DLIB and vectors.embedding is None:
            raise ValueError(f"matching by {self.embedding} needs the face's embedding")
        return self._between(*probes)[0]

    def _between(self, encodings: np.ndarray, embeddings: np.ndarray | None,
                 rows: np.ndarray | None = None) -> np.ndarray:
        """Distances (probes x references, or x the given reference rows) by the gallery's
        distance, for probes given as dlib encodings and MobileFaceNet embeddings."""
        def euclidean(probes, matrix, norms):
            matrix, norms = (matrix, norms) if rows is None else (matrix[rows], norms[rows])
            probes = np.asarray(probes, np.float64)
            squared = (np.einsum("ij,ij->i", probes, probes)[:, None] - 2 * probes @ matrix.T
                       + norms[None, :])
            return np.sqrt(squared.clip(0))

        if self.embedding == DLIB:
            return euclidean(encodings, self.matrix, self.squared_norms)
        mfn = euclidean(embeddings, self.embeddings, self.squared_embedding_norms)
        if self.embedding == FUSED:
            return fuse(euclidean(encodings, self.matrix, self.squared_norms), mfn)
        return mfn

    def references_of(self, index: int) -> np.ndarray:
        """The rows of the matrices holding pupil `index`'s references."""
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.matrix)
        return np.arange(self.starts[index], end)

    def _pupil_refs(self, index: int) -> tuple[np.ndarray, np.ndarray | None]:
        rows = self.references_of(index)
        return self.matrix[rows], self.embeddings[rows] if len(self.embeddings) else None

    def alike(self, index: int, within: float) -> np.ndarray:
        """Indices of the other pupils with a reference within `within` of one of pupil
        `index`'s references (by the gallery's distance): lookalikes, whom the rule never
        clears each other as."""
        key = (index, within, self.embedding)
        if key not in self._alike:
            nearest = self._between(*self._pupil_refs(index)).min(axis=0)
            near = np.minimum.reduceat(nearest, self.starts) <= within
            near[index] = False
            self._alike[key] = np.flatnonzero(near)
        return self._alike[key]

    def lookalike_pairs(self, within: float) -> list[tuple[int, int, float]]:
        """Every pair of pupils (ids, lower first) whose references come within `within` of
        each other, with the distance of their nearest two references, nearest pair first."""
        pairs = {pair for i in range(len(self)) for pair in self._pairs(i, within)}
        return sorted(pairs, key=lambda pair: (pair[2], pair[0], pair[1]))

    def lookalike_pairs_of(self, pupil_id: int, within: float) -> list[tuple[int, int, float]]:
        """As lookalike_pairs, for the pairs one pupil is in."""
        found = np.flatnonzero(self.pupil_ids == pupil_id)
        if not found.size:
            return []
        return sorted(self._pairs(int(found[0]), within), key=lambda pair: pair[2])

    def _pairs(self, i: int, within: float) -> list[tuple[int, int, float]]:
        pairs = []
        for j in map(int, self.alike(i, within)):
            gap = float(self._between(*self._pupil_refs(i), rows=self.references_of(j)).min())
            first, second = sorted((int(self.pupil_ids[i]), int(self.pupil_ids[j])))
            pairs.append((first, second, round(gap, 6)))
        return pairs

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
    # An unknown face near some pupils (no margin between them, or a sibling, twin or lookalike
    # of the match near too): the ids of those who may be published, nearest first ("may be X or
    # their sibling Y"). `no_reference_kin`: a sibling or twin with no reference photo may be it.
    maybe: tuple[int, ...] = ()
    no_reference_kin: bool = False
    maybe_protected: bool = False  # ... or a pupil who may not be published (not named)


MAYBE_LIMIT = 3  # pupils named on an unknown face, nearest first


UNKNOWN_FACE = FaceDecision(FaceStatus.UNKNOWN)
# The distance given to a pupil taken out of a face's decision: beyond every tolerance (encodings
# lie within 2 of each other), yet finite, so differences between two such pupils stay numbers.
OUT_OF_REACH = 1e6


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
    # Added to a reference's distance, for clearing only, per year of its age past the fresh
    # period (thresholds.py: REFERENCE_AGE_PENALTY_PER_YEAR, in dlib's scale).
    age_penalty: float = t.REFERENCE_AGE_PENALTY_PER_YEAR

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
    gallery: Gallery | None = None  # for lookalikes (pupils whose references lie close)

    def lookalikes(self, index: int) -> np.ndarray:
        """Pupils whose references lie within the blocking distance (`loose`) of this pupil's."""
        if self.gallery is None:
            return np.empty(0, dtype=np.int64)
        return self.gallery.alike(index, self.matching.loose)


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
    return Context(protected, allowed, never_clear, guarded_by, kin_of, radius, matching, gallery)


def decide_distances(dist: np.ndarray, ctx: Context,
                     aged: np.ndarray | None = None) -> tuple[FaceStatus, int | None]:
    """One face from its distance to every pupil: (status, index of the pupil concerned).
    `aged`: the distances with the references' ages added, for the clear radius only.

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
        # siblings apart, so a person decides (never cleared: see the sibling check below). Only
        # strictly nearer: a protected sibling level with the consented one still blocks.
        guarded = ctx.guarded_by[closest]
        blocking[guarded[dist[guarded] > nearest]] = False
    if blocking.any():
        hits = np.flatnonzero(blocking)
        return FaceStatus.BLOCKED, int(hits[np.argmin(dist[hits])])
    best = confident_match(dist, ctx, aged)
    clear = (
        best is not None
        and ctx.candidates[best]
        and not ctx.protected[best]
        and not ctx.never_clear[best]
        and not doubles(dist, ctx, best).size
    )
    return (FaceStatus.CLEARED, best) if clear else (FaceStatus.UNKNOWN, None)


def doubles(dist: np.ndarray, ctx: Context, best: int) -> np.ndarray:
    """Pupils the face may be instead of `best`, its confident match: a protected sibling within
    `plausible`, any sibling within `sibling`, a lookalike (references within `loose` of best's)
    within `plausible`. No model tells these apart: a person decides."""
    m = ctx.matching
    near = [
        kin[dist[kin] <= limit]
        for kin, limit in ((ctx.guarded_by.get(best), m.plausible),
                           (ctx.kin_of.get(best), m.sibling),
                           (ctx.lookalikes(best), m.plausible))
        if kin is not None and kin.size
    ]
    return np.unique(np.concatenate(near)) if near else np.empty(0, dtype=np.int64)


def confident_match(dist: np.ndarray, ctx: Context, aged: np.ndarray | None = None) -> int | None:
    """The nearest pupil when within the clear radius (measured with the references' ages added,
    `aged`) and `clear_margin` ahead of every other pupil, whatever the consent: the only pupil a
    face may ever be cleared as."""
    if not dist.size:
        return None
    best = int(np.argmin(dist))
    # The second-smallest distance without sorting 25,000 pupils (a tie gives no margin).
    runner_up = np.partition(dist, 1)[1] if dist.size > 1 else np.inf
    within = (dist if aged is None else aged)[best] <= ctx.strict[best]
    if within and runner_up - dist[best] >= ctx.matching.clear_margin:
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
    return _decide(gallery.distances(encoding), gallery, context,
                   gallery.aged_distances(encoding, context.matching.age_penalty))


def _decide(dist: np.ndarray, gallery: Gallery, context: Context,
            aged: np.ndarray | None = None) -> FaceDecision:
    status, index = decide_distances(dist, context, aged)
    if index is None:
        return _maybe(dist, gallery, context, aged)
    return _decision(status, gallery, index, dist)


def _maybe(dist: np.ndarray, gallery: Gallery, ctx: Context,
           aged: np.ndarray | None) -> FaceDecision:
    """An unknown face, with the pupils a person should look at first: those within their clear
    radius of it (no margin between them) and the siblings or lookalikes that stopped a
    confident match; only candidates who may be published are named."""
    best = int(np.argmin(dist)) if dist.size else None
    if best is None or (dist if aged is None else aged)[best] > ctx.strict[best]:
        return UNKNOWN_FACE
    near = np.union1d(np.flatnonzero(dist <= ctx.strict), doubles(dist, ctx, best))
    named = [int(i) for i in near[np.argsort(dist[near], kind="stable")]
             if ctx.candidates[i] and not ctx.protected[i]][:MAYBE_LIMIT]
    kin_unseen = bool(ctx.never_clear[best]) and not ctx.protected[best]
    if not named:
        return UNKNOWN_FACE
    return FaceDecision(FaceStatus.UNKNOWN, maybe=tuple(int(gallery.pupil_ids[i]) for i in named),
                        no_reference_kin=kin_unseen,
                        maybe_protected=bool(ctx.protected[near].any()))


def _whole_school(gallery: Gallery, protected: np.ndarray) -> Context:
    publishable = gallery.pupil_ids[~protected].tolist()
    return build_context(gallery, publishable)


def _decision(status: FaceStatus, gallery: Gallery, index: int, dist: np.ndarray) -> FaceDecision:
    return FaceDecision(
        status, int(gallery.pupil_ids[index]), gallery.upns[index], float(dist[index])
    )


def decide_faces(
    encodings: list[FaceVectors | np.ndarray | None],
    gallery: Gallery,
    publishable: Collection[int],
    candidates: Collection[int] | None = None,
    siblings: Mapping[int, Collection[int]] | None = None,
    twins: Collection[int] = (),
    matching: Matching | None = None,
    older: Collection[int] = (),
    lifted: Mapping[int, Collection[int]] | None = None,
) -> list[FaceDecision]:
    """Every face of one photo; a pupil cleared on two faces clears on neither.

    `candidates`: the pupils who may be cleared (an event's pupils; None = the whole school).
    Every pupil still counts for blocking and for the margin, so a face nearest a pupil outside
    the event is unknown. `siblings`: pupil -> the pupil's siblings at the school (sharing a
    guardian); `twins`: pupils who have a twin at the school (never auto-cleared); `older`:
    pupils known to be older (adult-like faces), whose clear radius is wider. Everyone else is
    matched as a child, the safe default. `lifted`: face index -> pupils the DSL said that face
    is not; the face is decided as if they were not enrolled."""
    looks = [[] if e is None else [e] for e in encodings]
    return decide_tracks(looks, gallery, publishable, candidates, siblings, twins, matching,
                         older, lifted)


def without_pupils(dist: np.ndarray, gallery: Gallery, pupils: Collection[int]) -> np.ndarray:
    """The distances with `pupils` out of reach: neither a match, a block nor a runner-up."""
    out = np.isin(gallery.pupil_ids, np.fromiter(pupils, np.int64, len(pupils)))
    return np.where(out, OUT_OF_REACH, dist)


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


# A "guardian" named for more pupils than this is a placeholder ("Parent/Carer"), not a family.
MAX_CHILDREN_OF_ONE_GUARDIAN = 8


def families(
    guardians: Mapping[int, Collection[str]], births: Mapping[int, object] | None = None
) -> tuple[dict[int, set[int]], set[int]]:
    """Siblings and twins from the register: pupils who share a guardian (by the guardian's key:
    an email or a name, compared case- and space-insensitively) are siblings; siblings born the
    same day are twins. Returns (pupil -> siblings, pupils with a twin), the `siblings` and
    `twins` of decide_faces."""
    by_guardian: dict[str, set[int]] = {}
    for pupil, names in guardians.items():
        for name in names:
            key = " ".join(str(name).casefold().split())
            if key:
                by_guardian.setdefault(key, set()).add(pupil)
    siblings: dict[int, set[int]] = {}
    for group in by_guardian.values():
        if len(group) > MAX_CHILDREN_OF_ONE_GUARDIAN:
            continue
        for pupil in group:
            siblings.setdefault(pupil, set()).update(group - {pupil})
    births = births or {}
    twins = {
        p for p, kin in siblings.items()
        if births.get(p) is not None and any(births.get(s) == births[p] for s in kin)
    }
    return {p: kin for p, kin in siblings.items() if kin}, twins


def older_pupils(births: Mapping[int, dt.date | None], on: dt.date) -> set[int]:
    """Pupils at least OLDER_PUPIL_AGE years old on `on` (a birthday counts on its day; 29
    February on 1 March in other years): the `older` of decide_faces. No date of birth: a child."""
    def age(born: dt.date) -> int:
        return on.year - born.year - ((on.month, on.day) < (born.month, born.day))

    return {pupil for pupil, born in births.items()
            if born is not None and age(born) >= t.OLDER_PUPIL_AGE}


def decide_tracks(
    looks: list[list[np.ndarray]],
    gallery: Gallery,
    publishable: Collection[int],
    candidates: Collection[int] | None = None,
    siblings: Mapping[int, Collection[int]] | None = None,
    twins: Collection[int] = (),
    matching: Matching | None = None,
    older: Collection[int] = (),
    lifted: Mapping[int, Collection[int]] | None = None,
) -> list[FaceDecision]:
    """Every face track of one clip, each seen in a few looks (FaceVectors or bare dlib
    encodings; none: too small or blurred, so unknown), by the photo rule: a track is blocked
    when any look is; cleared only when every look clears as the same pupil; a pupil confidently
    matched on two tracks clears on neither (each pupil at most once per clip); anything else is
    unknown. A photo's face is a track of one look (decide_faces). One clip or photo is decided
    by one distance: dlib's when any look lacks MobileFaceNet's embedding. `lifted`: track
    index -> pupils the DSL said it is not."""
    gallery = gallery.for_faces([look for track in looks for look in track])
    context = build_context(gallery, publishable, candidates, siblings, twins, matching, older)
    lifted = lifted or {}
    per_year = context.matching.age_penalty
    found = [[_distances(gallery, e, lifted.get(index, ()), per_year) for e in track]
             if len(gallery) else [] for index, track in enumerate(looks)]
    decisions = [_decide_track(track, gallery, context) for track in found]
    # Counted over confident matches, not clears: whether another face of the same pupil is
    # blocked must not turn this one from unknown into cleared when consent is withdrawn.
    matches = Counter(
        pupil for track in found
        for pupil in {int(gallery.pupil_ids[i]) for dist, aged in track
                      for i in [confident_match(dist, context, aged)] if i is not None}
    )
    return [
        UNKNOWN_FACE if d.status == FaceStatus.CLEARED and matches[d.pupil_id] > 1 else d
        for d in decisions
    ]


def _distances(gallery: Gallery, encoding, lifted: Collection[int], per_year: float):
    """(plain distances, aged distances or None) to every pupil, the lifted pupils out of reach."""
    found = (gallery.distances(encoding), gallery.aged_distances(encoding, per_year))
    if not lifted:
        return found
    return tuple(None if d is None else without_pupils(d, gallery, lifted) for d in found)


def _decide_track(track: list[tuple], gallery: Gallery, context: Context) -> FaceDecision:
    """One track from its looks' distances: a single look is decided as a photo's face; else the
    nearest blocking look, else one pupil cleared by every look, else unknown (with the first
    look's hint of who it may be)."""
    decided = [_decide(dist, gallery, context, aged) for dist, aged in track]
    if len(decided) == 1:
        return decided[0]
    blocked = [d for d in decided if d.status == FaceStatus.BLOCKED]
    if blocked:
        return min(blocked, key=lambda d: d.distance)
    pupils = {d.pupil_id for d in decided}
    if decided and len(pupils) == 1 and all(d.status == FaceStatus.CLEARED for d in decided):
        return max(decided, key=lambda d: d.distance)
    return next((d for d in decided if d.maybe), UNKNOWN_FACE)
