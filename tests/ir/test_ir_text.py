"""The graph IR's text form: a pinned golden text, exact round-trips, and parse errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

from compiler.errors import ModelError
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import NoAttrs, OPS
from compiler.ir.parser import parse_graph
from compiler.ir.printer import print_graph
from compiler.ir.types import Sym, TensorType
from compiler.ir.verifier import graph_difference, verify

F32 = DType.float32


def _golden_graph() -> Graph:
    batch = Sym("batch")
    nodes = (
        Node("MatMul", "mm", ("x", "w"), (Value("h", TensorType((batch, 6), F32)),), NoAttrs()),
        Node("Clip", "clip", ("h", "", "max/value:0"), (Value("c", TensorType((batch, 6), F32)),), NoAttrs()),
        Node("Reshape", "layer1/reshape", ("c",), (Value("y", TensorType((batch, 2, 3), F32)),),
             OPS["Reshape"].attrs(shape=(0, 2, -1))),
        Node("Cast", "cast", ("y",), (Value("out:1", TensorType((batch, 2, 3), DType.float16)),),
             OPS["Cast"].attrs(to=DType.float16)),
    )
    constants = {"w": np.arange(24, dtype=np.float32).reshape(4, 6),
                 "max/value:0": np.array(6.0, np.float32)}
    return Graph("golden/0", (Value("x", TensorType((batch, 4), F32, "NHWC")),), ("y", "out:1"), nodes, constants)


GOLDEN = '''\
graph golden/0(%x: f32[batch,4]@NHWC) -> (%y, %"out:1") {
  const %"max/value:0": f32[] = [6.0]
  const %w: f32[4,6] = blob("w")
  %h: f32[batch,6] = MatMul(%x, %w)  # mm
  %c: f32[batch,6] = Clip(%h, _, %"max/value:0")  # clip
  %y: f32[batch,2,3] = Reshape(%c) {shape=[0,2,-1], allowzero=false}  # layer1/reshape
  %"out:1": f16[batch,2,3] = Cast(%y) {to=f16, saturate=true}  # cast
  return %y, %"out:1"
}
'''


def test_golden_text_is_pinned_and_round_trips():
    graph = _golden_graph()
    verify(graph)
    assert print_graph(graph) == GOLDEN
    parsed = parse_graph(GOLDEN, blobs={"w": graph.constants["w"]})
    assert graph_difference(graph, parsed) is None
    assert print_graph(parsed) == GOLDEN


def test_inline_limit_moves_constants_between_inline_and_blob():
    graph = _golden_graph()
    text = print_graph(graph, inline_limit=24)
    assert "const %w: f32[4,6] = [0.0, 1.0, 2.0," in text
    assert graph_difference(graph, parse_graph(text)) is None
    text = print_graph(graph, inline_limit=0)
    assert 'const %"max/value:0": f32[] = blob("max/value:0")' in text
    assert graph_difference(graph, parse_graph(text, blobs=graph.constants)) is None


def _edge_values(dtype: np.dtype) -> np.ndarray:
    if dtype.kind == "b":
        return np.array([True, False, True], dtype)
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return np.array([info.min, info.max, 0, 1, info.max // 3], dtype)
    info = np.finfo(dtype)
    return np.array([np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, info.max, -info.max, info.smallest_subnormal,
                     info.tiny, info.eps, 0.1, 1 / 3, 1e-3, 65504.0 if dtype.itemsize > 2 else 1.0], dtype)


# bfloat16 and the narrow types (float8, int4...) have no constant text form yet.
NUMPY_DTYPES = [d for d in DType if d is not DType.bfloat16 and not d.is_narrow]


@pytest.mark.parametrize("dtype", NUMPY_DTYPES, ids=lambda d: d.value)
def test_constants_of_every_dtype_round_trip_exactly(dtype):
    values = _edge_values(dtype.to_numpy())
    constants = {"flat": values, "matrix": np.resize(values, (2, 3)), "scalar": values[1:2].reshape(()),
                 "empty": values[:0].reshape(0, 2), "big": np.resize(values, (5, 7))}
    graph = Graph("c", (), tuple(constants), (), constants)
    verify(graph)
    text = print_graph(graph)
    assert 'blob("big")' in text and 'blob("flat")' not in text
    parsed = parse_graph(text, blobs={"big": constants["big"]})
    assert graph_difference(graph, parsed) is None
    for name, array in constants.items():
        got = parsed.constants[name]
        assert got.dtype == array.dtype and got.shape == array.shape
        same = np.isnan(array) if dtype.is_float else np.zeros(array.shape, bool)
        assert (got.tobytes() == array.tobytes()) or np.array_equal(got[~same], array[~same])
        if dtype.is_float:
            assert np.array_equal(np.signbit(got), np.signbit(array))  # -0.0 and -nan keep their sign


def test_short_float_text_for_each_width():
    constants = {"h": np.array([0.1, 65504], np.float16), "s": np.array([0.1, 1e30], np.float32),
                 "d": np.array([0.1, 1e300], np.float64)}
    text = print_graph(Graph("g", (), ("h",), (), constants))
    assert "const %h: f16[2] = [0.1, 6.55e+04]" in text
    assert "const %s: f32[2] = [0.1, 1e+30]" in text
    assert "const %d: f64[2] = [0.1, 1e+300]" in text


def _node(op: str, attrs: object, inputs: tuple[str, ...], out: TensorType, name: str = "n") -> Node:
    return Node(op, name, inputs, (Value("y", out),), attrs)


@pytest.mark.parametrize("node, text", [
    (_node("Conv", OPS["Conv"].attrs((3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2), ("x", "w", ""),
           TensorType((1, 4, 8, 8), F32)),
     "Conv(%x, %w, _) {kernel_shape=[3,3], strides=[1,1], pads=[1,1,1,1], dilations=[1,1], group=2, channels_last=false}"),
    (_node("LeakyRelu", OPS["LeakyRelu"].attrs(alpha=0.01), ("x",), TensorType((2,), F32)),
     "LeakyRelu(%x) {alpha=0.01}"),
    (_node("Gelu", OPS["Gelu"].attrs(approximate="tanh"), ("x",), TensorType((2,), F32)),
     'Gelu(%x) {approximate="tanh"}'),
    (_node("Pad", OPS["Pad"].attrs(pads=(1, -1), mode="constant", value=-np.inf), ("x",), TensorType((2,), F32)),
     'Pad(%x) {pads=[1,-1], mode="constant", value=-inf}'),
    (_node("Range", OPS["Range"].attrs(0.0, 1e-05, 2.5e-06, DType.int64), (), TensorType((4,), DType.int64)),
     "Range() {start=0.0, limit=1e-05, delta=2.5e-06, dtype=i64}"),
    (_node("ReduceSum", OPS["ReduceSum"].attrs(axes=(), keepdims=True), ("x",), TensorType((), F32)),
     "ReduceSum(%x) {axes=[], keepdims=true, noop_with_empty_axes=false}"),
    (_node("LeakyRelu", OPS["LeakyRelu"].attrs(alpha=2), ("x",), TensorType((2,), F32), name="we ird\n"),
     'LeakyRelu(%x) {alpha=2.0}  # "we ird\\n"'),
])
def test_attributes_round_trip(node, text):
    graph = Graph("g", (Value("x", TensorType((2,), F32)), Value("w", TensorType((4, 1, 3, 3), F32))),
                  ("y",), (node,))
    printed = print_graph(graph)
    assert text in printed
    parsed = parse_graph(printed)
    assert graph_difference(graph, parsed) is None
    assert type(parsed.nodes[0].attrs) is type(node.attrs)


def test_awkward_names_round_trip():
    names = ["a/b:0", "x y", "", "_", "%", '"', "\\", "é\u2028", "\x00", "-1", "#", "{}"]
    inputs = tuple(Value(n or "empty", TensorType((Sym("n"),), F32)) for n in names)
    nodes = tuple(Node("Relu", n, (v.name,), (Value(v.name + "'", v.type),), NoAttrs())
                  for n, v in zip(names, inputs))
    graph = Graph("\tg\n", inputs, tuple(v.name + "'" for v in inputs), nodes)
    text = print_graph(graph)
    assert text.isascii() and text.count("\n") == len(names) + 3
    assert graph_difference(graph, parse_graph(text)) is None


def test_hand_written_text_may_omit_node_names_and_have_comments():
    graph = parse_graph("""
        # a comment line
        graph g(%x: i64[3]) -> (%y) {
          %y: i64[3] = Neg(%x)
          return %y
        }
        """)
    assert graph.nodes[0].name == "y"


@pytest.mark.parametrize("text, message", [
    ("graph g() -> (%y) {\n  %y: f32[1] = Frobnicate()  # n\n  return %y\n}", "line 2: unknown op 'Frobnicate'"),
    ("graf g() -> () {\n}", "line 1: expected 'graph"),
    ("graph g(%x f32[1]) -> () {\n  return\n}", "line 1: expected ':' after %x"),
    ("graph g() -> () {\n  return\n", "line 2: missing '}'"),
    ("graph g() -> () {\n}", "line 2: missing 'return'"),
    ("graph g() -> (%a) {\n  return %b\n}", "line 2: return (%b) disagrees"),
    ("graph g() -> () {\n  return\n}\n%x", "line 4: unexpected"),
    ("graph g() -> () {\n  const %c: f32[4,4] = blob(\"c\")\n  return\n}", "line 2: constant %c refers to blob"),
    ("graph g() -> () {\n  const %c: i8[2] = [1, 1000]\n  return\n}", "line 2: the values of %c must be"),
    ("graph g() -> () {\n  const %c: i8[2] = [1.5, 1]\n  return\n}", "line 2: the values of %c must be"),
    ("graph g() -> () {\n  const %c: i8[3] = [1, 2]\n  return\n}", "line 2: constant %c has 2 values"),
    ("graph g() -> () {\n  const %c: bool[1] = [1]\n  return\n}", "line 2: the values of %c must be true"),
    ("graph g() -> () {\n  const %c: f32[n] = [1]\n  return\n}", "line 2: constant %c has symbolic shape"),
    ("graph g() -> () {\n  const %c: f32[1] = [1]\n  const %c: f32[1] = [1]\n  return\n}", "line 3: constant %c is defined twice"),
    ("graph g(%x: f32[1]) -> () {\n  %y: f32[1] = Concat(%x) {axis=\"0\"}\n  return\n}",
     "line 2: attribute 'axis' of Concat must be an integer"),
    ("graph g(%x: f32[1]) -> () {\n  %y: f32[1] = Concat(%x) {axis=0, bogus=1}\n  return\n}",
     "line 2: Concat has no attribute 'bogus'"),
    ("graph g(%x: f32[1]) -> () {\n  %y: f32[1] = Concat(%x)\n  return\n}", "line 2: Concat needs attribute 'axis'"),
    ("graph g(%x: f32[1]) -> () {\n  %y: f32[1] = Cast(%x) {to=f33}\n  return\n}",
     "line 2: attribute 'to' of Cast must be a dtype"),
    ("graph g(%x: f32[1]) -> () {\n  %y: f32[1] = Gelu(%x) {approximate=\"fast\"}\n  return\n}",
     "line 2: bad attributes for Gelu"),
    ("graph g(%x: f32[1]) -> () {\n  %y: q32[1] = Relu(%x)\n  return\n}", "line 2: bad type 'q32[1]'"),
    ("graph g(%x: f32[1]) -> () {\n  %y: f32[1] = Relu(%x  # n\n  return\n}", "line 2: expected ','"),
])
def test_parse_errors_name_the_line(text, message):
    with pytest.raises(ModelError, match="^" + re.escape(message)):
        parse_graph(text)
