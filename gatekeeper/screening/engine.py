"""Photo analysis: decoded pixels in, face boxes and both embeddings out. No Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from consent.wording import N_
from gatekeeper.imaging.decode import decode_upright
from gatekeeper.screening import thresholds as t
from gatekeeper.screening.detect import Detection, as_image, find_faces
from gatekeeper.screening.embed import embed_faces
from gatekeeper.screening.encode import encodable, encode_faces
from gatekeeper.screening.rule import FaceVectors


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
    embedding: np.ndarray | None = None  # MobileFaceNet's, for every face with an encoding

    @property
    def vectors(self) -> FaceVectors | None:
        """What the rule matches: None for a face that could not be encoded."""
        return None if self.encoding is None else FaceVectors(self.encoding, self.embedding)


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
    return Analysis(width=image.width, height=image.height, faces=_faces(image))


def _faces(image: Image.Image, *, reference: bool = False) -> list[DetectedFace]:
    """Every face found, encoded, best score first. A doubt (a box that may be a face found
    twice, or a second face overlapping it) is never dropped from a screened photo: it is a
    face of its own unless the encoder sees the same face in both boxes, and then it is unknown
    (the other face may be hidden from the encoder: a person looks). In a reference photo the
    encoder seeing one face in both boxes makes them one face."""
    found = find_faces(image)
    faces = _encoded(image, found.faces + [box for box, _ in found.doubts])
    kept = faces[: len(found.faces)]
    for (_, of), doubt in zip(found.doubts, faces[len(found.faces) :], strict=True):
        if not same_face(doubt.encoding, kept[of].encoding):
            kept.append(doubt)
        elif not reference:
            kept.append(replace(doubt, encoding=None, embedding=None))
    return sorted(kept, key=lambda face: -face.score)


def _encoded(image: Image.Image, detections: list[Detection]) -> list[DetectedFace]:
    """The detections with both embeddings (None: too small or blurred to encode). The
    MobileFaceNet faces are aligned by their landmarks and embedded in one network run."""
    boxes = [Box(d.top, d.right, d.bottom, d.left) for d in detections]
    encodings = encode_faces(image, [tuple(b.as_list()) for b in boxes])
    encoded = [d.landmarks for d, e in zip(detections, encodings, strict=True) if e is not None]
    embedded = iter(embed_faces(image, encoded))
    return [
        DetectedFace(b, d.score, e, None if e is None else next(embedded))
        for b, d, e in zip(boxes, detections, encodings, strict=True)
    ]


def same_face(encoding: np.ndarray | None, of: np.ndarray | None) -> bool:
    """Whether the encoder sees one face in a doubt's box and in the box of the face it may
    repeat: both encoded, within DOUBT_SAME_FACE_DISTANCE."""
    if encoding is None or of is None:
        return False
    return float(np.linalg.norm(encoding - of)) <= t.DOUBT_SAME_FACE_DISTANCE


def _decode(data: bytes) -> Image.Image:
    """Upright RGB image of an uploaded file; raises gatekeeper.imaging.decode.ImageRefused."""

    return decode_upright(data)


def analyse_bytes(data: bytes) -> Analysis:
    """Decode (fail closed, orientation applied) and analyse an uploaded photo."""
    return analyse_image(_decode(data))


def reference_vectors(data: bytes) -> FaceVectors:
    """The vectors of the one face in an enrolment photo, or ReferenceRefused with the reason."""
    return reference_vectors_of_array(_decode(data))


def reference_vectors_of_array(pixels: np.ndarray | Image.Image) -> FaceVectors:
    """As reference_vectors, for decoded upright RGB pixels."""
    image = as_image(pixels)
    faces = _faces(image, reference=True)
    if not faces:
        raise ReferenceRefused(N_("no face found"))
    if len(faces) > 1:
        raise ReferenceRefused(
            N_("%(n)d faces found: a reference photo must show only the pupil", n=len(faces))
        )
    [face] = faces
    reason = encodable(image, tuple(face.box.as_list()), t.MIN_REFERENCE_FACE_PX,
                       t.MIN_REFERENCE_SHARPNESS)
    if reason:
        raise ReferenceRefused(reason)
    # The stricter reference checks passed, so the screening checks did: it is encoded.
    return face.vectors
