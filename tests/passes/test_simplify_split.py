"""simplify's split_projection: a Split of a constant-weight Gemm / MatMul along its output
features becomes one projection per piece (GPT-2's fused QKV), checked against onnxruntime on
fresh random inputs; and the cases it must leave alone."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.frontends.onnx import import_onnx
from compiler.ir.verifier import verify
from conftest import rel_l2
from passes.eliminate_dead_code import eliminate_dead_code
from passes.simplify import simplify


def _projection_split(op: str, trans_b: bool, reshape: bool, axis: int, bias_shape=(12,), weight_is_input=False):
    rng = np.random.default_rng(7)
    weight = rng.standard_normal((12, 8) if trans_b else (8, 12)).astype(np.float32)
    nodes, inits, inputs = [], [], [helper.make_tensor_value_info("x", TensorProto.FLOAT, (6, 8))]
    if weight_is_input:
        inputs.append(helper.make_tensor_value_info("w", TensorProto.FLOAT, weight.shape))
    else:
        inits.append(numpy_helper.from_array(weight, "w"))
    if op == "Gemm":
        inits.append(numpy_helper.from_array(rng.standard_normal(bias_shape).astype(np.float32), "b"))
        nodes.append(helper.make_node("Gemm", ["x", "w", "b"], ["p"], transB=int(trans_b), alpha=0.5, beta=2.0))
    else:
        nodes.append(helper.make_node("MatMul", ["x", "w"], ["p"]))
    split_input, shape = "p", (6, 12)
    if reshape:
        inits.append(numpy_helper.from_array(np.array([2, 3, 12], np.int64), "shape"))
        nodes.append(helper.make_node("Reshape", ["p", "shape"], ["r"]))
        split_input, shape = "r", (2, 3, 12)
    sizes = (4, 5, 3) if axis == -1 else (1, 1, 1)          # axis 1 of [2, 3, 12]: not the features
    inits.append(numpy_helper.from_array(np.array(sizes, np.int64), "sizes"))
    nodes.append(helper.make_node("Split", [split_input, "sizes"], ["q", "k", "v"], axis=axis))
    pieces = [shape[:-1] + (n,) for n in sizes] if axis == -1 else [(2, 1, 12)] * 3
    outputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in zip("qkv", pieces)]
    graph = helper.make_graph(nodes, "split", inputs, outputs, inits)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op,trans_b,reshape,bias_shape", [
    ("Gemm", False, True, (12,)),       # GPT-2's c_attn: Gemm, Reshape to [1, T, 3D], Split
    ("Gemm", True, False, (1, 12)),     # transposed weights, a row bias, no Reshape
    ("Gemm", False, False, (1,)),       # a broadcast bias: whole in every piece
    ("MatMul", False, True, None),
])
def test_a_split_projection_is_one_projection_per_piece(op, trans_b, reshape, bias_shape):
    model = _projection_split(op, trans_b, reshape, -1, bias_shape)
    graph = import_onnx(model)
    simplified = eliminate_dead_code(simplify(graph))
    verify(simplified)
    ops = [n.op for n in simplified.nodes]
    assert "Split" not in ops and ops.count(op) == 3, ops
    x = (np.random.default_rng().standard_normal((6, 8)) + 0.1).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    actual = compiler.compile(model)(x=x)
    for got, want in zip(actual, expected):
        assert got.shape == want.shape and rel_l2(got, want) <= 1e-6


@pytest.mark.parametrize("case", ["not-the-feature-axis", "weights-not-constant"])
def test_other_splits_stay(case):
    model = _projection_split("Gemm", False, True, 1 if case == "not-the-feature-axis" else -1,
                              weight_is_input=case == "weights-not-constant")
    ops = [n.op for n in eliminate_dead_code(simplify(import_onnx(model))).nodes]
    assert "Split" in ops and ops.count("Gemm") == 1, ops
