"""The screening rule: pure functions over plain data (encodings in, decisions out).

See DESIGN.md "Screening a photo for purpose P". Thresholds live in thresholds.py.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from gatekeeper.screening import thresholds as t
from gatekeeper.states import FaceStatus, PhotoState

ENCODING_SIZE = 128


@dataclass(frozen=True)
class Reference:
    """One enrolled reference face of a pupil."""

    pupil_id: int
    upn: str
    encoding: np.ndarray
    taken_on: dt.date | None = None  # None: undated (counted as new)


def age_penalty(taken_on: dt.date | None, on: dt.date | None) -> float:
    """What a reference's age adds to its distance when clearing (never when blocking)."""
    if taken_on is None or on is None:
        return 0.0
    years = (on - taken_on).days / 365.25
    return t.REFERENCE_AGE_PENALTY_PER_YEAR * max(0.0, years - t.REFERENCE_FRESH_YEARS)


class Gallery:
    """All reference encodings as one matrix, sorted by pupil, for vectorised matching; `on`:
    the date the references' ages are counted at (older references weigh less when clearing)."""

    def __init__(self, references: Iterable[Reference], on: dt.date | None = None):
        refs = sorted(references, key=lambda r: r.pupil_id)
        self.matrix = np.array([r.encoding for r in refs], dtype=np.float64).reshape(
            -1, ENCODING_SIZE
        )
        self.penalties = np.array([age_penalty(r.taken_on, on) for r in refs], dtype=np.float64)
        ids = np.array([r.pupil_id for r in refs], dtype=np.int64)
        # Index of each pupil's first reference: the segments np.minimum.reduceat works on.
        self.starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if ids.size else ids
        self.squared_norms = np.einsum("ij,ij->i", self.matrix, self.matrix)
        self.pupil_ids = ids[self.starts]
        self.upns = [refs[i].upn for i in self.starts]
        self._alike: dict[tuple[int, float], np.ndarray] = {}

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

    def aged_distances(self, encoding: np.ndarray) -> np.ndarray | None:
        """Each pupil's distance for clearing: the nearest reference once its age is added;
        None when no reference is old enough to matter (the same as `distances`)."""
        if not len(self) or not self.penalties.any():
            return None
        probe = np.asarray(encoding, np.float64)
        squared = self.squared_norms - 2 * (self.matrix @ probe) + probe @ probe
        return np.minimum.reduceat(np.sqrt(squared.clip(0)) + self.penalties, self.starts)

    def references_of(self, index: int) -> np.ndarray:
        """The rows of the matrix holding pupil `index`'s references."""
        end = self.starts[index + 1] if index + 1 < len(self.starts) else len(self.matrix)
        return np.arange(self.starts[index], end)

    def alike(self, index: int, within: float) -> np.ndarray:
        """Indices of the other pupils with a reference within `within` of one of pupil
        `index`'s references: lookalikes, whom the rule never clears each other as."""
        key = (index, within)
        if key not in self._alike:
            rows = self.references_of(index)
            squared = (self.squared_norms[rows, None] - 2 * self.matrix[rows] @ self.matrix.T
                       + self.squared_norms[None, :]).min(axis=0)
            near = np.sqrt(np.minimum.reduceat(squared, self.starts).clip(0)) <= within
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
            a, b = self.references_of(i), self.references_of(j)
            gap = float(np.linalg.norm(self.matrix[a, None] - self.matrix[None, b], axis=2).min())
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
    lookalike: float = t.LOOKALIKE_DISTANCE

    def strict_for(self, candidates: int) -> float:
        """The clear radius for this many candidates, interpolated in log(candidates) between
        the three measured sizes: the chance that some stranger falls within a distance of some
        candidate grows with their number."""
        sizes = np.log([t.SMALL_GALLERY, t.EVENT_GALLERY, t.LARGE_GALLERY])
        radii = [self.strict, self.strict_event, self.strict_large]
        return float(np.interp(np.log(max(candidates, 1)), sizes, radii))


DEFAULT_MATCHING = Matching()


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
        if self.gallery is None:
            return np.empty(0, dtype=np.int64)
        return self.gallery.alike(index, self.matching.lookalike)


def build_context(
    gallery: Gallery,
    publishable: Collection[int],
    candidates: Collection[int] | None = None,
    siblings: Mapping[int, Collection[int]] | None = None,
    twins: Collection[int] = (),
    matching: Matching = DEFAULT_MATCHING,
    older: Collection[int] = (),
) -> Context:
    """The masks `decide_distances` needs; `candidates` None means the whole school."""
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
        # siblings apart, so a person decides (never cleared: see the sibling check below).
        blocking[ctx.guarded_by[closest]] = False
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
    `plausible`, any sibling within `sibling`, a lookalike (references within `lookalike` of
    best's) within `plausible`. No model tells these apart: a person decides."""
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
    if not isinstance(context, Context):
        context = _whole_school(gallery, np.asarray(context, dtype=bool))
    return _decide(gallery.distances(encoding), gallery, context,
                   gallery.aged_distances(encoding))


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
    encodings: list[np.ndarray | None],
    gallery: Gallery,
    publishable: Collection[int],
    candidates: Collection[int] | None = None,
    siblings: Mapping[int, Collection[int]] | None = None,
    twins: Collection[int] = (),
    matching: Matching = DEFAULT_MATCHING,
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


def decide_tracks(
    looks: list[list[np.ndarray]],
    gallery: Gallery,
    publishable: Collection[int],
    candidates: Collection[int] | None = None,
    siblings: Mapping[int, Collection[int]] | None = None,
    twins: Collection[int] = (),
    matching: Matching = DEFAULT_MATCHING,
    older: Collection[int] = (),
    lifted: Mapping[int, Collection[int]] | None = None,
) -> list[FaceDecision]:
    """Every face track of one clip, each seen in a few looks (encodings; none: too small or
    blurred, so unknown), by the photo rule: a track is blocked when any look is; cleared only
    when every look clears as the same pupil; a pupil confidently matched on two tracks clears
    on neither (each pupil at most once per clip); anything else is unknown. A photo's face is a
    track of one look (decide_faces). `lifted`: track index -> pupils the DSL said it is not."""
    context = build_context(gallery, publishable, candidates, siblings, twins, matching, older)
    lifted = lifted or {}
    found = [[_distances(gallery, e, lifted.get(index, ())) for e in track] if len(gallery)
             else [] for index, track in enumerate(looks)]
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


def _distances(gallery: Gallery, encoding: np.ndarray, lifted: Collection[int]):
    """(plain distances, aged distances or None) to every pupil, the lifted pupils out of reach."""
    found = (gallery.distances(encoding), gallery.aged_distances(encoding))
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