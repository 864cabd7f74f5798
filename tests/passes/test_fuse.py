"""Epilogue fusion: each contraction (and max pooling) takes its elementwise tail into one
kernel. Checked on small models against onnxruntime, with the kernel counts `aotc inspect`
reports."""
from __future__ import annotations

from dataclasses import replace

import numpy as np

import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.api import default_options
from compiler.inspect import inspect_report
from conftest import rel_l2

F32 = TensorProto.FLOAT


OUTPUT_SHAPES = {"residual_layernorm": [2, 5, 16], "scaled_softmax": [3, 4, 9], "mean_scale_relu": [4, 1, 6],
                 "matmul_bias_residual": [2, 5, 12], "matmul_bias_gelu": [2, 5, 20], "gemm_reshape_bias_gelu": [2, 4, 20],
                 "gemm_reshape_residual": [2, 4, 12], "depthwise_empty_bias_add": [1, 8, 6, 7], "conv_add_relu": [1, 16, 10, 10], "depthwise_clip": [1, 8, 7, 6], "matmul_bias": [2, 5, 20],
                 "matmul_column_add_relu": [5, 20], "maxpool_relu": [1, 4, 5, 5], "shared_value_not_fused": [3, 6]}


def model(nodes, inputs, outputs, weights):
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array((rng.standard_normal(shape) * 0.5).astype(np.float32), name)
            for name, shape in weights.items()]
    outs = [helper.make_tensor_value_info(n, F32, shape) for n, shape in outputs.items()]
    graph = helper.make_graph(nodes, "fused", [helper.make_tensor_value_info(n, F32, s) for n, s in inputs.items()],
                              outs, initializer=init)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


def clip_bounds():
    return [numpy_helper.from_array(np.array(0.0, np.float32), "lo"), numpy_helper.from_array(np.array(6.0, np.float32), "hi")]


