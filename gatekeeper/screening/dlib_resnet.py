"""dlib's face recognition ResNet (the 128-d encoding face_recognition computes), run on
onnxruntime instead of dlib's own CPU code, which the prebuilt dlib wheel runs without BLAS.

The weights are read from the file face_recognition_models installs
(dlib_face_recognition_resnet_model_v1.dat) by our own reader of dlib's serialisation, and the
network is built as an ONNX graph in memory the first time a process needs it (about a second):
nothing is downloaded, written or committed. The graph is the one dlib's example declares
(dnn_face_recognition_ex.cpp): a 7x7 convolution, max pooling, 14 residual blocks, average pooling
over the whole map and a 128-wide layer without bias; each convolution's following `affine` layer
is folded into it. Where dlib adds two maps of different sizes (a residual block's shortcut after
a stride-2 block) it pads the smaller with zeros at the end, as dlib's `add_prev` does. The unit
test checks the output against dlib's own on real faces (identical to 1e-5).

Pixels in (aligned 150x150 chips from dlib.get_face_chip), encodings out: nothing here decides.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cache
from itertools import count

import numpy as np

from gatekeeper.screening.detect import ORT_LOG_ERRORS_ONLY

# Tags dlib writes before each layer's fields, for the versions in the published model file.
CONV, AFFINE, FC, INPUT = "con_4", "affine_", "fc_2", "input_rgb_image_sized"
TENSOR_VERSION, ALIAS_VERSION = 2, 1
CONV_MODE = 0  # dlib's layer_mode: one scale and shift per channel
ENCODING_SIZE = 128
CHIP_SIDE = 150  # the aligned face the network takes (input_rgb_image_sized<150>)
# Residual stages from the input: (blocks, of which the first halves the map). dlib's example:
# alevel4 (3 x 32), alevel3 (down + 3 x 64), alevel2 (down + 2 x 128), alevel1 (down + 2 x 256),
# alevel0 (down, 256).
STAGES = ((3, False), (4, True), (3, True), (3, True), (1, True))
CONVOLUTIONS = 1 + 2 * sum(blocks for blocks, _ in STAGES)  # 29
OPSET = 13


class ModelFileError(ValueError):
    """The model file is not the network this code reads; the message says what differs."""


class _Reader:
    """dlib's serialisation: integers as a length byte (0x80: negative) and little-endian bytes,
    strings as a length and bytes, floats as mantissa and exponent, tensors as version, shape and
    little-endian float32s, alias tensors (views into a layer's `params`) as version and shape."""

    def __init__(self, data: bytes, position: int) -> None:
        self.data, self.position = data, position

    def integer(self) -> int:
        if self.position >= len(self.data):
            raise ModelFileError("the model file ends inside a layer")
        head = self.data[self.position]
        size = head & 0x0F
        value = int.from_bytes(self.data[self.position + 1: self.position + 1 + size], "little")
        self.position += 1 + size
        return -value if head & 0x80 else value

    def string(self) -> str:
        size = self.integer()
        text = self.data[self.position: self.position + size].decode("latin-1")
        self.position += size
        return text

    def real(self) -> float:
        mantissa, exponent = self.integer(), self.integer()
        return mantissa * 2.0 ** exponent

    def tensor(self) -> np.ndarray:
        if self.integer() != TENSOR_VERSION:
            raise ModelFileError("unexpected tensor version")
        shape = [self.integer() for _ in range(4)]
        count = int(np.prod(shape))
        if count < 0 or self.position + 4 * count > len(self.data):
            raise ModelFileError("a tensor runs past the end of the model file")
        values = np.frombuffer(self.data, "<f4", count, self.position).astype(np.float32)
        self.position += 4 * count
        return values

    def alias(self) -> int:
        if self.integer() != ALIAS_VERSION:
            raise ModelFileError("unexpected alias tensor version")
        return int(np.prod([self.integer() for _ in range(4)]))


def _layers(data: bytes, tag: str) -> list[_Reader]:
    """A reader at each layer with this tag, in file order (dlib writes the input's side first)."""
    key = bytes([1, len(tag)]) + tag.encode()
    found, start = [], 0
    while (at := data.find(key, start)) >= 0:
        reader = _Reader(data, at)
        reader.string()
        found.append(reader)
        start = at + len(key)
    return found


@dataclass(frozen=True)
class Convolution:
    weights: np.ndarray  # filters x channels x rows x columns, the affine layer folded in
    bias: np.ndarray
    stride: int
    padding: int


@dataclass(frozen=True)
class Network:
    convolutions: list[Convolution]
    projection: np.ndarray  # 256 x 128: the last layer, without bias
    channel_means: tuple[float, float, float]  # subtracted from R, G, B (0-255), then / 256


def read_network(data: bytes) -> Network:
    """The network's weights from the bytes of dlib_face_recognition_resnet_model_v1.dat."""
    convolutions, affines = _layers(data, CONV), _layers(data, AFFINE)
    if len(convolutions) != CONVOLUTIONS or len(affines) != CONVOLUTIONS:
        raise ModelFileError(f"expected {CONVOLUTIONS} convolutions each followed by an affine "
                             f"layer, found {len(convolutions)} and {len(affines)}")
    layers = [_convolution(c, a) for c, a in zip(convolutions, affines, strict=True)]
    [fc] = _layers(data, FC) or [None]
    [image] = _layers(data, INPUT) or [None]
    if fc is None or image is None:
        raise ModelFileError("the model file has no final layer or no input layer")
    outputs, inputs = fc.integer(), fc.integer()
    params = fc.tensor()
    if outputs != ENCODING_SIZE or params.size < inputs * outputs:
        raise ModelFileError(f"the final layer gives {outputs} values, not {ENCODING_SIZE}")
    means = (image.real(), image.real(), image.real())
    rows, columns = image.integer(), image.integer()
    if (rows, columns) != (CHIP_SIDE, CHIP_SIDE):
        raise ModelFileError(f"the input is {rows}x{columns}, not {CHIP_SIDE}x{CHIP_SIDE}")
    return Network(layers, params[: inputs * outputs].reshape(inputs, outputs), means)


def _convolution(conv: _Reader, affine: _Reader) -> Convolution:
    params = conv.tensor()
    filters, rows, columns = conv.integer(), conv.integer(), conv.integer()
    stride_y, stride_x, padding_y, padding_x = (conv.integer() for _ in range(4))
    weights_size, bias_size = conv.alias(), conv.alias()
    if (stride_y, padding_y) != (stride_x, padding_x) or bias_size != filters:
        raise ModelFileError("a convolution is not square or has no bias per filter")
    weights = params[:weights_size].reshape(filters, -1, rows, columns)
    bias = params[weights_size: weights_size + filters]
    scale_shift = affine.tensor()
    channels = affine.alias()
    affine.alias()
    if affine.integer() != CONV_MODE or channels != filters:
        raise ModelFileError("an affine layer does not scale the convolution's channels")
    gamma, beta = scale_shift[:channels], scale_shift[channels: 2 * channels]
    return Convolution((weights * gamma[:, None, None, None]).astype(np.float32),
                       (bias * gamma + beta).astype(np.float32), stride_y, padding_y)


def to_onnx(network: Network) -> bytes:
    """The network as an ONNX model: float32 chips (n x 3 x CHIP_SIDE x CHIP_SIDE, RGB 0-255)
    in, encodings (n x 128) out."""
    from onnx import TensorProto, helper, numpy_helper

    nodes, weights = [], []
    names = count()

    def constant(value, dtype=np.float32) -> str:
        name = f"c{next(names)}"
        weights.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(op: str, inputs: list[str], **attributes) -> str:
        out = f"n{next(names)}"
        nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    def conv(x: str, shape: tuple[int, int], layer: Convolution) -> tuple[str, tuple[int, int]]:
        k = layer.weights.shape[2]
        out = node("Conv", [x, constant(layer.weights), constant(layer.bias)],
                   kernel_shape=[k, k], strides=[layer.stride] * 2, pads=[layer.padding] * 4)
        side = (shape[1] + 2 * layer.padding - k) // layer.stride + 1
        return out, (layer.weights.shape[0], side)

    def pool(op: str, x: str, shape: tuple[int, int], k: int) -> tuple[str, tuple[int, int]]:
        out = node(op, [x], kernel_shape=[k, k], strides=[2, 2])
        return out, (shape[0], (shape[1] - k) // 2 + 1)

    def add(a: str, a_shape, b: str, b_shape) -> tuple[str, tuple[int, int]]:
        """dlib's add_prev: the larger of each dimension, the smaller map padded with zeros."""
        target = (max(a_shape[0], b_shape[0]), max(a_shape[1], b_shape[1]))

        def padded(x, shape):
            if shape == target:
                return x
            grow = [0, 0, 0, 0, 0, target[0] - shape[0], target[1] - shape[1],
                    target[1] - shape[1]]
            return node("Pad", [x, constant(grow, np.int64)])

        return node("Add", [padded(a, a_shape), padded(b, b_shape)]), target

    layers = iter(network.convolutions)

    def block(x: str, shape, down: bool):
        y, y_shape = conv(x, shape, next(layers))
        y, y_shape = conv(node("Relu", [y]), y_shape, next(layers))
        if down:
            x, shape = pool("AveragePool", x, shape, 2)
        out, out_shape = add(y, y_shape, x, shape)
        return node("Relu", [out]), out_shape

    means = np.array(network.channel_means, np.float32).reshape(1, 3, 1, 1)
    x = node("Div", [node("Sub", ["chips", constant(means)]), constant(256.0)])
    x, shape = conv(x, (3, CHIP_SIDE), next(layers))
    x, shape = pool("MaxPool", node("Relu", [x]), shape, 3)
    for blocks, first_halves in STAGES:
        for i in range(blocks):
            x, shape = block(x, shape, first_halves and i == 0)
    pooled = node("Flatten", [node("GlobalAveragePool", [x])])
    nodes.append(helper.make_node("MatMul", [pooled, constant(network.projection)], ["encodings"]))
    graph = helper.make_graph(
        nodes, "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.FLOAT,
                                       ["n", 3, CHIP_SIDE, CHIP_SIDE])],
        [helper.make_tensor_value_info("encodings", TensorProto.FLOAT, ["n", ENCODING_SIZE])],
        weights)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    return model.SerializeToString()


def face_models():
    """The face_recognition_models package (its model files), imported without the deprecation
    notice its import of pkg_resources prints."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import face_recognition_models
    return face_recognition_models


@cache
def _session():
    """The network on onnxruntime, one thread (screening runs one photo per worker process)."""
    import onnxruntime as ort

    with open(face_models().face_recognition_model_location(), "rb") as model_file:
        network = read_network(model_file.read())
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = ORT_LOG_ERRORS_ONLY
    return ort.InferenceSession(to_onnx(network), options, providers=["CPUExecutionProvider"])


def encode_chips(chips: list[np.ndarray]) -> np.ndarray:
    """The 128-d encodings (float64, as face_recognition returns them) of aligned RGB chips."""
    if not chips:
        return np.empty((0, ENCODING_SIZE))
    batch = np.stack([np.asarray(c, np.float32).transpose(2, 0, 1) for c in chips])
    return _session().run(None, {"chips": batch})[0].astype(np.float64)
