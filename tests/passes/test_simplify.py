"""simplify's rules: golden IR before/after where the text is stable, and the interpreter on
random inputs before and after."""
from __future__ import annotations

import numpy as np
import pytest
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.frontends.onnx import import_onnx
from compiler.ir.interpreter import interpret
from compiler.ir.parser import parse_graph
from compiler.ir.printer import print_graph
from compiler.ir.verifier import verify
from conftest import rel_l2
from passes.eliminate_dead_code import eliminate_dead_code
from passes.simplify import simplify

TRANSPOSES = """\
graph g(%x: f32[2,3,4,5]) -> (%y, %z) {
  %t: f32[2,4,3,5] = Transpose(%x) {perm=[0,2,1,3]}  # t
  %y: f32[2,3,4,5] = Transpose(%t) {perm=[0,2,1,3]}  # y
  %u: f32[2,4,3,5] = Transpose(%x) {perm=[0,2,1,3]}  # u
  %z: f32[5,2,4,3] = Transpose(%u) {perm=[3,0,1,2]}  # z
  return %y, %z
}
"""

TRANSPOSES_SIMPLIFIED = """\
graph g(%x: f32[2,3,4,5]) -> (%y, %z) {
  %y: f32[2,3,4,5] = Identity(%x)  # y
  %z: f32[5,2,4,3] = Transpose(%x) {perm=[3,0,2,1]}  # z
  return %y, %z
}
"""


def test_transpose_chains_collapse_golden():
    graph = parse_graph(TRANSPOSES)
    simplified = eliminate_dead_code(simplify(graph))
    verify(simplified)
    assert print_graph(simplified) == TRANSPOSES_SIMPLIFIED
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(np.float32)
    for name in graph.outputs:
        assert np.array_equal(interpret(simplified, {"x": x})[name], interpret(graph, {"x": x})[name])


