"""The boxes of an MP4/MOV file, read without a decoder: the shape of an upload, and the proof
that a published clip carries nothing but its pictures and sound.

An upload must be a plain sequence of top-level boxes that covers the file exactly (no bytes
before the first box or after the last, so no HTML or archive rides along), with a file-type box
first and padding boxes holding only zeros. A published clip must be made of the boxes a fresh
FFmpeg MP4 (H.264 + AAC) consists of, with every creation and modification time zero: no user
data (GPS `©xyz`, make, model, software), no `meta`, no chapters, no `uuid` boxes.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from consent.wording import N_, Message
from gatekeeper.imaging.decode import ImageRefused

HEADER = 8
LARGE_SIZE_HEADER = 16
# What iPads, phones and cameras put at the top of a clip: the media, its index, and padding.
UPLOAD_TOP_LEVEL = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"}
PADDING = {b"free", b"skip", b"wide"}
# Every box of a fresh MP4 from FFmpeg's muxer (faststart, bitexact): containers are walked,
# leaves are only allowed. Sample entries (stsd's avc1, mp4a) hold codec configuration.
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf"}
LEAVES = {b"ftyp", b"mdat", b"mvhd", b"tkhd", b"elst", b"mdhd", b"hdlr", b"vmhd", b"smhd",
          b"dref", b"stsd", b"stts", b"stss", b"ctts", b"stsc", b"stsz", b"stz2", b"stco",
          b"co64", b"sgpd", b"sbgp", b"sdtp", b"free"}
SAMPLE_ENTRIES = {b"avc1", b"mp4a"}
USER_DATA = {b"udta", b"meta"}
# Where the creation and modification times sit in each timed header (after version + flags).
TIMED = {b"mvhd", b"tkhd", b"mdhd"}
PUBLISHED_TOP_LEVEL = [b"ftyp", b"moov", b"mdat"]
READ_LIMIT = 64 * 1024 * 1024  # the largest box read into memory (never mdat)


# Still-image brands of the same box format (HEIC and AVIF photos start with a file-type box too).
IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif",
                b"avis"}
CLIP_SUFFIXES = (".mp4", ".mov", ".m4v")


def is_clip(head: bytes) -> bool:
    """Whether the first bytes of an upload are those of an MP4/MOV clip (not a HEIC photo)."""
    return head[4:8] == b"ftyp" and head[8:12] not in IMAGE_BRANDS


# Why a clip was refused, by its code, in words a teacher can act on (said in their language
# where shown; the values are the refusal's own).
CLIP_WORDS = {
    "empty": N_("The file is empty."),
    "cut_short": N_("The video file is cut short: copy it from the tablet again."),
    "no_index": N_("The video was not saved completely (it has no index): copy it from the "
                   "tablet again."),
    "not_only_video": N_("This file carries something other than a video, so it was refused."),
    "no_pictures": N_("The video has no pictures in it."),
    "streams": N_("The video has more than one picture or sound stream: export it again as one "
                  "clip."),
    "codec": N_("The video is in %(codec)s: only H.264 and HEVC clips are accepted."),
    "resolution": N_("The video is %(width)d×%(height)d: the most accepted is 4K. Export it "
                     "smaller."),
    "too_long": N_("The video lasts %(seconds)d seconds: the most accepted is %(most)d. Trim it "
                   "and upload it again."),
    "not_video": N_("This file is not a video we can read (MP4 or MOV)."),
    "out_of_order": N_("The video's pictures are out of order, so it cannot be checked: export "
                       "it again from the camera or the editing app."),
}
CLIP_UNREADABLE = N_("This video cannot be read: it may be damaged or cut short.")


class ClipRefused(ImageRefused):
    """A clip refused, with a one-line English reason, and a code (and values) that `worded`
    says in words a teacher can act on, in their language where a page shows it."""

    def __init__(self, code: str, message: str, **values):
        super().__init__(message)
        self.code, self.values = code, values

    def worded(self) -> Message:
        return Message(CLIP_WORDS.get(self.code, CLIP_UNREADABLE).template, self.values)


def boxes(stream: BinaryIO, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, offset of the payload, end of the box) of each box between `start` and `end`;
    ImageRefused when a box's size runs past `end` or below its own header."""
    pos = start
    while pos < end:
        stream.seek(pos)
        header = stream.read(HEADER)
        if len(header) < HEADER:
            raise ClipRefused("cut_short", "The video file is cut short.")
        size, kind = struct.unpack(">I4s", header)
        payload = pos + HEADER
        if size == 1:
            large = stream.read(8)
            if len(large) < 8:
                raise ClipRefused("cut_short", "The video file is cut short.")
            size, payload = struct.unpack(">Q", large)[0], pos + LARGE_SIZE_HEADER
        elif size == 0:
            size = end - pos  # "to the end of the file"
        if size < payload - pos or pos + size > end:
            raise ClipRefused("cut_short", "The video file is cut short or damaged.")
        yield kind, payload, pos + size
        pos += size


