"""TF.js graph model (model.json + weight shards) to ONNX, for the face models that
bench_embeddings.py measures: exactly the float ops they use, nothing else.

A TF.js graph model is a TensorFlow GraphDef written as JSON (nodes with op, inputs and attributes)
and its constants as little-endian shards listed in `weightsManifest` (float16-quantised weights
are widened back to float32). TF.js keeps activations NHWC and ONNX convolutions want NCHW: the
graph transposes its input once, works in NCHW (per-channel constants become 1 x C x 1 x 1) and
transposes back before a flatten and at its outputs. Anything else (another op, another padding,
a dilated convolution, another quantisation) is refused with UnsupportedModel.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
NHWC_TO_NCHW = (0, 3, 1, 2)
NCHW_TO_NHWC = (0, 2, 3, 1)
DTYPES = {"float32": np.float32, "int32": np.int32}
BINARY = {"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul",
          "Maximum": "Max", "Minimum": "Min"}
CONVOLUTIONS = ("Conv2D", "DepthwiseConv2dNative")
PADDINGS = {"SAME": "SAME_UPPER", "VALID": "VALID"}  # TF's SAME pads the extra pixel at the end


class UnsupportedModel(ValueError):
    """The graph uses something this converter does not handle; the message says what."""


def read_weights(manifest: list[dict], shards: dict[str, bytes]) -> dict[str, np.ndarray]:
    """Every constant of the model by name, from the manifest and its shard files' bytes."""
    weights = {}
    for group in manifest:
        data = b"".join(shards[path] for path in group["paths"])
        offset = 0
        for entry in group["weights"]:
            quantised = entry.get("quantization")
            if quantised and quantised.get("dtype") != "float16":
                raise UnsupportedModel(f"{entry['name']}: quantisation {quantised}")
            if entry["dtype"] not in DTYPES:
                raise UnsupportedModel(f"{entry['name']}: dtype {entry['dtype']}")
            stored = np.dtype(np.float16 if quantised else DTYPES[entry["dtype"]]).newbyteorder("<")
            count = int(np.prod(entry["shape"], dtype=np.int64))
            if offset + count * stored.itemsize > len(data):
                raise UnsupportedModel(f"{entry['name']}: the weight files are too short")
            values = np.frombuffer(data, stored, count, offset).reshape(entry["shape"])
            weights[entry["name"]] = values.astype(DTYPES[entry["dtype"]])
            offset += count * stored.itemsize
    return weights


@dataclass
class _Builder:
    weights: dict[str, np.ndarray]
    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # TF node -> ONNX tensor
    spatial: set[str] = field(default_factory=set)  # ONNX tensors laid out NCHW
    count: int = 0

    def fresh(self, stem: str) -> str:
        self.count += 1
        return f"{stem}_{self.count}"

    def constant(self, values: np.ndarray) -> str:
        name = self.fresh("const")
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(values), name))
        return name

    def add(self, op: str, inputs: list[str], output: str | None = None, **attrs) -> str:
        output = output or self.fresh(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [output], **attrs))
        return output

    def operand(self, tf_name: str, beside_spatial: bool) -> str:
        """A node's input: an activation, or a constant shaped to broadcast against NCHW."""
        if tf_name not in self.weights:
            return self.names[tf_name]
        values = self.weights[tf_name].astype(np.float32)
        if beside_spatial and values.ndim == 1:
            values = values.reshape(1, -1, 1, 1)
        elif beside_spatial and values.ndim == 4:
            values = values.transpose(NHWC_TO_NCHW)
        return self.constant(values)

    def nhwc(self, tensor: str) -> str:
        return self.add("Transpose", [tensor], perm=list(NCHW_TO_NHWC)) \
            if tensor in self.spatial else tensor


def _ints(node: dict, key: str) -> list[int]:
    return [int(i) for i in node.get("attr", {}).get(key, {}).get("list", {}).get("i", [])]


def _text(node: dict, key: str) -> str:
    return base64.b64decode(node["attr"][key]["s"]).decode()


def _inputs(node: dict) -> list[str]:
    return [name.split(":")[0] for name in node.get("input", []) if not name.startswith("^")]


