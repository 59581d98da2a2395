"""Sanitising a clip: a fresh fast-start MP4 (H.264 + AAC) made from decoded pictures and sound,
the turn baked into the pixels, blurred faces pixelated in every picture, and nothing else.

Blurred faces were seen only in the sampled pictures; their boxes are interpolated between
samples, held a little before the first and after the last, and enlarged by the distance the face
moved, so no picture between two samples shows the face. The pixels are replaced as in a photo
(sanitise.pixelate_planes: noisy blocks, never a reversible filter), in the 4:2:0 planes the
encoder takes (never through RGB). The output is checked by its boxes (mp4.verify_clean) and read
back before it may be queued.
"""

from __future__ import annotations

import bisect
import math
import secrets
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

from gatekeeper.imaging.mp4 import blank_user_data, verify_clean
from gatekeeper.imaging.sanitise import ImageRefused, pixelate_planes
from gatekeeper.imaging.video import (
    PLANES,
    frame_of_planes,
    in_order,
    load_av,
    open_clip,
    probe_written,
    upright_planes,
)

TIMESCALE = 90_000  # ticks a second of the output's picture clock (MPEG's)
# libx264 preset and quality: `make bench-video` measured veryfast against the target of
# re-encoding in the clip's own duration on two threads (README); CRF 21 keeps sports day sharp.
X264_PRESET = "veryfast"
X264_CRF = "21"
ENCODE_THREADS = 2
AUDIO_BITRATE = 128_000
AAC_CODER = "fast"
# A blurred face is held this long before its first sample and after its last (one sampling
# interval: it may be on screen until the next sample that missed it), and its box grows by this
# share of the distance it moved between two samples (it need not move in a straight line).
MOTION_MARGIN = 0.5
# A face seen in one sample only: held grown by this share of its size on every side.
SINGLE_SIGHTING_GROWTH = 0.5

Sample = tuple[float, int, int, int, int]  # (time s, top, right, bottom, left), upright pixels


def boxes_at(track: Sequence[Sample], time: float, hold: float) -> tuple[int, int, int, int] | None:
    """The box (top, right, bottom, left) to blur at `time` for one track sampled at `track`
    (sorted by time), or None when the face is not near the screen then. Between two samples
    the box moves in a line; within `hold` before the first or after the last it carries on
    moving as between its two nearest samples (a face seen once is held grown by half)."""
    if not track or time < track[0][0] - hold or time > track[-1][0] + hold:
        return None
    if len(track) == 1:
        top, right, bottom, left = track[0][1:]
        grow_y = (bottom - top) * SINGLE_SIGHTING_GROWTH
        grow_x = (right - left) * SINGLE_SIGHTING_GROWTH
        return _outwards(top - grow_y, right + grow_x, bottom + grow_y, left - grow_x)
    after = min(max(bisect.bisect_left([s[0] for s in track], time), 1), len(track) - 1)
    (t0, *a), (t1, *b) = track[after - 1], track[after]
    share = (time - t0) / (t1 - t0) if t1 > t0 else 0.0
    top, right, bottom, left = (p + (q - p) * share for p, q in zip(a, b, strict=True))
    grow_y = MOTION_MARGIN * abs((b[0] + b[2]) - (a[0] + a[2])) / 2
    grow_x = MOTION_MARGIN * abs((b[1] + b[3]) - (a[1] + a[3])) / 2
    return _outwards(top - grow_y, right + grow_x, bottom + grow_y, left - grow_x)


def _outwards(top: float, right: float, bottom: float, left: float) -> tuple[int, int, int, int]:
    return math.floor(top), math.ceil(right), math.ceil(bottom), math.floor(left)


def write_clean_clip(source: Path, target: Path, blurred: Sequence[Sequence[Sample]], *,
                     hold: float, mute: bool = False, long_side: int | None = None,
                     size: tuple[int, int] | None = None) -> None:
    """Write the sanitised MP4 of `source` to `target` (a new file), blurring each track of
    `blurred` in every picture; `size`: the upright original's (width, height) the boxes are in.
    Raises ImageRefused when the clip cannot be read or the output is not clean."""
    av = load_av()
    try:
        with open_clip(source) as clip:
            with av.open(str(target), "w", format="mp4", options={"movflags": "+faststart"},
                         container_options={"fflags": "+bitexact"}) as out:
                _Copy(clip, out, blurred, hold, mute, long_side, size).run()
    except av.FFmpegError as error:
        raise ImageRefused("The video could not be re-encoded: it may be damaged.") from error
    blank_user_data(target)
    verify_clean(target)
    probe_written(target, with_audio=bool(_audio_of(source)) and not mute)


