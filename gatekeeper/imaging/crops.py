"""Where a face's picture is cut: the region of a face box with some context around it."""

from __future__ import annotations

from collections.abc import Sequence

FACE_CROP_SIDE = 240  # px: a face shown to a person comparing faces, large enough to tell apart
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
