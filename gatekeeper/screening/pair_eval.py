"""How well each embedding tells people apart, pair by pair (`gatekeeper eval-schools --pairs`).

On the cached analyses of the school sets: every pair of photos of one person (same-person pairs)
and of two people (impostor pairs, siblings and parents included for families). For each
embedding, the distance accepting a given share of impostor pairs (the false-accept rate, FAR)
and the share of same-person pairs it accepts (TAR). The families row also says how many kin
pairs (relationships.csv) that distance accepts: no model here separates siblings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from gatekeeper.screening.rule import EMBEDDINGS, FaceVectors, pairwise_distances

FALSE_ACCEPT_RATES = (1e-3, 1e-4)


@dataclass(frozen=True)
class PairRates:
    kind: str
    embedding: str
    same_pairs: int
    impostor_pairs: int
    accepted: tuple[float, ...]  # TAR at each FALSE_ACCEPT_RATES
    distances: tuple[float, ...]  # the distance that accepts that share of impostors
    kin_pairs: int = 0
    kin_accepted: float | None = None  # share of kin pairs accepted at the first rate


def _faces(people: list) -> tuple[list[FaceVectors], np.ndarray, list[str]]:
    """Every photo's central face that has both vectors, its person's index and key (people:
    school_eval's Person, each with a key and cached images)."""
    probes, owners, keys = [], [], []
    for number, person in enumerate(people):
        for image in person.images:
            face = image.central_face()
            if face is not None and face.encoding is not None and face.embedding is not None:
                probes.append(FaceVectors(face.encoding, face.embedding))
                owners.append(number)
                keys.append(person.key)
    return probes, np.asarray(owners), keys


def pair_rates(kind: str, people: list, kin: dict[str, set[str]] | None = None
               ) -> list[PairRates]:
    """TAR at each false-accept rate, for every embedding, on one set's people."""
    probes, owners, keys = _faces(people)
    same, impostor = pair_masks(owners)
    kin_mask = _kin_mask(keys, kin or {}) & impostor
    rows = []
    for embedding in EMBEDDINGS:
        dist = pairwise_distances(probes, embedding)
        accepted, cuts = accepted_at_rates(dist, same, impostor)
        kin_share = float((dist[kin_mask] <= cuts[0]).mean()) if kin_mask.any() else None
        rows.append(PairRates(kind, embedding, int(same.sum()), int(impostor.sum()), accepted,
                              cuts, int(kin_mask.sum()), kin_share))
    return rows


def pair_masks(owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(same-person pairs, impostor pairs) over faces owned by `owners`, each pair once."""
    upper = np.triu(np.ones((len(owners), len(owners)), dtype=bool), k=1)
    same = upper & (owners[:, None] == owners[None, :])
    return same, upper & ~same


def accepted_at_rates(dist: np.ndarray, same: np.ndarray, impostor: np.ndarray
                      ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(share of same-person pairs accepted, distance that accepts it) at each
    FALSE_ACCEPT_RATES: the distance accepting that share of the impostor pairs."""
    impostors = np.sort(dist[impostor])
    cuts = tuple(float(impostors[max(0, int(rate * impostors.size) - 1)])
                 for rate in FALSE_ACCEPT_RATES)
    genuine = dist[same]
    accepted = tuple(float((genuine <= cut).mean()) if genuine.size else 0.0 for cut in cuts)
    return accepted, cuts


def _kin_mask(keys: list[str], kin: dict[str, set[str]]) -> np.ndarray:
    """Which pairs of faces belong to two people related in relationships.csv."""
    rows: dict[str, list[int]] = {}
    for index, key in enumerate(keys):
        rows.setdefault(key, []).append(index)
    related = np.zeros((len(keys), len(keys)), dtype=bool)
    for key, mine in rows.items():
        theirs = [i for other in kin.get(key, ()) for i in rows.get(other, ())]
        if theirs:
            related[np.ix_(mine, theirs)] = True
    return related


HEADER = ("| set | embedding | same-person pairs | impostor pairs | TAR at FAR 1e-3 "
          "| TAR at FAR 1e-4 | distance at 1e-3 | kin pairs accepted at 1e-3 |")


def table(rows: list[PairRates]) -> list[str]:
    lines = [HEADER, "|" + "---|" * 8]
    for row in rows:
        kin = ("-" if row.kin_accepted is None
               else f"{100 * row.kin_accepted:.0f}% of {row.kin_pairs}")
        lines.append(
            f"| {row.kind} | {row.embedding} | {row.same_pairs} | {row.impostor_pairs} | "
            f"{100 * row.accepted[0]:.0f}% | {100 * row.accepted[1]:.0f}% | "
            f"{row.distances[0]:.3f} | {kin} |")
    return lines
