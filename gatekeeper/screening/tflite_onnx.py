"""TFLite to ONNX, for exactly the float ops of the MobileFaceNet face embedding model.

The TFLite flatbuffer is read with the `tflite` schema package and the ONNX graph built with
onnx.helper. TFLite keeps activations NHWC and ONNX convolutions want NCHW: the graph transposes
its input once, works in NCHW (per-channel constants become C x 1 x 1), and transposes back
before the final reshape. Its batch is symbolic (the file fixes 2). Anything else this converter
has not been written for (another op, a quantised tensor, a fused activation other than ReLU,
a dilated convolution) is refused with UnsupportedModel, never converted approximately.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
import tflite
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
INPUT_NAME = "input"
OUTPUT_NAME = "embeddings"
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)

_OP_NAMES = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_ACTIVATIONS = {tflite.ActivationFunctionType.NONE: None,
                tflite.ActivationFunctionType.RELU: "Relu"}
_ELEMENTWISE = {"ADD": ("Add", tflite.AddOptions), "SUB": ("Sub", tflite.SubOptions),
                "MUL": ("Mul", tflite.MulOptions)}
_UNARY = {"RELU": "Relu", "ABS": "Abs"}


class UnsupportedModel(ValueError):
    """The TFLite file uses something this converter does not handle; the message says what."""


@dataclass
class _Builder:
    """The ONNX graph under construction, and what each TFLite tensor has become in it."""

    model: tflite.Model
    graph: tflite.SubGraph
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    names: dict[int, str] = field(default_factory=dict)  # activation tensor -> ONNX name (NCHW)
    flat: set[int] = field(default_factory=set)  # reshaped: no longer NCHW, only the output
    count: int = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def tensor(self, index: int) -> tflite.Tensor:
        return self.graph.Tensors(index)

    def shape(self, index: int) -> list[int]:
        return self.tensor(index).ShapeAsNumpy().tolist()

    def constant(self, index: int) -> np.ndarray | None:
        """The tensor's stored value, or None when it is computed (an activation)."""
        tensor = self.tensor(index)
        buffer = self.model.Buffers(tensor.Buffer())
        if buffer.Offset() > 1:
            raise UnsupportedModel("tensor data stored outside the flatbuffer")
        if buffer.DataLength() == 0:
            return None
        dtype = {tflite.TensorType.FLOAT32: np.float32, tflite.TensorType.INT32: np.int32}.get(
            tensor.Type())
        if dtype is None:
            raise UnsupportedModel(f"tensor {tensor.Name().decode()} of type {tensor.Type()}")
        return buffer.DataAsNumpy().view(dtype).reshape(self.shape(index))

    def add_constant(self, value: np.ndarray, stem: str) -> str:
        name = self.fresh(stem)
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], **attributes) -> str:
        output = self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attributes))
        return output

    def activation(self, index: int) -> str:
        if index not in self.names:
            raise UnsupportedModel(f"tensor {self.tensor(index).Name().decode()} used before set")
        return self.names[index]


def convert(data: bytes) -> onnx.ModelProto:
    """The ONNX model of a float TFLite model of one image input (NHWC) and one output."""
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() != 1:
        raise UnsupportedModel(f"{model.SubgraphsLength()} subgraphs (expected 1)")
    graph = model.Subgraphs(0)
    if graph.InputsLength() != 1 or graph.OutputsLength() != 1:
        raise UnsupportedModel("expected one input and one output")
    builder = _Builder(model, graph)
    source, target = graph.Inputs(0), graph.Outputs(0)
    _check_float(builder, source)
    builder.names[source] = builder.node("Transpose", [INPUT_NAME], perm=NHWC_TO_NCHW)
    for position in range(graph.OperatorsLength()):
        _convert_op(builder, graph.Operators(position))
    in_shape, out_shape = builder.shape(source), builder.shape(target)
    inputs = [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["n", *in_shape[1:]])]
    outputs = [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT,
                                             ["n", *out_shape[1:]])]
    builder.nodes.append(helper.make_node("Identity", [builder.activation(target)], [OUTPUT_NAME]))
    onnx_graph = helper.make_graph(builder.nodes, "mobilefacenet", inputs, outputs,
                                   builder.initializers)
    result = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)],
                               producer_name="gatekeeper")
    onnx.checker.check_model(result)
    return result


def _check_float(builder: _Builder, index: int) -> None:
    if builder.tensor(index).Type() != tflite.TensorType.FLOAT32:
        raise UnsupportedModel(f"tensor {builder.tensor(index).Name().decode()} is not float32")


def _op_name(builder: _Builder, op: tflite.Operator) -> str:
    code = builder.model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    return _OP_NAMES.get(builtin, str(builtin))


def _options(op: tflite.Operator, kind):
    table = op.BuiltinOptions()
    if table is None:
        return None
    options = kind()
    options.Init(table.Bytes, table.Pos)
    return options


