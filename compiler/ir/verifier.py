"""The graph verifier, run after every pass in tests, and structural equality of graphs.

`verify` raises `ModelError` with one line naming the graph, the node and the problem:
values defined once and before use, unique node names, defined outputs, attrs of the op's
class, recorded output types equal to what the op's `infer` gives, frozen constants of a known
dtype, no input that is also a constant.
"""
from __future__ import annotations

import dataclasses
import json
import math

import numpy as np

from compiler.errors import ModelError
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node
from compiler.ir.ops import OPS
from compiler.ir.types import TensorType


def _q(name: str) -> str:
    """A name for a one-line message: quoted, with any odd character escaped."""
    return f"'{name}'" if name.isprintable() and "'" not in name else json.dumps(name)


def verify(graph: Graph) -> None:
    """Raise `ModelError` at the first problem in `graph`; return None when it is well formed."""
    def fail(message: str) -> ModelError:
        return ModelError(f"graph {_q(graph.name)}: {message}")

    defined: dict[str, str] = {}          # value name -> what defines it
    types: dict[str, TensorType] = {}

    def define(name: str, type_: TensorType, by: str) -> None:
        if not name:
            raise fail(f"{by} defines a value with an empty name ('' marks an absent input)")
        if name in defined:
            raise fail(f"value {_q(name)} is defined twice: by {defined[name]} and by {by}")
        defined[name] = by
        types[name] = type_

    for value in graph.inputs:
        if value.name in graph.constants:
            raise fail(f"graph input {_q(value.name)} is also a constant")
        define(value.name, value.type, "a graph input")
    for name in sorted(graph.constants):
        array = graph.constants[name]
        if not isinstance(array, np.ndarray):
            raise fail(f"constant {_q(name)} is a {type(array).__name__}, not a numpy array")
        if array.flags.writeable:
            raise fail(f"constant {_q(name)} is writeable; graph constants must be read-only")
        try:
            dtype = DType.from_numpy(array.dtype)
        except TypeError:
            raise fail(f"constant {_q(name)} has dtype {array.dtype}, which has no aotc DType") from None
        define(name, TensorType(tuple(int(d) for d in array.shape), dtype), "a constant")

    produced_later = {v.name for node in graph.nodes for v in node.outputs}
    node_names: set[str] = set()
    for node in graph.nodes:
        _verify_node(graph, node, types, produced_later, fail)
        if node.name in node_names:
            raise fail(f"node {_q(node.name)} ({node.op}): node name is not unique")
        node_names.add(node.name)
        for value in node.outputs:
            define(value.name, value.type, f"node {_q(node.name)} ({node.op})")

    for name in graph.outputs:
        if name not in defined:
            raise fail(f"graph output {_q(name)} is not defined")


def _verify_node(graph: Graph, node: Node, types: dict[str, TensorType], produced: set[str], fail) -> None:
    where = f"node {_q(node.name)} ({node.op})"
    op = OPS.get(node.op)
    if op is None:
        raise fail(f"{where}: unknown op '{node.op}'")
    if type(node.attrs) is not op.attrs:
        raise fail(f"{where}: attrs are {type(node.attrs).__name__}, but {node.op} takes {op.attrs.__name__}")
    for name in node.inputs:
        if name and name not in types:
            problem = "is used before it is defined" if name in produced else "is never defined"
            raise fail(f"{where}: input {_q(name)} {problem}")
    for index in op.static_inputs:
        if index < len(node.inputs) and node.inputs[index] and node.inputs[index] not in graph.constants:
            raise fail(f"{where}: input {index} ({_q(node.inputs[index])}) must be a constant")
    input_types = [types[name] if name else None for name in node.inputs]
    input_values = [graph.constants.get(name) if name else None for name in node.inputs]
    try:
        inferred = tuple(op.infer(input_types, input_values, node.attrs))
    except Exception as exc:  # any op's infer on a malformed node: report it, whatever it raised
        raise fail(f"{where}: type inference failed: {exc}") from None
    if len(inferred) != len(node.outputs):
        raise fail(f"{where}: has {len(node.outputs)} outputs, but {node.op} infers {len(inferred)}")
    # Layouts are not compared: they are set by layout passes, which infer does not model.
    for value, expected in zip(node.outputs, inferred):
        if (value.type.shape, value.type.dtype) != (tuple(expected.shape), expected.dtype):
            raise fail(f"{where}: output {_q(value.name)} is recorded as {value.type} "
                       f"but {node.op} infers {expected}")


def structurally_equal(a: Graph, b: Graph) -> bool:
    return graph_difference(a, b) is None


def graph_difference(a: Graph, b: Graph) -> str | None:
    """The first structural difference between two graphs, or None: same names, types, node
    attrs (NaN equal to NaN) and constants (dtype, shape, values; NaN equal to NaN, signs of
    zeros compared)."""
    if a.name != b.name:
        return f"graph names differ: {a.name!r} vs {b.name!r}"
    if a.inputs != b.inputs:
        return f"inputs differ: {a.inputs} vs {b.inputs}"
    if a.outputs != b.outputs:
        return f"outputs differ: {a.outputs} vs {b.outputs}"
    if len(a.nodes) != len(b.nodes):
        return f"node counts differ: {len(a.nodes)} vs {len(b.nodes)}"
    for index, (x, y) in enumerate(zip(a.nodes, b.nodes)):
        same = (x.op, x.name, x.inputs, x.outputs) == (y.op, y.name, y.inputs, y.outputs)
        if not same or not _same_attrs(x.attrs, y.attrs):
            return f"node {index} differs: {x} vs {y}"
    if sorted(a.constants) != sorted(b.constants):
        return f"constant names differ: {sorted(a.constants)} vs {sorted(b.constants)}"
    for name in sorted(a.constants):
        if not _same_array(a.constants[name], b.constants[name]):
            return f"constant {name!r} differs: {a.constants[name]!r} vs {b.constants[name]!r}"
    return None


def _same_attrs(x: object, y: object) -> bool:
    if type(x) is not type(y):
        return False
    if not dataclasses.is_dataclass(x):
        return x == y
    return all(_same_attr_value(getattr(x, f.name), getattr(y, f.name)) for f in dataclasses.fields(x))


def _same_attr_value(x: object, y: object) -> bool:
    if isinstance(x, tuple) and isinstance(y, tuple):
        return len(x) == len(y) and all(_same_attr_value(p, q) for p, q in zip(x, y))
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return bool(x == y)


def _same_array(x: np.ndarray, y: np.ndarray) -> bool:
    if x.dtype != y.dtype or x.shape != y.shape:
        return False
    if x.dtype.kind == "f":
        return bool(np.array_equal(x, y, equal_nan=True) and np.array_equal(np.signbit(x), np.signbit(y)))
    return bool(np.array_equal(x, y))
