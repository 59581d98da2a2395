"""Evaluate the screening engine on a labelled folder of photos (`gatekeeper eval DIR`).

Folder layout:
    people/<person_id>/*      reference photos, one face each (enrolled as that person)
    <anything else>           photos named in the labels file, by path relative to the folder

Labels (JSON, default DIR/labels.json):
    {"consented": ["obama", ...],                       people publishable for the purpose
     "photos": {"events/a.jpg": ["obama", "unknown"]}}  everyone visible, one entry per face;
                                                       "unknown" = anyone not in people/
Enrolled people not in "consented" are treated as protected (not publishable). A consented id
with no people/ folder is refused (a misspelling would silently change what is measured); a
labelled id with none is a stranger, like "unknown", and the report lists such ids.

Measures:
- detection recall, count-based: per photo min(detected, labelled) faces count as found
  (a photo has no face-level ground-truth boxes); `missed_photos` lists photos with fewer
  detected than labelled faces;
- leaks: a photo whose verdict is "cleared" although it shows an unknown or non-consented person,
  or any face cleared as a person not labelled in that photo (must be 0);
- auto-clear rate: photos cleared among those that could be (everyone in it enrolled and consented);
- distances, per photo and person: "same" is the nearest face to a person who is in the photo,
  "different" the nearest face to an enrolled person who is not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gatekeeper.screening.engine import (
    Analysis,
    ReferenceRefused,
    analyse_bytes,
    reference_vectors,
)
from gatekeeper.screening.rule import (
    Gallery,
    Reference,
    decide_faces,
    photo_verdict,
)
from gatekeeper.states import FaceStatus, PhotoState

UNKNOWN_LABEL = "unknown"
LABELS_FILE = "labels.json"
PEOPLE_DIR = "people"
LAYOUT = (f"expected DIR/{PEOPLE_DIR}/<person id>/<reference photos>, the labelled photos, and "
          f"DIR/{LABELS_FILE} (or --labels)")


@dataclass
class PhotoResult:
    path: str
    labelled: list[str]
    detected: int
    verdict: str
    cleared_as: list[str]  # person ids of the faces cleared
    leak: str | None = None  # why this photo is a leak, if it is one


@dataclass
class EvalReport:
    consented: frozenset[str] = frozenset()
    photos: list[PhotoResult] = field(default_factory=list)
    refused_references: list[str] = field(default_factory=list)
    not_enrolled: dict[str, int] = field(default_factory=dict)  # labelled id -> photos, no folder
    same_distances: list[float] = field(default_factory=list)
    different_distances: list[float] = field(default_factory=list)

    @property
    def labelled_faces(self) -> int:
        return sum(len(p.labelled) for p in self.photos)

    @property
    def found_faces(self) -> int:
        return sum(min(p.detected, len(p.labelled)) for p in self.photos)

    @property
    def recall(self) -> float:
        return self.found_faces / self.labelled_faces if self.labelled_faces else 1.0

    @property
    def missed_photos(self) -> list[str]:
        return [p.path for p in self.photos if p.detected < len(p.labelled)]

    @property
    def leaks(self) -> list[PhotoResult]:
        return [p for p in self.photos if p.leak]

    @property
    def clearable(self) -> list[PhotoResult]:
        """Photos that could be cleared: everyone labelled in them is enrolled and consented."""
        return [p for p in self.photos if p.labelled and set(p.labelled) <= self.consented]

    @property
    def auto_cleared(self) -> int:
        return sum(p.verdict == PhotoState.CLEARED for p in self.clearable)


@dataclass(frozen=True)
class Labels:
    """Checked labels: the consented person ids and, per photo path, everyone visible in it."""

    consented: frozenset[str]
    photos: dict[str, tuple[str, ...]]


def _person_ids(value: object) -> tuple[str, ...] | None:
    """The value as person ids, or None unless it is a list of non-empty strings."""
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return None
    return tuple(value)


def check_labels(raw: object) -> Labels:
    """The labels as parsed from JSON, checked; raises ValueError with a one-line reason naming
    the bad field (a string is never taken as its letters, nor a number as a list)."""
    if not isinstance(raw, dict):
        raise ValueError('labels: must be a JSON object with "consented" and "photos"')
    photos = raw.get("photos")
    if not isinstance(photos, dict):
        raise ValueError('labels: photos must be an object of {"photo path": [person ids]}')
    if not photos:
        raise ValueError("labels: photos is empty: there is nothing to evaluate")
    consented = _person_ids(raw.get("consented", []))
    if consented is None:
        raise ValueError("labels: consented must be a list of person ids")
    if UNKNOWN_LABEL in consented:
        raise ValueError(f'labels: consented must not include "{UNKNOWN_LABEL}"')
    checked = {}
    for path, labelled in photos.items():
        ids = _person_ids(labelled)
        if ids is None:
            raise ValueError(f"labels: photos[{json.dumps(path)}] must be a list of person ids")
        checked[path] = ids
    return Labels(frozenset(consented), checked)


def load_labels(path: Path) -> Labels:
    """The labels JSON, checked by check_labels; raises ValueError with a one-line reason."""
    try:
        labels = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ValueError(f"no labels file {path}: {LAYOUT}") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read labels {path}: {exc}") from exc
    return check_labels(labels)


def people_in(folder: Path) -> list[str]:
    """The person ids of folder's people/ (its sub-folders), sorted."""
    if not (folder / PEOPLE_DIR).is_dir():
        raise ValueError(f"no folder {folder / PEOPLE_DIR}: {LAYOUT}")
    return sorted(p.name for p in (folder / PEOPLE_DIR).iterdir() if p.is_dir())


