"""Safe decoding of uploads: one upright sRGB RGB image, or a refusal fit to show a teacher.

Screening and sanitising both start here, so both see the same pixels. Everything an upload can
carry that is not the primary picture (animation frames, thumbnails, depth maps) is refused or
ignored, and every failure of the decoders becomes ImageRefused rather than a traceback.
"""

from __future__ import annotations

import io
import math
import warnings
from typing import NamedTuple

import numpy as np
import pillow_heif
from PIL import Image, ImageCms, ImageFile, ImageOps

from consent.wording import N_

ALLOWED_FORMATS = {"JPEG", "MPO", "PNG", "WEBP", "HEIF"}
# Pillow's JPEG opener also yields MPO: these are the openers to try, ALLOWED_FORMATS the results.
OPENERS = ("JPEG", "PNG", "WEBP", "HEIF")
# 48 MP is the largest a phone or tablet camera writes by default (8064×6048). Above it a file is
# refused before decoding: a 58 KB PNG of 7745×7745 cost 12 s and 1.1 GB to decode (issue 15).
# Decoding 48 MP to RGB holds about 144 MB per copy, so one screening stays well under 1 GB.
MAX_PIXELS = 48_000_000
WHITE = (255, 255, 255)
# Pillow's JPEG draft only scales by 1/2, 1/4 or 1/8: accept a draft whose long side falls short
# of max_side by up to this fraction, or a 4032 px photo would be decoded in full to make 2048 px.
DRAFT_SHORTFALL = 0.1
DEEP_GREY_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
SIXTEEN_BIT_MAX = 65535
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
ICC_MODES = {"RGB", "RGBA", "CMYK", "L"}
# Pillow's two-step resize (box reduce, then Lanczos) is close to pure Lanczos and much faster.
RESIZE_REDUCING_GAP = 3.0

# No thumbnail, depth map or auxiliary image of a HEIC is ever decoded: only the primary image.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
Image.init()  # Image.open(formats=...) looks plugins up by name; MPO and WEBP load lazily.
# Pillow's own bomb check (a warning above this, an error above twice this) for every opener in
# the process, thumbnails and sanitising included, not only the checks below.
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


class ImageRefused(ValueError):
    """One-line reason fit to show a teacher."""


class Decoded(NamedTuple):
    """A decoded upright image and the upright size of the original before any downscaling."""

    image: Image.Image
    original_size: tuple[int, int]


def decode_upright(
    data: bytes, *, max_pixels: int = MAX_PIXELS, max_side: int | None = None
) -> Image.Image:
    """Decode an upload to a loaded RGB sRGB image with EXIF orientation applied, or refuse."""
    image = decode(data, max_pixels=max_pixels, draft_side=max_side).image
    return image if max_side is None else shrink(image, max_side)


def decode(
    data: bytes, *, max_pixels: int = MAX_PIXELS, draft_side: int | None = None
) -> Decoded:
    """Decode like decode_upright, but only as far down as the decoder scales for free (JPEG)."""
    if draft_side is not None and draft_side < 1:
        raise ValueError(f"draft_side must be at least 1, not {draft_side}")
    if not data:
        raise ImageRefused(N_("The file is empty."))
    try:
        return _decode(data, max_pixels, draft_side)
    except ImageRefused:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives as an exception only where warnings are errors; _check_pixels
        # refuses anyway, whatever the process's warning filters say.
        raise ImageRefused(N_("The picture is too large: the most accepted is %(max)d MP. Export "
                              "it smaller.", max=round(max_pixels / 1e6))) from exc
    except Exception as exc:  # noqa: BLE001 - hostile bytes reach many decoder paths; fail closed
        raise ImageRefused(N_("The file is damaged or incomplete and could not be read.")) from exc


def shrink(img: Image.Image, max_side: int) -> Image.Image:
    """Resize so the long side is at most max_side; smaller images are returned as they are."""
    if max_side < 1:
        raise ValueError(f"max_side must be at least 1, not {max_side}")
    scale = max_side / max(img.size)
    if scale >= 1:
        return img
    size = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    return img.resize(size, Image.Resampling.LANCZOS, reducing_gap=RESIZE_REDUCING_GAP)


