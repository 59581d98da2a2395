"""The evaluation command's engine on the shared faces, labelled from their README table."""

import json
from pathlib import Path

import pytest

from gatekeeper.screening.evaluate import evaluate, format_report, load_labels

pytestmark = pytest.mark.slow

LABELS_FILE = Path(__file__).resolve().parents[2] / "docs" / "eval-faces-labels.json"
# The shared faces' labels, as a user runs them (README: `gatekeeper eval ... --labels` this file).
LABELS = {key: value for key, value in json.loads(LABELS_FILE.read_text()).items()
          if not key.startswith("_")}


@pytest.fixture(scope="module")
def report(faces_dir):
    return evaluate(faces_dir, LABELS)


def test_no_photo_leaks(report):
    assert [p.leak for p in report.leaks] == []


def test_every_face_in_the_events_is_found(report):
    assert report.missed_photos == []
    assert report.recall == 1.0


def test_the_child_photo_is_never_cleared(report):
    [photo] = [p for p in report.photos if p.path == "events/obama_and_biden.jpg"]
    assert photo.verdict == "needs_review"
    assert sorted(photo.cleared_as) == ["biden", "obama"]


def test_photos_of_consented_people_are_auto_cleared(report):
    assert report.auto_cleared == len(report.clearable) == 9
    assert report.refused_references == []


def test_same_person_distances_are_below_different_person_distances(report):
    assert max(report.same_distances) < min(report.different_distances)


def test_a_stranger_photo_cleared_counts_as_a_leak(faces_dir):
    # biden not consented: the photo is blocked, which is no leak.
    labels = {"consented": ["obama"], "photos": {"events/two_people.jpg": ["obama", "biden"]}}
    leaky = evaluate(faces_dir, labels)
    assert leaky.leaks == [] and leaky.photos[0].verdict == "blocked"
    mislabelled = {"consented": ["obama", "biden"],
                   "photos": {"events/two_people.jpg": ["obama", "unknown"]}}
    # Labelled as showing a stranger, the cleared photo must be reported as a leak.
    [photo] = evaluate(faces_dir, mislabelled).leaks
    assert photo.leak == "cleared although it shows unknown"


def test_format_report_and_load_labels(report, tmp_path):
    text = format_report(report)
    assert "leaks: 0" in text and "detection recall: 17/17 = 1.000" in text
    path = tmp_path / "labels.json"
    path.write_text(json.dumps(LABELS))
    loaded = load_labels(path)
    assert loaded.consented == frozenset(LABELS["consented"])
    assert loaded.photos == {path: tuple(ids) for path, ids in LABELS["photos"].items()}
    path.write_text("{")
    with pytest.raises(ValueError, match="cannot read labels"):
        load_labels(path)
