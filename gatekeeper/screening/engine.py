"""Photo analysis: decoded pixels in, face boxes and encodings out. No Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from gatekeeper.screening import thresholds as t
from gatekeeper.screening.detect import as_image, detect_faces
from gatekeeper.screening.encode import encodable, encode_face, encode_faces


@dataclass(frozen=True)
class Box:
    """A face box in pixels of the upright (orientation-applied) original."""

    top: int
    right: int
    bottom: int
    left: int

    def as_list(self) -> list[int]:
        return [self.top, self.right, self.bottom, self.left]

    @property
    def height(self) -> int:
        return self.bottom - self.top


@dataclass
class DetectedFace:
    box: Box
    score: float
    encoding: np.ndarray | None  # None: too small or blurred to encode, so unknown


@dataclass
class Analysis:
    width: int
    height: int
    faces: list[DetectedFace]


class ReferenceRefused(ValueError):
    """A reference (enrolment) photo that cannot be used; the message is a one-line reason."""


def analyse_array(rgb: np.ndarray) -> Analysis:
    """Detect and encode every face of an upright RGB uint8 HxWx3 array."""
    return analyse_image(as_image(rgb))


def analyse_image(image: Image.Image) -> Analysis:
    """Detect and encode every face of an upright RGB image."""
    detections = detect_faces(image)
    boxes = [Box(d.top, d.right, d.bottom, d.left) for d in detections]
    encodings = encode_faces(image, [tuple(b.as_list()) for b in boxes])
    faces = [DetectedFace(b, d.score, e) for b, d, e in zip(boxes, detections, encodings)]
    return Analysis(width=image.width, height=image.height, faces=faces)


def _decode(data: bytes) -> Image.Image:
    """Upright RGB image of an uploaded file; raises gatekeeper.images.ImageRefused."""
    from gatekeeper.images import decode_upright  # imported when first used

    return decode_upright(data)


def analyse_bytes(data: bytes) -> Analysis:
    """Decode (fail closed, orientation applied) and analyse an uploaded photo."""
    return analyse_image(_decode(data))


def reference_encoding(data: bytes) -> np.ndarray:
    """The encoding of the one face in an enrolment photo, or ReferenceRefused with the reason."""
    return reference_encoding_of_array(_decode(data))


def reference_encoding_of_array(pixels: np.ndarray | Image.Image) -> np.ndarray:
    """As reference_encoding, for decoded upright RGB pixels."""
    image = as_image(pixels)
    detections = detect_faces(image)
    if not detections:
        raise ReferenceRefused("no face found")
    if len(detections) > 1:
        raise ReferenceRefused(
            f"{len(detections)} faces found: a reference photo must show only the pupil"
        )
    face = detections[0]
    box = (face.top, face.right, face.bottom, face.left)
    reason = encodable(image, box, t.MIN_REFERENCE_FACE_PX, t.MIN_REFERENCE_SHARPNESS)
    if reason:
        raise ReferenceRefused(reason)
    return encode_face(image, box)
