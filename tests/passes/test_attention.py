"""Attention: simplify recognises the exporters' decomposed attention (both forms), and the
CPU kernel matches the numpy reference for every attribute combination."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.frontends.onnx import import_onnx
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.interpreter import interpret
from compiler.ir.ops.attention import AttentionAttrs
from compiler.ir.types import TensorType
from conftest import rel_l2
from passes.eliminate_dead_code import eliminate_dead_code
from passes.simplify import simplify

F32 = TensorProto.FLOAT
B, H, S, T, D = 1, 3, 6, 7, 4


def decomposed(mask: str, nan_guard: bool, scale_form: str):
    """softmax(q k^T * scale + mask) v as the torch exporters spell it."""
    nodes = [helper.make_node("Transpose", ["k"], ["kt"], perm=[0, 1, 3, 2])]
    if scale_form == "mul_both":
        nodes += [helper.make_node("Mul", ["q", "s"], ["qs"]), helper.make_node("Mul", ["kt", "s"], ["ks"]),
                  helper.make_node("MatMul", ["qs", "ks"], ["scores"])]
    else:
        nodes += [helper.make_node("MatMul", ["q", "kt"], ["raw"]), helper.make_node("Div", ["raw", "d"], ["scores"])]
    last = "scores"
    if mask:
        nodes.append(helper.make_node("Add", ["scores", "mask"], ["masked"]))
        last = "masked"
    nodes.append(helper.make_node("Softmax", [last], ["p"], axis=-1))
    p = "p"
    if nan_guard:
        nodes += [helper.make_node("IsNaN", ["p"], ["bad"]), helper.make_node("Where", ["bad", "zero", "p"], ["pz"])]
        p = "pz"
    nodes.append(helper.make_node("MatMul", [p, "v"], ["y"]))
    mask_value = np.zeros((1, 1, S, T), np.float32)
    mask_value[..., S // 2:, -2:] = -np.inf if mask == "inf" else -1e4
    init = [numpy_helper.from_array(np.array(D ** -0.25, np.float32), "s"),
            numpy_helper.from_array(np.array(D ** 0.5, np.float32), "d"),
            numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    if mask:
        init.append(numpy_helper.from_array(mask_value, "mask"))
    inputs = [helper.make_tensor_value_info(n, F32, s) for n, s in
              (("q", [B, H, S, D]), ("k", [B, H, T, D]), ("v", [B, H, T, D]))]
    graph = helper.make_graph(nodes, "attention", inputs, [helper.make_tensor_value_info("y", F32, [B, H, S, D])],
                              initializer=[i for i in init if i.name in {x for n in nodes for x in n.input}])
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("mask,nan_guard,scale_form", [("", False, "div"), ("big", False, "mul_both"),
                                                        ("inf", True, "mul_both"), ("big", True, "div")])
def test_decomposed_attention_becomes_one_op(mask, nan_guard, scale_form):
    model = decomposed(mask, nan_guard, scale_form)
    graph = import_onnx(model)
    simplified = eliminate_dead_code(simplify(graph))
    ops = [n.op for n in simplified.nodes]
    assert ops.count("Attention") == 1 and "Softmax" not in ops and "MatMul" not in ops
    rng = np.random.default_rng(3)
    feeds = {n: (rng.standard_normal(s) + 0.1).astype(np.float32)
             for n, s in (("q", (B, H, S, D)), ("k", (B, H, T, D)), ("v", (B, H, T, D)))}
    assert rel_l2(interpret(simplified, feeds)["y"], interpret(graph, feeds)["y"]) <= 1e-6
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert rel_l2(compiler.compile(model)(**feeds), expected) <= 1e-5


def attention_graph(attrs: AttentionAttrs, mask_shape) -> Graph:
    f32 = DType.float32
    k_shape = (B, H, D, T) if attrs.keys_transposed else (B, H, T, D)
    inputs = [Value("q", TensorType((B, H, S, D), f32)), Value("k", TensorType(k_shape, f32)),
              Value("v", TensorType((B, H, T, 5), f32))]
    names = ("q", "k", "v")
    if mask_shape is not None:
        inputs.append(Value("mask", TensorType(mask_shape, f32)))
        names += ("mask",)
    out = Value("y", TensorType((B, H, S, 5), f32))
    return Graph("attention", tuple(inputs), ("y",), (Node("Attention", "attn", names, (out,), attrs),))


@pytest.mark.parametrize("transposed", [False, True])
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("mask_shape", [None, (1, 1, S, T), (B, H, S, T), (T,)])
def test_cpu_attention_kernel_matches_reference(transposed, causal, mask_shape):
    attrs = AttentionAttrs(scale=0.37, causal=causal, keys_transposed=transposed, zero_nan_rows=True)
    graph = attention_graph(attrs, mask_shape)
    rng = np.random.default_rng(7)
    feeds = {v.name: (rng.standard_normal(v.type.static_shape()) + 0.1).astype(np.float32) for v in graph.inputs}
    if mask_shape is not None:
        feeds["mask"] = np.where(rng.random(mask_shape) < 0.2, -np.inf, feeds["mask"]).astype(np.float32)
        if len(mask_shape) == 4:
            feeds["mask"][..., 0, :] = -np.inf   # a fully masked row: NaN softmax, zeroed
    expected = interpret(graph, feeds)["y"]
    actual = compiler.compile(graph)(**feeds)
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    assert rel_l2(np.nan_to_num(actual), np.nan_to_num(expected)) <= 1e-5


HEADS_SPLIT = """\
graph heads(%q: f32[1,6,2,8], %k: f32[1,6,2,8], %v: f32[1,6,2,8]) -> (%y) {
  %qt: f32[1,2,6,8] = Transpose(%q) {perm=[0,2,1,3]}  # qt
  %kt: f32[1,2,8,6] = Transpose(%k) {perm=[0,2,3,1]}  # kt
  %vt: f32[1,2,6,8] = Transpose(%v) {perm=[0,2,1,3]}  # vt
  %a: f32[1,2,6,8] = Attention(%qt, %kt, %vt) {scale=0.35, causal=false, keys_transposed=true, zero_nan_rows=false, q_perm=[], k_perm=[], v_perm=[], out_perm=[]}  # a
  %r: f32[1,2,6,8] = Reshape(%a) {shape=[1,-1,6,8], allowzero=false}  # r
  %y: f32[1,6,2,8] = Transpose(%r) {perm=[0,2,1,3]}  # y
  return %y
}
"""

HEADS_FOLDED = """\
graph heads(%q: f32[1,6,2,8], %k: f32[1,6,2,8], %v: f32[1,6,2,8]) -> (%y) {
  %y: f32[1,6,2,8] = Attention(%q, %k, %v) {scale=0.35, causal=false, keys_transposed=false, zero_nan_rows=false, q_perm=[0,2,1,3], k_perm=[0,2,1,3], v_perm=[0,2,1,3], out_perm=[0,2,1,3]}  # y
  return %y
}
"""


def test_head_transposes_fold_into_attention_golden():
    """q's and v's head-split Transposes, k's key-last Transpose (read back as plain keys) and
    the output's head merge (through a same-shape Reshape) become the Attention's operand
    orders; the kernel computes the same values."""
    from compiler.ir.parser import parse_graph
    from compiler.ir.printer import print_graph
    from compiler.ir.verifier import verify
    graph = parse_graph(HEADS_SPLIT)
    folded = eliminate_dead_code(simplify(graph))
    verify(folded)
    assert print_graph(folded) == HEADS_FOLDED
    rng = np.random.default_rng(4)
    feeds = {name: rng.standard_normal(tuple(int(d) for d in graph.type_of(name).shape)).astype(np.float32)
             for name in graph.input_names}
    expected = interpret(graph, feeds)["y"]
    assert rel_l2(interpret(folded, feeds)["y"], expected) <= 1e-6
    assert rel_l2(compiler.compile(folded)(**feeds), expected) <= 1e-5


def test_constant_causal_mask_becomes_the_causal_attribute():
    """GPT-2's export folds its causal Where into a constant 0 / -inf mask: simplify turns it
    into `causal` (kernels skip the masked key blocks); any other constant mask stays."""
    attrs = AttentionAttrs(scale=0.37, keys_transposed=False)
    graph = attention_graph(attrs, (1, 1, S, T))
    causal = np.where(np.tril(np.ones((S, T), bool)), 0.0, -np.inf).astype(np.float32)[None, None]
    with_mask = replace(graph, constants={"mask": causal}, inputs=graph.inputs[:3])
    folded = eliminate_dead_code(simplify(with_mask))
    [node] = folded.nodes
    assert node.attrs.causal and len(node.inputs) == 3
    rng = np.random.default_rng(5)
    feeds = {v.name: rng.standard_normal(v.type.static_shape()).astype(np.float32) for v in with_mask.inputs}
    assert rel_l2(interpret(folded, feeds)["y"], interpret(with_mask, feeds)["y"]) <= 1e-12
    shifted = replace(with_mask, constants={"mask": np.roll(causal, 1, axis=-1)})
    assert not eliminate_dead_code(simplify(shifted)).nodes[0].attrs.causal
