"""sanitise: hostile files in, a bare JFIF baseline JPEG out, checked by Pillow and by exiftool."""

from __future__ import annotations

import io
import json
import os
import shutil
import struct
import subprocess

import numpy as np
import piexif
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from test_images import (
    BLUE,
    PATTERN_H,
    PATTERN_W,
    RED,
    REFUSED,
    WHITE,
    assert_upright_pattern,
    close_to,
    encode,
    noise_jpeg,
    oriented_jpeg,
    quadrant_pattern,
    raw_png,
    stored_for_orientation,
    swapped_icc_profile,
    two_frames,
)

import gatekeeper.imaging.sanitise as sanitise_module
from gatekeeper.imaging.decode import ImageRefused, decode_upright
from gatekeeper.imaging.sanitise import (
    BLUR_MIN_BLOCK_PX,
    pixelate,
    pixelate_planes,
    sanitise,
    verify_clean,
)

EXIFTOOL_GROUPS_ALLOWED = {"File", "JFIF", "Composite"}
# Words planted in hostile files; none may survive anywhere in the output's bytes.
SECRETS = [b"Mrs Jones", b"St Mary", b"0123456789", b"Amy Pupil", b"Fieldside", b"SECRET"]
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
XMP_PACKET = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/"'
    b' xmlns:photoshop="http://ns.adobe.com/photoshop/1.0/"'
    b' xmlns:exif="http://ns.adobe.com/exif/1.0/"'
    b' photoshop:City="Fieldside" exif:GPSLatitude="51,30.4N">'
    b"<dc:creator><rdf:Seq><rdf:li>Mrs Jones</rdf:li></rdf:Seq></dc:creator>"
    b"</rdf:Description></rdf:RDF></x:xmpmeta>"
    b'<?xpacket end="w"?>'
)


# ---------------------------------------------------------------- checking outputs twice


@pytest.fixture(scope="session")
def exiftool() -> str:
    """exiftool reads metadata independently of Pillow; a visible skip locally, a failure in CI."""
    path = shutil.which("exiftool")
    if path is None:
        reason = "exiftool not installed (Debian: apt-get install libimage-exiftool-perl)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + ": required under CI")
        pytest.skip(reason)
    return path


def exiftool_tags(exiftool: str, data: bytes) -> dict:
    run = subprocess.run(
        [exiftool, "-j", "-G", "-a", "-u", "-n", "-"], input=data, capture_output=True, check=True
    )
    return json.loads(run.stdout)[0]


def assert_clean(out: bytes, exiftool: str) -> None:
    """The output passes verify_clean, Pillow sees only JFIF, exiftool only File/JFIF/Composite."""
    verify_clean(out)
    img = Image.open(io.BytesIO(out))
    assert img.format == "JPEG" and img.mode == "RGB"
    assert set(img.info) <= {"jfif", "jfif_version", "jfif_unit", "jfif_density"}, img.info
    assert [marker for marker, _ in img.applist] == ["APP0"] and not img.getexif()
    tags = exiftool_tags(exiftool, out)
    leftover = {
        key for key in tags
        if key.split(":")[0] not in EXIFTOOL_GROUPS_ALLOWED
        and key not in {"SourceFile", "ExifTool:ExifToolVersion"}
    }
    assert not leftover, leftover
    assert "File:Comment" not in tags and tags["File:EncodingProcess"] == 0  # baseline DCT
    for secret in SECRETS:
        assert secret not in out


# ---------------------------------------------------------------- hostile inputs


def insert_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """Put a marker segment straight after SOI."""
    segment = bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload
    return jpeg[:2] + segment + jpeg[2:]


def iptc_app13() -> bytes:
    """A Photoshop 3.0 APP13 payload holding an IPTC-IIM record (8BIM resource 0x0404)."""
    def dataset(number: int, value: bytes) -> bytes:
        return bytes([0x1C, 2, number]) + struct.pack(">H", len(value)) + value

    iim = (dataset(0, b"\x00\x04") + dataset(80, b"Mrs Jones") + dataset(116, b"St Mary's")
           + dataset(90, b"Fieldside") + dataset(25, b"Amy Pupil"))
    iim += b"\x00" * (len(iim) % 2)
    resource = b"8BIM" + struct.pack(">H", 0x0404) + b"\x00\x00" + struct.pack(">I", len(iim)) + iim
    return b"Photoshop 3.0\x00" + resource


