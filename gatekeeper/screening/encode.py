"""128-d face encodings with face_recognition (dlib) at boxes found by our detector.

face_recognition is imported lazily, once per process, through `_face_recognition()`, which
undoes the two process-wide traps of that import (see DESIGN.md).
"""

from __future__ import annotations

import warnings
from functools import cache

import numpy as np
from PIL import Image, ImageFile

from consent.wording import N_
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.detect import as_image

Box = tuple[int, int, int, int]  # top, right, bottom, left in pixels of the image given
Pixels = np.ndarray | Image.Image  # upright RGB: HxWx3 uint8 array or RGB PIL image

# Context kept around a face when cropping it for the encoder (dlib's chip pads the box by 25%).
CROP_MARGIN = 0.5


@cache
def _face_recognition():
    """face_recognition, imported so that a missing model fails loudly and Pillow stays strict."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pkg_resources deprecation notice from the models package
        # Imported first on purpose: when it fails, face_recognition calls quit() (exit status 0).
        import face_recognition_models  # noqa: F401

        try:
            import face_recognition
        except SystemExit as exc:
            raise ImportError("face_recognition could not load its models") from exc

    # face_recognition turns this on for the whole process; truncated uploads must fail closed.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    return face_recognition


def sharpness(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a greyscale array (higher is sharper)."""
    g = grey.astype(np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]
    return float(lap.var()) if lap.size else 0.0


def face_sharpness(pixels: Pixels, box: Box) -> float:
    """Sharpness of the face inside `box`, measured at a fixed size so faces compare."""
    top, right, bottom, left = box
    face = as_image(pixels).crop((left, top, right, bottom)).convert("L")
    side = t.SHARPNESS_SIDE
    return sharpness(np.asarray(face.resize((side, side), Image.Resampling.BILINEAR)))


def _face_crop(image: Image.Image, box: Box) -> tuple[np.ndarray, Box]:
    """The face with some context, at most ENCODE_MAX_FACE_PX tall, and the box inside it."""
    top, right, bottom, left = box
    pad_y, pad_x = int((bottom - top) * CROP_MARGIN), int((right - left) * CROP_MARGIN)
    y0, x0 = max(0, top - pad_y), max(0, left - pad_x)
    crop = image.crop((x0, y0, min(image.width, right + pad_x), min(image.height, bottom + pad_y)))
    scale = min(1.0, t.ENCODE_MAX_FACE_PX / max(1, bottom - top))
    inner = (top - y0, right - x0, bottom - y0, left - x0)
    if scale == 1.0:
        return np.asarray(crop), inner
    # Anti-aliased downscale: dlib samples its 150 px chip without low-pass filtering.
    size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
    small = crop.resize(size, Image.Resampling.BOX)
    return np.asarray(small), tuple(round(v * scale) for v in inner)


def encodable(pixels: Pixels, box: Box, min_px: int, min_sharpness: float) -> str | None:
    """Why the face in `box` cannot be encoded reliably, or None when it can."""
    height = box[2] - box[0]
    if height < min_px:
        return N_("face too small (%(px)d px; at least %(min)d px)", px=height, min=min_px)
    if face_sharpness(pixels, box) < min_sharpness:
        return N_("too blurred")
    return None


def encode_face(pixels: Pixels, box: Box) -> np.ndarray:
    """The 128-d encoding of the face in `box` (pixels of the full-resolution image)."""
    crop, inner = _face_crop(as_image(pixels), box)
    encodings = _face_recognition().face_encodings(
        crop, known_face_locations=[inner], num_jitters=t.ENCODING_JITTERS, model=t.ENCODING_MODEL
    )
    return np.asarray(encodings[0], dtype=np.float64)


def encode_faces(pixels: Pixels, boxes: list[Box]) -> list[np.ndarray | None]:
    """One encoding per box, None where the face is too small or blurred to encode (unknown)."""
    image = as_image(pixels)
    return [
        None
        if encodable(image, box, t.MIN_ENCODE_FACE_PX, t.MIN_ENCODE_SHARPNESS)
        else encode_face(image, box)
        for box in boxes
    ]
