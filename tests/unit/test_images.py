"""decode_upright: upright sRGB RGB pixels from every accepted upload, a refusal for the rest.

The builders here make hostile and awkward files from scratch; test_sanitise.py imports them.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib

import numpy as np
import piexif
import pytest
from PIL import Image, ImageFile

from gatekeeper.imaging.decode import ImageRefused, decode, decode_upright

# ---------------------------------------------------------------- builders of test images

RED, GREEN, BLUE, YELLOW = (230, 30, 30), (30, 200, 30), (30, 30, 230), (230, 230, 30)
WHITE = (255, 255, 255)
QUADRANTS = (RED, GREEN, BLUE, YELLOW)  # top-left, top-right, bottom-left, bottom-right
PATTERN_W, PATTERN_H = 120, 80  # not square, so a missed quarter-turn shows in the size too
COLOUR_TOLERANCE = 12  # JPEG at quality 95 moves a flat colour by a few levels at most

# Where an EXIF orientation says the stored picture's first row and first column belong
# (EXIF 2.32, tag 0x0112), as (stored row, stored column, H, W) -> (upright row, upright column).
ORIENTATION_SOURCE = {
    1: lambda r, c, h, w: (r, c),
    2: lambda r, c, h, w: (r, w - 1 - c),
    3: lambda r, c, h, w: (h - 1 - r, w - 1 - c),
    4: lambda r, c, h, w: (h - 1 - r, c),
    5: lambda r, c, h, w: (c, r),
    6: lambda r, c, h, w: (c, w - 1 - r),
    7: lambda r, c, h, w: (h - 1 - c, w - 1 - r),
    8: lambda r, c, h, w: (h - 1 - c, r),
}


def quadrant_pattern(width: int = PATTERN_W, height: int = PATTERN_H) -> np.ndarray:
    """An upright RGB array with four distinct corner colours: every flip or turn shows."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    half_h, half_w = height // 2, width // 2
    arr[:half_h, :half_w], arr[:half_h, half_w:] = RED, GREEN
    arr[half_h:, :half_w], arr[half_h:, half_w:] = BLUE, YELLOW
    return arr


