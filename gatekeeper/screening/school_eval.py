"""Screening at school size: open-set schools from labelled face sets (`gatekeeper eval-schools`).

The sets (../shared/data/schools, internal evaluation only; see its README) stand in for a school:

- adults (lfw/): people with two or more photos are enrolled pupils (first photo the reference,
  the others screened), topped up to --pupils with one-photo people (reference only); the
  remaining one-photo people are strangers;
- families (fiw/): in each family, members 3 and up (FIW lists the parents first) are siblings
  enrolled at the school, and members related to them in relationships.csv but not enrolled are
  unenrolled relatives; members of families with no enrolled sibling are strangers. Every enrolled
  pupil's enrolled family members are passed to the rule as siblings;
- children (lag/ young__ photos, near-duplicates dropped, scaled 3x with Lanczos): as adults.

A share (--protected) of the enrolled pupils is protected; each photo's labelled face is the one at
the centre of the crop (another person at the edge is not scored). A school is screened whole, and
an event (--event pupils, with up to EVENT_STRANGERS strangers, their relatives and some pupils
not in the event) is screened with only its pupils as candidates. Every threshold is then moved
one step at a time to show how the numbers move.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from gatekeeper.screening import thresholds as t
from gatekeeper.screening.pair_eval import pair_rates
from gatekeeper.screening.pair_eval import table as pair_table
from gatekeeper.screening.rule import (
    EMBEDDINGS,
    MATCHINGS,
    FaceVectors,
    Gallery,
    Matching,
    Reference,
    build_context,
    decide_distances,
)
from gatekeeper.screening.school_cache import CachedImage, EncodingCache, analyse_all
from gatekeeper.states import FaceStatus

KINDS = ("adults", "families", "children")
# First photos of each person analysed (one reference, the rest screened): the sets hold up to
# 530 photos of one adult; two each keeps the first run under an hour on a shared machine.
# LAG children have few young photos each: all of them.
PHOTOS_PER_PERSON = {"adults": 2, "families": 2, "children": 10}
# Reference photos per pupil: the issue measures one; `--references` up to the product's most
# (thresholds.MAX_REFERENCES_PER_PUPIL) shows what more of them buy. Each further reference is
# one more photo analysed per person, so every enrolled pupil can still have one to screen.
REFERENCES = 1
EVENT_STRANGERS = 300
EVENT_OTHER_PUPILS = 100  # pupils of the school who are not in the event, photographed anyway
FIW_FIRST_CHILD = 3  # FIW numbers a family's parents first (MID1, MID2)
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")

# Kinds of face screened, and what each must not come out as.
CONSENTED, PROTECTED, STRANGER, RELATIVE, OTHER = (
    "consented", "protected", "stranger", "relative", "other pupil")
NOT_ENROLLED_KINDS = (STRANGER, RELATIVE, OTHER)
SAME_PHOTO = 1e-6  # dlib encodings this close come from byte-identical images
# One person filed under two names in the adults' set, checked by eye (the same face in both
# folders; Bison Dele was born Brian Williams). A face of one nearest the other's reference is the
# right person, not a stranger: left out, as SAME_PHOTO is, and counted in the report.
SAME_PERSON_TWO_NAMES = (
    frozenset({"lfw/Bison_Dele", "lfw/Brian_Williams"}),
    frozenset({"lfw/John_Barnett", "lfw/John_Burnett"}),
)


@dataclass
class Person:
    key: str  # "<set folder>/<person folder>", as the sets lay them out
    kind: str
    images: list[CachedImage]
    family: str | None = None


@dataclass
class Probe:
    encoding: FaceVectors | None
    truth: int | None  # pupil id, None for a person who is not enrolled
    category: str
    no_face: bool = False  # no face found at the centre: "No faces found", a person looks
    person: str = ""  # the set's person key, for reading a failure


@dataclass
class Scenario:
    name: str
    gallery: Gallery
    publishable: frozenset[int]
    probes: list[Probe]
    candidates: frozenset[int] | None = None
    siblings: dict[int, set[int]] = field(default_factory=dict)
    older: frozenset[int] = frozenset()  # pupils matched as older (adults): the LFW school

    @property
    def enrolled(self) -> int:
        return len(self.gallery)


# --- Loading the sets -----------------------------------------------------------------------
def _first_images(folder: Path, pattern: str, skip: frozenset[str], count: int) -> list:
    files = sorted(p for p in folder.glob(pattern)
                   if p.suffix.lower() in IMAGE_SUFFIXES and p.name not in skip)
    return files[:count]


def _lag_duplicates(root: Path) -> frozenset[str]:
    manifest = root / "lag" / "manifest.csv"
    if not manifest.exists():
        return frozenset()
    with manifest.open(newline="", encoding="utf-8") as handle:
        return frozenset(row["file"] for row in csv.DictReader(handle)
                         if row.get("near_duplicate_of_earlier_same_group"))


SET_FOLDERS = {"adults": ("lfw", "*"), "families": ("fiw", "*"), "children": ("lag", "young__*")}


def person_files(root: Path, kinds=KINDS,
                 references: int = REFERENCES) -> dict[tuple[str, str], list[Path]]:
    """(kind, person key) -> the image files analysed for that person."""
    root = Path(root)
    found: dict[tuple[str, str], list[Path]] = {}
    for kind in kinds:
        sub, pattern = SET_FOLDERS[kind]
        skip = _lag_duplicates(root) if sub == "lag" else frozenset()
        if not (root / sub).is_dir():
            raise ValueError(f"{root / sub} is missing: is this the schools folder?")
        for folder in sorted(p for p in (root / sub).iterdir() if p.is_dir()):
            files = _first_images(folder, pattern, skip,
                                  PHOTOS_PER_PERSON[kind] + references - 1)
            if files:
                found[(kind, f"{sub}/{folder.name}")] = files
    return found


def load_people(root: Path, cache: EncodingCache, kinds=KINDS, progress=None,
                cached_only: bool = False, references: int = REFERENCES) -> dict[str, list[Person]]:
    """Every person of the sets with their analysed images, by kind (`cached_only`: only the
    images already in the cache; people with none are left out)."""
    files = person_files(root, kinds, references)
    analysed = analyse_all([p for paths in files.values() for p in paths], cache, progress,
                           cached_only)
    people: dict[str, list[Person]] = {kind: [] for kind in KINDS}
    for (kind, key), paths in files.items():
        family = key.split("/")[1].split("_")[0] if kind == "families" else None
        images = [analysed[p] for p in paths if p in analysed]
        if images:
            people[kind].append(Person(key, kind, images, family))
    return people


def fiw_kin(root: Path) -> dict[str, set[str]]:
    """FIW person key -> related person keys (relationships.csv pairs, both ways)."""
    kin: dict[str, set[str]] = defaultdict(set)
    path = Path(root) / "fiw" / "relationships.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            a, b = (f"fiw/{row[c].replace('/', '_')}" for c in ("p1", "p2"))
            kin[a].add(b)
            kin[b].add(a)
    return kin


# --- Faces ------------------------------------------------------------------------------------
def _reference(image: CachedImage) -> FaceVectors | None:
    """The central face's vectors where the product would accept it as a reference."""
    face = image.central_face()
    if (face is None or face.encoding is None or face.height < t.MIN_REFERENCE_FACE_PX
            or face.sharpness < t.MIN_REFERENCE_SHARPNESS):
        return None
    return FaceVectors(face.encoding, face.embedding)


