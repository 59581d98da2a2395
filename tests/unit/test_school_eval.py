"""The school-size evaluation on a hand-made set: files whose analyses are planted in the cache
(hash -> faces), so the scoring and the leak count are checked without any face model."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gatekeeper.screening import school_eval as se
from gatekeeper.screening.school_cache import CachedFace, CachedImage, EncodingCache, upscale_for

SIDE = 250
GATEKEEPER = str(Path(sys.executable).with_name("gatekeeper"))


def command(tmp_path, *args):
    env = {**os.environ, "GATEKEEPER_INSTANCE": str(tmp_path / "instance")}
    return subprocess.run([GATEKEEPER, "eval-schools", *args], env=env, capture_output=True,
                          text=True, timeout=120)


def embedding_like(encoding) -> np.ndarray:
    """A unit 192-d embedding as far apart as the 128-d encodings (the same directions)."""
    padded = np.concatenate([np.asarray(encoding, float), np.zeros(64)])
    return padded / np.linalg.norm(padded)


def face_at(encoding, height=150) -> CachedImage:
    top = (SIDE - height) // 2
    box = (top, SIDE - top, top + height, top)
    encoding = np.asarray(encoding, float)
    return CachedImage(SIDE, SIDE, (CachedFace(box, 0.9, 100.0, encoding,
                                               embedding_like(encoding)),))


def direction(n: int) -> np.ndarray:
    e = np.zeros(128)
    e[n % 128] = 1.0 if n < 128 else -1.0
    return e


def plant(root, cache, relative: str, image: CachedImage) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(relative.encode())  # unique bytes: the cache key is their hash
    cache.put(cache.key(path.read_bytes(), upscale_for(path)), image)


@pytest.fixture
def sets(tmp_path):
    """Adults only: 20 people with two photos (a second photo 0.2 from the reference) and 20
    one-photo strangers, all 1.0 from one another."""
    root, cache = tmp_path / "schools", EncodingCache(tmp_path / "cache")
    for i in range(20):
        plant(root, cache, f"lfw/P{i:02d}/P{i:02d}_0001.jpg", face_at(direction(i)))
        plant(root, cache, f"lfw/P{i:02d}/P{i:02d}_0002.jpg",
              face_at(direction(i) + 0.2 * direction(100 + i)))
    for i in range(20):
        plant(root, cache, f"lfw/S{i:02d}/S{i:02d}_0001.jpg", face_at(direction(40 + i)))
    for sub in ("fiw", "lag"):
        (root / sub).mkdir()
    (root / "fiw" / "relationships.csv").write_text("p1,p2\n")
    cache.db.commit()
    return root, cache


def scenarios(root, cache, pupils=30):
    people = se.load_people(root, cache, ("adults",), cached_only=True)
    school = se.build_school("adults", people["adults"], pupils, 0.2, 0)
    return school, se.whole_school(school), se.event(school, 5, 0)


def test_a_separable_school_clears_consented_and_stops_the_rest(sets):
    school, whole, event = scenarios(*sets)
    # 20 with two photos + 10 of the 20 one-photo people (half stay strangers).
    assert whole.enrolled == 30 and len(school.strangers) == 10
    out = se.score(whole)
    assert out.leaks == 0
    assert out.counts[se.CONSENTED][0] == out.total(se.CONSENTED) > 0  # all auto-cleared
    protected = out.counts[se.PROTECTED]
    assert protected[0] == protected[1] == 0 and sum(protected) > 0
    assert out.counts[se.STRANGER][:2] == [0, 0]
    assert len(event.candidates) == 5
    assert se.score(event).counts[se.OTHER][:2] == [0, 0]  # pupils outside the event: never


def test_a_stranger_next_to_a_pupil_is_counted_as_a_leak(sets):
    root, cache = sets
    school, whole, _ = scenarios(root, cache)
    victim = next(p for pid, p in school.pupil_people.items() if pid in school.publishable)
    twin = victim.images[0].faces[0].encoding + 0.01 * direction(127)
    plant(root, cache, "lfw/Z_lookalike/Z_lookalike_0001.jpg", face_at(twin))
    cache.db.commit()
    _, whole, _ = scenarios(root, cache)
    out = se.score(whole)
    assert out.leaks == 1 and out.counts[se.STRANGER][1] == 1


def test_the_same_person_filed_under_two_names_is_left_out_not_a_leak(sets):
    # A pupil filed under one name, and their photo under the other name (a "stranger") right
    # next to the pupil's reference: the same person, so not a leak, and reported as left out.
    root, cache = sets
    barnett = direction(90)
    plant(root, cache, "lfw/John_Barnett/John_Barnett_0001.jpg", face_at(barnett))
    plant(root, cache, "lfw/John_Barnett/John_Barnett_0002.jpg",
          face_at(barnett + 0.2 * direction(91)))
    plant(root, cache, "lfw/John_Burnett/John_Burnett_0001.jpg",
          face_at(barnett + 0.01 * direction(127)))
    cache.db.commit()
    school, whole, _ = scenarios(root, cache)
    assert "lfw/John_Burnett" in {p.key for p in school.strangers}
    out = se.score(whole)
    assert (out.leaks, out.two_names) == (0, 1)
    assert out.counts[se.STRANGER][:2] == [0, 0]


def test_a_photo_with_no_face_found_of_a_stranger_goes_to_a_person_not_a_leak(sets):
    root, cache = sets
    plant(root, cache, "lfw/Z_blank/Z_blank_0001.jpg", CachedImage(SIDE, SIDE, ()))
    cache.db.commit()
    _, whole, _ = scenarios(root, cache)
    out = se.score(whole)
    assert (out.leaks, out.no_face_found) == (0, 1)  # "No faces found" is never cleared


def test_the_report_says_how_many_consented_faces_are_nearest_themselves(sets):
    # A consented pupil's second photo planted nearer another pupil's reference than their own:
    # no threshold could clear it as them, and the ceiling the report prints drops by one face.
    root, cache = sets
    school, whole, _ = scenarios(root, cache)
    before = se.score(whole)
    assert before.consented_nearest_right == before.consented_screened > 0
    pupil, other = [pid for pid in school.pupil_people if pid in school.publishable][:2]
    key = school.pupil_people[pupil].key
    near_other = school.pupil_people[other].images[0].faces[0].encoding + 0.3 * direction(120)
    plant(root, cache, f"{key}/{key.split('/')[1]}_0002.jpg", face_at(near_other))
    cache.db.commit()
    _, whole, _ = scenarios(root, cache)
    after = se.score(whole)
    assert after.consented_screened == before.consented_screened
    assert after.consented_nearest_right == before.consented_nearest_right - 1
    share = f"{100 * se.nearest_right(after):.0f}%"
    report = se.run(root, root.parent / "cache", pupils=30, event_size=5, kinds=("adults",),
                    cached_only=True, sweep=False)
    assert f"adults, whole school {share}" in report


def test_report_rows_and_sweep(sets):
    root, cache = sets
    report = se.run(root, root.parent / "cache", pupils=30, event_size=5,
                    kinds=("adults",), cached_only=True)
    assert "| adults, whole school | 30 | 30 |" in report
    assert "| adults, event | 30 | 5 |" in report
    assert "| strict_event | 0." in report and "(chosen)" in report


def test_the_command_refuses_a_folder_that_is_not_the_sets(tmp_path):
    result = command(tmp_path, str(tmp_path), "--cache", str(tmp_path / "c"))
    assert result.returncode != 0
    assert result.stderr.strip().startswith("error:") and "is missing" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_options_are_one_line_errors(sets, tmp_path):
    """Run in this process (click's runner): the subject is the line printed; the test above
    runs the command as the real console script."""
    from click.testing import CliRunner

    from gatekeeper.cli import main

    root, _ = sets
    for args in (["--protected", "1.5"], ["--pupils", "0"], ["--kinds", "aliens"],
                 ["--embedding", "arcface"]):
        result = CliRunner().invoke(main, ["eval-schools", str(root), "--cache",
                                           str(tmp_path / "cache"), "--cached-only", *args])
        assert result.exit_code != 0 and isinstance(result.exception, SystemExit), args
        assert result.stderr.startswith("error:"), args
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_the_cache_key_changes_with_the_bytes_and_the_upscale(tmp_path):
    cache = EncodingCache(tmp_path)
    assert cache.key(b"a", 1) != cache.key(b"b", 1) != cache.key(b"b", 3)
    image = face_at(direction(3))
    cache.put(cache.key(b"a", 1), image)
    [(_, back)] = cache.get_many([cache.key(b"a", 1)]).items()
    assert np.allclose(back.faces[0].encoding, image.faces[0].encoding)
    assert np.allclose(back.faces[0].embedding, image.faces[0].embedding)
    assert json.loads(json.dumps(back.faces[0].box)) == list(image.faces[0].box)


@pytest.mark.parametrize("embedding", se.EMBEDDINGS)
def test_each_embedding_screens_the_school_by_its_own_distance(sets, embedding):
    root, cache = sets
    report = se.run(root, root.parent / "cache", pupils=30, event_size=5, kinds=("adults",),
                    cached_only=True, sweep=False, embedding=embedding)
    assert f"Matched by: {embedding}" in report
    assert "| adults, whole school | 30 | 30 | 100% of 16 |" in report  # all consented cleared
    assert report.count("| 0 |") == 2  # no leak, whole school and event


def test_a_school_without_embeddings_cannot_be_matched_by_them(sets):
    root, cache = sets
    people = se.load_people(root, cache, ("adults",), cached_only=True)
    for person in people["adults"]:
        person.images = [CachedImage(i.width, i.height, tuple(
            CachedFace(f.box, f.score, f.sharpness, f.encoding) for f in i.faces))
            for i in person.images]
    school = se.build_school("adults", people["adults"], 30, 0.2, 0, embedding="dlib")
    assert len(school.gallery) == 30
    with pytest.raises(ValueError, match="needs every reference's embedding"):
        se.build_school("adults", people["adults"], 30, 0.2, 0, embedding="fused")


def test_pair_rates_accept_same_person_pairs_before_strangers(sets):
    root, cache = sets
    people = se.load_people(root, cache, ("adults",), cached_only=True)
    report = se.run(root, root.parent / "cache", pupils=30, event_size=5, kinds=("adults",),
                    cached_only=True, sweep=False, pairs=True)
    rows = [line for line in report.splitlines() if line.startswith("| adults | ")]
    assert [row.split(" | ")[1] for row in rows] == list(se.EMBEDDINGS)
    same = sum(len(p.images) * (len(p.images) - 1) // 2 for p in people["adults"])
    for row in rows:  # every same-person pair (0.2 apart) is nearer than any stranger (1.0+)
        assert row.split(" | ")[2:5] == [str(same), row.split(" | ")[3], "100%"]


def test_more_reference_photos_clear_what_one_did_not(sets):
    """--references 2: each pupil's first two photos are references and only the rest are
    screened; a third photo far from the first but near the second then clears."""
    root, cache = sets
    for i in range(5):
        first, away = direction(70 + i), direction(90 + i)
        for n, vector in enumerate((first, first + away, first + 3 * away), start=1):
            plant(root, cache, f"lfw/Q{i}/Q{i}_000{n}.jpg", face_at(vector))
    cache.db.commit()
    people = se.load_people(root, cache, ("adults",), cached_only=True, references=2)
    assert {len(p.images) for p in people["adults"] if p.key.startswith("lfw/Q")} == {3}
    one = se.build_school("adults", people["adults"], 30, 0.0, 0)
    two = se.build_school("adults", people["adults"], 30, 0.0, 0, references=2)
    # 20 P and 5 Q people with two photos or more, 5 one-photo people: 55 references with two.
    assert len(one.gallery.matrix) == 30 and len(two.gallery.matrix) == 55
    by_one, by_two = se.score(se.whole_school(one)), se.score(se.whole_school(two))
    assert by_one.leaks == by_two.leaks == 0
    # One reference: the Q people's third photos (1.17 from the first) go to a person.
    assert by_one.counts[se.CONSENTED][0] == 25 and by_one.total(se.CONSENTED) == 30
    # Two: only the third photos are screened (0.46 from the second photo), and all clear.
    assert by_two.counts[se.CONSENTED][0] == by_two.total(se.CONSENTED) == 5


@pytest.mark.parametrize("references", [0, 6])
def test_references_beyond_what_a_pupil_may_have_are_refused(sets, references):
    root, _cache = sets
    with pytest.raises(ValueError, match="--references is 1 to 5"):
        se.run(root, root.parent / "cache", kinds=("adults",), cached_only=True, sweep=False,
               references=references)


def test_a_stranger_photo_identical_to_any_reference_is_left_out_not_a_leak(sets):
    """Label noise (FIW files some crops under two people): a stranger's image whose encoding is
    that of a pupil's second reference is the same photo, left out as with the first."""
    root, cache = sets
    first, second = direction(70), direction(70) + 0.5 * direction(90)
    for n, vector in enumerate((first, second, first + 0.3 * direction(91)), start=1):
        plant(root, cache, f"lfw/R0/R0_000{n}.jpg", face_at(vector))
    for name in ("S20", "S21"):  # the copy, and a second one-photo person so it stays a stranger
        plant(root, cache, f"lfw/{name}/{name}_0001.jpg",
              face_at(second if name == "S20" else direction(60)))
    cache.db.commit()
    people = se.load_people(root, cache, ("adults",), cached_only=True, references=2)
    school = se.build_school("adults", people["adults"], 21, 0.0, 0, references=2)
    assert any(p.key == "lfw/S20" for p in school.strangers)
    out = se.score(se.whole_school(school))
    assert out.same_photo == 1 and out.leaks == 0
