"""What every frontend does once it knows which graph op a source op becomes: name the values,
infer their types from the op table, fold an op whose inputs are all constants into a constant,
and drop what the outputs do not need.

    b = GraphBuilder()
    x = b.input("x", TensorType((Sym("batch"), 8), DType.float32))
    w = b.constant("w", np.ones((8, 4), np.float32))
    (y,) = b.emit("MatMul", NoAttrs(), (x, w), label="mm")
    graph = b.graph("g", (x,), (y,))
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from compiler.frontends.names import Namer
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value, constant_type
from compiler.ir.ops import OPS
from compiler.ir.types import TensorType


class GraphBuilder:
    """Accumulates inputs, constants and nodes in topological order. `emit` raises the op
    table's OpError for a malformed node; the frontend turns it into a message naming its node."""

    def __init__(self) -> None:
        self.values = Namer("v")
        self.node_names = Namer("n")
        self.types: dict[str, TensorType] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.nodes: list[Node] = []

    def input(self, raw_name: str, type_: TensorType) -> str:
        name = self.values.fresh(raw_name)
        self.types[name] = type_
        return name

    def constant(self, raw_name: str, array: np.ndarray) -> str:
        array = frozen(array)
        name = self.values.fresh(raw_name)
        self.types[name] = constant_type(array)
        self.constants[name] = array
        return name

    def type_of(self, name: str) -> TensorType:
        return self.types[name]

    def value_of(self, name: str) -> np.ndarray | None:
        """The value of a constant, None for a value computed at run time."""
        return self.constants.get(name)

    def emit(self, op: str, attrs: object, inputs: Sequence[str], *, label: str,
             out_names: Sequence[str] = ()) -> tuple[str, ...]:
        """Add one node of `op` (or, when every input is a constant, its folded outputs) and
        return its output names; "" in `inputs` marks an absent optional input."""
        names = list(inputs)
        while names and not names[-1]:
            names.pop()
        types = [self.types[n] if n else None for n in names]
        values = [self.constants.get(n) if n else None for n in names]
        definition = OPS[op]
        out_types = definition.infer(types, values, attrs)
        raw_names = list(out_names) + [f"{label}_out"] * (len(out_types) - len(out_names))
        foldable = all(not n or n in self.constants for n in names)
        if foldable and all(t.dtype is not DType.bfloat16 for t in out_types):
            arrays = definition.reference(values, attrs)
            for type_, array in zip(out_types, arrays):
                check_folded(op, type_, array)
            return tuple(self.constant(raw, array) for raw, array in zip(raw_names, arrays))
        outputs = tuple(Value(self.input(raw, t), t) for raw, t in zip(raw_names, out_types))
        self.nodes.append(Node(op, self.node_names.fresh(label), tuple(names), outputs, attrs))
        return tuple(v.name for v in outputs)

    def graph(self, name: str, inputs: Sequence[str], outputs: Sequence[str]) -> Graph:
        nodes, constants = prune(self.nodes, self.constants, tuple(outputs))
        return Graph(name, tuple(Value(n, self.types[n]) for n in inputs), tuple(outputs),
                     tuple(nodes), constants)


def frozen(array: np.ndarray) -> np.ndarray:
    """`array` C-contiguous and read-only, as graph constants are (copied only if it must be)."""
    array = np.asarray(array)
    if not array.flags.c_contiguous:
        array = array.copy(order="C")
    array.flags.writeable = False
    return array


def check_folded(op: str, type_: TensorType, array: np.ndarray) -> None:
    if tuple(array.shape) != type_.shape or DType.from_numpy(array.dtype) is not type_.dtype:
        raise RuntimeError(f"op table disagrees with itself: {op} infers {type_} but its reference "
                           f"returns {array.dtype}{list(array.shape)}")


def prune(nodes: Sequence[Node], constants: dict[str, np.ndarray],
          outputs: tuple[str, ...]) -> tuple[list[Node], dict[str, np.ndarray]]:
    """Drop nodes and constants that no graph output depends on."""
    live = set(outputs)
    kept: list[Node] = []
    for node in reversed(nodes):
        if any(v.name in live for v in node.outputs):
            kept.append(node)
            live.update(n for n in node.inputs if n)
    kept.reverse()
    return kept, {name: array for name, array in constants.items() if name in live}