def check_upload(path: Path) -> None:
    """Refuse a file that is not a plain MP4/MOV: the first box a file type, only media, index
    and zero padding at the top, covering the file to its last byte."""
    size = path.stat().st_size
    if size == 0:
        raise ClipRefused("empty", "The file is empty.")
    with path.open("rb") as stream:
        kinds = []
        for kind, payload, end in boxes(stream, 0, size):
            if kind not in UPLOAD_TOP_LEVEL or (not kinds and kind != b"ftyp"):
                raise ClipRefused("not_video", "This file is not a video we can read (MP4 or MOV).")
            if kind in PADDING and _read(stream, payload, end).strip(b"\0"):
                raise ClipRefused("not_only_video",
                                  "The video file carries something other than video.")
            kinds.append(kind)
    if b"moov" not in kinds:
        raise ClipRefused("no_index",
                          "The video file has no index (moov): it was not saved completely.")
    if b"mdat" not in kinds:
        raise ClipRefused("no_pictures", "The video file has no pictures in it.")


def verify_clean(path: Path) -> None:
    """Refuse unless the file is ftyp, moov, mdat in that order (faststart; empty padding may
    sit between), made only of the boxes of a fresh MP4, with every creation and modification
    time zero."""
    size = path.stat().st_size
    with path.open("rb") as stream:
        top = list(boxes(stream, 0, size))
        kinds = [kind for kind, _, _ in top if kind != b"free"]
        if kinds != PUBLISHED_TOP_LEVEL:
            raise ImageRefused(f"The cleaned video is not a plain fast-start MP4: {_names(kinds)}.")
        for kind, payload, end in top:
            _check_tree(stream, kind, payload, end)


def blank_user_data(path: Path) -> None:
    """Turn every user-data and metadata box under the movie into zeroed padding, in place.
    FFmpeg's MP4 muxer always writes an (empty) iTunes metadata list; padding of the same size
    keeps every offset into the media as it was."""
    size = path.stat().st_size
    with path.open("r+b") as stream:
        for kind, payload, end in list(boxes(stream, 0, size)):
            if kind == b"moov":
                _blank_under(stream, payload, end)


def _blank_under(stream: BinaryIO, start: int, end: int) -> None:
    for kind, payload, stop in list(boxes(stream, start, end)):
        if kind in USER_DATA:
            stream.seek(payload - 4)
            stream.write(b"free" + bytes(stop - payload))
        elif kind in CONTAINERS:
            _blank_under(stream, payload, stop)


def _check_tree(stream: BinaryIO, kind: bytes, payload: int, end: int) -> None:
    if kind == b"free":
        if _read(stream, payload, end).strip(b"\0"):
            raise ImageRefused("The cleaned video carries data in a padding box.")
    elif kind in CONTAINERS:
        for child, start, stop in boxes(stream, payload, end):
            _check_tree(stream, child, start, stop)
    elif kind == b"stsd":
        _check_sample_entries(stream, payload, end)
    elif kind not in LEAVES:
        raise ImageRefused(f"The cleaned video still carries a {_names([kind])} box.")
    elif kind in TIMED:
        _check_times(_read(stream, payload, min(end, payload + 20)), kind)


def _check_sample_entries(stream: BinaryIO, payload: int, end: int) -> None:
    # stsd: version + flags (4 bytes) and an entry count (4 bytes), then the sample entries.
    for kind, _start, _stop in boxes(stream, payload + 8, end):
        if kind not in SAMPLE_ENTRIES:
            raise ImageRefused(f"The cleaned video has an unexpected track: {_names([kind])}.")


def _check_times(head: bytes, kind: bytes) -> None:
    """The creation and modification times (32 or 64 bits by the box's version) are zero."""
    width = 8 if head[:1] == b"\x01" else 4
    if any(head[4 : 4 + 2 * width]):
        raise ImageRefused(f"The cleaned video still carries a date ({_names([kind])}).")


def _read(stream: BinaryIO, start: int, end: int) -> bytes:
    if end - start > READ_LIMIT:
        raise ClipRefused("not_only_video", "The video file has a box too large to check.")
    stream.seek(start)
    return stream.read(end - start)


def _names(kinds: list[bytes]) -> str:
    return ", ".join(k.decode("latin-1").encode("unicode_escape").decode() for k in kinds)
