"""How well faces of one event group by likeness, and which tolerance keeps people apart.

Reads the labelled adults of ../shared/data/schools/lfw in place (internal evaluation only: nothing
is copied; analyses are cached by file hash like `eval-schools`). Two kinds of event of PEOPLE
people, each seen APPEARANCES times:

- one day: each person's one photo composed into synthetic group photos at different face sizes
  and places (re-scaled, re-compressed, detected and encoded by the product each time);
- different days: each appearance is another photo of the person (the hard case: a yearly
  reference photo against an event is like this).

For each tolerance it prints the pairs of different people put in one group (must be 0), and how
many groups each person's faces fell into (1 is ideal). Run: `make bench-grouping`.
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from gatekeeper.review.groups import GROUP_TOLERANCE, group_by_likeness  # noqa: E402
from gatekeeper.screening.engine import analyse_bytes  # noqa: E402
from gatekeeper.screening.school_cache import EncodingCache, analyse_all  # noqa: E402
from tests.support.photos import compose_group, head_crop  # noqa: E402

LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "schools" / "lfw"
PEOPLE = 20
APPEARANCES = 5
EVENTS = 10
TOLERANCES = (0.30, 0.34, 0.36, 0.38, 0.40, 0.42, 0.44, 0.46, 0.50)
CANVAS = (1600, 1200)
FACES_PER_PHOTO = 5
FACE_HEIGHTS = (70, 90, 110, 140, 170)


def people_with(photos: int) -> list[list[Path]]:
    """Every LFW person with at least `photos` photos, their first `photos`, by name."""
    found = []
    for folder in sorted(p for p in LFW.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        if len(files) >= photos:
            found.append(files[:photos])
    return found


def central_encoding(image) -> np.ndarray | None:
    face = image.central_face()
    return None if face is None else face.encoding


def different_days(people: list[list[Path]], cache: EncodingCache) -> dict[int, list[np.ndarray]]:
    """Each person's encodings from their different photos."""
    analyses = analyse_all([p for files in people for p in files], cache, print)
    encodings = {}
    for person, files in enumerate(people):
        found = [central_encoding(analyses[p]) for p in files if p in analyses]
        found = [e for e in found if e is not None]
        if len(found) >= 2:
            encodings[person] = found
    return encodings


def one_day(people: list[list[Path]], rng: np.random.Generator) -> dict[int, list[np.ndarray]]:
    """Each person's first photo, composed APPEARANCES times into group photos and analysed."""
    heads = {}
    for person, files in enumerate(people):
        with Image.open(files[0]) as image:
            try:
                heads[person] = head_crop(np.asarray(image.convert("RGB")))
            except ValueError:
                continue
    slots = [p for p in heads for _ in range(APPEARANCES)]
    rng.shuffle(slots)
    encodings: dict[int, list[np.ndarray]] = {}
    for start in range(0, len(slots), FACES_PER_PHOTO):
        chosen = slots[start:start + FACES_PER_PHOTO]
        heights = rng.permutation(FACE_HEIGHTS)[: len(chosen)]
        rgb, boxes = compose_group([heads[p] for p in chosen], heights, size=CANVAS,
                                   seed=int(rng.integers(1 << 30)))
        out = io.BytesIO()
        Image.fromarray(rgb).save(out, "JPEG", quality=85)
        faces = analyse_bytes(out.getvalue()).faces
        for person, box in zip(chosen, boxes, strict=True):
            encoding = encoding_at(faces, box)
            if encoding is not None:
                encodings.setdefault(person, []).append(encoding)
    return {p: e for p, e in encodings.items() if len(e) >= 2}


def encoding_at(faces, box) -> np.ndarray | None:
    """The encoding of the detected face whose centre lies inside the composed box."""
    top, right, bottom, left = box
    for face in faces:
        cy, cx = (face.box.top + face.box.bottom) / 2, (face.box.left + face.box.right) / 2
        if top <= cy <= bottom and left <= cx <= right:
            return face.encoding
    return None


def score(encodings: dict[int, list[np.ndarray]], rng: np.random.Generator, tolerance: float):
    """Over EVENTS random events of PEOPLE people: wrong pairs, groups per person, faces alone."""
    wrong, groups_per_person, alone, faces = 0, [], 0, 0
    everyone = sorted(encodings)
    for _ in range(EVENTS):
        chosen = rng.choice(everyone, size=min(PEOPLE, len(everyone)), replace=False)
        labels = [p for p in chosen for _ in encodings[p][:APPEARANCES]]
        vectors = [e for p in chosen for e in encodings[p][:APPEARANCES]]
        groups = group_by_likeness(vectors, tolerance)
        for group in groups:
            who = [labels[i] for i in group]
            same = sum(who.count(p) * (who.count(p) - 1) // 2 for p in set(who))
            wrong += len(who) * (len(who) - 1) // 2 - same
            alone += len(group) == 1
        faces += len(vectors)
        for person in chosen:
            groups_per_person.append(sum(1 for g in groups if any(labels[i] == person for i in g)))
    return wrong, float(np.mean(groups_per_person)), alone / faces


def distance_summary(encodings: dict[int, list[np.ndarray]]) -> str:
    own = [float(np.linalg.norm(a - b)) for es in encodings.values()
           for i, a in enumerate(es) for b in es[i + 1:]]
    firsts = {p: es[0] for p, es in encodings.items()}
    others = []
    for p, e in firsts.items():
        rest = [float(np.linalg.norm(e - f)) for q, f in firsts.items() if q != p]
        others.append(min(rest))
    q = np.percentile
    return (f"same person: median {q(own, 50):.2f}, 95th {q(own, 95):.2f}, max {max(own):.2f}; "
            f"nearest other person: min {min(others):.2f}, 5th {q(others, 5):.2f}, "
            f"median {q(others, 50):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=150, help="LFW people with 5+ photos used")
    parser.add_argument("--cache", default=str(Path(os.environ.get(
        "GATEKEEPER_INSTANCE", "instance")) / "eval-cache"))
    args = parser.parse_args()
    if not LFW.is_dir():
        sys.exit(f"labelled faces not found at {LFW}")
    started = time.perf_counter()
    people = people_with(APPEARANCES)[: args.people]
    rng = np.random.default_rng(0)
    kinds = {"one day": one_day(people, rng),
             "different days": different_days(people, EncodingCache(Path(args.cache)))}
    print(f"{len(people)} people with {APPEARANCES}+ photos; events of {PEOPLE} people x "
          f"{APPEARANCES} faces, {EVENTS} events per cell; chosen GROUP_TOLERANCE "
          f"{GROUP_TOLERANCE}")
    for kind, encodings in kinds.items():
        print(f"{kind} ({len(encodings)} people): {distance_summary(encodings)}")
    print("| tolerance | " + " | ".join(
        f"{k}: wrong pairs / groups per person / faces alone" for k in kinds) + " |")
    print("|---|" + "---|" * len(kinds))
    for tolerance in TOLERANCES:
        cells = []
        for encodings in kinds.values():
            wrong, per_person, alone = score(encodings, np.random.default_rng(1), tolerance)
            cells.append(f"{wrong} / {per_person:.2f} / {alone:.0%}")
        print(f"| {tolerance:.2f} | " + " | ".join(cells) + " |")
    print(f"took {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
