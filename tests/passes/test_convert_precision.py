"""convert_precision: golden IR of a small graph (casts at the boundary, half weights, a float32
Softmax), the interpreter before and after on fresh random inputs, determinism, and integer
tensors left alone."""
from __future__ import annotations

import numpy as np
import pytest

from compiler.ir.dtypes import DType
from compiler.ir.interpreter import interpret
from compiler.ir.parser import parse_graph
from compiler.ir.printer import print_graph
from compiler.ir.verifier import verify
from conftest import rel_l2
from passes.convert_precision import FLOAT32_OPS, PROMOTING_OPS, convert_precision

MODEL = """\
graph mm(%x: f32[4,8], %ids: i64[4]) -> (%p, %g) {
  const %w: f32[8,16] = %RANDOM
  const %big: f32[16] = %BIG
  %h: f32[4,16] = MatMul(%x, %w)  # h
  %hb: f32[4,16] = Add(%h, %big)  # hb
  %p: f32[4,16] = Softmax(%hb) {axis=-1}  # p
  %r: f32[4,16] = Relu(%h)  # r
  %g: f32[4,16] = Gather(%r, %ids) {axis=0}  # g
  return %p, %g
}
"""


def _graph():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((8, 16)).astype(np.float32) / 3
    big = np.full(16, -1e30, np.float32)
    big[:8] = rng.standard_normal(8)
    def values(array):
        return "[" + ", ".join(repr(float(v)) for v in array.reshape(-1)) + "]"
    return parse_graph(MODEL.replace("%RANDOM", values(w)).replace("%BIG", values(big)))


@pytest.mark.parametrize("dtype", [DType.float16, DType.bfloat16])
def test_half_graph_matches_float32_on_fresh_inputs(dtype):
    graph = _graph()
    converted = convert_precision(graph, dtype)
    verify(converted)
    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((4, 8)).astype(np.float32), "ids": np.array([3, 0, 2, 2])}
    expected, actual = interpret(graph, feeds), interpret(converted, feeds)
    tolerance = 1e-2 if dtype is DType.float16 else 3e-2
    for name in graph.outputs:
        out = converted.outputs[graph.outputs.index(name)]
        assert actual[out].dtype == np.float32, "outputs keep the declared float32"
        assert np.isfinite(actual[out]).all(), "a -1e30 mask clips to the half range, not -inf"
        assert rel_l2(actual[out], expected[name]) <= tolerance, name


def test_weights_go_half_softmax_stays_float32_and_indices_are_untouched():
    converted = convert_precision(_graph(), DType.float16)
    types = converted.types
    assert types["w_f16"].dtype is DType.float16 and "w" not in converted.constants
    assert types["h"].dtype is DType.float16 and types["r"].dtype is DType.float16
    softmax = next(n for n in converted.nodes if n.op == "Softmax")
    assert all(types[i].dtype is DType.float32 for i in softmax.inputs)
    assert types["ids"].dtype is DType.int64
    assert types[converted.outputs[1]].dtype is DType.float32
    assert "Softmax" in FLOAT32_OPS


def test_conversion_is_deterministic_and_float32_is_the_identity():
    graph = _graph()
    assert print_graph(convert_precision(graph, DType.float16)) == print_graph(convert_precision(graph, DType.float16))
    assert convert_precision(graph, DType.float32) is graph


RESIDUAL = """\
graph res(%x: f32[4,16]) -> (%s) {
  const %w: f32[16,16] = %RANDOM
  %p: f32[4,16] = Softmax(%x) {axis=-1}  # p
  %h: f32[4,16] = MatMul(%p, %w)  # h
  %s: f32[4,16] = Add(%h, %p)  # s
  return %s
}
"""


def test_arithmetic_on_a_float32_activation_stays_float32_as_a_residual_stream():
    """Softmax (as LayerNorm) computes in float32; the MatMul reading it is half; the Add of the
    two promotes to float32 (autocast's rule), so the stream it carries is not rounded."""
    w = np.random.default_rng(2).standard_normal((16, 16)).astype(np.float32)
    graph = parse_graph(RESIDUAL.replace("%RANDOM", "[" + ", ".join(repr(float(v)) for v in w.reshape(-1)) + "]"))
    converted = convert_precision(graph, DType.bfloat16)
    verify(converted)
    types = converted.types
    add = next(n for n in converted.nodes if n.op == "Add")
    assert types["h"].dtype is DType.bfloat16 and types["s"].dtype is DType.float32
    assert all(types[i].dtype is DType.float32 for i in add.inputs)
    assert "Add" in PROMOTING_OPS


EMBEDDING = """\
graph emb(%ids: i64[4]) -> (%h) {
  const %table: f32[10,16] = %RANDOM
  const %w: f32[16,16] = %RANDOM2
  %e: f32[4,16] = Gather(%table, %ids) {axis=0}  # e
  %h: f32[4,16] = MatMul(%e, %w)  # h
  return %h
}
"""


def test_an_embedding_lookup_keeps_its_float32_table():
    """Gather from a constant table is data movement: the table keeps float32 (as under autocast)
    rather than each embedding being rounded before the model starts; the MatMul is half."""
    rng = np.random.default_rng(3)
    def values(shape):
        return "[" + ", ".join(repr(float(v)) for v in rng.standard_normal(shape).reshape(-1)) + "]"
    graph = parse_graph(EMBEDDING.replace("%RANDOM2", values((16, 16))).replace("%RANDOM", values((10, 16))))
    converted = convert_precision(graph, DType.float16)
    verify(converted)
    types = converted.types
    gather = next(n for n in converted.nodes if n.op == "Gather")
    assert gather.inputs[0] == "table" and types["table"].dtype is DType.float32
    assert types["e"].dtype is DType.float32 and types["h"].dtype is DType.float16


TIED = """\
graph tied(%ids: i64[4]) -> (%h) {
  const %table: f32[10,16] = %RANDOM
  %tt: f32[16,10] = Transpose(%table) {perm=[1, 0]}  # tt
  %e: f32[4,16] = Gather(%table, %ids) {axis=0}  # e
  %h: f32[4,10] = MatMul(%e, %tt)  # h
  return %h
}
"""


def test_a_table_a_half_op_also_reads_is_converted_once():
    """A tied LM head reads the embedding table through a half op too: one half table, not two."""
    table = np.random.default_rng(4).standard_normal(160)
    converted = convert_precision(parse_graph(TIED.replace("%RANDOM", "[" + ", ".join(map(repr, map(float, table))) + "]")),
                                  DType.float16)
    verify(converted)
    assert "table" not in converted.constants
    assert [converted.types[n].dtype for n in converted.constants] == [DType.float16]