def conv_bn_model():
    rng = np.random.default_rng(1)
    init = [numpy_helper.from_array(a.astype(np.float32), n) for n, a in {
        "w": rng.standard_normal((6, 3, 3, 3)) * 0.3, "b": rng.standard_normal(6),
        "gamma": rng.random(6) + 0.5, "beta": rng.standard_normal(6), "mean": rng.standard_normal(6) * 0.1,
        "var": rng.random(6) + 0.5}.items()]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "gamma", "beta", "mean", "var"], ["bn"], epsilon=1e-3),
             helper.make_node("Relu", ["bn"], ["y"])]
    graph = helper.make_graph(nodes, "convbn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 6, 8, 8])], initializer=init)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


def test_batchnorm_folds_into_its_convolution():
    model = conv_bn_model()
    graph = import_onnx(model)
    simplified = eliminate_dead_code(simplify(graph))
    verify(simplified)
    assert [n.op for n in simplified.nodes] == ["Conv", "Relu"]
    x = (np.random.default_rng(2).standard_normal((1, 3, 8, 8)) + 0.1).astype(np.float32)
    assert rel_l2(interpret(simplified, {"x": x})["y"], interpret(graph, {"x": x})["y"]) <= 1e-6
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert rel_l2(compiler.compile(model)(x), expected) <= 1e-5


def test_pow_by_a_constant_becomes_multiplication():
    text = """\
graph p(%x: f32[8]) -> (%y, %z, %w) {
  const %two: f32[] = [2.0]
  const %three: f32[] = [3.0]
  const %half: f32[] = [0.5]
  %y: f32[8] = Pow(%x, %three)  # cube
  %z: f32[8] = Pow(%x, %two)  # square
  %w: f32[8] = Pow(%z, %half)  # root
  return %y, %z, %w
}
"""
    graph = parse_graph(text)
    simplified = eliminate_dead_code(simplify(graph))
    assert "Pow" not in {n.op for n in simplified.nodes}
    x = np.random.default_rng(3).standard_normal(8).astype(np.float32) + 0.1
    for name in graph.outputs:
        assert rel_l2(interpret(simplified, {"x": x})[name], interpret(graph, {"x": x})[name]) <= 1e-6


# Both erf forms share x/sqrt2 -> erf -> +1; they differ in where the 0.5 and the x go.
ERF_HEAD = """\
graph g(%x: f32[16]) -> (%y) {
  const %r2: f32[] = [1.4142135381698608]
  const %one: f32[] = [1.0]
  const %half: f32[] = [0.5]
  %d: f32[16] = Div(%x, %r2)  # d
  %e: f32[16] = Erf(%d)  # e
  %a: f32[16] = Add(%e, %one)  # a
"""
GELU_FORMS = {
    # BERT (TorchScript): ... -> *x -> *0.5
    "erf_bert": (ERF_HEAD + """\
  %m: f32[16] = Mul(%x, %a)  # m
  %y: f32[16] = Mul(%m, %half)  # y
  return %y
}
""", "none"),
    # torch.export: 0.5 * (1 + erf) first, then * x
    "erf_dynamo": (ERF_HEAD + """\
  %h: f32[16] = Mul(%half, %a)  # h
  %y: f32[16] = Mul(%x, %h)  # y
  return %y
}
""", "none"),
    # GPT-2: 0.5x * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
    "tanh_gpt2": ("""\
graph g(%x: f32[16]) -> (%y) {
  const %half: f32[] = [0.5]
  const %three: f32[] = [3.0]
  const %c: f32[] = [0.044714998453855515]
  const %k: f32[] = [0.7978845834732056]
  const %one: f32[] = [1.0]
  %hx: f32[16] = Mul(%x, %half)  # hx
  %p: f32[16] = Pow(%x, %three)  # p
  %cp: f32[16] = Mul(%p, %c)  # cp
  %s: f32[16] = Add(%x, %cp)  # s
  %ks: f32[16] = Mul(%s, %k)  # ks
  %t: f32[16] = Tanh(%ks)  # t
  %a: f32[16] = Add(%t, %one)  # a
  %y: f32[16] = Mul(%hx, %a)  # y
  return %y
}
""", "tanh"),
}


@pytest.mark.parametrize("form", sorted(GELU_FORMS))
def test_decomposed_gelu_becomes_one_op(form):
    text, approximate = GELU_FORMS[form]
    graph = parse_graph(text)
    simplified = eliminate_dead_code(simplify(graph))
    assert [(n.op, n.attrs.approximate) for n in simplified.nodes] == [("Gelu", approximate)]
    x = (np.random.default_rng(5).standard_normal(16) * 2).astype(np.float32)
    assert rel_l2(interpret(simplified, {"x": x})["y"], interpret(graph, {"x": x})["y"]) <= 1e-6


def test_a_near_gelu_is_left_alone():
    text = GELU_FORMS["erf_bert"][0].replace("[0.5]", "[0.4]")
    graph = parse_graph(text)
    assert "Gelu" not in {n.op for n in eliminate_dead_code(simplify(graph)).nodes}


KEYS_LAST_VIA_RESHAPES = """\
graph k(%x: f32[1,5,2,3]) -> (%y) {
  %t: f32[1,2,5,3] = Transpose(%x) {perm=[0,2,1,3]}  # t
  %r: f32[2,5,3] = Reshape(%t) {shape=[-1,5,3], allowzero=false}  # r
  %u: f32[2,3,5] = Transpose(%r) {perm=[0,2,1]}  # u
  %y: f32[1,2,3,5] = Reshape(%u) {shape=[1,2,3,5], allowzero=false}  # y
  return %y
}
"""

KEYS_LAST_ONE_TRANSPOSE = """\
graph k(%x: f32[1,5,2,3]) -> (%y) {
  %y: f32[1,2,3,5] = Transpose(%x) {perm=[0,2,3,1]}  # y
  return %y
}
"""


def test_transposes_through_unit_axis_reshapes_are_one_transpose_golden():
    """torch.export's keys-last chain (Transpose, drop the unit batch, Transpose, put it back)
    is Transpose(0, 2, 3, 1); a Reshape that merges real axes stops the chain."""
    graph = parse_graph(KEYS_LAST_VIA_RESHAPES)
    simplified = eliminate_dead_code(simplify(graph))
    verify(simplified)
    assert print_graph(simplified) == KEYS_LAST_ONE_TRANSPOSE
    x = np.random.default_rng().standard_normal((1, 5, 2, 3)).astype(np.float32)
    assert np.array_equal(interpret(simplified, {"x": x})["y"], interpret(graph, {"x": x})["y"])
    merging = parse_graph(KEYS_LAST_VIA_RESHAPES.replace("f32[2,5,3] = Reshape(%t) {shape=[-1,5,3]",
                                                         "f32[10,3] = Reshape(%t) {shape=[-1,3]")
                          .replace("f32[2,3,5] = Transpose(%r) {perm=[0,2,1]}", "f32[3,10] = Transpose(%r) {perm=[1,0]}")
                          .replace("Reshape(%u) {shape=[1,2,3,5]", "Reshape(%u) {shape=[1,2,3,5]"))
    ops = [n.op for n in eliminate_dead_code(simplify(merging)).nodes]
    assert ops.count("Transpose") == 2, ops