def rich_exif(orientation: int = 1) -> bytes:
    """EXIF with owner, serial, dates, GPS, a MakerNote and an IFD1 thumbnail."""
    thumb = encode(Image.new("RGB", (32, 24), (10, 200, 10)), quality=70)
    return piexif.dump({
        "0th": {
            piexif.ImageIFD.Make: b"Canon", piexif.ImageIFD.Model: b"EOS R5",
            piexif.ImageIFD.Artist: b"Mrs Jones", piexif.ImageIFD.Copyright: b"St Mary's",
            piexif.ImageIFD.ImageDescription: b"Amy Pupil at sports day",
            piexif.ImageIFD.Orientation: orientation,
        },
        "Exif": {
            piexif.ExifIFD.DateTimeOriginal: b"2024:06:01 10:00:00",
            piexif.ExifIFD.BodySerialNumber: b"0123456789",
            piexif.ExifIFD.CameraOwnerName: b"Mrs Jones",
            piexif.ExifIFD.MakerNote: b"SECRET maker note " + bytes(range(64)),
        },
        "GPS": {
            piexif.GPSIFD.GPSLatitudeRef: b"N",
            piexif.GPSIFD.GPSLatitude: ((51, 1), (30, 1), (2604, 100)),
            piexif.GPSIFD.GPSLongitudeRef: b"W",
            piexif.GPSIFD.GPSLongitude: ((0, 1), (7, 1), (3960, 100)),
        },
        "1st": {piexif.ImageIFD.XResolution: (72, 1), piexif.ImageIFD.YResolution: (72, 1)},
        "thumbnail": thumb,
    })


def picture() -> Image.Image:
    return Image.fromarray(quadrant_pattern())


def jpeg_with_exif() -> bytes:
    return encode(picture(), exif=rich_exif())


def jpeg_with_xmp() -> bytes:
    return insert_segment(encode(picture()), 0xE1, XMP_HEADER + XMP_PACKET)


def jpeg_with_iptc() -> bytes:
    return insert_segment(encode(picture()), 0xED, iptc_app13())


def jpeg_with_comment() -> bytes:
    return encode(picture(), comment=b"Amy Pupil, Year 3, St Mary's")


def jpeg_with_everything() -> bytes:
    """All of the above, an ICC profile, an unknown APP15 and a trailer after EOI."""
    icc = swapped_icc_profile()
    data = encode(picture(), exif=rich_exif(), comment=b"Amy Pupil", icc_profile=icc)
    data = insert_segment(data, 0xE1, XMP_HEADER + XMP_PACKET)
    data = insert_segment(data, 0xED, iptc_app13())
    data = insert_segment(data, 0xEF, b"SECRET vendor data")
    return data + b"SECRET trailer: Fieldside"


def png_with_text_and_exif() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Mrs Jones")  # tEXt
    info.add_text("Comment", "Amy Pupil, St Mary's", zip=True)  # zTXt
    info.add_itxt("Description", "Fieldside school trip", lang="en", tkey="Description")  # iTXt
    return encode(picture(), "PNG", pnginfo=info, exif=rich_exif())  # eXIf


def heic_with_exif_and_xmp() -> bytes:
    return encode(picture(), "HEIF", quality=90, exif=rich_exif(), xmp=XMP_PACKET)


def webp_with_exif_xmp_and_icc() -> bytes:
    return encode(picture(), "WEBP", quality=95, exif=rich_exif(), xmp=XMP_PACKET,
                  icc_profile=swapped_icc_profile())


def mpo_with_exif() -> bytes:
    return two_frames("MPO", exif=rich_exif())


