"""The pure parts of video: a track decided by the photo rule from its looks, the blur box
between and around samples, and the boxes of an MP4 (upload shape, clean output)."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.imaging.clips import boxes_at
from gatekeeper.imaging.decode import ImageRefused
from gatekeeper.imaging.mp4 import blank_user_data, check_upload, is_clip, verify_clean
from gatekeeper.imaging.video import frames, open_clip, upright_pixels
from gatekeeper.screening.rule import Gallery, Reference, decide_faces, decide_tracks
from gatekeeper.states import FaceStatus
from tests.support.clips import background, write_clip


def at(distance: float, axis: int = 0) -> np.ndarray:
    e = np.zeros(128)
    e[axis] = distance
    return e


def gallery(*placed) -> Gallery:
    return Gallery([Reference(pid, f"U{pid}", at(d, axis)) for pid, d, axis in placed])


# Pupil 1 (consented) sits on axis 0, pupil 2 (protected) on axis 1, far apart.
PUPILS = gallery((1, 1.0, 0), (2, 1.0, 1))
NEAR_1, NEAR_2, STRANGER = at(0.95, 0), at(0.95, 1), at(1.0, 2)


def statuses(decisions):
    return [(d.status, d.pupil_id) for d in decisions]


def test_one_protected_look_blocks_the_whole_track():
    [track] = decide_tracks([[NEAR_1, NEAR_2, NEAR_1]], PUPILS, publishable={1})
    assert (track.status, track.pupil_id) == (FaceStatus.BLOCKED, 2)


def test_a_track_clears_only_when_every_look_clears_as_one_pupil():
    assert statuses(decide_tracks([[NEAR_1, NEAR_1]], PUPILS, publishable={1, 2})) == [
        (FaceStatus.CLEARED, 1)]
    assert statuses(decide_tracks([[NEAR_1, STRANGER]], PUPILS, publishable={1, 2})) == [
        (FaceStatus.UNKNOWN, None)]
    assert statuses(decide_tracks([[NEAR_1, NEAR_2]], PUPILS, publishable={1, 2})) == [
        (FaceStatus.UNKNOWN, None)]


def test_a_track_with_no_encodable_look_is_unknown():
    assert statuses(decide_tracks([[]], PUPILS, publishable={1, 2})) == [(FaceStatus.UNKNOWN, None)]


def test_each_pupil_clears_at_most_once_per_clip():
    decided = decide_tracks([[NEAR_1], [NEAR_1, NEAR_1]], PUPILS, publishable={1, 2})
    assert statuses(decided) == [(FaceStatus.UNKNOWN, None)] * 2


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1.5), st.integers(0, 3)), min_size=0, max_size=5),
       st.sets(st.integers(1, 4)))
def test_tracks_of_one_look_are_decided_as_photo_faces(faces, publishable):
    """The same rule: a clip whose tracks each have one look is decided as a photo of its faces."""
    school = gallery((1, 1.0, 0), (2, 1.0, 1), (3, 1.0, 2), (4, 1.0, 3))
    encodings = [at(1.0 - d / 3, axis) for d, axis in faces]
    assert decide_tracks([[e] for e in encodings], school, publishable) == decide_faces(
        encodings, school, publishable)


TRACK = [(1.0, 100, 200, 200, 100), (1.2, 100, 300, 200, 200)]  # moving right 100 px a sample


def test_blur_box_moves_between_samples_grown_by_the_move():
    top, right, bottom, left = boxes_at(TRACK, 1.1, hold=0.2)
    assert (top, bottom) == (100 - 0, 200) and left <= 150 - 50 and right >= 250 + 50


def test_blur_box_carries_on_before_the_first_and_after_the_last_sample():
    before = boxes_at(TRACK, 0.9, hold=0.2)  # the face was 50 px further left
    assert before[3] <= 50 and before[1] >= 150
    after = boxes_at(TRACK, 1.3, hold=0.2)
    assert after[1] >= 350
    assert boxes_at(TRACK, 0.7, hold=0.2) is None and boxes_at(TRACK, 1.5, hold=0.2) is None


def test_a_face_seen_once_is_held_grown():
    assert boxes_at([(2.0, 100, 200, 200, 100)], 2.1, hold=0.2) == (50, 250, 250, 50)


def test_heic_photos_are_not_clips():
    assert is_clip(b"\0\0\0\x18ftypqt  ") and is_clip(b"\0\0\0\x18ftypisom")
    assert not is_clip(b"\0\0\0\x18ftypheic") and not is_clip(b"\xff\xd8\xff\xe0")


@pytest.fixture(scope="module")
def made(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("clips")
    plain = background(64, 48)
    return write_clip(folder / "tagged.mp4", lambda t: plain, seconds=0.2, fps=10,
                      metadata={"title": "Ava", "location": "+51.5-000.1/"})


def test_an_upload_covers_its_file_exactly(made, tmp_path):
    check_upload(made)
    for name, extra in (("tail.mp4", b"<html></html>"), ("pad.mp4", b"\0\0\0\x0cfreeabcd")):
        bad = tmp_path / name
        bad.write_bytes(made.read_bytes() + extra)
        with pytest.raises(ImageRefused):
            check_upload(bad)


def test_a_muxed_clip_with_user_data_is_refused_until_blanked(made, tmp_path):
    copy = tmp_path / "copy.mp4"
    copy.write_bytes(made.read_bytes())
    with pytest.raises(ImageRefused, match="udta|date|fast-start"):
        verify_clean(copy)
    assert b"Ava" in copy.read_bytes()
    blank_user_data(copy)
    assert b"Ava" not in copy.read_bytes()


def test_sampling_a_clip_with_b_frames_gives_the_pictures_a_full_decode_would(tmp_path):
    """Pictures before the next one due that nothing refers to are not decoded; the samples are
    still exactly those of decoding every picture and taking the first at or after each time."""
    base = background(96, 64)

    def picture(t: float) -> np.ndarray:
        moved = base.copy()
        x = int(t * 40) % 80
        moved[20:40, x : x + 16] = (255, 255, 255)  # every picture differs from the last
        return moved

    # x264's "medium" preset puts B-pictures (not referred to) between the others.
    path = write_clip(tmp_path / "b-frames.mp4", picture, seconds=3, fps=30, audio=False,
                      options={"preset": "medium", "bframes": "3", "b-pyramid": "none"})
    with open_clip(path) as container:
        every = [(f.time, upright_pixels(f, None)) for f in container.decode(video=0)]
    expected, due = [], None
    for time, pixels in every:
        if due is None or time >= due:
            expected.append((time, pixels))
            due = (time if due is None else due) + 0.2
    sampled = [(p.time, p.rgb()) for p in frames(path, every=0.2)]
    assert [t for t, _ in sampled] == [t for t, _ in expected]
    assert len(sampled) == 15
    for (_, got), (_, want) in zip(sampled, expected, strict=True):
        assert np.array_equal(got, want)
