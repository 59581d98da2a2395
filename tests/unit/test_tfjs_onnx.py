"""bench/tfjs_onnx.py: a TF.js graph model converted to ONNX computes what the graph says.

A small graph with every op the converter supports is written here as TF.js writes one (JSON
nodes, a weight shard, one weight float16-quantised) and compared with the same computation done
directly in numpy, NHWC as TensorFlow lays it out. Anything else is refused, never guessed.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import onnxruntime as ort
import pytest

from bench.tfjs_onnx import UnsupportedModel, convert

RNG = np.random.default_rng(7)
WEIGHTS = {
    "mean": np.array([127.5], np.float32),
    "scale": np.array([0.0078125], np.float32),
    "pad": np.array([[0, 0], [1, 1], [1, 1], [0, 0]], np.int32),
    "kernel": RNG.normal(size=(3, 3, 3, 4)).astype(np.float32),  # H W in out
    "bias": RNG.normal(size=4).astype(np.float32),
    "six": np.array(6.0, np.float32),
    "zero": np.array(0.0, np.float32),
    "depthwise": RNG.normal(size=(3, 3, 4, 1)).astype(np.float32),  # H W channels multiplier
    "gamma": RNG.normal(size=4).astype(np.float32),
    "axes": np.array([1, 2], np.int32),
    "dense": RNG.normal(size=(4, 5)).astype(np.float16).astype(np.float32),  # stored as float16
    "flat": np.array([-1, 36], np.int32),
}


def _s(text: str) -> dict:
    return {"s": base64.b64encode(text.encode()).decode()}


def _conv(name, op, source, kernel, stride, padding, dilation=1):
    return {"name": name, "op": op, "input": [source, kernel], "attr": {
        "strides": {"list": {"i": ["1", str(stride), str(stride), "1"]}},
        "dilations": {"list": {"i": ["1", str(dilation), str(dilation), "1"]}},
        "padding": _s(padding), "data_format": _s("NHWC")}}


def _graph(dilation: int = 1, extra: list | None = None) -> tuple[bytes, dict[str, bytes]]:
    nodes = [{"name": "image", "op": "Placeholder", "attr": {"shape": {"shape": {"dim": [
        {"size": "-1"}, {"size": "8"}, {"size": "8"}, {"size": "3"}]}}}}]
    nodes += [{"name": name, "op": "Const"} for name in WEIGHTS]
    nodes += [
        {"name": "centred", "op": "Sub", "input": ["image", "mean"]},
        {"name": "scaled", "op": "Mul", "input": ["centred", "scale"]},
        {"name": "padded", "op": "Pad", "input": ["scaled", "pad"]},
        _conv("conv", "Conv2D", "padded", "kernel", 2, "SAME", dilation),
        {"name": "biased", "op": "AddV2", "input": ["conv", "bias"]},
        {"name": "relu", "op": "Relu", "input": ["biased"]},
        {"name": "capped", "op": "Minimum", "input": ["relu", "six"]},
        _conv("dw", "DepthwiseConv2dNative", "capped", "depthwise", 1, "VALID"),
        {"name": "positive", "op": "Maximum", "input": ["zero", "dw"]},
        {"name": "negative", "op": "Minimum", "input": ["zero", "dw"]},
        {"name": "sloped", "op": "Mul", "input": ["gamma", "negative"]},
        {"name": "prelu", "op": "Add", "input": ["positive", "sloped"]},
        {"name": "pooled", "op": "Mean", "input": ["prelu", "axes"],
         "attr": {"keep_dims": {"b": False}}},
        {"name": "out", "op": "MatMul", "input": ["pooled", "dense"]},
        {"name": "flattened", "op": "Reshape", "input": ["prelu", "flat"]},
    ] + (extra or [])
    stored = {k: v.astype("<f2" if k == "dense" else v.dtype.newbyteorder("<"))
              for k, v in WEIGHTS.items()}
    shard = b"".join(v.tobytes() for v in stored.values())
    manifest = [{"paths": ["model.bin"], "weights": [
        {"name": k, "shape": list(v.shape), "dtype": "int32" if v.dtype == np.int32 else "float32",
         **({"quantization": {"dtype": "float16", "original_dtype": "float32"}}
            if k == "dense" else {})}
        for k, v in WEIGHTS.items()]}]
    model = {"format": "graph-model", "modelTopology": {"node": nodes},
             "weightsManifest": manifest}
    return json.dumps(model).encode(), {"model.bin": shard}


def _conv_nhwc(x, kernel, stride, pad_before, pad_after, depthwise=False):
    """TensorFlow's convolution, by definition (cross-correlation over NHWC)."""
    x = np.pad(x, [(0, 0), (pad_before, pad_after), (pad_before, pad_after), (0, 0)])
    kh, kw = kernel.shape[:2]
    rows = (x.shape[1] - kh) // stride + 1
    cols = (x.shape[2] - kw) // stride + 1
    out = []
    for i in range(rows):
        line = []
        for j in range(cols):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            if depthwise:
                line.append(np.einsum("nhwc,hwc->nc", patch, kernel[..., 0]))
            else:
                line.append(np.einsum("nhwc,hwco->no", patch, kernel))
        out.append(np.stack(line, axis=1))
    return np.stack(out, axis=1)


def _expected(x):
    w = WEIGHTS
    y = (x - w["mean"]) * w["scale"]
    y = np.pad(y, [(0, 0), (1, 1), (1, 1), (0, 0)])
    # SAME with stride 2 on 10 pixels, kernel 3: 5 outputs from 1 pixel of padding, which
    # TensorFlow puts after, not before.
    y = _conv_nhwc(y, w["kernel"], 2, 0, 1) + w["bias"]
    y = np.minimum(np.maximum(y, 0), 6)
    y = _conv_nhwc(y, w["depthwise"], 1, 0, 0, depthwise=True)
    y = np.maximum(y, 0) + w["gamma"] * np.minimum(y, 0)
    return y.mean(axis=(1, 2)) @ w["dense"], y.reshape(len(x), -1)


def _run(model: bytes, x: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    return session.run(None, {"image": x})


def test_the_converted_graph_computes_what_tensorflow_defines():
    x = RNG.uniform(0, 255, size=(2, 8, 8, 3)).astype(np.float32)
    out, flattened = _run(convert(*_graph(), ["out", "flattened"]), x)
    want_out, want_flat = _expected(x.astype(np.float64))
    assert out.shape == (2, 5) and flattened.shape == (2, 36)
    np.testing.assert_allclose(out, want_out, rtol=1e-4, atol=1e-4)
    # The flatten sees NHWC order, as TensorFlow's reshape does, not ONNX's NCHW.
    np.testing.assert_allclose(flattened, want_flat, rtol=1e-4, atol=1e-4)


def test_an_unknown_op_a_dilated_convolution_or_short_weights_are_refused():
    with pytest.raises(UnsupportedModel, match="op Softmax"):
        convert(*_graph(extra=[{"name": "soft", "op": "Softmax", "input": ["out"]}]), ["soft"])
    with pytest.raises(UnsupportedModel, match="dilated"):
        convert(*_graph(dilation=2), ["out"])
    model, shards = _graph()
    with pytest.raises(UnsupportedModel, match="too short"):
        convert(model, {"model.bin": shards["model.bin"][:-8]}, ["out"])
    with pytest.raises(UnsupportedModel, match="no such node"):
        convert(model, shards, ["missing"])