HOSTILE = {
    "exif-gps-thumbnail-makernote": (jpeg_with_exif, "EXIF:GPSLatitude"),
    "xmp": (jpeg_with_xmp, "XMP:Creator"),
    "iptc-app13": (jpeg_with_iptc, "IPTC:By-line"),
    "com-comment": (jpeg_with_comment, "File:Comment"),
    "everything": (jpeg_with_everything, "EXIF:ThumbnailLength"),
    "png-text-chunks-and-exif": (png_with_text_and_exif, "PNG:Author"),
    "heic-exif-xmp": (heic_with_exif_and_xmp, "XMP:Creator"),
    "webp-exif-xmp-icc": (webp_with_exif_xmp_and_icc, "ICC_Profile:ProfileClass"),
    "mpo": (mpo_with_exif, "MPF:MPFVersion"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_metadata_never_leaves(name, exiftool):
    build, planted_tag = HOSTILE[name]
    data = build()
    assert planted_tag in exiftool_tags(exiftool, data), "the hostile file lacks its metadata"
    assert_clean(sanitise(data), exiftool)


def test_everything_file_really_carries_every_kind_of_metadata(exiftool):
    data = jpeg_with_everything()
    tags = exiftool_tags(exiftool, data)
    for tag in ["EXIF:GPSLatitude", "EXIF:SerialNumber", "EXIF:OwnerName", "EXIF:ThumbnailImage",
                "XMP:City", "IPTC:By-line", "File:Comment", "ICC_Profile:ProfileDescription"]:
        assert tag in tags, tag
    assert b"SECRET maker note" in data and data.endswith(b"Fieldside")


def test_pillow_copies_a_comment_when_a_decoded_jpeg_is_saved_naively():
    """The trap the sanitiser must avoid is real in this Pillow version."""
    naive = io.BytesIO()
    Image.open(io.BytesIO(jpeg_with_comment())).save(naive, "JPEG")
    assert b"Amy Pupil" in naive.getvalue()
    assert b"Amy Pupil" not in sanitise(jpeg_with_comment())


def test_real_event_photo_loses_its_gps(faces_dir, exiftool):
    data = (faces_dir / "events" / "alex_lacamoire_stage.jpg").read_bytes()
    assert any(key.startswith("EXIF:GPS") for key in exiftool_tags(exiftool, data))
    assert_clean(sanitise(data), exiftool)


def test_every_real_photo_sanitises_clean(faces_dir, exiftool):
    photos = sorted(p for p in faces_dir.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    assert len(photos) >= 20
    for photo in photos:
        out = sanitise(photo.read_bytes())
        assert_clean(out, exiftool)
        assert max(Image.open(io.BytesIO(out)).size) <= 2048


# ---------------------------------------------------------------- pixels


@pytest.mark.parametrize("orientation", range(1, 9))
def test_output_is_upright_by_pixel_colour(orientation, exiftool):
    out = sanitise(oriented_jpeg(orientation), quality=95)
    assert "IFD0:Orientation" not in exiftool_tags(exiftool, out)
    img = Image.open(io.BytesIO(out)).convert("RGB")
    assert img.size == (PATTERN_W, PATTERN_H)
    assert_upright_pattern(img)


def test_upright_with_rich_exif_and_downscaling(exiftool):
    stored = Image.fromarray(stored_for_orientation(quadrant_pattern(1200, 800), 6))
    out = sanitise(encode(stored, exif=rich_exif(orientation=6)), max_side=300)
    assert_clean(out, exiftool)
    img = Image.open(io.BytesIO(out)).convert("RGB")
    assert max(img.size) <= 300
    assert_upright_pattern(img)


def test_transparent_pixels_become_white():
    img = Image.new("RGBA", (40, 20), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (0, 0, 20, 20))
    out = Image.open(io.BytesIO(sanitise(encode(img, "PNG")))).convert("RGB")
    assert close_to(out.getpixel((30, 10)), WHITE, 3)
    assert close_to(out.getpixel((5, 10)), (200, 0, 0))


def test_cmyk_jpeg_comes_out_rgb():
    out = Image.open(io.BytesIO(sanitise(encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0))))))
    assert out.mode == "RGB" and close_to(out.getpixel((16, 16)), (255, 0, 0))


def test_16_bit_gradient_is_kept():
    rows = [np.linspace(0, 65535, 256).astype(">u2").tobytes()] * 16
    out = Image.open(io.BytesIO(sanitise(raw_png(256, 16, 16, 0, rows)))).convert("L")
    grey = [out.getpixel((x, 8)) for x in (8, 64, 128, 192, 247)]
    assert all(abs(g - x) <= 4 for g, x in zip(grey, (8, 64, 128, 192, 247), strict=True)), grey