def _probe(image: CachedImage, truth: int | None, category: str, person: str) -> Probe:
    face = image.central_face()
    if face is None:
        return Probe(None, truth, category, no_face=not image.faces, person=person)
    vectors = None if face.encoding is None else FaceVectors(face.encoding, face.embedding)
    return Probe(vectors, truth, category, person=person)


# --- Building schools -------------------------------------------------------------------------
@dataclass
class School:
    kind: str
    gallery: Gallery
    publishable: frozenset[int]
    pupil_people: dict[int, Person]  # pupil id -> person
    strangers: list[Person]
    relatives: dict[int, list[Person]]  # pupil id -> unenrolled relatives
    siblings: dict[int, set[int]]
    embedding: str = t.MATCH_BY
    references: int = REFERENCES  # each pupil's first photos that are references, not screened


def _enrolment_order(people: list[Person], rng) -> tuple[list[Person], list[Person]]:
    """People with a usable reference, shuffled: those with photos to screen, and the others."""
    usable = [p for p in people if _reference(p.images[0]) is not None]
    several = [p for p in usable if len(p.images) > 1]
    single = [p for p in usable if len(p.images) == 1]
    rng.shuffle(several)
    rng.shuffle(single)
    return several, single


def build_school(kind: str, people: list[Person], pupils: int, protected_share: float,
                 seed: int, kin: dict[str, set[str]] | None = None,
                 embedding: str = t.MATCH_BY, references: int = REFERENCES) -> School:
    """An open-set school of up to `pupils` enrolled people of one kind, matched by `embedding`,
    each with up to `references` reference photos (their first photos fit to be one)."""
    rng = np.random.default_rng(seed)
    if kind == "families":
        school = _family_school(people, pupils, protected_share, rng, kin or {})
    else:
        several, single = _enrolment_order(people, rng)
        # One-photo people fill the school up to `pupils` (reference only), but at least half of
        # them stay strangers: an open set needs faces that belong to nobody at the school.
        enrolled = several[:pupils] + single[: min(max(0, pupils - len(several)),
                                                   len(single) // 2)]
        taken = {p.key for p in enrolled}
        strangers = [p for p in people if p.key not in taken]
        school = _school(kind, enrolled, strangers, {}, protected_share, rng, {})
    if references != REFERENCES:
        school = _with_references(school, references)
    return replace(school, gallery=school.gallery.by(embedding), embedding=embedding)


def _with_references(school: School, references: int) -> School:
    """The school with each pupil's first `references` photos as references (those fit to be)."""
    refs = [Reference.of(pupil, person.key, vectors)
            for pupil, person in school.pupil_people.items()
            for vectors in map(_reference, person.images[:references]) if vectors is not None]
    return replace(school, gallery=Gallery(refs), references=references)


def _family_school(people, pupils, protected_share, rng, kin) -> School:
    by_family: dict[str, list[Person]] = defaultdict(list)
    for person in people:
        by_family[person.family].append(person)
    families = sorted(by_family)
    rng.shuffle(families)
    enrolled, relatives_of, strangers = [], {}, []
    for family in families:
        members = by_family[family]
        children = [p for p in members if _member(p) >= FIW_FIRST_CHILD
                    and _reference(p.images[0]) is not None]
        if len(enrolled) + len(children) > pupils or not children:
            strangers += members
            continue
        enrolled += children
        others = [p for p in members if p not in children]
        for child in children:
            relatives_of[child.key] = [p for p in others if p.key in kin.get(child.key, ())]
        related = {r.key for rs in relatives_of.values() for r in rs}
        strangers += [p for p in others if p.key not in related]
    siblings_of = {p.key: {q.key for q in enrolled if q.family == p.family and q is not p}
                   for p in enrolled}
    return _school("families", enrolled, strangers, relatives_of, protected_share, rng,
                   siblings_of)


def _member(person: Person) -> int:
    return int(person.key.rsplit("_MID", 1)[1])


def _school(kind, enrolled, strangers, relatives_of, protected_share, rng, siblings_of) -> School:
    ids = {p.key: number for number, p in enumerate(enrolled, start=1)}
    references = [Reference.of(ids[p.key], p.key, _reference(p.images[0])) for p in enrolled]
    protected = set(rng.choice(sorted(ids.values()), round(len(ids) * protected_share),
                               replace=False).tolist()) if ids else set()
    relatives = {ids[k]: v for k, v in relatives_of.items()}
    siblings = {ids[k]: {ids[s] for s in v} for k, v in siblings_of.items() if v}
    return School(kind, Gallery(references), frozenset(set(ids.values()) - protected),
                  {ids[p.key]: p for p in enrolled}, strangers, relatives, siblings)


def _pupil_probes(school: School, pupil: int) -> list[Probe]:
    category = CONSENTED if pupil in school.publishable else PROTECTED
    person = school.pupil_people[pupil]
    return [_probe(image, pupil, category, person.key)
            for image in person.images[school.references:]]


def _stranger_probes(people: list[Person], category: str = STRANGER) -> list[Probe]:
    return [_probe(image, None, category, p.key) for p in people for image in p.images]


def whole_school(school: School) -> Scenario:
    """Every enrolled pupil's other photos, every stranger and every relative, whole school."""
    probes = [p for pupil in school.pupil_people for p in _pupil_probes(school, pupil)]
    probes += _stranger_probes(school.strangers)
    relatives = {r.key: r for rs in school.relatives.values() for r in rs}
    probes += _stranger_probes(list(relatives.values()), RELATIVE)
    return Scenario(f"{school.kind}, whole school", school.gallery, school.publishable, probes,
                    None, school.siblings, _older(school))


def event(school: School, size: int, seed: int) -> Scenario:
    """An event of about `size` pupils (whole families for families): only they may be cleared."""
    rng = np.random.default_rng(seed + 1)
    with_photos = [pid for pid, p in school.pupil_people.items()
                   if len(p.images) > school.references]
    rng.shuffle(with_photos)
    chosen: list[int] = []
    for pupil in with_photos:
        if len(chosen) >= size:
            break
        if pupil in chosen:
            continue
        group = [pupil] + sorted(school.siblings.get(pupil, ()))
        chosen += [g for g in group if g not in chosen]
    candidates = frozenset(chosen)
    probes = [p for pupil in chosen for p in _pupil_probes(school, pupil)]
    strangers = list(school.strangers)
    rng.shuffle(strangers)
    probes += _stranger_probes(strangers)[:EVENT_STRANGERS]
    relatives = {r.key: r for pupil in chosen for r in school.relatives.get(pupil, [])}
    probes += _stranger_probes(list(relatives.values()), RELATIVE)
    others = [pid for pid in with_photos if pid not in candidates][:EVENT_OTHER_PUPILS]
    probes += [replace(p, category=OTHER) for pupil in others
               for p in _pupil_probes(school, pupil)]
    return Scenario(f"{school.kind}, event", school.gallery, school.publishable, probes,
                    candidates, school.siblings, _older(school))


def _older(school: School) -> frozenset[int]:
    """Adults are matched as older pupils; FIW ages are unknown, so its pupils, like LAG's
    children, are matched as children (the rule's safe default)."""
    return frozenset(school.pupil_people) if school.kind == "adults" else frozenset()


# --- Scoring ----------------------------------------------------------------------------------
@dataclass
class Outcome:
    """Counts per kind of face: (cleared right, cleared wrong, blocked, review) and leaks."""

    counts: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0, 0, 0]))
    leaks: int = 0
    no_face_found: int = 0  # photos with no face found: never cleared, a person must look
    same_photo: int = 0  # left out: the very photo of another person's reference (label noise)
    two_names: int = 0  # left out: nearest the same person's reference under another name
    # Consented faces screened, and those whose nearest pupil of the whole school is themselves:
    # the most any threshold could clear (a face is cleared only as its nearest pupil).
    consented_screened: int = 0
    consented_nearest_right: int = 0

    def share(self, category: str, column: int) -> float | None:
        row = self.counts.get(category)
        return row[column] / sum(row) if row and sum(row) else None

    def total(self, category: str) -> int:
        return sum(self.counts.get(category, [0]))


