"""Clip analysis: sampled pictures in, face tracks out. No Flask, no database.

Pictures are sampled about every SAMPLE_EVERY seconds (at times that cannot be known beforehand) and
searched with the photo detector; each face found is joined to the track whose predicted position
it is nearest (tracks move); every sighting sharp and large enough to encode is encoded with the
photo encoder as it comes. The rule decides a track from these looks (rule.decide_tracks), and
the per-sample boxes are what the blur follows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from gatekeeper.imaging.video import frames, rotation_of
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.detect import detect_faces
from gatekeeper.screening.encode import CROP_MARGIN, encode_faces, face_sharpness
from gatekeeper.screening.engine import Box

# Seconds between sampled pictures, on average and for the blur: a face's box is held this long
# before its first sample and after its last. A face on screen for half a second must be found in
# at least two samples.
SAMPLE_EVERY = 0.2
# Screening's samples fall a random time between these after the one before, so which pictures are
# looked at cannot be known beforehand and the samples drift against any pattern repeating in the
# pictures (a clip cannot be made to show a face only between them). Two gaps in a row span at most
# 2 x 0.233 s, plus a picture late (1/30 s): under 0.5 s, so any half second holds two samples.
# Measured by simulation at 25 pictures a second, a face shown in four pictures of five and another
# in the fifth: a grid that started at random with up to 0.06 s of jitter saw only the fifth's face
# in 1 clip of 330 lasting two seconds (1 in 2,800 of three); these gaps, 1 in 3,600 (1 in 170,000)
# for 4-5% more samples (5.5 a second against 5.2-5.3; `make bench-sampling`).
SAMPLE_GAPS = (0.15, 0.233)
# Sampled pictures are searched at the long side that keeps the photo promise: a face of
# thresholds.DETECTION_MIN_FACE_PX (60 px) in the clip is DETECTION_SMALL_FACE_PX (20 px, the
# smallest the detector finds reliably) in the searched picture (1080p: 640x360; 4K: 1280x720),
# and never below this side. Measured single-thread CPU per sample on this 2-core machine:
# 1152 px 190 ms, 960 px 129 ms, 768 px 79-93 ms, 640 px 55-65 ms (`make bench-video`).
DETECTION_LONG_SIDE = 640
# A face joins a track when its centre is within this many of the track's face heights of where
# the track was heading (a child sprinting across a 1080p picture moves about three face heights
# between samples; the heading takes most of that), or of where a track seen once was, and its
# height is within this factor either way. Nearest pairs are joined first.
TRACK_MATCH_CENTRE = 2.0
TRACK_FIRST_MATCH_CENTRE = 4.0
TRACK_MATCH_SIZE = 0.6
# A track not seen for this long has left the screen (or is hidden): a later face starts a new one.
TRACK_LOST_AFTER = 1.0
# Looks kept per track for its card: the best (encodable, then largest, then sharpest) at least
# this apart.
TRACK_LOOKS = 3
LOOK_SPACING = 0.4
# Every encodable sighting of a track is encoded, not only its best looks. A track follows a
# position, not a person: where one child takes another's place (crossing in a race, coming out
# from behind a pillar), the best looks could all be of the first, and the second would be cleared
# as the first; with one look a second, a child in the first's place for under a second was still
# missed in 13 runs of 20. The rule clears a track only when every look clears as the same pupil,
# and blocks it when any look is a protected pupil.
# Kept around a look for the encoder: more than its own crop margin, so encodings match a photo's.
LOOK_MARGIN = CROP_MARGIN + 0.1


@dataclass
class Look:
    """One sighting of a track's face kept for encoding: the face with its surroundings."""

    time: float
    box: Box  # in the upright picture
    quality: tuple
    crop: np.ndarray
    inner: tuple[int, int, int, int]  # the face box inside the crop


@dataclass
class Track:
    """One face followed through the clip."""

    samples: list[tuple[float, Box, float]] = field(default_factory=list)  # time, box, score
    looks: list[Look] = field(default_factory=list)  # the card's best looks
    encodings: list[tuple[float, np.ndarray]] = field(default_factory=list)  # every encodable one

    @property
    def last(self) -> tuple[float, Box, float]:
        return self.samples[-1]

    def heading(self, time: float) -> tuple[float, float]:
        """Where the face's centre should be at `time`, moving as between its last two samples."""
        t1, centre = self.last[0], _centre(self.last[1])
        if len(self.samples) < 2:
            return centre
        t0, b0, _ = self.samples[-2]
        before = _centre(b0)
        share = (time - t1) / (t1 - t0) if t1 > t0 else 0.0
        return (centre[0] + (centre[0] - before[0]) * share,
                centre[1] + (centre[1] - before[1]) * share)

    def best_look(self) -> tuple[float, Box]:
        """The time and box of the card's thumbnail: the best look, or the largest sighting."""
        if self.looks:
            best = max(self.looks, key=lambda look: look.quality)
            return best.time, best.box
        time, box, _ = max(self.samples, key=lambda s: s[1].height)
        return time, box

    def boxes(self) -> list[list]:
        return [[round(time, 3), *box.as_list()] for time, box, _ in self.samples]


@dataclass
class ClipAnalysis:
    width: int
    height: int
    tracks: list[Track]
    samples: int


def _centre(box: Box) -> tuple[float, float]:
    return (box.top + box.bottom) / 2, (box.left + box.right) / 2


