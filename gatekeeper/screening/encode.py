"""128-d face encodings (dlib's face recognition network, as face_recognition computes them) at
boxes found by our detector.

Each face is aligned as face_recognition does it: dlib's five-point landmarks in a crop around the
box, then dlib's 150 px chip. The network itself runs on onnxruntime (screening/dlib_resnet.py),
eight times faster than dlib's own CPU code and identical to it; every face of a photo goes through
it in one run. face_recognition itself is not imported (see DESIGN.md for the two process-wide
traps of that import); its model files are read from face_recognition_models.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

from consent.wording import N_
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.detect import as_image
from gatekeeper.screening.dlib_resnet import CHIP_SIDE, encode_chips, face_models

Box = tuple[int, int, int, int]  # top, right, bottom, left in pixels of the image given
Pixels = np.ndarray | Image.Image  # upright RGB: HxWx3 uint8 array or RGB PIL image

# Context kept around a face when cropping it for the encoder (dlib's chip pads the box by 25%).
CROP_MARGIN = 0.5
# dlib's chip around the five landmarks: face_recognition's (compute_face_descriptor's) padding.
CHIP_PADDING = 0.25


@cache
def _landmarks():
    """dlib's five-point landmark model (face_recognition's "small" pose model)."""
    import dlib

    return dlib.shape_predictor(face_models().pose_predictor_five_point_model_location())


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


def _chip(image: Image.Image, box: Box) -> np.ndarray:
    """The face aligned as face_recognition aligns it before encoding: landmarks, then chip."""
    import dlib

    crop, (top, right, bottom, left) = _face_crop(image, box)
    shape = _landmarks()(crop, dlib.rectangle(left, top, right, bottom))
    return dlib.get_face_chip(crop, shape, size=CHIP_SIDE, padding=CHIP_PADDING)


def encode_face(pixels: Pixels, box: Box) -> np.ndarray:
    """The 128-d encoding of the face in `box` (pixels of the full-resolution image)."""
    return encode_chips([_chip(as_image(pixels), box)])[0]


def encode_faces(pixels: Pixels, boxes: list[Box]) -> list[np.ndarray | None]:
    """One encoding per box, None where the face is too small or blurred to encode (unknown);
    the faces that can be encoded go through the network together."""
    image = as_image(pixels)
    fit = [not encodable(image, box, t.MIN_ENCODE_FACE_PX, t.MIN_ENCODE_SHARPNESS)
           for box in boxes]
    chips = [_chip(image, box) for box, ok in zip(boxes, fit, strict=True) if ok]
    encoded = iter(encode_chips(chips))
    return [next(encoded) if ok else None for ok in fit]
