"""Reading video clips with PyAV (FFmpeg inside its wheel): what a clip is, whether it may be
screened, and its frames, upright, one at a time (a clip is never held in memory).

`av` is imported on first use: it is a large native library that only clips need.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gatekeeper.imaging.mp4 import ClipRefused, check_upload

VIDEO_CODECS = {"h264", "hevc"}  # what iPads and phones record
# Limits (defaults; the app's settings may lower or raise the length): three minutes is a race, a
# song or an assembly item; 4K (DCI 4096x2160 either way up) is the most a tablet records.
MAX_CLIP_SECONDS = 180
MAX_CLIP_LONG_SIDE = 4096
MAX_CLIP_SHORT_SIDE = 2160
MAX_AUDIO_STREAMS = 1
MAX_FRAME_RATE = 240  # slow motion from a phone; more is not a camera's clip
DECODE_THREADS = 1  # screening runs in worker processes, one thread each
# A packet this close before a picture is due is decoded even if nothing refers to it (its
# time and its picture's may differ by rounding of the time base).
FRAME_TIME_SLACK = 1e-3
PLANES = "yuv420p"  # the pictures a clip is re-encoded from: 4:2:0, as H.264 stores them


@dataclass(frozen=True)
class ClipInfo:
    """What a clip is: its upright size, length, frame rate, codec and turn, and its sound."""

    width: int
    height: int
    duration: float
    frame_rate: float
    codec: str
    rotation: int  # degrees counter-clockwise the stored pictures are turned for display
    has_audio: bool


def load_av():
    """PyAV, imported on first use."""
    import av

    return av


def open_clip(path: Path):
    """The container, or ClipRefused when FFmpeg cannot read it."""
    av = load_av()
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, UnicodeDecodeError, OSError):
        raise ClipRefused("unreadable",
                          "This video cannot be read: it may be damaged or cut short.") from None


def probe(path: Path, max_seconds: float = MAX_CLIP_SECONDS) -> ClipInfo:
    """Check a stored upload: its boxes, one H.264 or HEVC picture stream of at most 4K, at most
    one sound stream, its length, every packet in the file, and a first picture that decodes."""
    check_upload(path)
    with open_clip(path) as container:
        stream = _video_stream(container)
        info = _info(container, stream, max_seconds)
        _check_packets(container, stream, path.stat().st_size)
        duration = max(info.duration, _indexed_seconds(stream, info.frame_rate))
    if duration > max_seconds:
        raise ClipRefused("too_long", f"The video lasts {duration:.0f} s: the most accepted is "
                          f"{max_seconds:.0f} s.", seconds=round(duration), most=round(max_seconds))
    with open_clip(path) as container:
        rotation = _first_picture_rotation(container)
    return ClipInfo(*_upright(info.width, info.height, rotation), duration, info.frame_rate,
                    info.codec, rotation, info.has_audio)


def _video_stream(container):
    """The one picture stream. Other tracks (an iPhone's timed location and camera metadata,
    chapters) are read past and never copied."""
    videos = list(container.streams.video)
    if not videos:
        raise ClipRefused("no_pictures", "The video file has no pictures in it.")
    if len(videos) > 1:
        raise ClipRefused("streams", "The video has more than one picture stream.")
    if len(container.streams.audio) > MAX_AUDIO_STREAMS:
        raise ClipRefused("streams", "The video has more than one sound stream.")
    return videos[0]


def _info(container, stream, max_seconds: float) -> ClipInfo:
    codec = stream.codec_context.name
    if codec not in VIDEO_CODECS:
        raise ClipRefused("codec", f"The video is {codec}: only H.264 and HEVC are accepted.",
                          codec=codec)
    width, height = stream.codec_context.width, stream.codec_context.height
    if max(width, height) > MAX_CLIP_LONG_SIDE or min(width, height) > MAX_CLIP_SHORT_SIDE:
        raise ClipRefused("resolution", f"The video is {width}×{height}: the most accepted is "
                          f"4K ({MAX_CLIP_LONG_SIDE}×{MAX_CLIP_SHORT_SIDE}).", width=width,
                          height=height)
    duration = _duration(container, stream)
    if duration > max_seconds:
        raise ClipRefused("too_long", f"The video lasts {duration:.0f} s: the most accepted is "
                          f"{max_seconds:.0f} s.", seconds=round(duration), most=round(max_seconds))
    rate = float(stream.average_rate or stream.guessed_rate or 0)
    if not 0 < rate <= MAX_FRAME_RATE:
        raise ClipRefused("unreadable", "This video cannot be read: its frame rate is missing.")
    return ClipInfo(width, height, duration, rate, codec, 0, bool(container.streams.audio))


def _duration(container, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    raise ClipRefused("unreadable", "This video cannot be read: its length is missing.")


def _indexed_seconds(stream, frame_rate: float) -> float:
    """How long the pictures the index lists last, first to last and one picture more. A header
    may state a shorter length than the pictures it holds; every one of them is screened and
    encoded, so this is the length the limit and the school's allowance count."""
    times = [entry.timestamp for entry in stream.index_entries if entry.timestamp is not None]
    if not times or stream.time_base is None:
        return 0.0
    return float((max(times) - min(times)) * stream.time_base) + 1 / frame_rate


