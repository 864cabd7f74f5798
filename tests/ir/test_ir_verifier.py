"""The verifier: it accepts a well-formed graph and rejects each kind of problem with one line
naming the graph, the node and the problem."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from compiler.errors import ModelError
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import NoAttrs, OPS
from compiler.ir.types import Sym, TensorType
from compiler.ir.verifier import graph_difference, structurally_equal, verify

F32 = DType.float32
N = Sym("n")


def _t(*shape, dtype=F32, layout=""):
    return TensorType(tuple(shape), dtype, layout)


def _good() -> Graph:
    """x: f32[n,4] -> MatMul(w: f32[4,3]) -> Add(b) -> Reshape -> y."""
    nodes = (
        Node("MatMul", "mm", ("x", "w"), (Value("h", _t(N, 3)),), NoAttrs()),
        Node("Add", "add", ("h", "b"), (Value("a", _t(N, 3)),), NoAttrs()),
        Node("Reshape", "flat", ("a",), (Value("y", _t(N, 3, 1)),), OPS["Reshape"].attrs(shape=(0, -1, 1))),
    )
    constants = {"w": np.ones((4, 3), np.float32), "b": np.zeros(3, np.float32)}
    return Graph("model", (Value("x", _t(N, 4)),), ("y",), nodes, constants)


def _with_node(graph: Graph, index: int, **changes) -> Graph:
    nodes = list(graph.nodes)
    nodes[index] = dataclasses.replace(nodes[index], **changes)
    return graph.with_nodes(nodes)


def test_accepts_a_good_graph_and_ignores_layouts():
    verify(_good())
    graph = _with_node(_good(), 0, outputs=(Value("h", _t(N, 3, layout="NHWC")),))
    verify(graph)


def _writeable_constant() -> Graph:
    array = np.zeros(3, np.float32)
    array.flags.writeable = False
    graph = _good().with_nodes(_good().nodes, constants={**_good().constants, "b": array})
    array.flags.writeable = True  # the graph kept this (read-only, contiguous) array as is
    return graph


def _complex_constant() -> Graph:
    graph = _good()
    return graph.with_nodes(graph.nodes, constants={**graph.constants, "odd": np.zeros(2, np.complex64)})


BAD = {
    "defined twice": (
        lambda g: _with_node(g, 1, outputs=(Value("h", _t(N, 3)),)),
        "graph 'model': value 'h' is defined twice: by node 'mm' (MatMul) and by node 'add' (Add)"),
    "used before defined": (
        lambda g: g.with_nodes((g.nodes[1], g.nodes[0], g.nodes[2])),
        "graph 'model': node 'add' (Add): input 'h' is used before it is defined"),
    "never defined": (
        lambda g: _with_node(g, 1, inputs=("h", "nowhere")),
        "graph 'model': node 'add' (Add): input 'nowhere' is never defined"),
    "node name not unique": (
        lambda g: _with_node(g, 2, name="mm"),
        "graph 'model': node 'mm' (Reshape): node name is not unique"),
    "output undefined": (
        lambda g: g.replace(outputs=("y", "z")),
        "graph 'model': graph output 'z' is not defined"),
    "unknown op": (
        lambda g: _with_node(g, 1, op="Frobnicate"),
        "graph 'model': node 'add' (Frobnicate): unknown op 'Frobnicate'"),
    "attrs of another class": (
        lambda g: _with_node(g, 2, attrs=OPS["Expand"].attrs(shape=(0, -1, 1))),
        "graph 'model': node 'flat' (Reshape): attrs are ExpandAttrs, but Reshape takes ReshapeAttrs"),
    "recorded type disagrees": (
        lambda g: _with_node(g, 0, outputs=(Value("h", _t(N, 4)),)),
        "graph 'model': node 'mm' (MatMul): output 'h' is recorded as f32[n,4] but MatMul infers f32[n,3]"),
    "recorded dtype disagrees": (
        lambda g: _with_node(g, 0, outputs=(Value("h", _t(N, 3, dtype=DType.float16)),)),
        "graph 'model': node 'mm' (MatMul): output 'h' is recorded as f16[n,3] but MatMul infers f32[n,3]"),
    "output count disagrees": (
        lambda g: _with_node(g, 0, outputs=(Value("h", _t(N, 3)), Value("h2", _t(N, 3)))),
        "graph 'model': node 'mm' (MatMul): has 2 outputs, but MatMul infers 1"),
    "infer raises": (
        lambda g: _with_node(g, 0, inputs=("w", "x")),
        "graph 'model': node 'mm' (MatMul): type inference failed: MatMul: inner dimensions 3 and n differ"),
    "constant values reach infer": (
        lambda g: _with_node(g, 2, attrs=OPS["Reshape"].attrs(shape=(0, -1, 2))),
        "graph 'model': node 'flat' (Reshape): type inference failed: Reshape:"),
    "writeable constant": (
        lambda g: _writeable_constant(),
        "graph 'model': constant 'b' is writeable; graph constants must be read-only"),
    "constant dtype without DType": (
        lambda g: _complex_constant(),
        "graph 'model': constant 'odd' has dtype complex64, which has no aotc DType"),
    "input is also a constant": (
        lambda g: g.replace(inputs=g.inputs + (Value("w", _t(4, 3)),)),
        "graph 'model': graph input 'w' is also a constant"),
    "empty value name": (
        lambda g: _with_node(g, 2, outputs=(Value("", _t(N, 3, 1)),)),
        "graph 'model': node 'flat' (Reshape) defines a value with an empty name"),
}


@pytest.mark.parametrize("rule", sorted(BAD))
def test_rejects(rule):
    make, message = BAD[rule]
    with pytest.raises(ModelError) as caught:
        verify(make(_good()))
    text = str(caught.value)
    assert text.startswith(message), text
    assert "\n" not in text


def test_messages_stay_on_one_line_for_odd_names():
    graph = _with_node(_good(), 1, name="two\nlines", inputs=("h", "new\nvalue"))
    with pytest.raises(ModelError, match=r'^graph \'model\': node "two\\nlines" \(Add\): input "new\\nvalue"'):
        verify(graph)


def test_structural_equality():
    assert structurally_equal(_good(), _good())
    assert not structurally_equal(_good(), _with_node(_good(), 2, name="other"))
    assert "node 2 differs" in graph_difference(_good(), _with_node(_good(), 2, name="other"))
    changed = _good().with_nodes(_good().nodes, constants={**_good().constants, "b": np.ones(3, np.float32)})
    assert graph_difference(_good(), changed).startswith("constant 'b' differs")
    as_f64 = _good().with_nodes(_good().nodes, constants={**_good().constants, "b": np.zeros(3, np.float64)})
    assert not structurally_equal(_good(), as_f64)
    negative_zero = _good().with_nodes(_good().nodes, constants={**_good().constants, "b": -np.zeros(3, np.float32)})
    assert not structurally_equal(_good(), negative_zero)
    nan = {**_good().constants, "b": np.full(3, np.nan, np.float32)}
    assert structurally_equal(_good().with_nodes(_good().nodes, nan), _good().with_nodes(_good().nodes, dict(nan)))
