"""Sanitising for publication: a fresh JPEG made from pixels alone, with nothing that identifies.

The output carries no EXIF, XMP, IPTC, ICC profile, comment or thumbnail; orientation is baked
into the pixels and colour converted to sRGB. verify_clean checks the bytes before they may leave.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence

import numpy as np
from PIL import Image

from gatekeeper.imaging.decode import ImageRefused, decode, shrink

DEFAULT_MAX_SIDE = 2048
DEFAULT_QUALITY = 88
QUALITY_RANGE = range(1, 96)  # libjpeg's own advice: above 95 only grows the file
TIME_LIMIT_S = 20.0
BLUR_MARGIN = 0.25  # face detectors box the face tightly: hair, ears and chin lie outside
BLUR_BLOCKS_ACROSS = 8  # a face a few blocks across cannot be recognised or upscaled back
BLUR_MIN_BLOCK_PX = 12
BLUR_NOISE = 24  # +/- per channel per block: the block averages are not the face's averages
# ... and in a clip's Y, U and V planes: RGB noise of BLUR_NOISE moves U and V about half as far.
BLUR_PLANE_NOISE = (BLUR_NOISE, BLUR_NOISE // 2, BLUR_NOISE // 2)
JFIF_APP0_LENGTH = 16  # JFIF 1.x header without a thumbnail
# Markers a fresh baseline JPEG from Pillow is made of; SOI, EOI and RSTn have no length field.
SOI, EOI, SOS, APP0 = 0xD8, 0xD9, 0xDA, 0xE0
ALLOWED_SEGMENTS = {APP0: "APP0", 0xDB: "DQT", 0xC0: "SOF0", 0xC4: "DHT", SOS: "SOS"}
RST_MARKERS = range(0xD0, 0xD8)
ALLOWED_INFO_KEYS = {"jfif", "jfif_version", "jfif_unit", "jfif_density", "dpi"}

Box = tuple[int, int, int, int]  # (top, right, bottom, left) in pixels


def sanitise(
    data: bytes,
    *,
    max_side: int = DEFAULT_MAX_SIDE,
    quality: int = DEFAULT_QUALITY,
    blur_boxes: Sequence[Box] = (),
) -> bytes:
    """Return a verified clean baseline JPEG of the upload, blurred where asked, or refuse."""
    if max_side < 1 or quality not in QUALITY_RANGE:
        raise ValueError(f"max_side must be >= 1 and quality in 1..95, not {max_side}, {quality}")
    deadline = time.monotonic() + TIME_LIMIT_S
    decoded = decode(data, draft_side=max_side)
    _check_time(deadline)
    boxes = _scale_boxes(blur_boxes, decoded.original_size, decoded.image.size)
    img = pixelate(decoded.image, boxes)
    _check_time(deadline)
    jpeg = _encode(shrink(img, max_side), quality)
    _check_time(deadline)
    verify_clean(jpeg)
    return jpeg


def crop_face(
    data: bytes, box: Box, *, box_space: tuple[int, int] | None = None,
    max_side: int = DEFAULT_MAX_SIDE, quality: int = DEFAULT_QUALITY,
) -> bytes:
    """A clean JPEG of one face with its margin (hair, ears, chin), at most `max_side` px.
    `box_space`: the size of the picture the box was measured on (default: this one's upright
    size), so a face found on the original can be cut from a smaller rendering of it."""
    decoded = decode(data)
    [scaled] = _scale_boxes([box], box_space or decoded.original_size, decoded.image.size)
    face = decoded.image.convert("RGB").crop(_blur_region(scaled, decoded.image.size))
    jpeg = _encode(shrink(face, max_side), quality)
    verify_clean(jpeg)
    return jpeg


def pixelate(img: Image.Image, boxes: Sequence[Box]) -> Image.Image:
    """Return a copy with each (top, right, bottom, left) box, plus a margin, in noisy blocks."""
    out = img.convert("RGB")  # always a copy: the caller's image is left alone
    rng = np.random.default_rng()  # fresh OS entropy on every call: the noise cannot be replayed
    for box in boxes:
        left, top, right, bottom = _blur_region(box, out.size)
        region = out.crop((left, top, right, bottom))
        out.paste(_blocks(region, _block_size(right - left, bottom - top), rng), (left, top))
    return out


def pixelate_planes(planes: Sequence[np.ndarray], boxes: Sequence[Box],
                    seeds: Sequence[int] | None = None) -> None:
    """Pixelate each box (plus the margin) of a 4:2:0 picture's Y, U and V planes in place: the
    blocks of `pixelate`, averaged and noised in each plane, so a clip's picture is never turned
    into RGB and back. Blocks start on even pixels and are even, so the grids of the full-size
    luma and the half-size chroma planes coincide. `seeds`: each box's noise (a clip keeps one
    per blurred face, secret, so the noise of a still face is the same in every picture)."""
    luma = planes[0]
    fresh = np.random.default_rng()  # OS entropy: without a seed, the noise cannot be replayed
    for index, box in enumerate(boxes):
        rng = fresh if seeds is None else np.random.default_rng(seeds[index])
        left, top, right, bottom = _blur_region(box, (luma.shape[1], luma.shape[0]))
        block = -(-_block_size(right - left, bottom - top) // 2) * 2
        left, top = left // 2 * 2, top // 2 * 2
        for plane, step, noise in zip(planes, (1, 2, 2), BLUR_PLANE_NOISE, strict=True):
            area = plane[top // step : -(-bottom // step), left // step : -(-right // step)]
            _noisy_blocks(area, block // step, noise, rng)


def _noisy_blocks(area: np.ndarray, block: int, noise: int, rng: np.random.Generator) -> None:
    """Replace a plane's area in place by block×block squares of its averages plus noise."""
    height, width = area.shape
    rows, cols = -(-height // block), -(-width // block)
    padded = np.pad(area, ((0, rows * block - height), (0, cols * block - width)), mode="edge")
    means = padded.reshape(rows, block, cols, block).mean(axis=(1, 3))
    noisy = np.rint(means) + rng.integers(-noise, noise + 1, size=means.shape)
    noisy = np.clip(noisy, 0, 255).astype(np.uint8)
    area[:] = np.repeat(np.repeat(noisy, block, axis=0), block, axis=1)[:height, :width]


def verify_clean(jpeg: bytes) -> None:
    """Refuse unless the bytes are a baseline JPEG with nothing but a bare JFIF header."""
    _check_segments(jpeg)
    try:
        with Image.open(io.BytesIO(jpeg), formats=["JPEG"]) as img:
            img.load()
            extra = set(img.info) - ALLOWED_INFO_KEYS
            applist = [marker for marker, _ in img.applist]
            exif = dict(img.getexif())
            fmt = img.format
    except Exception as exc:  # noqa: BLE001 - whatever breaks, the file must not be published
        raise ImageRefused("The cleaned picture could not be read back.") from exc
    if fmt != "JPEG" or extra or applist != ["APP0"] or exif:
        found = sorted(extra) + [m for m in applist if m != "APP0"] + (["EXIF"] if exif else [])
        raise ImageRefused(f"The cleaned picture still carries metadata: {', '.join(found)}.")


def _check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise ImageRefused("The picture took too long to process.")


def _scale_boxes(
    boxes: Sequence[Box], original: tuple[int, int], decoded: tuple[int, int]
) -> list[Box]:
    """Map boxes in the upright original's pixels onto the (perhaps draft-scaled) image."""
    sx, sy = decoded[0] / original[0], decoded[1] / original[1]
    # Round outwards, so scaling never shrinks the blurred area.
    return [
        (math.floor(t * sy), math.ceil(r * sx), math.ceil(b * sy), math.floor(left * sx))
        for t, r, b, left in boxes
    ]


def _blur_region(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the box grown by BLUR_MARGIN, clipped to the image."""
    top, right, bottom, left = (int(v) for v in box)
    if bottom <= top or right <= left:
        raise ImageRefused(f"A blur box is empty or inside out: {box}.")
    grow_x = math.ceil((right - left) * BLUR_MARGIN)
    grow_y = math.ceil((bottom - top) * BLUR_MARGIN)
    region = (
        max(0, left - grow_x),
        max(0, top - grow_y),
        min(size[0], right + grow_x),
        min(size[1], bottom + grow_y),
    )
    if region[0] >= region[2] or region[1] >= region[3]:
        # A blur that misses the picture would publish the face it was meant to hide.
        raise ImageRefused(f"A blur box lies outside the picture: {box}.")
    return region


def _block_size(width: int, height: int) -> int:
    return max(BLUR_MIN_BLOCK_PX, math.ceil(max(width, height) / BLUR_BLOCKS_ACROSS))


def _blocks(region: Image.Image, block: int, rng: np.random.Generator) -> Image.Image:
    """Average the region over block×block squares, add noise to each, and blow them back up."""
    cols, rows = math.ceil(region.width / block), math.ceil(region.height / block)
    means = np.asarray(region.resize((cols, rows), Image.Resampling.BOX), dtype=np.int16)
    noisy = means + rng.integers(-BLUR_NOISE, BLUR_NOISE + 1, size=means.shape, dtype=np.int16)
    small = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))  # rows×cols×3 uint8: RGB
    big = small.resize((cols * block, rows * block), Image.Resampling.NEAREST)
    return big.crop((0, 0, region.width, region.height))


def _encode(img: Image.Image, quality: int) -> bytes:
    # A new image from the raw pixels carries no info dict, so Pillow has nothing to copy
    # (it would copy a JPEG's COM comment); the empty arguments say so a second time.
    fresh = Image.frombytes("RGB", img.size, img.convert("RGB").tobytes())
    out = io.BytesIO()
    fresh.save(
        out, "JPEG", quality=quality, progressive=False, optimize=False,
        exif=b"", comment=b"", icc_profile=b"", xmp=b"",
    )
    return out.getvalue()


def _check_segments(jpeg: bytes) -> None:
    """Walk the JPEG's markers: only a bare baseline JPEG's segments may appear, EOI last."""
    if jpeg[:2] != b"\xff\xd8":
        raise ImageRefused("The cleaned picture is not a JPEG.")
    pos, seen = 2, []
    while True:
        marker, pos = _next_marker(jpeg, pos)
        if marker == EOI:
            break
        name = ALLOWED_SEGMENTS.get(marker)
        if name is None:
            raise ImageRefused(f"The cleaned picture carries a forbidden segment 0x{marker:02X}.")
        length = int.from_bytes(jpeg[pos : pos + 2], "big")
        if length < 2 or pos + length > len(jpeg):
            raise ImageRefused("The cleaned picture has a broken JPEG segment.")
        _check_segment(marker, jpeg[pos + 2 : pos + length], seen)
        seen.append(name)
        pos = _skip_scan(jpeg, pos + length) if marker == SOS else pos + length
    if pos != len(jpeg):
        raise ImageRefused("The cleaned picture has data after its end.")
    if seen.count("SOF0") != 1 or "SOS" not in seen:
        raise ImageRefused("The cleaned picture is not a plain baseline JPEG.")


def _next_marker(jpeg: bytes, pos: int) -> tuple[int, int]:
    if pos + 2 > len(jpeg) or jpeg[pos] != 0xFF:
        raise ImageRefused("The cleaned picture has a broken JPEG structure.")
    return jpeg[pos + 1], pos + 2


def _check_segment(marker: int, payload: bytes, seen: list[str]) -> None:
    if marker != APP0:
        return
    # Exactly one JFIF header, first, with no thumbnail (bytes 12 and 13 are its width and height).
    jfif_ok = payload[:5] == b"JFIF\x00" and payload[12:14] == b"\x00\x00"
    if seen or not jfif_ok or len(payload) + 2 != JFIF_APP0_LENGTH:
        raise ImageRefused("The cleaned picture carries an unexpected APP0 segment.")


def _skip_scan(jpeg: bytes, pos: int) -> int:
    """Position of the first marker after entropy-coded data (skipping stuffed 0xFF00 and RSTn)."""
    while True:
        pos = jpeg.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(jpeg):
            raise ImageRefused("The cleaned picture ends inside its image data.")
        following = jpeg[pos + 1]
        if following == 0x00 or following in RST_MARKERS:
            pos += 2
        else:
            return pos