def _check_packets(container, stream, file_size: int) -> None:
    """Every picture the index lists lies inside the file (a clip cut short after its index was
    written is refused here, not half-screened later)."""
    entries = stream.index_entries
    if not entries:
        raise ClipRefused("no_pictures", "The video file has no pictures in it.")
    end = max(entry.pos + entry.size for entry in entries)
    if end > file_size:
        raise ClipRefused("cut_short", "The video file is cut short.")


def _first_picture_rotation(container) -> int:
    av = load_av()
    stream = container.streams.video[0]
    stream.codec_context.thread_count = DECODE_THREADS
    try:
        for frame in container.decode(stream):
            return rotation_of(frame)
    except (av.FFmpegError, ValueError):
        pass
    raise ClipRefused("unreadable", "This video cannot be read: its pictures do not decode.")


def rotation_of(frame) -> int:
    """The display turn in quarter turns' degrees (0, 90, 180, 270 counter-clockwise)."""
    return int(round((frame.rotation or 0) / 90)) % 4 * 90


def _upright(width: int, height: int, rotation: int) -> tuple[int, int]:
    return (height, width) if rotation in (90, 270) else (width, height)


def upright(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """The pixels turned as the clip asks to be shown (the turn baked into the pixels)."""
    return np.ascontiguousarray(np.rot90(pixels, k=rotation // 90)) if rotation else pixels


def scaled_size(width: int, height: int, long_side: int | None) -> tuple[int, int]:
    """(width, height) with the long side at most `long_side`, both even (H.264's 4:2:0)."""
    scale = 1.0 if not long_side else min(1.0, long_side / max(width, height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


@dataclass(frozen=True)
class Picture:
    """One decoded picture of a clip and its time; converted to RGB only at the sizes asked."""

    time: float
    frame: object  # av.VideoFrame

    def rgb(self, long_side: int | None = None) -> np.ndarray:
        """Upright RGB pixels, the long side at most `long_side` (FFmpeg's scaler)."""
        return upright_pixels(self.frame, long_side)


def frames(path: Path, *, every: float = 0.0, gaps: tuple[float, float] | None = None,
           rng: random.Random | None = None) -> Iterator[Picture]:
    """The clip's pictures in order, at most one per `every` seconds (0: every picture). Pictures
    not wanted are never converted, and those no other picture refers to are not even decoded:
    a packet whose time comes before the next picture due is decoded only when the codec needs
    it (a reference picture), which saves most of the decoding of a phone's HEVC clip.

    With `gaps` (shortest, longest) instead of `every`, which pictures are taken cannot be known
    beforehand: the second sample falls at random within the longest gap after the first picture,
    and each later one a random time between the two after the one before (`rng`; the system's by
    default). The samples drift against any pattern repeating in the pictures: a clip made to
    show a face only between the pictures of a grid would otherwise go unseen, and a grid that
    merely started at random, with a little jitter, still missed a face shown in four pictures of
    five in about 1 two-second clip of 330 (`make bench-sampling`).
    Pictures whose times do not increase (a container made to show some pictures twice or out
    of order) are refused: what is screened must be what is shown."""
    av = load_av()
    rng = rng or random.SystemRandom()
    with open_clip(path) as container:
        stream = container.streams.video[0]
        decoder = stream.codec_context
        decoder.thread_count = DECODE_THREADS
        due = last = None
        try:
            for packet in container.demux(stream):
                sampling = every or gaps
                if sampling and due is not None and packet.pts is not None and stream.time_base:
                    early = packet.pts * stream.time_base < due - FRAME_TIME_SLACK
                    decoder.skip_frame = "NONREF" if early else "DEFAULT"
                for frame in packet.decode():
                    if frame.time is None:
                        continue
                    in_order(last, frame.time)
                    last = frame.time
                    if due is not None and frame.time < due:
                        continue
                    due = next_due(due, frame.time, every=every, gaps=gaps, rng=rng)
                    yield Picture(frame.time, frame)
        except av.FFmpegError as error:
            raise ClipRefused("unreadable", "This video cannot be read: its pictures do not "
                              "decode.") from error


def next_due(due: float | None, time: float, *, every: float,
             gaps: tuple[float, float] | None, rng: random.Random) -> float:
    """When the sample after the picture taken at `time` is due; `due`: when that picture was
    (None for the first picture). See `frames`."""
    if gaps:  # the first gap starts anywhere within a longest gap
        step = rng.uniform(0.0 if due is None else gaps[0], gaps[1])
    else:
        step = every
    due = (time if due is None else due) + step
    if due <= time:  # a gap in a variable-rate clip: go on from here
        due = time + (rng.uniform(*gaps) if gaps else every)
    return due


def in_order(last: float | None, time: float) -> None:
    """Refuse a picture whose time is not after the one before it."""
    if last is not None and time <= last:
        raise ClipRefused("out_of_order", f"The video's pictures are out of order (a picture at "
                          f"{time:.3f} s follows one at {last:.3f} s).")


def upright_size(frame, long_side: int | None) -> tuple[int, int]:
    """The (width, height) of `upright_pixels(frame, long_side)`."""
    return scaled_size(*_upright(frame.width, frame.height, rotation_of(frame)), long_side)


def upright_planes(frame, long_side: int | None) -> list[np.ndarray]:
    """A decoded picture's upright Y, U and V planes (4:2:0, 8 bits, copies the caller may
    change), at the size of `upright_size(frame, long_side)`."""
    rotation = rotation_of(frame)
    width, height = _upright(*upright_size(frame, long_side), rotation)
    flat = frame.to_ndarray(width=width, height=height, format=PLANES).reshape(-1)
    luma, chroma = width * height, width * height // 4
    planes = (flat[:luma].reshape(height, width),
              flat[luma : luma + chroma].reshape(height // 2, width // 2),
              flat[luma + chroma :].reshape(height // 2, width // 2))
    return [upright(plane, rotation) for plane in planes]


def frame_of_planes(planes: Sequence[np.ndarray]):
    """A new picture (nothing of the decoded one's side data) made of Y, U and V planes."""
    flat = np.concatenate([plane.reshape(-1) for plane in planes])
    return load_av().VideoFrame.from_numpy_buffer(flat.reshape(-1, planes[0].shape[1]),
                                                  format=PLANES)


def upright_pixels(frame, long_side: int | None) -> np.ndarray:
    """A decoded picture as upright RGB, its long side at most `long_side` (both sides even)."""
    rotation = rotation_of(frame)
    stored = _upright(*upright_size(frame, long_side), rotation)
    return upright(frame.to_ndarray(width=stored[0], height=stored[1], format="rgb24"), rotation)


# What FFmpeg's reader reports of a fresh MP4's file type box: not metadata of the clip.
FILE_TYPE_KEYS = {"major_brand", "minor_version", "compatible_brands"}
# ... and of its tracks' headers (mdhd's language, hdlr's name, the sample entry's vendor).
TRACK_KEYS = {"language", "handler_name", "vendor_id"}


def probe_written(path: Path, *, with_audio: bool) -> None:
    """Read a sanitised clip back: one H.264 picture stream, AAC sound exactly when kept, no
    metadata, no chapters, and a first picture that decodes; ImageRefused otherwise."""
    from_file = ClipRefused("written", "The cleaned video could not be read back.")
    with open_clip(path) as container:
        videos, sounds = list(container.streams.video), list(container.streams.audio)
        if len(videos) != 1 or videos[0].codec_context.name != "h264":
            raise from_file
        if [s.codec_context.name for s in sounds] != (["aac"] if with_audio else []):
            raise ClipRefused("written", "The cleaned video's sound is not as chosen.")
        if set(container.metadata) - FILE_TYPE_KEYS or any(
                set(s.metadata) - TRACK_KEYS for s in container.streams):
            raise ClipRefused("written", "The cleaned video still carries metadata.")
        if len(container.streams) != len(videos) + len(sounds):
            raise from_file
    with open_clip(path) as container:
        _first_picture_rotation(container)


def picture_at(path: Path, time: float) -> np.ndarray:
    """The upright RGB picture shown at `time` seconds (the first one at or after it)."""
    av = load_av()
    with open_clip(path) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = DECODE_THREADS
        if time > 0 and stream.time_base:
            container.seek(int(time / stream.time_base), stream=stream, backward=True)
        last = None
        try:
            for frame in container.decode(stream):
                last = frame
                if frame.time is not None and frame.time >= time - 1e-3:
                    break
        except av.FFmpegError as error:
            raise ClipRefused("unreadable", "This video's pictures do not decode.") from error
    if last is None:
        raise ClipRefused("unreadable", "This video's pictures do not decode.")
    return upright_pixels(last, None)
