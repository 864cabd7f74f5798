"""Graph nodes -> FPGA layers: one record per node, with its per-sample dimensions as data.

A design processes one sample at a time (axis 0 of every tensor is the batch, run-time on the
device), so layers see per-sample shapes. Weights are re-laid out here for the templates that
read them (dense/conv pack them by their parallelism later, in `pack`). Whatever the layer
library cannot run fails here, with one line naming the op and node, before anything is printed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Mapping

import numpy as np

from compiler.errors import UnsupportedError
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node
from compiler.target import Target

# Unary ops -> the library's functor; binary ops likewise.
ACTIVATIONS = {"Relu": "op_relu", "LeakyRelu": "op_leaky_relu", "Clip": "op_clip", "Sigmoid": "op_sigmoid",
               "Tanh": "op_tanh", "Exp": "op_exp", "Gelu": "op_gelu", "Identity": "op_identity"}
BINARY = {"Add": "op_add", "Sub": "op_sub", "Mul": "op_mul", "Div": "op_div", "Max": "op_max", "Min": "op_min"}
# Same bytes, new shape: a stream passes through untouched.
ALIASES = ("Flatten", "Reshape", "Squeeze", "Unsqueeze")
CONTRACTIONS = ("Gemm", "MatMul", "Conv")
WINDOWED = ("MaxPool", "AveragePool", "GlobalAveragePool")
NORMS = ("Softmax", "LayerNormalization")
SUPPORTED = tuple(sorted(set(ACTIVATIONS) | set(BINARY) | set(ALIASES) | set(CONTRACTIONS) | set(WINDOWED)
                         | set(NORMS)))


@dataclass(frozen=True)
class Layer:
    name: str                              # a C identifier, unique in the design
    node: str                              # the graph node it implements
    op: str                                # the graph op
    kind: str                              # dense | conv | pool | gap | act | binary | binary_const | softmax | layernorm | alias
    inputs: tuple[str, ...]                # streamed graph values (constants excluded)
    output: str
    dims: tuple[tuple[str, int], ...]      # template parameters that describe the shape
    weights: tuple[np.ndarray, ...] = ()   # in the template's order (e.g. w, b), float32
    functor: str = ""                      # act / binary: the library functor
    scalars: tuple[float, float] = (0.0, 0.0)   # act: alpha, beta (LeakyRelu slope, Clip bounds)

    def dim(self, key: str) -> int:
        return dict(self.dims)[key]

    @property
    def macs(self) -> int:
        """Multiply-adds per sample (what DSPs do); 0 for layers without a contraction."""
        d = dict(self.dims)
        if self.kind == "dense":
            return d["n_in"] * d["n_out"]
        if self.kind == "conv":
            return d["c_out"] * d["h_out"] * d["w_out"] * (d["c_in"] // d["groups"]) * d["k_h"] * d["k_w"]
        return 0

    @property
    def out_size(self) -> int:
        return dict(self.dims)["out_size"]


def c_name(text: str, index: int) -> str:
    return f"l{index}_" + re.sub(r"[^A-Za-z0-9_]", "_", text)[:40]


def per_sample(graph: Graph, value: str, node: Node, target: Target) -> tuple[int, ...]:
    shape = graph.types[value].shape
    if not shape:
        raise UnsupportedError(f"op {node.op} (node '{node.name}') has a rank-0 tensor '{value}'; "
                               f"target {target.name} streams tensors with a leading batch axis")
    rest = shape[1:]
    if any(not isinstance(d, int) for d in rest):
        raise UnsupportedError(f"op {node.op} (node '{node.name}'): tensor '{value}' has a symbolic "
                               f"dimension past the batch axis; target {target.name} needs static shapes")
    return tuple(rest)


def _unsupported(node: Node, target: Target, why: str = "") -> UnsupportedError:
    detail = f" ({why})" if why else ""
    return UnsupportedError(f"op {node.op} (node '{node.name}') is not supported by target {target.name}{detail}; "
                            f"supported ops: `aotc targets --ops`, column fpga")


def to_layers(graph: Graph, target: Target) -> tuple[Layer, ...]:
    for value in graph.inputs:
        if value.type.dtype != DType.float32:
            raise UnsupportedError(f"input '{value.name}' is {value.type.dtype.value}; target {target.name} "
                                   f"takes float32 inputs")
    layers = []
    for index, node in enumerate(graph.nodes):
        if node.op not in SUPPORTED:
            raise _unsupported(node, target)
        for out in node.outputs:
            if out.type.dtype != DType.float32:
                raise _unsupported(node, target, f"output dtype {out.type.dtype.value}; float32 only")
        layers.append(_layer(graph, node, c_name(node.name, index), target))
    return tuple(layers)


def _const(graph: Graph, name: str) -> np.ndarray | None:
    return None if not name or name not in graph.constants else np.asarray(graph.constants[name], np.float32)


def _layer(graph: Graph, node: Node, name: str, target: Target) -> Layer:
    out = node.outputs[0].name
    out_shape = per_sample(graph, out, node, target)
    out_size = int(np.prod(out_shape, dtype=np.int64))
    streamed = tuple(v for v in node.inputs if v and v not in graph.constants)
    base = dict(name=name, node=node.name, op=node.op, output=out)
    if node.op in ALIASES:
        if graph.types[node.inputs[0]].shape[:1] != graph.types[out].shape[:1]:
            raise _unsupported(node, target, "a reshape that moves the batch axis")
        return Layer(**base, kind="alias", inputs=streamed[:1], dims=(("out_size", out_size),))
    if node.op in ("Gemm", "MatMul"):
        return _dense(graph, node, base, out_size, target)
    if node.op == "Conv":
        return _conv(graph, node, base, out_shape, out_size, target)
    if node.op in ("MaxPool", "AveragePool"):
        return _pool(graph, node, base, out_shape, out_size, target)
    if node.op == "GlobalAveragePool":
        shape = per_sample(graph, node.inputs[0], node, target)
        return Layer(**base, kind="gap", inputs=streamed, dims=(("c", shape[0]), ("hw", int(np.prod(shape[1:]))),
                                                                 ("out_size", out_size)))
    if node.op in ACTIVATIONS:
        return _activation(graph, node, base, streamed, out_size, target)
    if node.op in BINARY:
        return _binary(graph, node, base, streamed, out_shape, out_size, target)
    shape = per_sample(graph, node.inputs[0], node, target)
    axis = getattr(node.attrs, "axis", -1)
    rank = len(graph.types[node.inputs[0]].shape)
    if axis % rank != rank - 1:
        raise _unsupported(node, target, f"axis {axis}; only the last axis")
    cols = shape[-1]
    dims = (("rows", out_size // cols), ("cols", cols), ("out_size", out_size))
    if node.op == "Softmax":
        return Layer(**base, kind="softmax", inputs=streamed, dims=dims)
    gamma = _const(graph, node.inputs[1])
    beta = _const(graph, node.inputs[2]) if len(node.inputs) > 2 else np.zeros(cols, np.float32)
    if gamma is None or beta is None:
        raise _unsupported(node, target, "scale and bias must be constants")
    return Layer(**base, kind="layernorm", inputs=streamed[:1], dims=dims,
                 weights=(np.broadcast_to(gamma, (cols,)).copy(), np.broadcast_to(beta, (cols,)).copy()),
                 scalars=(float(node.attrs.epsilon), 0.0))


def _dense(graph: Graph, node: Node, base: dict, out_size: int, target: Target) -> Layer:
    a, b = node.inputs[0], node.inputs[1]
    weight = _const(graph, b)
    a_shape = graph.types[a].shape
    if weight is None or weight.ndim != 2 or len(a_shape) != 2:
        raise _unsupported(node, target, "a (batch, features) input times a constant matrix only")
    attrs = node.attrs
    alpha, beta = (attrs.alpha, attrs.beta) if node.op == "Gemm" else (1.0, 1.0)
    if node.op == "Gemm" and attrs.trans_a:
        raise _unsupported(node, target, "transA=1")
    w = weight if (node.op == "Gemm" and attrs.trans_b) else weight.T      # -> [n_out][n_in]
    n_out, n_in = w.shape
    bias = _const(graph, node.inputs[2]) if node.op == "Gemm" and len(node.inputs) > 2 else None
    if node.op == "Gemm" and len(node.inputs) > 2 and node.inputs[2] and bias is None:
        raise _unsupported(node, target, "a bias that is not a constant")
    bias = np.zeros(n_out, np.float32) if bias is None else np.broadcast_to(bias.reshape(-1), (n_out,))
    w = (w * np.float32(alpha)).astype(np.float32)
    bias = (bias * np.float32(beta)).astype(np.float32)
    return Layer(**base, kind="dense", inputs=(a,), dims=(("n_in", n_in), ("n_out", n_out), ("out_size", out_size)),
                 weights=(np.ascontiguousarray(w), np.ascontiguousarray(bias)))


def _window(node: Node, base_shape, out_shape) -> tuple[tuple[str, int], ...]:
    attrs = node.attrs
    if len(attrs.kernel_shape) != 2 or getattr(attrs, "channels_last", False):
        raise ValueError("2-d NCHW only")
    return (("h_in", base_shape[1]), ("w_in", base_shape[2]), ("h_out", out_shape[1]), ("w_out", out_shape[2]),
            ("k_h", attrs.kernel_shape[0]), ("k_w", attrs.kernel_shape[1]), ("s_h", attrs.strides[0]),
            ("s_w", attrs.strides[1]), ("p_t", attrs.pads[0]), ("p_l", attrs.pads[1]),
            ("d_h", attrs.dilations[0]), ("d_w", attrs.dilations[1]))


def _conv(graph: Graph, node: Node, base: dict, out_shape, out_size: int, target: Target) -> Layer:
    x_shape = per_sample(graph, node.inputs[0], node, target)
    weight = _const(graph, node.inputs[1])
    if weight is None or len(x_shape) != 3:
        raise _unsupported(node, target, "2-d convolution with constant weights only")
    try:
        window = _window(node, x_shape, out_shape)
    except ValueError as error:
        raise _unsupported(node, target, str(error)) from None
    c_out = weight.shape[0]
    bias = _const(graph, node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] else np.zeros(c_out, np.float32)
    if bias is None:
        raise _unsupported(node, target, "a bias that is not a constant")
    dims = (("c_in", x_shape[0]), ("c_out", c_out), ("groups", node.attrs.group)) + window + (("out_size", out_size),)
    return Layer(**base, kind="conv", inputs=(node.inputs[0],), dims=dims,
                 weights=(np.ascontiguousarray(weight), np.ascontiguousarray(bias)))


def _pool(graph: Graph, node: Node, base: dict, out_shape, out_size: int, target: Target) -> Layer:
    x_shape = per_sample(graph, node.inputs[0], node, target)
    if len(x_shape) != 3:
        raise _unsupported(node, target, "2-d pooling only")
    try:
        window = _window(node, x_shape, out_shape)
    except ValueError as error:
        raise _unsupported(node, target, str(error)) from None
    dims = (("c", x_shape[0]),) + window + (("is_max", int(node.op == "MaxPool")),
                                            ("count_pad", int(node.attrs.count_include_pad)), ("out_size", out_size))
    return Layer(**base, kind="pool", inputs=(node.inputs[0],), dims=dims)


def _activation(graph: Graph, node: Node, base: dict, streamed, out_size: int, target: Target) -> Layer:
    scalars = (0.0, 0.0)
    if node.op == "LeakyRelu":
        scalars = (float(node.attrs.alpha), 0.0)
    elif node.op == "Clip":
        bounds = []
        for i in (1, 2):
            value_name = node.inputs[i] if i < len(node.inputs) else ""
            if value_name and _const(graph, value_name) is None:
                raise _unsupported(node, target, "bounds that are not constants")
            bounds.append(_const(graph, value_name))
        scalars = (float(bounds[0]) if bounds[0] is not None else -3.4e38,
                   float(bounds[1]) if bounds[1] is not None else 3.4e38)
    elif node.op == "Gelu" and getattr(node.attrs, "approximate", "none") != "none":
        raise _unsupported(node, target, "tanh-approximate GELU")
    return Layer(**base, kind="act", inputs=streamed[:1], dims=(("n", out_size), ("out_size", out_size)),
                 functor=ACTIVATIONS[node.op], scalars=scalars)


def _binary(graph: Graph, node: Node, base: dict, streamed, out_shape, out_size: int, target: Target) -> Layer:
    dims = (("n", out_size), ("out_size", out_size))
    a, b = node.inputs
    if len(streamed) == 2:
        if graph.types[a].shape != graph.types[b].shape:
            raise _unsupported(node, target, "two streamed operands of different shapes")
        return Layer(**base, kind="binary", inputs=streamed, dims=dims, functor=BINARY[node.op])
    if len(streamed) != 1:
        raise _unsupported(node, target, "no streamed operand")
    constant = _const(graph, b if a in streamed else a)
    full = np.broadcast_to(constant, (1,) + tuple(out_shape)).reshape(-1) if constant.ndim <= len(out_shape) + 1 \
        else None
    if full is None or full.size != out_size:
        raise _unsupported(node, target, "a constant that broadcasts over the batch axis")
    swap = int(b in streamed)
    return Layer(**base, kind="binary_const", inputs=streamed, dims=dims + (("swap", swap),),
                 weights=(np.ascontiguousarray(full, np.float32),), functor=BINARY[node.op])


def layer_map(layers: tuple[Layer, ...]) -> Mapping[str, Layer]:
    return {layer.output: layer for layer in layers}