def stored_for_orientation(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The array a camera stores so that displaying it with this orientation shows `upright`."""
    h, w = upright.shape[:2]
    rows, cols = (w, h) if orientation >= 5 else (h, w)
    r, c = np.indices((rows, cols))
    src_r, src_c = ORIENTATION_SOURCE[orientation](r, c, h, w)
    return upright[src_r, src_c]


def encode(img: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    out = io.BytesIO()
    if fmt == "JPEG":
        params.setdefault("quality", 95)
    img.save(out, fmt, **params)
    return out.getvalue()


def oriented_jpeg(orientation: int) -> bytes:
    stored = Image.fromarray(stored_for_orientation(quadrant_pattern(), orientation))
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation}})
    return encode(stored, exif=exif, subsampling=0)


def noise_jpeg(width: int = 400, height: int = 300, seed: int = 1, **params) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels), **params)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    body = kind + payload
    return struct.pack(">I", len(payload)) + body + struct.pack(">I", zlib.crc32(body))


def raw_png(width: int, height: int, bit_depth: int, colour_type: int, rows: list[bytes]) -> bytes:
    """A PNG written chunk by chunk, for depths and sizes Pillow will not write itself."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    idat = zlib.compress(b"".join(b"\x00" + row for row in rows))
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(
        b"IEND", b""
    )


def pixel_bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A few dozen bytes on disk whose header claims width×height pixels."""
    return raw_png(width, height, 8, 2, [b"\x00" * 3])


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def _xyz(xyz: tuple[float, float, float]) -> bytes:
    return b"XYZ \0\0\0\0" + b"".join(_s15(v) for v in xyz)


def _curve(gamma: float) -> bytes:
    return b"curv\0\0\0\0" + struct.pack(">IH", 1, round(gamma * 256)) + b"\0\0"


def _desc(text: str) -> bytes:
    ascii_z = text.encode() + b"\0"
    return b"desc\0\0\0\0" + struct.pack(">I", len(ascii_z)) + ascii_z + b"\0" * 78


D50 = (0.9642, 1.0, 0.8249)
SRGB_PRIMARIES = ((0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141))
P3_PRIMARIES = ((0.5151, 0.2412, -0.0011), (0.2920, 0.6922, 0.0419), (0.1571, 0.0666, 0.7841))


def rgb_icc_profile(primaries, gamma: float = 2.2, name: str = "test RGB") -> bytes:
    """A minimal ICC v2 matrix/TRC display profile with the given D50 red, green, blue colorants."""
    red, green, blue = primaries
    tags = [(b"desc", _desc(name)), (b"wtpt", _xyz(D50)), (b"rXYZ", _xyz(red)),
            (b"gXYZ", _xyz(green)), (b"bXYZ", _xyz(blue)), (b"rTRC", _curve(gamma)),
            (b"gTRC", _curve(gamma)), (b"bTRC", _curve(gamma)), (b"cprt", b"text\0\0\0\0none\0")]
    start = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for sig, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += sig + struct.pack(">II", start + len(body), len(data))
        body += data
    header = struct.pack(">I4sI", start + len(body), b"\0" * 4, 0x02100000)
    header += b"mntrRGB XYZ " + b"\0" * 12 + b"acsp" + b"\0" * 28 + b"".join(_s15(v) for v in D50)
    return header.ljust(128, b"\0") + table + body


def swapped_icc_profile() -> bytes:
    """A profile whose 'red' channel is sRGB's blue and vice versa: conversion is unmistakable."""
    red, green, blue = SRGB_PRIMARIES
    return rgb_icc_profile((blue, green, red), name="red-blue swapped")


def two_frames(fmt: str, **params) -> bytes:
    first, second = Image.new("RGB", (40, 30), RED), Image.new("RGB", (40, 30), BLUE)
    return encode(first, fmt, save_all=True, append_images=[second], **params)


def close_to(actual, expected, tolerance: int = COLOUR_TOLERANCE) -> bool:
    return all(abs(int(a) - int(e)) <= tolerance for a, e in zip(actual, expected, strict=True))


def quadrant_colours(img: Image.Image) -> tuple:
    """Colours at the centres of the four quadrants: TL, TR, BL, BR."""
    w, h = img.size
    xs, ys = (w // 4, 3 * w // 4), (h // 4, 3 * h // 4)
    return tuple(img.getpixel((x, y)) for y in ys for x in xs)


def assert_upright_pattern(img: Image.Image) -> None:
    assert img.size[0] > img.size[1], f"not landscape: {img.size}"
    for found, wanted in zip(quadrant_colours(img), QUADRANTS, strict=True):
        assert close_to(found, wanted), f"quadrant colours {quadrant_colours(img)}"


# Refused inputs: (id, bytes) — each must give a one-line reason and no image.
def refused_inputs() -> list[tuple[str, bytes]]:
    whole = noise_jpeg()
    noise_png = encode(Image.open(io.BytesIO(whole)), "PNG")
    noise_heic = encode(Image.open(io.BytesIO(whole)), "HEIF", quality=80)
    noise_webp = encode(Image.open(io.BytesIO(whole)), "WEBP", quality=80)
    return [
        ("empty", b""),
        ("truncated-jpeg", whole[: len(whole) // 2]),
        ("jpeg-missing-last-bytes", whole[:-2]),
        ("truncated-progressive-jpeg", noise_jpeg(progressive=True)[:-5000]),
        ("truncated-png", noise_png[: len(noise_png) // 2]),
        ("truncated-heic", noise_heic[: len(noise_heic) // 2]),
        ("truncated-webp", noise_webp[: len(noise_webp) // 2]),
        ("text-renamed-jpg", b"Dear parents, the trip to the zoo is on Friday.\n"),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>'),
        ("pdf", encode(Image.new("RGB", (40, 30), RED), "PDF")),
        ("gif", encode(Image.new("RGB", (40, 30), RED), "GIF")),
        ("animated-gif", two_frames("GIF")),
        ("animated-webp", two_frames("WEBP")),
        ("animated-png", two_frames("PNG")),
        ("tiff", encode(Image.new("RGB", (40, 30), RED), "TIFF")),
        ("bmp", encode(Image.new("RGB", (40, 30), RED), "BMP")),
        ("pixel-bomb-png", pixel_bomb_png()),
        ("jpeg-header-then-junk", whole[:200] + b"\x00" * 500),
    ]


REFUSED = refused_inputs()


# ---------------------------------------------------------------- orientation


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_to_the_pixels(orientation):
    assert_upright_pattern(decode_upright(oriented_jpeg(orientation)))


def test_orientation_builder_really_stores_turned_pixels():
    """Guards the test above: 6 means 'turn a quarter clockwise to view': red starts bottom-left."""
    stored = Image.open(io.BytesIO(oriented_jpeg(6)))
    assert stored.size == (PATTERN_H, PATTERN_W)
    assert close_to(stored.getpixel((10, PATTERN_W - 10)), RED)


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_downscaled_decoding_keeps_orientation_and_reports_original_size(orientation):
    upright = quadrant_pattern(1600, 1200)
    stored = Image.fromarray(stored_for_orientation(upright, orientation))
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation}})
    data = encode(stored, exif=exif)
    small = decode_upright(data, max_side=300)
    assert max(small.size) <= 300
    assert_upright_pattern(small)
    assert decode(data, draft_side=300).original_size == (1600, 1200)


def test_jpeg_draft_decodes_at_reduced_scale():
    decoded = decode(noise_jpeg(1600, 1200), draft_side=400)
    assert decoded.original_size == (1600, 1200)
    assert 360 <= max(decoded.image.size) < 1600


# ---------------------------------------------------------------- modes and colour


def test_rgba_transparent_pixels_become_white():
    img = Image.new("RGBA", (20, 10), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (0, 0, 10, 10))
    out = decode_upright(encode(img, "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((15, 5)) == WHITE
    assert out.getpixel((5, 5)) == (200, 0, 0)


def test_half_transparent_black_becomes_mid_grey():
    out = decode_upright(encode(Image.new("RGBA", (4, 4), (0, 0, 0, 128)), "PNG"))
    assert close_to(out.getpixel((0, 0)), (127, 127, 127), 2)


def test_palette_with_transparent_index_becomes_white():
    img = Image.new("P", (4, 4), 1)
    img.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    img.putpixel((0, 0), 0)
    out = decode_upright(encode(img, "PNG", transparency=0))
    assert out.getpixel((0, 0)) == WHITE
    assert out.getpixel((1, 1)) == (10, 20, 30)


def test_greyscale_with_alpha_is_flattened():
    img = Image.new("LA", (4, 4), (50, 255))
    img.putpixel((0, 0), (50, 0))
    out = decode_upright(encode(img, "PNG"))
    assert out.getpixel((0, 0)) == WHITE and out.getpixel((1, 1)) == (50, 50, 50)


@pytest.mark.parametrize("mode", ["L", "1", "P"])
def test_grey_bilevel_and_palette_become_rgb(mode):
    img = Image.new("RGB", (8, 8), (90, 90, 90)).convert(mode)
    out = decode_upright(encode(img, "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == img.convert("RGB").getpixel((0, 0))


def test_cmyk_jpeg_becomes_rgb_with_right_colours():
    data = encode(Image.new("CMYK", (16, 16), (0, 255, 255, 0)))  # Pillow writes Adobe-inverted
    assert Image.open(io.BytesIO(data)).info.get("adobe") is not None
    out = decode_upright(data)
    assert out.mode == "RGB" and close_to(out.getpixel((8, 8)), (255, 0, 0))


def test_16_bit_greyscale_png_keeps_its_gradient():
    values = np.linspace(0, 65535, 256).astype(np.uint16)
    rows = [values.astype(">u2").tobytes()] * 4
    out = decode_upright(raw_png(256, 4, 16, 0, rows))
    grey = [out.getpixel((x, 0))[0] for x in (0, 64, 128, 192, 255)]
    assert grey == sorted(grey) and grey[0] == 0 and grey[-1] == 255
    assert all(abs(g - x) <= 1 for g, x in zip(grey, (0, 64, 128, 192, 255), strict=True)), grey


def test_pillow_16_bit_image_saved_as_png_is_scaled_not_clipped():
    img = Image.fromarray(np.full((4, 4), 32768, dtype=np.uint16))
    out = decode_upright(encode(img, "PNG"))
    assert close_to(out.getpixel((0, 0)), (128, 128, 128), 1)


def test_48_bit_rgb_png_is_scaled():
    pixel = struct.pack(">HHH", 65535, 32768, 0)
    out = decode_upright(raw_png(2, 2, 16, 2, [pixel * 2] * 2))
    assert close_to(out.getpixel((0, 0)), (255, 128, 0), 1)


def test_64_bit_rgba_png_is_scaled_and_flattened():
    opaque, clear = struct.pack(">HHHH", 0, 0, 65535, 65535), struct.pack(">HHHH", 0, 0, 0, 0)
    out = decode_upright(raw_png(2, 1, 16, 6, [opaque + clear]))
    assert out.getpixel((0, 0)) == (0, 0, 255) and out.getpixel((1, 0)) == WHITE


def test_icc_profile_is_converted_not_ignored():
    data = encode(Image.new("RGB", (8, 8), (255, 0, 0)), "PNG", icc_profile=swapped_icc_profile())
    assert close_to(decode_upright(data).getpixel((0, 0)), (0, 0, 255), 2)


def test_display_p3_red_becomes_more_saturated_srgb():
    p3 = rgb_icc_profile(P3_PRIMARIES, name="Display P3 (test)")
    data = encode(Image.new("RGB", (8, 8), (180, 60, 60)), "JPEG", icc_profile=p3)
    r, g, b = decode_upright(data).getpixel((4, 4))
    # P3's red primary lies outside sRGB: the same numbers mean a redder colour in sRGB terms.
    assert r >= 190 and g <= 50 and b <= 55, (r, g, b)


def test_broken_icc_profile_is_ignored_not_fatal():
    data = encode(Image.new("RGB", (8, 8), (10, 120, 200)), "PNG", icc_profile=b"not a profile")
    assert decode_upright(data).getpixel((0, 0)) == (10, 120, 200)


def test_heic_decodes_upright_with_display_p3_profile():
    p3 = rgb_icc_profile(P3_PRIMARIES, name="Display P3 (test)")
    stored = Image.fromarray(stored_for_orientation(quadrant_pattern(), 6))
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}})
    data = encode(stored, "HEIF", quality=95, exif=exif, icc_profile=p3)
    out = decode_upright(data)
    assert out.size == (PATTERN_W, PATTERN_H)
    tl, tr, bl, br = quadrant_colours(out)
    assert tl[0] > 200 and tl[1] < 40 and tr[1] > 180 and bl[2] > 200 and br[0] > 200 < br[1]


def test_mpo_uses_its_first_frame():
    out = decode_upright(two_frames("MPO"))
    assert close_to(out.getpixel((5, 5)), RED)


def test_webp_is_accepted():
    assert close_to(decode_upright(encode(Image.new("RGB", (8, 8), BLUE), "WEBP", quality=100))
                    .getpixel((4, 4)), BLUE, 6)


def test_result_is_loaded_rgb_with_no_metadata_left():
    exif = piexif.dump({"0th": {piexif.ImageIFD.Artist: b"Mr Smith"}})
    out = decode_upright(encode(Image.new("RGB", (8, 8), RED), exif=exif, comment=b"Year 3"))
    assert out.mode == "RGB" and out.info == {}


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("data", [d for _, d in REFUSED], ids=[name for name, _ in REFUSED])
def test_refused_with_a_one_line_reason(data):
    with pytest.raises(ImageRefused) as refused:
        decode_upright(data)
    reason = str(refused.value)
    assert reason and "\n" not in reason and len(reason) < 120


def test_truncated_jpeg_refused_even_when_truncated_loading_is_switched_on(monkeypatch):
    """face_recognition switches this on for the whole process when imported."""
    whole = noise_jpeg()
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    Image.open(io.BytesIO(whole[: len(whole) // 2])).load()  # Pillow alone accepts it: the trap
    with pytest.raises(ImageRefused, match="damaged or incomplete"):
        decode_upright(whole[: len(whole) // 2])


def test_pixel_bomb_is_small_on_disk_and_refused_by_header_alone():
    bomb = pixel_bomb_png()
    assert len(bomb) < 100
    with pytest.raises(ImageRefused, match="too large"):
        decode_upright(bomb)


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_bomb_refused_when_pillow_only_warns_and_warnings_are_ignored():
    bomb = pixel_bomb_png(10_000, 10_000)  # above Pillow's warning limit, below its error limit
    assert 10_000 * 10_000 > Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageRefused, match="too large"):
        decode_upright(bomb)


def test_bomb_warning_as_error_becomes_a_refusal():
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(ImageRefused, match="too large"):
            decode_upright(pixel_bomb_png(10_000, 10_000))


@pytest.mark.parametrize("max_side", [0, -5])
def test_nonsense_max_side_is_a_programming_error(max_side):
    with pytest.raises(ValueError) as raised:
        decode_upright(noise_jpeg(), max_side=max_side)
    assert not isinstance(raised.value, ImageRefused)


def test_max_pixels_is_configurable_per_call():
    data = noise_jpeg(100, 100)
    assert decode_upright(data, max_pixels=10_000).size == (100, 100)
    with pytest.raises(ImageRefused, match="100×100"):
        decode_upright(data, max_pixels=9_999)


# ---------------------------------------------------------------- real photos


def test_every_real_photo_decodes_to_rgb(faces_dir):
    photos = sorted(p for p in faces_dir.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    assert len(photos) >= 20
    for photo in photos:
        img = decode_upright(photo.read_bytes(), max_side=1024)
        assert img.mode == "RGB" and max(img.size) <= 1024, photo


def test_real_rgba_png_is_flattened(faces_dir):
    data = (faces_dir / "awkward" / "rgba_32bit.png").read_bytes()
    source = Image.open(io.BytesIO(data))
    assert source.mode == "RGBA"
    assert decode_upright(data).size == source.size