def score(scenario: Scenario, matching: Matching | None = None,
          distances: np.ndarray | None = None) -> Outcome:
    """Screen every probe of the scenario (one face per photo) and count the outcomes, with the
    thresholds of the gallery's distance unless `matching` is given."""
    context = build_context(scenario.gallery, scenario.publishable, scenario.candidates,
                            scenario.siblings, (), matching, scenario.older)
    if distances is None:
        distances = probe_distances(scenario)
    ids = scenario.gallery.pupil_ids
    out = Outcome()
    for probe, dist in zip(scenario.probes, distances, strict=True):
        row = out.counts[probe.category]
        if probe.encoding is None:
            row[3] += 1
            if probe.no_face:
                out.no_face_found += 1  # "No faces found": sent to a person, never cleared
            continue
        nearest = int(np.argmin(dist))
        if same_photo(scenario.gallery, nearest, probe) and probe.truth != int(ids[nearest]):
            out.same_photo += 1  # FIW files some face crops under two family members
            continue
        if frozenset({probe.person, scenario.gallery.upns[nearest]}) in SAME_PERSON_TWO_NAMES:
            out.two_names += 1
            continue
        if probe.category == CONSENTED:
            out.consented_screened += 1
            out.consented_nearest_right += int(ids[nearest]) == probe.truth
        status, index = decide_distances(dist, context)
        if status == FaceStatus.CLEARED:
            right = probe.truth is not None and int(ids[index]) == probe.truth
            row[0 if right else 1] += 1
            if not right or probe.category != CONSENTED:
                out.leaks += 1
        else:
            row[2 if status == FaceStatus.BLOCKED else 3] += 1
    return out