def _convert_op(builder: _Builder, op: tflite.Operator) -> None:
    name = _op_name(builder, op)
    inputs = [op.Inputs(i) for i in range(op.InputsLength())]
    output = op.Outputs(0)
    _check_float(builder, output)
    if builder.flat.intersection(inputs):
        raise UnsupportedModel(f"operator {name} after a reshape")
    if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        result = _convolution(builder, op, name, inputs, output)
    elif name in _ELEMENTWISE:
        onnx_op, kind = _ELEMENTWISE[name]
        options = _options(op, kind)
        activation = options.FusedActivationFunction() if options else 0
        operands = [_operand(builder, i) for i in inputs]
        result = _activate(builder, builder.node(onnx_op, operands), activation)
    elif name in _UNARY:
        result = builder.node(_UNARY[name], [builder.activation(inputs[0])])
    elif name == "RESHAPE":
        result = _reshape(builder, op, inputs, output)
    else:
        raise UnsupportedModel(f"operator {name} is not supported")
    if name == "RESHAPE":
        builder.flat.add(output)
    builder.names[output] = result


def _activate(builder: _Builder, value: str, activation: int) -> str:
    if activation not in _ACTIVATIONS:
        raise UnsupportedModel(f"fused activation {activation} is not supported")
    onnx_op = _ACTIVATIONS[activation]
    return value if onnx_op is None else builder.node(onnx_op, [value])


def _operand(builder: _Builder, index: int) -> str:
    """An elementwise operand: the activation, or the constant laid out to broadcast on NCHW."""
    value = builder.constant(index)
    if value is None:
        return builder.activation(index)
    if value.size == 1:
        return builder.add_constant(value.reshape(()), "scalar")
    if value.ndim == 1:
        return builder.add_constant(value.reshape(-1, 1, 1), "per_channel")
    if value.ndim == 4:
        return builder.add_constant(value.transpose(NHWC_TO_NCHW), "map")
    raise UnsupportedModel(f"constant of shape {list(value.shape)} in an elementwise op")


def _convolution(builder: _Builder, op, name: str, inputs: list[int], output: int) -> str:
    depthwise = name == "DEPTHWISE_CONV_2D"
    kind = tflite.DepthwiseConv2DOptions if depthwise else tflite.Conv2DOptions
    options = _options(op, kind)
    if options.DilationHFactor() != 1 or options.DilationWFactor() != 1:
        raise UnsupportedModel(f"dilated {name}")
    weights = builder.constant(inputs[1])
    if weights is None:
        raise UnsupportedModel(f"{name} with computed weights")
    channels = builder.shape(inputs[0])[3]
    if depthwise:
        if weights.shape[3] != channels * options.DepthMultiplier():
            raise UnsupportedModel("depthwise weights do not match the depth multiplier")
        kernel = weights.transpose(3, 0, 1, 2)  # 1 x KH x KW x C*M -> C*M x 1 x KH x KW
    else:
        kernel = weights.transpose(NHWC_TO_NCHW)  # O x KH x KW x I -> O x I x KH x KW
    strides = [options.StrideH(), options.StrideW()]
    pads = _pads(builder.shape(inputs[0])[1:3], kernel.shape[2:], strides, options.Padding())
    operands = [builder.activation(inputs[0]), builder.add_constant(kernel, "kernel")]
    if len(inputs) > 2 and inputs[2] >= 0:
        operands.append(builder.add_constant(builder.constant(inputs[2]), "bias"))
    conv = builder.node("Conv", operands, kernel_shape=list(kernel.shape[2:]), strides=strides,
                        pads=pads, group=channels if depthwise else 1)
    return _activate(builder, conv, options.FusedActivationFunction())


def _pads(size: list[int], kernel, strides: list[int], padding: int) -> list[int]:
    """ONNX pads (begins, then ends) for TFLite's SAME or VALID: SAME puts the odd pixel last."""
    if padding == tflite.Padding.VALID:
        return [0, 0, 0, 0]
    if padding != tflite.Padding.SAME:
        raise UnsupportedModel(f"padding {padding} is not supported")
    totals = [max((-(-n // s) - 1) * s + k - n, 0)
              for n, k, s in zip(size, kernel, strides, strict=True)]
    return [t // 2 for t in totals] + [t - t // 2 for t in totals]


def _reshape(builder: _Builder, op, inputs: list[int], output: int) -> str:
    """A reshape that keeps the batch first: back to NHWC, then the new shape per batch item."""
    shape = builder.shape(output)
    if shape[0] != builder.shape(inputs[0])[0]:
        raise UnsupportedModel("a reshape that moves the batch dimension")
    nhwc = builder.node("Transpose", [builder.activation(inputs[0])], perm=NCHW_TO_NHWC)
    target = builder.add_constant(np.array([-1, *shape[1:]], dtype=np.int64), "shape")
    return builder.node("Reshape", [nhwc, target])