def _decode(data: bytes, max_pixels: int, draft_side: int | None) -> Decoded:
    # Importing face_recognition sets this for the whole process: a half-uploaded JPEG would then
    # decode with grey where the faces were. Decoding must fail closed, whoever imported what.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    img = _open(data)
    _check_single_frame(img)
    _check_pixels(img, max_pixels)
    original_size = _upright_size(img)
    if draft_side is not None:
        _draft(img, draft_side)
    img.load()
    img = _to_srgb_rgb(ImageOps.exif_transpose(img))
    img.info = {}
    return Decoded(img, original_size)


def _open(data: bytes) -> Image.Image:
    try:
        with warnings.catch_warnings():
            # Between MAX_PIXELS and twice that Pillow only warns: _check_pixels refuses with the
            # size in the reason. Above twice that Pillow raises before the size is known.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=OPENERS)
    except Image.UnidentifiedImageError as exc:
        raise ImageRefused(N_("This is not a photo we accept (JPEG, PNG, WebP or HEIC).")) from exc
    if img.format not in ALLOWED_FORMATS:
        raise ImageRefused(N_("%(format)s files are not accepted: use JPEG, PNG, WebP or HEIC.",
                              format=img.format))
    return img


def _check_single_frame(img: Image.Image) -> None:
    # An MPO's extra frames are a second lens or a preview; the first frame is the photo.
    if img.format != "MPO" and getattr(img, "n_frames", 1) > 1:
        raise ImageRefused(N_("Animated or multi-picture files are not accepted."))


def too_many_pixels(width: int, height: int, max_pixels: int = MAX_PIXELS) -> str:
    """The reason a picture of this size is refused, fit to show a teacher."""
    return N_("The picture is too large (%(w)d×%(h)d, %(mp)d MP): the most accepted is %(max)d MP. "
              "Export it smaller.", w=width, h=height, mp=round(width * height / 1e6),
              max=round(max_pixels / 1e6))


def _check_pixels(img: Image.Image, max_pixels: int) -> None:
    width, height = img.size
    if width < 1 or height < 1 or width * height > max_pixels:
        raise ImageRefused(too_many_pixels(width, height, max_pixels))


def _upright_size(img: Image.Image) -> tuple[int, int]:
    width, height = img.size
    # Orientations 5 to 8 turn the picture a quarter: width and height swap.
    if img.getexif().get(0x0112, 1) in (5, 6, 7, 8):
        return height, width
    return width, height


def _draft(img: Image.Image, max_side: int) -> None:
    """Let the JPEG decoder scale down by DCT while keeping the long side near max_side."""
    if img.format not in ("JPEG", "MPO"):
        return
    scale = max_side * (1 - DRAFT_SHORTFALL) / max(img.size)
    if scale < 1:
        img.draft(img.mode, (math.ceil(img.width * scale), math.ceil(img.height * scale)))


def _to_srgb_rgb(img: Image.Image) -> Image.Image:
    if img.mode in DEEP_GREY_MODES:
        img = _deep_grey_to_l(img)
    img = _apply_icc(img)
    if img.mode in ALPHA_MODES or "transparency" in img.info:
        return _flatten_on_white(img)
    return img if img.mode == "RGB" else img.convert("RGB")


def _deep_grey_to_l(img: Image.Image) -> Image.Image:
    """Scale 16-bit (or float 0..1) greyscale to 8 bits; Pillow's convert would clip to white."""
    values = np.asarray(img, dtype=np.float64)
    full_scale = 1.0 if img.mode == "F" else SIXTEEN_BIT_MAX
    scaled = np.clip(values * (255.0 / full_scale), 0, 255).round().astype(np.uint8)
    return Image.fromarray(scaled)  # 2-D uint8: mode L


def _apply_icc(img: Image.Image) -> Image.Image:
    """Convert pixels described by an embedded ICC profile (e.g. Display P3) to sRGB."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in ICC_MODES:
        return img
    out_mode = "RGBA" if img.mode == "RGBA" else "RGB"
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return ImageCms.profileToProfile(img, source, _SRGB, outputMode=out_mode)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A broken or mismatched profile changes only colour, never what is shown: treat as sRGB.
        return img


def _flatten_on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    background = Image.new("RGBA", rgba.size, WHITE + (255,))
    return Image.alpha_composite(background, rgba).convert("RGB")