def same_photo(gallery: Gallery, pupil: int, probe: Probe) -> bool:
    """Whether the probe is the very image of one of that pupil's references: its dlib
    encoding, which the cache stores to 7 decimals, is the reference's (whatever distance the
    school uses)."""
    references = gallery.matrix[gallery.references_of(pupil)]
    return float(np.abs(references - probe.encoding.encoding).max(axis=1).min()) < SAME_PHOTO


def probe_distances(scenario: Scenario) -> list[np.ndarray]:
    """Each probe's distance to every pupil (an empty array for a probe with no encoding)."""
    return [scenario.gallery.distances(p.encoding) if p.encoding is not None else np.empty(0)
            for p in scenario.probes]


# --- Report ------------------------------------------------------------------------------------
def pair_lines(people: dict[str, list[Person]], kin, kinds) -> list[str]:
    """The pair table (pair_eval.py) for the sets screened."""
    rows = [row for kind in kinds
            for row in pair_rates(kind, people[kind], kin if kind == "families" else None)]
    return [*pair_table(rows), ""]



def nearest_right(out: Outcome) -> float | None:
    """The share of consented faces screened whose nearest pupil is themselves."""
    return out.consented_nearest_right / out.consented_screened if out.consented_screened else None


def _pct(value: float | None) -> str:
    return "   -" if value is None else f"{100 * value:3.0f}%"


