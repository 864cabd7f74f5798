"""Attention test models shared by the backends' template tests: the Attention node itself (every
layout, mask and attribute, for the interpreter as reference) and the head-split attention the
torch exporters write in ONNX (for onnxruntime as reference)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops.attention import AttentionAttrs
from compiler.ir.types import TensorType

HEAD_SPLIT = (0, 2, 1, 3)      # stored [B, S, H, D], read as [B, H, S, D]
KEYS_SPLIT = (0, 2, 3, 1)      # stored [B, T, H, D], read as k^T [B, H, D, T]


def attention_graph(b: int, h: int, s: int, t: int, d: int, causal: bool = False, mask: tuple | None = None,
                    split: bool = True, w: int | None = None) -> Graph:
    """One Attention node; `split` stores q, k, v and the output as the exporters do ([B, S, H, D],
    the head Transposes folded into the op), else plain [B, H, S, D] with k^T stored [B, H, D, T]."""
    w = w or d
    f32 = DType.float32
    if split:
        attrs = AttentionAttrs(scale=d ** -0.5, causal=causal, keys_transposed=True, zero_nan_rows=True,
                               q_perm=HEAD_SPLIT, k_perm=KEYS_SPLIT, v_perm=HEAD_SPLIT, out_perm=HEAD_SPLIT)
        shapes = ((b, s, h, d), (b, t, h, d), (b, t, h, w), (b, s, h, w))
    else:
        attrs = AttentionAttrs(scale=d ** -0.5, causal=causal, keys_transposed=True, zero_nan_rows=True)
        shapes = ((b, h, s, d), (b, h, d, t), (b, h, t, w), (b, h, s, w))
    inputs = [Value(n, TensorType(shape, f32)) for n, shape in zip("qkv", shapes)]
    if mask is not None:
        inputs.append(Value("mask", TensorType(mask, f32)))
    out = Value("y", TensorType(shapes[3], f32))
    names = tuple(v.name for v in inputs)
    return Graph("attention", tuple(inputs), ("y",), (Node("Attention", "attn", names, (out,), attrs),))


def feeds_for(graph: Graph, rng) -> dict:
    feeds = {v.name: rng.standard_normal(v.type.static_shape()).astype(np.float32) for v in graph.inputs}
    if "mask" in feeds:
        # Additive masks as the exporters build them: large negatives, a few -inf, one row all
        # -inf. Each row's diagonal key stays visible: a row of only -1e9 + s is uniform in
        # float32 (the s are below -1e9's ulp) but not in the float64 reference.
        mask = feeds["mask"]
        mask[...] = np.where(rng.random(mask.shape) < 0.3, np.float32(-1e9), mask)
        mask[...] = np.where(rng.random(mask.shape) < 0.05, -np.inf, mask)
        diagonal = np.arange(min(mask.shape[-2:]))
        mask[..., diagonal, diagonal] = 0.0
        if mask.ndim >= 2 and mask.shape[-2] > 1:
            mask[..., 1, :] = -np.inf
    return feeds


def head_split_model(b: int, h: int, s: int, d: int, mask: str) -> onnx.ModelProto:
    """Attention over [B, S, H*D] activations as the torch exporters write it: Reshape and
    Transpose per operand, k transposed for the MatMul, scale, additive mask, softmax."""
    node = helper.make_node
    nodes = [node("Reshape", [x, "split"], [f"{x}4"]) for x in "qkv"]
    nodes += [node("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]), node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
              node("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3]), node("MatMul", ["qh", "kt"], ["raw"]),
              node("Div", ["raw", "root"], ["scores"])]
    last = "scores"
    inits = [numpy_helper.from_array(np.array([b, s, h, d], np.int64), "split"),
             numpy_helper.from_array(np.array([b, s, h * d], np.int64), "merge"),
             numpy_helper.from_array(np.array(d ** 0.5, np.float32), "root")]
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, [b, s, h * d]) for x in "qkv"]
    if mask == "padding":
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [b, 1, 1, s]))
    elif mask == "causal":
        causal = np.triu(np.full((s, s), -np.inf, np.float32), 1)[None, None]
        inits.append(numpy_helper.from_array(causal, "mask"))
    if mask:
        nodes.append(node("Add", ["scores", "mask"], ["masked"]))
        last = "masked"
    nodes += [node("Softmax", [last], ["p"], axis=-1), node("MatMul", ["p", "vh"], ["a"]),
              node("Transpose", ["a"], ["at"], perm=[0, 2, 1, 3]), node("Reshape", ["at", "merge"], ["y"])]
    graph = helper.make_graph(nodes, "attention", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, s, h * d])], initializer=inits)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


def head_split_feeds(b: int, h: int, s: int, d: int, mask: str, rng) -> dict:
    """Random activations for head_split_model, and a padding mask of zeros and -1e4."""
    feeds = {x: rng.standard_normal((b, s, h * d)).astype(np.float32) for x in "qkv"}
    if mask == "padding":
        feeds["mask"] = np.where(rng.random((b, 1, 1, s)) < 0.3, np.float32(-1e4), np.float32(0.0))
    return feeds
