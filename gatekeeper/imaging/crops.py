"""Small pictures of one face, for a person comparing faces: bytes in, clean JPEG bytes out."""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image

from gatekeeper.imaging.decode import decode_upright, shrink

FACE_CROP_SIDE = 240  # px: large enough to tell two children apart on a tablet
FACE_CROP_MARGIN = 0.35  # of the box's size, kept around the face: hair and ears help a person
CROP_QUALITY = 85


def face_crop(data: bytes, box: Sequence[int], side: int = FACE_CROP_SIDE) -> bytes:
    """The face in `box` (top, right, bottom, left of the upright original) with some context,
    at most `side` px, as a JPEG made from pixels alone (no metadata)."""
    image = decode_upright(data)
    top, right, bottom, left = box
    pad_y, pad_x = int((bottom - top) * FACE_CROP_MARGIN), int((right - left) * FACE_CROP_MARGIN)
    crop = image.crop((max(0, left - pad_x), max(0, top - pad_y),
                       min(image.width, right + pad_x), min(image.height, bottom + pad_y)))
    return clean_jpeg(shrink(crop, side))


def portrait(data: bytes, side: int = FACE_CROP_SIDE) -> bytes:
    """A whole (reference) photo, upright, at most `side` px, as a clean JPEG."""
    return clean_jpeg(shrink(decode_upright(data), side))


def clean_jpeg(image: Image.Image, quality: int = CROP_QUALITY) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.asarray(image.convert("RGB"))).save(out, "JPEG", quality=quality)
    return out.getvalue()