HEADER = ("| scenario | enrolled | candidates | consented auto-cleared | consented falsely blocked "
          "| protected blocked or to review | strangers cleared | relatives cleared "
          "| other pupils cleared | leaks |")


def table_row(scenario: Scenario, out: Outcome) -> str:
    candidates = len(scenario.candidates) if scenario.candidates is not None else scenario.enrolled
    protected_stopped = None
    if out.total(PROTECTED):
        row = out.counts[PROTECTED]
        protected_stopped = (row[2] + row[3]) / sum(row)
    cells = [
        scenario.name, str(scenario.enrolled), str(candidates),
        f"{_pct(out.share(CONSENTED, 0))} of {out.total(CONSENTED)}",
        _pct(out.share(CONSENTED, 2)),
        f"{_pct(protected_stopped)} of {out.total(PROTECTED)}",
        *(_cleared(out, c) for c in NOT_ENROLLED_KINDS),
        f"{out.leaks}" + (f" ({out.no_face_found} no face found: to a person)"
                          if out.no_face_found else ""),
    ]
    return "| " + " | ".join(cells) + " |"


def _cleared(out: Outcome, category: str) -> str:
    total = out.total(category)
    if not total:
        return "-"
    row = out.counts[category]
    return f"{row[0] + row[1]} of {total}"


SWEEPS = {
    "strict_event": (-0.04, -0.02, 0.02, 0.04),
    "strict_large": (-0.04, -0.02, 0.02, 0.04),
    "older_bonus": (-0.04, -0.02, 0.02, 0.04),
    "kin_drop": (-0.03, 0.03),
    "clear_margin": (-0.03, 0.03, 0.06),
    "loose": (-0.04, 0.04, 0.08),
    "plausible": (-0.05, 0.05),
    "block_margin": (0.02, 0.04),
    "sibling": (-0.05, 0.05),
}