def test_icc_colours_are_converted_and_the_profile_dropped(exiftool):
    data = encode(Image.new("RGB", (32, 32), (255, 0, 0)), icc_profile=swapped_icc_profile())
    out = sanitise(data)
    assert_clean(out, exiftool)
    assert close_to(Image.open(io.BytesIO(out)).getpixel((16, 16)), (0, 0, 255), 8)


def test_long_side_and_quality():
    data = noise_jpeg(1000, 600)
    big, small = sanitise(data, max_side=500, quality=95), sanitise(data, max_side=500, quality=40)
    assert Image.open(io.BytesIO(big)).size == (500, 300)
    assert len(small) < len(big)


def test_draft_decoding_stays_within_max_side_and_close_to_it():
    size = Image.open(io.BytesIO(sanitise(noise_jpeg(4032, 3024, quality=80)))).size
    assert 0.9 * 2048 <= max(size) <= 2048


@pytest.mark.parametrize("bad", [{"max_side": 0}, {"quality": 0}, {"quality": 100}])
def test_bad_settings_are_a_programming_error(bad):
    with pytest.raises(ValueError):
        sanitise(noise_jpeg(), **bad)


# ---------------------------------------------------------------- refusals


@pytest.mark.parametrize("data", [d for _, d in REFUSED], ids=[name for name, _ in REFUSED])
def test_refused_inputs_give_a_one_line_reason_and_no_output(data):
    with pytest.raises(ImageRefused) as refused:
        sanitise(data)
    assert str(refused.value) and "\n" not in str(refused.value)


def test_too_slow_is_refused(monkeypatch):
    monkeypatch.setattr(sanitise_module, "TIME_LIMIT_S", 0.0)
    with pytest.raises(ImageRefused, match="too long"):
        sanitise(noise_jpeg())


# ---------------------------------------------------------------- verify_clean itself


def clean_output() -> bytes:
    return sanitise(noise_jpeg(64, 48))


def with_jfif_thumbnail(jpeg: bytes) -> bytes:
    # APP0 JFIF payload: "JFIF\0", version, units, density x/y, then thumbnail width and height.
    payload = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x01\x01" + bytes(3)
    start = jpeg.index(b"\xff\xe0")
    end = start + 2 + struct.unpack(">H", jpeg[start + 2 : start + 4])[0]
    return jpeg[:start] + b"\xff\xe0" + struct.pack(">H", len(payload) + 2) + payload + jpeg[end:]


def exif_inserted(jpeg: bytes) -> bytes:
    out = io.BytesIO()
    piexif.insert(rich_exif(), jpeg, out)
    return out.getvalue()


TAMPERED = {
    "app1-exif": exif_inserted,
    "app1-xmp": lambda j: insert_segment(j, 0xE1, XMP_HEADER + XMP_PACKET),
    "app2-icc": lambda j: insert_segment(j, 0xE2, b"ICC_PROFILE\0\1\1" + swapped_icc_profile()),
    "app2-mpf": lambda j: insert_segment(j, 0xE2, b"MPF\x00" + bytes(16)),
    "app13-iptc": lambda j: insert_segment(j, 0xED, iptc_app13()),
    "com": lambda j: insert_segment(j, 0xFE, b"Amy Pupil"),
    "app14-adobe": lambda j: insert_segment(j, 0xEE, b"Adobe\x00\x64\x00\x00\x00\x00\x01"),
    "app15": lambda j: insert_segment(j, 0xEF, b"SECRET"),
    "jfxx-app0": lambda j: j[:20] + b"\xff\xe0\x00\x08JFXX\x00\x10" + j[20:],
    "jfif-thumbnail": with_jfif_thumbnail,
    "trailer-after-eoi": lambda j: j + b"SECRET",
    "missing-eoi": lambda j: j[:-2],
    "not-a-jpeg": lambda j: b"\x89PNG" + j[2:],
    "progressive": lambda j: encode(Image.open(io.BytesIO(j)), progressive=True),
}


def test_verify_clean_accepts_a_clean_output():
    verify_clean(clean_output())


@pytest.mark.parametrize("name", TAMPERED)
def test_verify_clean_refuses_anything_extra(name):
    tampered = TAMPERED[name](clean_output())
    assert tampered != clean_output()
    with pytest.raises(ImageRefused) as refused:
        verify_clean(tampered)
    assert "\n" not in str(refused.value)