CASES = {
    # ResNet's block tail: conv -> + residual -> relu
    "conv_add_relu": (
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Add", ["c", "x"], ["s"]), helper.make_node("Relu", ["s"], ["y"])],
        {"x": [1, 16, 10, 10]}, {"w": (16, 16, 3, 3), "b": (16,)}, 1),
    # MobileNet's depthwise conv -> ReLU6, stride 2
    "depthwise_clip": (
        [helper.make_node("Conv", ["x", "w", "b"], ["c"], group=8, strides=[2, 2], pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Clip", ["c", "lo", "hi"], ["y"])],
        {"x": [1, 8, 13, 11]}, {"w": (8, 1, 3, 3), "b": (8,)}, 1),
    # BERT's linear layer: matmul -> + bias
    "matmul_bias": (
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["y"])],
        {"x": [2, 5, 12]}, {"w": (12, 20), "b": (20,)}, 1),
    # residual broadcast over rows: matmul -> + (5, 1) column -> relu
    "matmul_column_add_relu": (
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["s"]),
         helper.make_node("Relu", ["s"], ["y"])],
        {"x": [5, 12]}, {"w": (12, 20), "b": (5, 1)}, 1),
    # depthwise conv whose absent bias is spelled "" -> + residual: the fused kernel's parameter
    # names must not count the hole
    "depthwise_empty_bias_add": (
        [helper.make_node("Conv", ["x", "w", ""], ["c"], group=8, pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("Add", ["c", "x"], ["y"])],
        {"x": [1, 8, 6, 7]}, {"w": (8, 1, 3, 3)}, 1),
    # BERT's attention output: matmul -> + bias -> + residual (the LayerNorm follows)
    "matmul_bias_residual": (
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
         helper.make_node("Add", ["x", "a"], ["y"])],
        {"x": [2, 5, 12]}, {"w": (12, 12), "b": (12,)}, 1),
    # BERT's FFN up-projection: matmul -> + bias -> GELU (erf form, as simplify recognises it)
    "matmul_bias_gelu": (
        [helper.make_node("MatMul", ["x", "w"], ["m"]), helper.make_node("Add", ["m", "b"], ["a"]),
         helper.make_node("Gelu", ["a"], ["y"], domain="")],
        {"x": [2, 5, 12]}, {"w": (12, 20), "b": (20,)}, 1),
    # GPT-2's Conv1D: Gemm on (B*S, K) -> Reshape (B, S, N) -> GELU
    "gemm_reshape_bias_gelu": (
        [helper.make_node("Gemm", ["x", "w", "b"], ["g"]), helper.make_node("Reshape", ["g", "shape"], ["r"]),
         helper.make_node("Gelu", ["r"], ["y"], approximate="tanh")],
        {"x": [8, 12]}, {"w": (12, 20), "b": (20,)}, 1),
    # GPT-2's residual after c_proj: Gemm -> Reshape -> + residual of the reshaped shape
    "gemm_reshape_residual": (
        [helper.make_node("Gemm", ["x", "w", "b"], ["g"]), helper.make_node("Reshape", ["g", "shape"], ["r"]),
         helper.make_node("Add", ["r", "res"], ["y"])],
        {"x": [8, 12], "res": [2, 4, 12]}, {"w": (12, 12), "b": (12,)}, 1),
    # reduction prologue: BERT's post-LN residual, Add -> LayerNorm, in one kernel
    "residual_layernorm": (
        [helper.make_node("Add", ["x", "r"], ["s"]),
         helper.make_node("LayerNormalization", ["s", "g", "b"], ["y"], axis=-1, epsilon=1e-5)],
        {"x": [2, 5, 16], "r": [2, 5, 16]}, {"g": (16,), "b": (16,)}, 1),
    # reduction prologue: a scaling before a softmax
    "scaled_softmax": (
        [helper.make_node("Mul", ["x", "c"], ["s"]), helper.make_node("Softmax", ["s"], ["y"], axis=1)],
        {"x": [3, 4, 9]}, {"c": ()}, 1),
    # reduction epilogue: a mean, scaled, through ReLU, before its one store
    "mean_scale_relu": (
        [helper.make_node("ReduceMean", ["x"], ["m"], axes=[1]), helper.make_node("Mul", ["m", "c"], ["s"]),
         helper.make_node("Relu", ["s"], ["y"])],
        {"x": [4, 7, 6]}, {"c": ()}, 1),
    "maxpool_relu": (
        [helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["p"], ["y"])],
        {"x": [1, 4, 9, 9]}, {}, 1),
    # the Gemm's output is used twice, so it is kept (no epilogue); ReLU -> Add fuse as a chain
    "shared_value_not_fused": (
        [helper.make_node("Gemm", ["x", "w"], ["g"], transB=1), helper.make_node("Relu", ["g"], ["y"]),
         helper.make_node("Add", ["g", "y"], ["z"])],
        {"x": [3, 8]}, {"w": (6, 8)}, 2),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fused_model_matches_onnxruntime(case):
    nodes, inputs, weights, kernel_calls = CASES[case]
    outputs = {("z" if case == "shared_value_not_fused" else "y"): OUTPUT_SHAPES[case]}
    m = model(nodes, inputs, outputs, weights)
    if case == "depthwise_clip":
        m.graph.initializer.extend(clip_bounds())
    if case.startswith("gemm_reshape"):
        m.graph.initializer.append(numpy_helper.from_array(np.array(OUTPUT_SHAPES[case], np.int64), "shape"))
    if "gelu" in case:
        m = helper.make_model(m.graph, ir_version=10, opset_imports=[helper.make_opsetid("", 20)])
    # NCHW: these count fusion alone (the CPU's auto layout would add boundary transposes
    # around the depthwise case; tests/passes/test_convert_layout.py covers those).
    art = compiler.compile(m, target="cpu", options=replace(default_options(), activation_layout="NCHW"))
    report = inspect_report(art.manifest)
    assert report["graph_nodes"] == len(nodes) and report["kernel_calls"] == kernel_calls
    rng = np.random.default_rng(1)
    feeds = {n: (rng.standard_normal(s) + 0.1).astype(np.float32) for n, s in inputs.items()}
    expected = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    actual = art(**feeds)
    assert actual.shape == expected.shape
    assert rel_l2(actual, expected) <= 1e-5


GOLDEN = """\
graph g(%x: f32[4,8]) -> (%y, %z) {
  const %w: f32[8,8] = blob("w")
  const %b: f32[8] = blob("b")
  const %half: f32[] = [0.5]
  %m: f32[4,8] = MatMul(%x, %w)  # mm
  %a: f32[4,8] = Add(%m, %b)  # bias
  %r: f32[4,8] = Relu(%a)  # relu
  %e: f32[4,8] = Exp(%r)  # exp
  %y: f32[4,8] = Mul(%e, %half)  # scale
  %z: f32[4,8] = Tanh(%r)  # tanh
  return %y, %z
}
"""


def test_fusion_plan_golden():
    """MatMul takes its bias and ReLU (their group's output, r, then feeds two ops); Exp -> Mul
    chain into one loop; Tanh, alone, stays a kernel of its own."""
    from compiler.ir.parser import parse_graph
    from compiler.target import resolve_target
    from passes.fuse import FusionGroup, plan_epilogues
    rng = np.random.default_rng(0)
    graph = parse_graph(GOLDEN, blobs={"w": rng.standard_normal((8, 8)).astype(np.float32),
                                       "b": rng.standard_normal(8).astype(np.float32)})
    plan = plan_epilogues(graph, resolve_target("cpu"))
    assert plan.groups == (FusionGroup("mm", ("bias", "relu"), "epilogue"),
                           FusionGroup("exp", ("scale",), "elementwise"))