def sweep_lines(scenarios: list[Scenario], matching: Matching | None = None) -> list[str]:
    """How the totals move when one threshold moves: leaks / consented cleared / blocked."""
    matching = matching or MATCHINGS[scenarios[0].gallery.embedding]
    cached = [(s, probe_distances(s)) for s in scenarios]
    names = [s.name for s in scenarios]
    lines = ["| threshold | value | " + " | ".join(names) + " |",
             "|---|---|" + "---|" * len(names)]
    settings = [("(chosen)", matching)]
    for name, steps in SWEEPS.items():
        base = getattr(matching, name)
        settings += [(name, replace(matching, **{name: round(base + step, 3)}))
                     for step in steps]
    for name, variant in settings:
        cells = []
        for scenario, dist in cached:
            out = score(scenario, variant, dist)
            cells.append(f"{out.leaks} / {_pct(out.share(CONSENTED, 0)).strip()} / "
                         f"{_pct(out.share(CONSENTED, 2)).strip()}")
        value = "" if name == "(chosen)" else f"{getattr(variant, name):.2f}"
        lines.append(f"| {name} | {value} | " + " | ".join(cells) + " |")
    return lines


def run(root: Path, cache_dir: Path, pupils: int = 1000, protected: float = 0.2,
        event_size: int = 60, seed: int = 0, sweep: bool = True, kinds=KINDS,
        progress=None, cached_only: bool = False, embedding: str = t.MATCH_BY,
        pairs: bool = False, references: int = REFERENCES) -> str:
    """Build the schools and events, screen them, and return the report as Markdown tables
    (with `pairs`, first each embedding's same-person acceptance at fixed false-accept rates)."""
    if embedding not in EMBEDDINGS:
        raise ValueError(f"unknown embedding {embedding}: use {', '.join(EMBEDDINGS)}")
    if not 0 <= protected <= 1:
        raise ValueError("--protected is a share between 0 and 1")
    if pupils < 1 or event_size < 1:
        raise ValueError("--pupils and --event must be at least 1")
    if not 1 <= references <= t.MAX_REFERENCES_PER_PUPIL:
        raise ValueError(f"--references is 1 to {t.MAX_REFERENCES_PER_PUPIL}, as a pupil may have")
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown kind {', '.join(sorted(unknown))}: use {', '.join(KINDS)}")
    cache = EncodingCache(cache_dir)
    people = load_people(root, cache, kinds, progress, cached_only, references)
    kin = fiw_kin(root) if "families" in kinds else {}
    scenarios = []
    for kind in kinds:
        school = build_school(kind, people[kind], pupils, protected, seed, kin, embedding,
                              references)
        scenarios += [whole_school(school), event(school, event_size, seed)]
    lines = pair_lines(people, kin, kinds) if pairs else []
    lines += [f"Matched by: {embedding}; reference photos per pupil: up to {references}", "",
              HEADER, "|" + "---|" * 10]
    outcomes = [score(s) for s in scenarios]
    lines += [table_row(s, out) for s, out in zip(scenarios, outcomes, strict=True)]
    for label, count in (("the identical image filed under another person too", "same_photo"),
                         ("the same person filed under two names", "two_names")):
        left = {s.name: getattr(out, count) for s, out in zip(scenarios, outcomes, strict=True)
                if getattr(out, count)}
        if left:
            lines += ["", f"Left out ({label}): "
                      + ", ".join(f"{name} {number}" for name, number in left.items())]
    lines += ["", "Consented faces whose nearest pupil is themselves (a face clears only as its "
              "nearest pupil, so no threshold clears more): " + ", ".join(
                  f"{s.name} {_pct(nearest_right(out)).strip()}"
                  for s, out in zip(scenarios, outcomes, strict=True))]
    if sweep:
        lines += ["", "Each cell: leaks / consented auto-cleared / consented falsely blocked.", ""]
        lines += sweep_lines(scenarios)
    return "\n".join(lines)
