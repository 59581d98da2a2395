"""Clips made in the tests with PyAV: faces moving over a background, sound, a turn, metadata."""

from __future__ import annotations

import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

SAMPLE_RATE = 48_000
TONE_HZ = 440


def background(width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.stack([90 + xx * 60 // width, 100 + yy * 60 // height,
                     np.full_like(xx, 120)], axis=-1).astype(np.uint8)


def write_clip(path: Path, picture: Callable[[float], np.ndarray], *, seconds: float,
               fps: int = 30, codec: str = "libx264", audio: bool = True, rotation: int = 0,
               metadata: dict | None = None, format: str | None = None,
               times: list[float] | None = None, chapters: bool = False,
               options: dict | None = None) -> Path:
    """Write `picture(t)` (HxWx3 uint8) for each frame time (`times`, or every 1/fps s) to a clip;
    a tone as sound; `rotation` as the display matrix; `metadata` as container tags; `options`
    for the encoder (e.g. its quality)."""
    times = times if times is not None else [i / fps for i in range(round(seconds * fps))]
    first = picture(times[0])
    with av.open(str(path), "w", format=format) as out:
        video = out.add_stream(codec, rate=fps)
        video.height, video.width = first.shape[:2]
        video.pix_fmt = "yuv420p"
        video.time_base = video.codec_context.time_base = Fraction(1, 90_000)
        video.options = {"preset": "ultrafast", **(options or {})}
        if rotation:
            video.set_display_rotation(rotation)
        sound = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono") if audio else None
        for key, value in (metadata or {}).items():
            out.metadata[key] = value
        if chapters:
            out.set_chapters([{"id": 1, "start": 0, "end": 1, "time_base": Fraction(1, 1),
                               "metadata": {"title": "Ava's race, 10 Acacia Avenue"}}])
        for t in times:
            frame = av.VideoFrame.from_ndarray(picture(t) if t != times[0] else first,
                                               format="rgb24")
            frame.pts, frame.time_base = round(t * 90_000), Fraction(1, 90_000)
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if sound is not None:
            _tone(out, sound, times[-1] + 1 / fps)
    return path


def _tone(out, sound, seconds: float) -> None:
    samples = np.sin(2 * np.pi * TONE_HZ * np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE)
    block = 1024
    for start in range(0, len(samples), block):
        chunk = samples[start : start + block].astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        frame.time_base = Fraction(1, SAMPLE_RATE)
        out.mux(sound.encode(frame))
    out.mux(sound.encode(None))


def moving_face(head: np.ndarray, size: tuple[int, int], start: tuple[int, int],
                end: tuple[int, int], span: tuple[float, float], seconds: float):
    """A picture function: `head` moving from `start` to `end` (top-left x, y) during `span`
    (seconds), absent outside it, on the background."""
    width, height = size
    base = background(width, height)

    def picture(t: float) -> np.ndarray:
        frame = base.copy()
        if span[0] <= t <= span[1]:
            share = (t - span[0]) / max(span[1] - span[0], 1e-9)
            x = round(start[0] + (end[0] - start[0]) * share)
            y = round(start[1] + (end[1] - start[1]) * share)
            paste(frame, head, x, y)
        return frame

    return picture


def paste(frame: np.ndarray, head: np.ndarray, x: int, y: int) -> None:
    h, w = head.shape[:2]
    y0, x0 = max(0, y), max(0, x)
    y1, x1 = min(frame.shape[0], y + h), min(frame.shape[1], x + w)
    if y1 > y0 and x1 > x0:
        frame[y0:y1, x0:x1] = head[y0 - y : y1 - y, x0 - x : x1 - x]


def scaled_head(rgb: np.ndarray, box, face_height: int) -> tuple[np.ndarray, tuple]:
    """A head crop scaled so its face is `face_height` px tall, and the face box inside it."""
    top, right, bottom, left = box
    scale = face_height / (bottom - top)
    image = Image.fromarray(rgb)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    head = np.asarray(image.resize(size, Image.Resampling.LANCZOS))
    return head, tuple(round(v * scale) for v in box)


def _boxes(data: bytes, start: int, end: int):
    pos = start
    while pos < end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        yield kind, pos, pos + size
        pos += size


def _video_sample_table(data: bytes) -> list[tuple[int, int]]:
    """(start, end) of each box from moov down to the video track's sample table (stbl)."""
    found, start, end = [], 0, len(data)
    for kind in (b"moov", b"trak", b"mdia", b"minf", b"stbl"):
        for k, s, e in _boxes(data, start, end):
            if k == kind and (kind != b"trak" or b"vide" in data[s:e]):
                found.append((s, e))
                start, end = s + 8, e
                break
        else:
            raise AssertionError(f"no {kind!r} box")
    return found


def sample_delta(path: Path) -> int:
    """The video track's first picture duration, in its time scale (from its stts box)."""
    data = path.read_bytes()
    start, end = _video_sample_table(data)[-1]
    for kind, s, _e in _boxes(data, start + 8, end):
        if kind == b"stts":
            return struct.unpack(">I", data[s + 20 : s + 24])[0]
    raise AssertionError("no stts box")


def with_time_offsets(path: Path, offsets: list[int]) -> None:
    """Give each picture of the video track the composition offset of `offsets` (a signed ctts
    box, version 1): a MOV whose pictures are shown at times of the editor's choosing, e.g. some
    twice. The movie box must come last, so that no chunk offset moves."""
    data = bytearray(path.read_bytes())
    chain = _video_sample_table(bytes(data))
    entries = b"".join(struct.pack(">Ii", 1, offset) for offset in offsets)
    ctts = struct.pack(">I4sII", 16 + len(entries), b"ctts", 1 << 24, len(offsets)) + entries
    data[chain[-1][1]:chain[-1][1]] = ctts
    for start, _end in chain:  # every enclosing box grows by the inserted bytes
        size = struct.unpack(">I", data[start:start + 4])[0]
        data[start:start + 4] = struct.pack(">I", size + len(ctts))
    assert bytes(data).rfind(b"moov") > bytes(data).find(b"mdat"), "the movie box must be last"
    path.write_bytes(bytes(data))
