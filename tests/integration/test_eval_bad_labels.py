"""`gatekeeper eval DIR` on a folder or labels it cannot use: one error line naming the bad field,
file or folder, a non-zero exit, and nothing enrolled or screened. The hostile folders are made
here; photos are drawn, so no shared face photo is needed."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image

from tests.support.commands import one_error_line

pytestmark = pytest.mark.once


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (120, 160, 200)).save(out, "JPEG", quality=90)
    return out.getvalue()


def _folder(tmp_path, labels, people: bool = True):
    """DIR with labels.json, a photo p.jpg and, unless told, people/obama/1.jpg."""
    folder = tmp_path / "ev"
    folder.mkdir()
    (folder / "p.jpg").write_bytes(_jpeg())
    if people:
        (folder / "people" / "obama").mkdir(parents=True)
        (folder / "people" / "obama" / "1.jpg").write_bytes(_jpeg())
    (folder / "labels.json").write_text(json.dumps(labels))
    return folder


@pytest.fixture
def screened(monkeypatch):
    """The photos the command enrolled or screened: none, for a folder it refuses."""
    from gatekeeper.screening import evaluate

    calls: list[str] = []

    def refuse(name):
        def record(data: bytes):
            calls.append(name)
            raise AssertionError(f"{name} called on refused input")
        return record

    monkeypatch.setattr(evaluate, "analyse_bytes", refuse("analyse_bytes"))
    monkeypatch.setattr(evaluate, "reference_vectors", refuse("reference_vectors"))
    return calls


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ({"consented": ["obama"], "photos": {"p.jpg": 3}},
         'labels: photos["p.jpg"] must be a list of person ids'),
        # A string is not read letter by letter (that reported a LEAK of "a, b, m, o").
        ({"consented": ["obama"], "photos": {"p.jpg": "obama"}},
         'labels: photos["p.jpg"] must be a list of person ids'),
        ({"consented": ["obama"], "photos": {"p.jpg": ["obama", 7]}},
         'labels: photos["p.jpg"] must be a list of person ids'),
        ({"consented": [["x"]], "photos": {"p.jpg": ["obama"]}},
         "labels: consented must be a list of person ids"),
        # Taken as letters, Obama was silently protected and the run succeeded.
        ({"consented": "obama", "photos": {"p.jpg": ["obama"]}},
         "labels: consented must be a list of person ids"),
        # Consenting "unknown" would make every stranger publishable and hide every leak.
        ({"consented": ["unknown"], "photos": {"p.jpg": ["unknown"]}},
         'labels: consented must not include "unknown"'),
        ({"consented": ["obama"], "photos": {}},
         "labels: photos is empty: there is nothing to evaluate"),
    ],
    ids=["photo-number", "photo-string", "photo-id-number", "consented-nested",
         "consented-string", "consented-unknown", "no-photos"],
)
def test_bad_labels_are_one_line_naming_the_field(cli, tmp_path, screened, labels, message):
    result = cli("eval", str(_folder(tmp_path, labels)))
    assert one_error_line(result) == f"error: {message}"
    assert result.stdout == ""
    assert screened == []


def test_nothing_to_evaluate_is_an_error_without_a_people_folder(cli, tmp_path, screened):
    folder = _folder(tmp_path, {"photos": {}}, people=False)
    assert "nothing to evaluate" in one_error_line(cli("eval", str(folder)))
    assert screened == []


def test_a_missing_people_folder_names_the_expected_layout(cli, tmp_path, screened):
    folder = _folder(tmp_path, {"consented": [], "photos": {"p.jpg": ["unknown"]}}, people=False)
    line = one_error_line(cli("eval", str(folder)))
    assert "people" in line and "<person id>" in line and "labels.json" in line
    assert screened == []


def test_a_damaged_photo_is_named(cli, tmp_path):
    folder = _folder(tmp_path, {"consented": [], "photos": {"events/half.jpg": ["unknown"]}})
    (folder / "people" / "obama" / "1.jpg").unlink()  # no reference to encode: quick
    (folder / "events").mkdir()
    (folder / "events" / "half.jpg").write_bytes(_jpeg()[: len(_jpeg()) // 2])
    line = one_error_line(cli("eval", str(folder)))
    assert "events/half.jpg" in line and "damaged" in line


def test_a_consented_id_without_a_people_folder_is_refused_by_name(cli, tmp_path, screened):
    # "obma" could never be cleared, and the photos showing Obama would silently stop counting
    # as clearable: the run is refused before anything is enrolled.
    folder = _folder(tmp_path, {"consented": ["obma"], "photos": {"p.jpg": ["obama"]}})
    line = one_error_line(cli("eval", str(folder)))
    assert line == 'error: labels: consented names "obma", with no folder in people/ ' \
                   "(enrolled: obama)"
    assert screened == []


def test_labelled_ids_without_a_folder_are_listed_as_strangers(cli, tmp_path):
    folder = _folder(tmp_path, {"consented": ["obama"],
                                "photos": {"p.jpg": ["obama", "lin_manuel", "unknown"],
                                           "q.jpg": ["lin_manuel"], "r.jpg": ["bidn"]}})
    for name in ("q.jpg", "r.jpg"):
        (folder / name).write_bytes(_jpeg())
    result = cli("eval", str(folder))
    assert result.exit_code == 0, result.output
    assert ("not in people/, screened as strangers: bidn (1 photo), lin_manuel (2 photos)"
            in result.stdout.splitlines())