def analyse_clip(path: Path, still_working: Callable[[], None] | None = None,
                 rng: random.Random | None = None) -> ClipAnalysis:
    """Sample, detect, follow and encode every face of a clip (streamed: one picture at a time);
    `still_working` is called after each sample (a long clip keeps its claim on the worker);
    `rng` chooses the samples' times (the system's by default; a test may fix it)."""
    active: list[Track] = []
    done: list[Track] = []
    size, count = (0, 0), 0
    for picture in frames(path, gaps=SAMPLE_GAPS, rng=rng):
        size = _upright_size(picture)
        time, small = picture.time, picture.rgb(detection_side(size))
        count += 1
        if still_working:
            still_working()
        detections = _detect(small, size)
        done += [tr for tr in active if time - tr.last[0] > TRACK_LOST_AFTER]
        active = [tr for tr in active if time - tr.last[0] <= TRACK_LOST_AFTER]
        if not detections:
            continue
        image = Image.fromarray(picture.rgb())  # full size, for the looks
        for track, (box, score) in _join(active, detections, time):
            track.samples.append((time, box, score))
            _consider_look(track, image, time, box)
        active += [tr for tr in _new_tracks(active, detections, time, image)]
    tracks = sorted(done + active, key=lambda tr: tr.samples[0][0])
    return ClipAnalysis(size[0], size[1], tracks, count)


def detection_side(size: tuple[int, int]) -> int:
    """The long side a picture of `size` is searched at: DETECTION_LONG_SIDE, or more where that
    would shrink a face of the photo promise below the smallest the detector finds."""
    keeps_promise = math.ceil(max(size) * t.DETECTION_SMALL_FACE_PX / t.DETECTION_MIN_FACE_PX)
    return max(DETECTION_LONG_SIDE, keeps_promise)


def _upright_size(picture) -> tuple[int, int]:
    width, height = picture.frame.width, picture.frame.height
    return (height, width) if rotation_of(picture.frame) in (90, 270) else (width, height)


def _detect(small: np.ndarray, size: tuple[int, int]) -> list[tuple[Box, float]]:
    """Faces (and doubts, as faces: recall first) found in the small picture, as boxes in the
    full picture of `size` (width, height), rounded outwards."""
    sx, sy = size[0] / small.shape[1], size[1] / small.shape[0]
    return [
        (Box(max(0, math.floor(d.top * sy)), min(size[0], math.ceil(d.right * sx)),
             min(size[1], math.ceil(d.bottom * sy)), max(0, math.floor(d.left * sx))),
         d.score)
        for d in detect_faces(small)
    ]


def _join(active: list[Track], detections: list[tuple[Box, float]], time: float):
    """Pairs (track, detection), nearest first, each used once; the pairs are removed from
    `detections` so the rest start tracks of their own."""
    options = []
    for ti, track in enumerate(active):
        expected, height = track.heading(time), max(track.last[1].height, 1)
        reach = TRACK_MATCH_CENTRE if len(track.samples) > 1 else TRACK_FIRST_MATCH_CENTRE
        for di, (box, _score) in enumerate(detections):
            ratio = box.height / height
            centre = _centre(box)
            distance = math.hypot(centre[0] - expected[0], centre[1] - expected[1]) / height
            if distance <= reach and TRACK_MATCH_SIZE <= ratio <= 1 / TRACK_MATCH_SIZE:
                options.append((distance, ti, di))
    used_tracks, used = set(), set()
    pairs = []
    for _distance, ti, di in sorted(options):
        if ti not in used_tracks and di not in used:
            used_tracks.add(ti)
            used.add(di)
            pairs.append((active[ti], detections[di]))
    detections[:] = [d for i, d in enumerate(detections) if i not in used]
    return pairs


def _new_tracks(active, detections, time: float, image: Image.Image) -> list[Track]:
    started = []
    for box, score in detections:
        track = Track(samples=[(time, box, score)])
        _consider_look(track, image, time, box)
        started.append(track)
    return started


def _consider_look(track: Track, image: Image.Image, time: float, box: Box) -> None:
    """Encode this sighting if it can be, and keep it among the track's TRACK_LOOKS best (its
    card), at least LOOK_SPACING apart."""
    sharp = face_sharpness(image, tuple(box.as_list()))
    encodable = box.height >= t.MIN_ENCODE_FACE_PX and sharp >= t.MIN_ENCODE_SHARPNESS
    quality = (encodable, box.height, sharp)
    sighting = _look(image, time, box, quality) if encodable else None
    if sighting is not None:
        [encoding] = encode_faces(sighting.crop, [sighting.inner])
        if encoding is not None:
            track.encodings.append((time, encoding))
    near = [look for look in track.looks if abs(look.time - time) < LOOK_SPACING]
    if any(look.quality >= quality for look in near):
        return
    kept = [look for look in track.looks if look not in near]
    if len(kept) >= TRACK_LOOKS and min(look.quality for look in kept) >= quality:
        return
    kept.append(sighting or _look(image, time, box, quality))
    track.looks = sorted(kept, key=lambda look: look.quality, reverse=True)[:TRACK_LOOKS]


def _look(image: Image.Image, time: float, box: Box, quality: tuple) -> Look:
    pad_y = math.ceil(box.height * LOOK_MARGIN)
    pad_x = math.ceil((box.right - box.left) * LOOK_MARGIN)
    y0, x0 = max(0, box.top - pad_y), max(0, box.left - pad_x)
    crop = image.crop((x0, y0, min(image.width, box.right + pad_x),
                       min(image.height, box.bottom + pad_y)))
    inner = (box.top - y0, box.right - x0, box.bottom - y0, box.left - x0)
    return Look(time, box, quality, np.asarray(crop), inner)
