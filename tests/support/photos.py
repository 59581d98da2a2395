"""Synthetic group photos for tests and the screening bench: real head crops pasted at chosen face
sizes on a plain background, with the box of every face known."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from gatekeeper.screening.detect import detect_faces

HEAD_MARGIN = 0.5  # context kept around a reference face when it is pasted into a group photo


def head_crop(rgb: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The largest face of `rgb` with some context, and the face box inside the crop."""
    face = max(detect_faces(rgb), key=lambda d: d.height)
    pad_y = int(face.height * HEAD_MARGIN)
    pad_x = int((face.right - face.left) * HEAD_MARGIN)
    y0, x0 = max(0, face.top - pad_y), max(0, face.left - pad_x)
    crop = rgb[y0 : face.bottom + pad_y, x0 : face.right + pad_x]
    return crop, (face.top - y0, face.right - x0, face.bottom - y0, face.left - x0)


def compose_group(heads, face_heights, size=(4032, 3024), seed=0):
    """A synthetic group photo: head crops scaled to the given face heights on a gradient,
    without overlap. Returns the RGB array and each face's (top, right, bottom, left) box."""
    rng = np.random.default_rng(seed)
    width, height = size
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack(
        [90 + xx * 60 // width, 100 + yy * 60 // height, np.full_like(xx, 120)], axis=-1
    )
    canvas = Image.fromarray(background.astype(np.uint8))
    taken, boxes = [], []
    for (crop, (top, right, bottom, left)), face_height in zip(heads, face_heights, strict=False):
        scale = face_height / (bottom - top)
        head = Image.fromarray(crop).resize(
            (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
            Image.Resampling.LANCZOS,
        )
        x, y = _free_spot(rng, taken, head.size, size)
        canvas.paste(head, (x, y))
        taken.append((x, y, x + head.width, y + head.height))
        boxes.append(tuple(round(v) for v in (
            y + top * scale, x + right * scale, y + bottom * scale, x + left * scale)))
    return np.asarray(canvas), boxes


def _free_spot(rng, taken, head_size, size, tries=500):
    """A random top-left corner where the head overlaps no other head already placed."""
    w, h = head_size
    for _ in range(tries):
        x, y = int(rng.integers(0, size[0] - w)), int(rng.integers(0, size[1] - h))
        if all(x + w < a or c < x or y + h < b or d < y for a, b, c, d in taken):
            return x, y
    raise ValueError("no room left on the canvas for another head")


def group_jpeg(heads, face_heights, size=(1600, 1200), seed=0, quality=90):
    """compose_group as the bytes of a JPEG a tablet would upload, with the faces' boxes."""
    rgb, boxes = compose_group(heads, face_heights, size=size, seed=seed)
    out = io.BytesIO()
    Image.fromarray(rgb).save(out, "JPEG", quality=quality)
    return out.getvalue(), boxes


def load_rgb(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))
