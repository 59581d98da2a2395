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


def face_region(box: Sequence[int], width: int, height: int,
                margin: float = FACE_CROP_MARGIN) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) of the face in `box` (top, right, bottom, left) with `margin`
    of its size around it, inside a picture of width x height."""
    top, right, bottom, left = box
    pad_y, pad_x = int((bottom - top) * margin), int((right - left) * margin)
    return (max(0, left - pad_x), max(0, top - pad_y),
            min(width, right + pad_x), min(height, bottom + pad_y))


def face_crop(data: bytes, box: Sequence[int], side: int = FACE_CROP_SIDE) -> bytes:
    """The face in `box` (top, right, bottom, left of the upright original) with some context,
    at most `side` px, as a JPEG made from pixels alone (no metadata)."""
    image = decode_upright(data)
    return clean_jpeg(shrink(image.crop(face_region(box, image.width, image.height)), side))


def portrait(data: bytes, side: int = FACE_CROP_SIDE) -> bytes:
    """A whole (reference) photo, upright, at most `side` px, as a clean JPEG."""
    return clean_jpeg(shrink(decode_upright(data), side))


def clean_jpeg(image: Image.Image, quality: int = CROP_QUALITY) -> bytes:
    out = io.BytesIO()
    Image.fromarray(np.asarray(image.convert("RGB"))).save(out, "JPEG", quality=quality)
    return out.getvalue()
