"""Decomposed LayerNorm and Softmax become the graph ops: golden IR, the interpreter before and
after, a TorchScript export below opset 17 (which spells LayerNorm out), and near-misses left
alone."""
from __future__ import annotations

import io
import warnings

import numpy as np
import onnx
import onnxruntime as ort

import compiler
from compiler.frontends.onnx import import_onnx
from compiler.ir.interpreter import interpret
from compiler.ir.parser import parse_graph
from compiler.ir.printer import print_graph
from compiler.ir.verifier import verify
from conftest import rel_l2
from passes.eliminate_dead_code import eliminate_dead_code
from passes.simplify import simplify

DECOMPOSED = """\
graph norms(%x: f32[2,3,4]) -> (%y, %p) {
  const %two: f32[] = [2.0]
  const %eps: f32[] = [1e-05]
  const %g: f32[4] = [0.5, 1.0, 1.5, 2.0]
  const %b: f32[4] = [0.25, -0.25, 0.5, -0.5]
  %m: f32[2,3,1] = ReduceMean(%x) {axes=[-1], keepdims=true}  # m
  %d: f32[2,3,4] = Sub(%x, %m)  # d
  %sq: f32[2,3,4] = Pow(%d, %two)  # sq
  %v: f32[2,3,1] = ReduceMean(%sq) {axes=[-1], keepdims=true}  # v
  %ve: f32[2,3,1] = Add(%v, %eps)  # ve
  %s: f32[2,3,1] = Sqrt(%ve)  # s
  %n: f32[2,3,4] = Div(%d, %s)  # n
  %gn: f32[2,3,4] = Mul(%n, %g)  # gn
  %y: f32[2,3,4] = Add(%gn, %b)  # y
  %mx: f32[2,1,4] = ReduceMax(%y) {axes=[1], keepdims=true}  # mx
  %t: f32[2,3,4] = Sub(%y, %mx)  # t
  %e: f32[2,3,4] = Exp(%t)  # e
  %z: f32[2,1,4] = ReduceSum(%e) {axes=[1], keepdims=true}  # z
  %p: f32[2,3,4] = Div(%e, %z)  # p
  return %y, %p
}
"""

RECOGNISED = """\
graph norms(%x: f32[2,3,4]) -> (%y, %p) {
  const %y_bias: f32[4] = [0.25, -0.25, 0.5, -0.5]
  const %y_scale: f32[4] = [0.5, 1.0, 1.5, 2.0]
  %y: f32[2,3,4] = LayerNormalization(%x, %y_scale, %y_bias) {axis=-1, epsilon=9.999999747378752e-06}  # y
  %p: f32[2,3,4] = Softmax(%y) {axis=-2}  # p
  return %y, %p
}
"""


def _same_values(before, after, shape, tolerance=1e-6):
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    name = before.input_names[0]
    want, got = interpret(before, {name: x}), interpret(after, {name: x})
    for output in before.outputs:
        assert rel_l2(got[output], want[output]) <= tolerance, output


def test_decomposed_layernorm_and_softmax_golden():
    graph = parse_graph(DECOMPOSED)
    simplified = eliminate_dead_code(simplify(graph))
    verify(simplified)
    assert print_graph(simplified) == RECOGNISED
    _same_values(graph, simplified, (2, 3, 4))


def test_softmax_without_the_max_shift_is_recognised_too():
    text = """\
graph s(%x: f32[5,7]) -> (%p) {
  %e: f32[5,7] = Exp(%x)  # e
  %z: f32[5,1] = ReduceSum(%e) {axes=[1], keepdims=true}  # z
  %p: f32[5,7] = Div(%e, %z)  # p
  return %p
}
"""
    graph = parse_graph(text)
    simplified = eliminate_dead_code(simplify(graph))
    assert [(n.op, n.attrs.axis) for n in simplified.nodes] == [("Softmax", -1)]
    _same_values(graph, simplified, (5, 7))


def test_near_misses_are_left_alone():
    """Variance over other axes than the mean, a sum kept as an output, a Sub from another
    tensor: not a LayerNorm / Softmax, so nothing changes."""
    text = """\
graph n(%x: f32[2,3,4], %w: f32[2,3,4]) -> (%n, %p, %z) {
  const %eps: f32[] = [1e-05]
  %m: f32[2,3,1] = ReduceMean(%x) {axes=[-1], keepdims=true}  # m
  %d: f32[2,3,4] = Sub(%x, %m)  # d
  %sq: f32[2,3,4] = Mul(%d, %d)  # sq
  %v: f32[2,1,1] = ReduceMean(%sq) {axes=[1, 2], keepdims=true}  # v
  %ve: f32[2,1,1] = Add(%v, %eps)  # ve
  %s: f32[2,1,1] = Sqrt(%ve)  # s
  %n: f32[2,3,4] = Div(%d, %s)  # n
  %e: f32[2,3,4] = Exp(%w)  # e
  %z: f32[2,3,1] = ReduceSum(%e) {axes=[-1], keepdims=true}  # z
  %p: f32[2,3,4] = Div(%e, %z)  # p
  return %n, %p, %z
}
"""
    graph = parse_graph(text)
    assert print_graph(eliminate_dead_code(simplify(graph))) == print_graph(graph)


def _layernorm_mlp_export() -> onnx.ModelProto:
    """A LayerNorm + Linear + softmax exported by TorchScript at opset 14, where LayerNorm is
    written out as ReduceMean/Sub/Pow/Sqrt/Div/Mul/Add."""
    import torch

    class Block(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.norm, self.fc = torch.nn.LayerNorm(32), torch.nn.Linear(32, 16)

        def forward(self, x):
            return torch.softmax(self.fc(self.norm(x)), dim=-1)

    torch.manual_seed(0)
    block = Block().eval()
    with torch.no_grad():
        block.norm.weight.uniform_(0.5, 1.5)
        block.norm.bias.uniform_(-0.5, 0.5)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(block, (torch.randn(2, 5, 32),), buffer, opset_version=14, dynamo=False)
    return onnx.load_from_string(buffer.getvalue())


def test_torchscript_opset14_layernorm_becomes_one_op_and_matches_onnxruntime():
    model = _layernorm_mlp_export()
    assert "LayerNormalization" not in {n.op_type for n in model.graph.node}
    graph = import_onnx(model)
    simplified = eliminate_dead_code(simplify(graph))
    ops = [n.op for n in simplified.nodes]
    assert ops.count("LayerNormalization") == 1 and "ReduceMean" not in ops and "Sqrt" not in ops
    _same_values(graph, simplified, (2, 5, 32))
    x = (np.random.default_rng(3).standard_normal((2, 5, 32)) + 0.1).astype(np.float32)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert rel_l2(compiler.compile(model)(x), expected) <= 1e-5
