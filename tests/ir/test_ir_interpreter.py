"""The reference interpreter on graphs written in the text form, against hand-written numpy."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.ir.interpreter import interpret
from compiler.ir.parser import parse_graph
from compiler.ir.verifier import verify

MLP = """
graph mlp(%x: f32[batch,4]) -> (%y) {
  const %b: f32[3] = [0.5, -1.0, 2.0]
  const %w: f32[4,3] = blob("w")
  %h: f32[batch,3] = MatMul(%x, %w)  # fc
  %a: f32[batch,3] = Add(%h, %b)  # bias
  %y: f32[batch,3] = Relu(%a)  # relu
  return %y
}
"""

SHUFFLE = """
graph shuffle(%x: i64[n,2,3], %"side/input:0": i64[n,2,1]) -> (%flat, %"max:out") {
  const %hi: i64[] = [4]
  %t: i64[n,3,2] = Transpose(%x) {perm=[0,2,1]}  # t
  %back: i64[n,2,3] = Transpose(%t) {perm=[0,2,1]}  # back
  %cat: i64[n,2,4] = Concat(%back, %"side/input:0") {axis=-1}  # cat
  %flat: i64[n,8] = Reshape(%cat) {shape=[0,-1], allowzero=false}  # flatten
  %"max:out": i64[n,8] = Clip(%flat, _, %hi)  # clip
  return %flat, %"max:out"
}
"""


@pytest.mark.parametrize("batch", [1, 5])
def test_mlp_matches_numpy(batch):
    rng = np.random.default_rng(batch)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    graph = parse_graph(MLP, blobs={"w": w})
    verify(graph)
    x = rng.standard_normal((batch, 4)).astype(np.float32)
    got = interpret(graph, {"x": x})
    expected = np.maximum(x @ w + np.array([0.5, -1.0, 2.0], np.float32), 0)
    assert set(got) == {"y"}
    np.testing.assert_allclose(got["y"], expected, rtol=1e-6, atol=1e-6)


def test_data_movement_with_a_symbolic_batch():
    graph = parse_graph(SHUFFLE)
    verify(graph)
    x = np.arange(3 * 2 * 3, dtype=np.int64).reshape(3, 2, 3)
    side = -np.arange(3 * 2, dtype=np.int64).reshape(3, 2, 1)
    got = interpret(graph, {"x": x, "side/input:0": side})
    flat = np.concatenate([x, side], axis=-1).reshape(3, -1)
    np.testing.assert_array_equal(got["flat"], flat)
    np.testing.assert_array_equal(got["max:out"], np.minimum(flat, 4))
    assert got["max:out"].dtype == np.int64


def test_symbol_bound_inconsistently_is_refused():
    graph = parse_graph(SHUFFLE)
    with pytest.raises(ValueError, match="symbol 'n'"):
        interpret(graph, {"x": np.zeros((3, 2, 3), np.int64), "side/input:0": np.zeros((2, 2, 1), np.int64)})