# ---------------------------------------------------------------- blur


def textured(width: int, height: int, seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def test_pixelate_turns_the_box_and_margin_into_uniform_blocks_and_nothing_else():
    img = textured(200, 200)
    original = np.asarray(img).copy()
    out = np.asarray(pixelate(img, [(60, 140, 140, 60)]))  # 80 px box, 25% margin: 40..160
    assert np.array_equal(np.asarray(img), original), "the input image was changed"
    region = np.zeros((200, 200), dtype=bool)
    region[40:160, 40:160] = True
    assert np.array_equal(out[~region], original[~region])
    block = 15  # 120 px region / 8 blocks
    for y in range(40, 160, block):
        for x in range(40, 160, block):
            cell = out[y : y + block, x : x + block].reshape(-1, 3)
            assert (cell == cell[0]).all(), f"block at {x},{y} is not uniform"
    assert np.abs(out[region].astype(int) - original[region]).mean() > 40


def test_pixelate_blocks_are_at_least_the_minimum_and_noisy():
    img = Image.new("RGB", (100, 100), (100, 100, 100))
    out = np.asarray(pixelate(img, [(40, 60, 60, 40)]))  # 20 px box: region 35..65
    assert (out[35:35 + BLUR_MIN_BLOCK_PX, 35:35 + BLUR_MIN_BLOCK_PX] == out[35, 35]).all()
    # On a flat grey the block means are all 100: only added noise makes the blocks differ.
    block_values = {tuple(out[y, x]) for y in (35, 47, 59) for x in (35, 47, 59)}
    assert len(block_values) > 1
    assert not np.array_equal(out, np.asarray(pixelate(img, [(40, 60, 60, 40)])))


def planes_of(rng, height: int, width: int) -> list[np.ndarray]:
    """A textured 4:2:0 picture: Y at full size, U and V at half size either way."""
    return [rng.integers(0, 256, (h, w), dtype=np.uint8)
            for h, w in ((height, width), (height // 2, width // 2), (height // 2, width // 2))]


def test_a_clip_picture_is_pixelated_in_every_plane_over_the_box_and_margin_only():
    rng = np.random.default_rng(1)
    planes = planes_of(rng, 200, 240)
    original = [plane.copy() for plane in planes]
    pixelate_planes(planes, [(61, 141, 141, 61)])  # 80 px box, 25% margin: 41..161 -> 40..161
    for plane, before, step in zip(planes, original, (1, 2, 2), strict=True):
        region = np.zeros(plane.shape, dtype=bool)
        region[40 // step : -(-161 // step), 40 // step : -(-161 // step)] = True
        assert np.array_equal(plane[~region], before[~region]), "outside the region changed"
        assert np.abs(plane[region].astype(int) - before[region]).mean() > 40
        block, end = 16 // step, -(-161 // step)  # 120 px / 8 blocks, made even; the chroma's half
        for y in range(40 // step, end, block):
            for x in range(40 // step, end, block):
                cell = plane[y : min(y + block, end), x : min(x + block, end)]
                assert (cell == cell[0, 0]).all(), f"block at {x},{y} is not uniform"


def test_a_clip_pictures_blocks_are_fresh_noise_every_time():
    flat = [np.full((100, 100), 100, np.uint8), np.full((50, 50), 128, np.uint8),
            np.full((50, 50), 128, np.uint8)]
    first, second = [p.copy() for p in flat], [p.copy() for p in flat]
    pixelate_planes(first, [(40, 60, 60, 40)])
    pixelate_planes(second, [(40, 60, 60, 40)])
    # On a flat picture the block means are all the same: only the noise makes blocks differ.
    assert len({int(first[0][y, x]) for y in (35, 47, 59) for x in (35, 47, 59)}) > 1
    assert not np.array_equal(first[0], second[0])
    with pytest.raises(ImageRefused):
        pixelate_planes(first, [(120, 140, 130, 110)])  # wholly outside: never silently skipped


def test_pixelate_clips_boxes_at_the_edge():
    out = np.asarray(pixelate(textured(50, 50), [(-10, 30, 20, -5)]))
    assert out.shape == (50, 50, 3)


@pytest.mark.parametrize("box", [(50, 10, 40, 0), (10, 10, 20, 10), (500, 600, 520, 580)])
def test_blur_box_that_is_empty_or_misses_the_picture_is_refused(box):
    with pytest.raises(ImageRefused, match="blur box"):
        sanitise(noise_jpeg(100, 100), blur_boxes=[box])


def local_detail(arr: np.ndarray) -> float:
    """Mean absolute difference between neighbouring pixels: high for texture, ~0 for blocks."""
    grey = arr.astype(float).mean(axis=2)
    return float(np.abs(np.diff(grey, axis=1)).mean())


def test_blur_boxes_are_in_upright_original_pixels_even_when_drafted():
    """An orientation-6 photo, decoded at half scale: the blur lands where the box says."""
    upright = np.full((1500, 2000, 3), 170, dtype=np.uint8)
    face = (500, 1300, 900, 900)  # top, right, bottom, left in the upright original
    upright[500:900, 900:1300] = np.asarray(textured(400, 400, seed=3))
    stored = Image.fromarray(stored_for_orientation(upright, 6))
    data = encode(stored, exif=rich_exif(orientation=6))
    plain = np.asarray(Image.open(io.BytesIO(sanitise(data, max_side=800))).convert("RGB"))
    blurred = np.asarray(
        Image.open(io.BytesIO(sanitise(data, max_side=800, blur_boxes=[face]))).convert("RGB")
    )
    assert plain.shape == blurred.shape == (600, 800, 3)
    inner = (slice(210, 350), slice(370, 510))  # the face at 0.4 scale, well inside its edges
    assert local_detail(plain[inner]) > 10 and local_detail(blurred[inner]) < 3
    away = (slice(0, 120), slice(0, 200))
    assert np.abs(plain[away].astype(int) - blurred[away]).mean() < 1


def test_blurred_face_cannot_be_recovered_by_upscaling():
    img = textured(400, 400, seed=5)
    blurred = pixelate(img, [(100, 300, 300, 100)])
    region = (50, 50, 350, 350)
    restored = blurred.crop(region).resize((30, 30), Image.Resampling.BOX).resize(
        (300, 300), Image.Resampling.BICUBIC
    )
    original = np.asarray(img.crop(region), dtype=float)
    corr = np.corrcoef(original.ravel(), np.asarray(restored, dtype=float).ravel())[0, 1]
    assert abs(corr) < 0.1


# ---------------------------------------------------------------- random metadata

ascii_text = st.text(
    alphabet=st.characters(min_codepoint=32, max_codepoint=126), min_size=1, max_size=40
)


@st.composite
def metadata_files(draw) -> bytes:
    """A small JPEG or PNG carrying a random mix of EXIF, GPS, comment, XMP and PNG text."""
    orientation = draw(st.integers(1, 8))
    exif = {
        "0th": {piexif.ImageIFD.Artist: draw(ascii_text).encode(),
                piexif.ImageIFD.Orientation: orientation},
        "Exif": {piexif.ExifIFD.BodySerialNumber: draw(ascii_text).encode()},
        "GPS": {piexif.GPSIFD.GPSLatitude: tuple((draw(st.integers(0, 89)), 1) for _ in range(3))},
    }
    img = Image.fromarray(stored_for_orientation(quadrant_pattern(48, 32), orientation))
    if draw(st.booleans()):
        info = PngImagePlugin.PngInfo()
        keys = draw(st.lists(st.sampled_from(["Author", "Comment", "Title", "GPS"]), max_size=3))
        for key in keys:
            info.add_text(key, draw(st.text(max_size=60)), zip=draw(st.booleans()))
        return encode(img, "PNG", pnginfo=info, exif=piexif.dump(exif))
    data = encode(img, exif=piexif.dump(exif), comment=draw(ascii_text).encode())
    if draw(st.booleans()):
        data = insert_segment(data, 0xE1, XMP_HEADER + draw(st.text(max_size=200)).encode())
    return data


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=metadata_files())
def test_random_metadata_never_survives(data, exiftool):
    out = sanitise(data)
    assert_clean(out, exiftool)
    assert decode_upright(out).size == (48, 32)
    assert close_to(decode_upright(out).getpixel((6, 6)), RED, 40)
    assert close_to(decode_upright(out).getpixel((6, 26)), BLUE, 40)