def check_consented_enrolled(labels: Labels, people: list[str]) -> None:
    """A consented id must be a people/ folder: one that is not (a misspelling, say) could never
    be cleared, and its photos would silently drop out of the clearable count."""
    missing = sorted(labels.consented - set(people))
    if missing:
        names = ", ".join(json.dumps(m) for m in missing)
        raise ValueError(f"labels: consented names {names}, with no folder in {PEOPLE_DIR}/ "
                         f"(enrolled: {', '.join(people) or 'nobody'})")


def not_enrolled(labels: Labels, people: list[str]) -> dict[str, int]:
    """Labelled ids other than "unknown" with no people/ folder, and in how many photos each:
    screened as strangers, and listed so that a misspelt id shows."""
    counts: dict[str, int] = {}
    for ids in labels.photos.values():
        for person in set(ids) - set(people) - {UNKNOWN_LABEL}:
            counts[person] = counts.get(person, 0) + 1
    return dict(sorted(counts.items()))


def enrol_folder(folder: Path) -> tuple[dict[str, int], list[Reference], list[str]]:
    """Ids for people/<person>, their reference encodings, and the refused files with reasons."""
    people = people_in(folder)
    ids = {person: number for number, person in enumerate(people, start=1)}
    references, refused = [], []
    for person in people:
        for photo in sorted((folder / PEOPLE_DIR / person).iterdir()):
            try:
                vectors = reference_vectors(photo.read_bytes())
            except (ReferenceRefused, ValueError) as exc:
                refused.append(f"{PEOPLE_DIR}/{person}/{photo.name}: {exc}")
                continue
            references.append(Reference.of(ids[person], person, vectors))
    return ids, references, refused


def _leak(labelled: list[str], verdict: str, cleared_as: list[str], consented: set) -> str | None:
    strangers = sorted({name for name in labelled if name not in consented})
    if verdict == PhotoState.CLEARED and strangers:
        return f"cleared although it shows {', '.join(strangers)}"
    wrong = sorted(set(cleared_as) - set(labelled))
    return f"a face cleared as {', '.join(wrong)}, who is not in it" if wrong else None


def _distances(analysis: Analysis, gallery: Gallery, labelled: list[str], report: EvalReport):
    encodings = [f.vectors for f in analysis.faces if f.vectors is not None]
    if not encodings:
        return
    per_face = np.array([gallery.distances(e) for e in encodings])  # faces x people
    for column, person in enumerate(gallery.upns):
        nearest = float(per_face[:, column].min())
        (report.same_distances if person in labelled else report.different_distances).append(
            nearest
        )


def evaluate(folder: Path, labels: Labels | dict) -> EvalReport:
    """Enrol people/, screen every labelled photo, and measure recall, leaks and distances.
    Labels are checked (check_labels) before anything is enrolled or screened."""
    folder = Path(folder)
    if not isinstance(labels, Labels):
        labels = check_labels(labels)
    people = people_in(folder)
    check_consented_enrolled(labels, people)
    ids, references, refused = enrol_folder(folder)
    gallery = Gallery(references)
    consented = set(labels.consented)
    publishable = frozenset(ids[p] for p in consented if p in ids)
    report = EvalReport(consented=labels.consented, refused_references=refused,
                        not_enrolled=not_enrolled(labels, people))
    for path, labelled in sorted(labels.photos.items()):
        try:
            analysis = analyse_bytes((folder / path).read_bytes())
        except ValueError as exc:  # ImageRefused: a damaged or unreadable photo, named
            raise ValueError(f"{path}: {exc}") from exc
        decisions = decide_faces([f.vectors for f in analysis.faces], gallery, publishable)
        verdict = photo_verdict(decisions)
        cleared_as = [d.upn for d in decisions if d.status == FaceStatus.CLEARED]
        leak = _leak(list(labelled), verdict, cleared_as, consented)
        report.photos.append(
            PhotoResult(path, list(labelled), len(analysis.faces), verdict, cleared_as, leak)
        )
        _distances(analysis, gallery, list(labelled), report)
    return report


def _spread(values: list[float]) -> str:
    if not values:
        return "none"
    return f"min {min(values):.3f}  median {float(np.median(values)):.3f}  max {max(values):.3f}"


def format_report(report: EvalReport) -> str:
    """A plain-text report: one line per photo, then the totals."""
    lines = [f"{'photo':40} {'faces':>9}  verdict       cleared as"]
    for p in report.photos:
        faces = f"{p.detected}/{len(p.labelled)}"
        note = f"  LEAK: {p.leak}" if p.leak else ""
        lines.append(f"{p.path:40} {faces:>9}  {p.verdict:13} {','.join(p.cleared_as)}{note}")
    lines += [f"refused reference: {r}" for r in report.refused_references]
    if report.not_enrolled:
        named = ", ".join(f"{person} ({n} photo{'s' if n > 1 else ''})"
                          for person, n in report.not_enrolled.items())
        lines.append(f"not in {PEOPLE_DIR}/, screened as strangers: {named}")
    missed = f" (fewer faces than labelled: {', '.join(report.missed_photos)})"
    lines.append(
        f"detection recall: {report.found_faces}/{report.labelled_faces} = {report.recall:.3f}"
        + (missed if report.missed_photos else "")
    )
    lines.append(f"leaks: {len(report.leaks)}")
    lines.append(f"auto-cleared: {report.auto_cleared}/{len(report.clearable)} clearable photos")
    lines.append(f"same-person distance:      {_spread(report.same_distances)}")
    lines.append(f"different-person distance: {_spread(report.different_distances)}")
    return "\n".join(lines)