def _audio_of(source: Path) -> bool:
    with open_clip(source) as clip:
        return bool(clip.streams.audio)


class _Copy:
    """One pass over the source's packets in file order: pictures re-encoded (turned, scaled,
    blurred), sound re-encoded, both muxed as they come, so memory stays flat."""

    def __init__(self, clip, out, blurred, hold: float, mute: bool, long_side, size):
        av = load_av()
        self.av, self.clip, self.out = av, clip, out
        self.blurred, self.hold, self.long_side = [list(t) for t in blurred], hold, long_side
        self.video_in = clip.streams.video[0]
        self.video_in.codec_context.thread_count = ENCODE_THREADS
        self.audio_in = None if mute or not clip.streams.audio else clip.streams.audio[0]
        self.size, self.video, self.last_pts, self.last_time = size, None, -1, None
        # Each blurred track's noise is drawn once for the clip: the same noise on a still face
        # in every picture, which averaging the pictures cannot take away (fresh noise would
        # average out, leaving the face's block averages).
        self.noise = [secrets.randbits(64) for _ in self.blurred]
        self.audio, self.waiting = None, []  # sound waits until the picture stream exists
        if self.audio_in is not None:
            rate = self.audio_in.codec_context.sample_rate
            self.audio = out.add_stream("aac", rate=rate, layout="stereo")
            self.audio.bit_rate = AUDIO_BITRATE
            self.audio.codec_context.options = {"aac_coder": AAC_CODER}
            self.resampler = av.AudioResampler(format="fltp", layout="stereo", rate=rate)

    def run(self) -> None:
        streams = [self.video_in] + ([self.audio_in] if self.audio_in else [])
        for packet in self.clip.demux(*streams):
            for frame in packet.decode():
                if packet.stream.type == "video":
                    self._picture(frame)
                else:
                    self._sound(frame)
        if self.video is None:
            raise ImageRefused("The video has no picture that decodes.")
        if self.audio is not None:
            for ready in self.waiting + self.resampler.resample(None):
                self.out.mux(self.audio.encode(ready))
        for stream in (self.video, self.audio):
            if stream is not None:
                self.out.mux(stream.encode(None))

    def _picture(self, frame) -> None:
        if frame.time is None:
            return
        in_order(self.last_time, frame.time)  # every picture written was one screening could see
        self.last_time = frame.time
        planes = upright_planes(frame, self.long_side)
        height, width = planes[0].shape
        if self.video is None:
            self._open_video(width, height)
        boxes, seeds = self._boxes(frame.time, width, height)
        pixelate_planes(planes, boxes, seeds)
        picture = frame_of_planes(planes)
        self.last_pts = max(self.last_pts + 1, round(frame.time * TIMESCALE))
        picture.pts, picture.time_base = self.last_pts, Fraction(1, TIMESCALE)
        self.out.mux(self.video.encode(picture))

    def _open_video(self, width: int, height: int) -> None:
        rate = self.video_in.average_rate or self.video_in.guessed_rate or 30
        video = self.out.add_stream("libx264", rate=Fraction(rate).limit_denominator(1001))
        video.width, video.height, video.pix_fmt = width, height, PLANES
        video.time_base = video.codec_context.time_base = Fraction(1, TIMESCALE)
        video.codec_context.thread_count = ENCODE_THREADS
        video.options = {"preset": X264_PRESET, "crf": X264_CRF}
        self.video = video
        self.size = self.size or (width, height)

    def _boxes(self, time: float, width: int, height: int):
        """The blur boxes at `time`, in the output's pixels (rounded outwards), on the picture,
        and the seed of each one's noise."""
        sx, sy = width / self.size[0], height / self.size[1]
        found, seeds = [], []
        for track, seed in zip(self.blurred, self.noise, strict=True):
            box = boxes_at(track, time, self.hold)
            if box is None:
                continue
            top, right, bottom, left = box
            scaled = (max(0, math.floor(top * sy)), min(width, math.ceil(right * sx)),
                      min(height, math.ceil(bottom * sy)), max(0, math.floor(left * sx)))
            if scaled[2] > scaled[0] and scaled[1] > scaled[3]:
                found.append(scaled)
                seeds.append(seed)
        return found, seeds

    def _sound(self, frame) -> None:
        self.waiting += self.resampler.resample(frame)
        if self.video is None:
            return  # the header is written with both streams, at the first picture
        for ready in self.waiting:
            self.out.mux(self.audio.encode(ready))
        self.waiting = []