def _convolution(b: _Builder, node: dict, ins: list[str]) -> str:
    if any(d != 1 for d in _ints(node, "dilations")):
        raise UnsupportedModel(f"{node['name']}: dilated convolution")
    padding = _text(node, "padding")
    if padding not in PADDINGS:
        raise UnsupportedModel(f"{node['name']}: padding {padding}")
    kernel = b.weights[ins[1]].astype(np.float32)
    if node["op"] == "DepthwiseConv2dNative":
        height, width, channels, multiplier = kernel.shape
        kernel = kernel.transpose(2, 3, 0, 1).reshape(channels * multiplier, 1, height, width)
        group = channels
    else:
        kernel, group = kernel.transpose(3, 2, 0, 1), 1
    output = b.add("Conv", [b.names[ins[0]], b.constant(kernel)],
                   strides=_ints(node, "strides")[1:3], group=group, auto_pad=PADDINGS[padding])
    b.spatial.add(output)
    return output


def _node(b: _Builder, node: dict) -> str:
    op, ins = node["op"], _inputs(node)
    if op in CONVOLUTIONS:
        return _convolution(b, node, ins)
    spatial = any(b.names.get(i) in b.spatial for i in ins if i not in b.weights)
    if op in BINARY:
        output = b.add(BINARY[op], [b.operand(i, spatial) for i in ins])
    elif op == "Relu":
        output = b.add("Relu", [b.names[ins[0]]])
    elif op == "Pad":
        pads = b.weights[ins[1]].astype(np.int64)[list(NHWC_TO_NCHW)]
        output = b.add("Pad", [b.names[ins[0]], b.constant(np.r_[pads[:, 0], pads[:, 1]])])
    elif op == "Mean" and spatial:
        axes = [{1: 2, 2: 3, 3: 1}.get(int(a), int(a)) for a in np.atleast_1d(b.weights[ins[1]])]
        keep = int(node.get("attr", {}).get("keep_dims", {}).get("b", False))
        return b.add("ReduceMean", [b.names[ins[0]]], axes=axes, keepdims=keep)
    elif op == "Reshape":
        shape = b.weights[ins[1]].astype(np.int64)
        return b.add("Reshape", [b.nhwc(b.names[ins[0]]), b.constant(shape)])
    elif op == "MatMul" and not spatial:
        return b.add("MatMul", [b.names[ins[0]], b.operand(ins[1], False)])
    else:
        raise UnsupportedModel(f"{node['name']}: op {op} is not supported")
    if spatial:
        b.spatial.add(output)
    return output


def convert(model_json: bytes, shards: dict[str, bytes], outputs: list[str]) -> bytes:
    """The ONNX model computing `outputs` (TF node names, NHWC as TF.js gives them) from the
    graph's one input; its batch is symbolic."""
    model = json.loads(model_json)
    graph = model["modelTopology"]["node"]
    b = _Builder(read_weights(model["weightsManifest"], shards))
    by_name = {node["name"]: node for node in graph}
    placeholders = [node for node in graph if node["op"] == "Placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedModel(f"{len(placeholders)} inputs: one is supported")
    source = placeholders[0]
    dims = [int(d["size"]) for d in source["attr"]["shape"]["shape"]["dim"]]
    b.names[source["name"]] = b.add("Transpose", [source["name"]], perm=list(NHWC_TO_NCHW))
    b.spatial.add(b.names[source["name"]])

    def build(name: str) -> str:
        pending = [name]
        while pending:  # depth-first without recursion: graphs run hundreds of nodes deep
            current = pending[-1]
            if current in b.names or current in b.weights:
                pending.pop()
                continue
            if current not in by_name:
                raise UnsupportedModel(f"{current}: no such node")
            missing = [i for i in _inputs(by_name[current])
                       if i not in b.names and i not in b.weights]
            if missing:
                pending += missing
                continue
            b.names[current] = _node(b, by_name[current])
            pending.pop()
        return b.names[name]

    results = []
    for name in outputs:
        tensor = build(name)
        rank = 4 if tensor in b.spatial else 2  # an image or a vector per face
        results.append((b.add("Identity", [b.nhwc(tensor)], output=name.replace("/", "_")), rank))
    shape = ["batch" if d < 0 else d for d in dims]
    onnx_graph = helper.make_graph(
        b.nodes, "tfjs", [helper.make_tensor_value_info(source["name"], TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info(r, TensorProto.FLOAT, ["batch"] + [None] * (rank - 1))
         for r, rank in results],
        b.initializers)
    converted = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", OPSET)])
    onnx.checker.check_model(converted)
    return converted.SerializeToString()
