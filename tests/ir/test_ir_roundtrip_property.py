"""Random small graphs (elementwise with broadcasting, Transpose, Reshape, MatMul, Concat, Clip)
with awkward names, symbolic dims, layouts and constants of several dtypes: the verifier accepts
them and print -> parse gives the same graph back."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import OPS, NoAttrs
from compiler.ir.parser import parse_graph
from compiler.ir.printer import print_graph
from compiler.ir.types import KNOWN_LAYOUTS, Sym, TensorType
from compiler.ir.verifier import graph_difference, verify

AWKWARD = ["a/b:0", "x y", "onnx::Conv_1", "%q", '"quoted"', "back\\slash", "new\nline", "_", "-", "é",
           "1", "{}", "#", "[0]", "tab\t", "->", "const", "return", "graph", "blob"]
NAMES = st.one_of(st.sampled_from(AWKWARD), st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,5}", fullmatch=True),
                  st.text(min_size=1, max_size=5))
SYMS = (Sym("batch"), Sym("n"))
COMPUTE_DTYPES = [DType.float32, DType.float64, DType.float16, DType.int32, DType.int64, DType.uint8]
EXTRA_DTYPES = [d for d in DType if d is not DType.bfloat16 and not d.is_narrow]
INLINE_LIMIT = 16


class _Builder:
    """A graph under construction; every node is added only if its op's infer accepts it."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.used_values: set[str] = set()
        self.used_nodes: set[str] = set()
        self.types: dict[str, TensorType] = {}
        self.constants: dict[str, np.ndarray] = {}
        self.nodes: list[Node] = []

    def fresh(self, used: set[str]) -> str:
        name = self.draw(NAMES)
        while name in used:
            name = f"{name}.{len(used)}"
        used.add(name)
        return name

    def array(self, dtype: DType, shape: tuple[int, ...]) -> np.ndarray:
        return self.draw(hnp.arrays(dtype.to_numpy(), shape))

    def pick(self) -> str:
        return self.draw(st.sampled_from(sorted(self.types)))

    def add(self, op: str, inputs: list[str], new_constants: dict[str, np.ndarray], attrs=NoAttrs()) -> None:
        types = [self.types.get(n) or _const_type(new_constants[n]) if n else None for n in inputs]
        values = [self.constants.get(n, new_constants.get(n)) if n else None for n in inputs]
        try:
            inferred = OPS[op].infer(types, values, attrs)
        except ValueError:  # OpError: this random choice does not fit; skip the node
            for name in new_constants:
                self.used_values.discard(name)
            return
        self.constants.update(new_constants)
        self.types.update((name, _const_type(array)) for name, array in new_constants.items())
        outputs = []
        for t in inferred:
            if self.draw(st.booleans()):
                t = TensorType(t.shape, t.dtype, self.draw(st.sampled_from(KNOWN_LAYOUTS)))
            outputs.append(Value(self.fresh(self.used_values), t))
            self.types[outputs[-1].name] = t
        self.nodes.append(Node(op, self.fresh(self.used_nodes), tuple(inputs), tuple(outputs), attrs))

    def new_constant(self, dtype: DType, shape: tuple[int, ...]) -> tuple[str, dict[str, np.ndarray]]:
        name = self.fresh(self.used_values)
        return name, {name: self.array(dtype, shape)}


def _const_type(array: np.ndarray) -> TensorType:
    return TensorType(array.shape, DType.from_numpy(array.dtype))


def _static(shape) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else 1 for d in shape)


def _elementwise(b: _Builder) -> None:
    op = b.draw(st.sampled_from(["Add", "Mul", "Relu"]))
    x = b.pick()
    if op == "Relu":
        return b.add(op, [x], {})
    if b.draw(st.booleans()):
        return b.add(op, [x, b.pick()], {})
    shape = b.types[x].shape
    suffix = shape[len(shape) - b.draw(st.integers(0, len(shape))):]
    const_shape = tuple(b.draw(st.sampled_from([1, d])) if isinstance(d, int) else 1 for d in suffix)
    name, new = b.new_constant(b.types[x].dtype, const_shape)
    b.add(op, [name, x] if b.draw(st.booleans()) else [x, name], new)


def _transpose(b: _Builder) -> None:
    x = b.pick()
    perm = tuple(b.draw(st.permutations(range(b.types[x].rank))))
    b.add("Transpose", [x], {}, OPS["Transpose"].attrs(perm))


def _reshape(b: _Builder) -> None:
    x = b.pick()
    shape = b.types[x].shape
    candidates = [(-1,), (0, -1), (1, -1), (-1, 1), tuple(0 for _ in shape) + (1,), tuple(reversed(_static(shape)))]
    b.add("Reshape", [x], {}, OPS["Reshape"].attrs(b.draw(st.sampled_from(candidates))))


def _matmul(b: _Builder) -> None:
    x = b.pick()
    if b.draw(st.booleans()):
        return b.add("MatMul", [x, b.pick()], {})
    shape = b.types[x].shape
    if not shape or not isinstance(shape[-1], int):
        return None
    rhs = (shape[-1],) if b.draw(st.booleans()) else (shape[-1], b.draw(st.integers(1, 4)))
    name, new = b.new_constant(b.types[x].dtype, rhs)
    b.add("MatMul", [x, name], new)


def _concat(b: _Builder) -> None:
    x = b.pick()
    t = b.types[x]
    if t.rank == 0:
        return None
    axis = b.draw(st.integers(-t.rank, t.rank - 1))
    parts = [x]
    new: dict[str, np.ndarray] = {}
    for _ in range(b.draw(st.integers(0, 2))):
        choice = b.draw(st.sampled_from(["self", "other", "constant"]))
        if choice == "self":
            parts.append(x)
        elif choice == "other":
            parts.append(b.pick())
        elif t.is_static:
            shape = list(t.shape)
            shape[axis] = b.draw(st.integers(0, 3))
            name, one = b.new_constant(t.dtype, tuple(shape))
            parts.append(name)
            new.update(one)
    b.add("Concat", parts, new, OPS["Concat"].attrs(axis))


def _clip(b: _Builder) -> None:
    x = b.pick()
    inputs, new = [x], {}
    for _ in range(b.draw(st.integers(0, 2))):
        if b.draw(st.booleans()):
            inputs.append("")  # an absent optional bound
        else:
            name, one = b.new_constant(b.types[x].dtype, ())
            inputs.append(name)
            new.update(one)
    b.add("Clip", inputs, new)


BUILDERS = [_elementwise, _transpose, _reshape, _matmul, _concat, _clip]
DIMS = st.one_of(st.integers(1, 4), st.sampled_from(SYMS))


@st.composite
def graphs(draw) -> Graph:
    b = _Builder(draw)
    dtype = draw(st.sampled_from(COMPUTE_DTYPES))
    inputs = []
    for _ in range(draw(st.integers(1, 2))):
        shape = tuple(draw(st.lists(DIMS, min_size=1, max_size=3)))
        value = Value(b.fresh(b.used_values), TensorType(shape, dtype, draw(st.sampled_from(KNOWN_LAYOUTS))))
        inputs.append(value)
        b.types[value.name] = value.type
    for _ in range(draw(st.integers(1, 6))):
        draw(st.sampled_from(BUILDERS))(b)
    for _ in range(draw(st.integers(0, 2))):  # unused constants: other dtypes, empty, big (blobs)
        shape = tuple(draw(st.lists(st.integers(0, 6), max_size=3)))
        name, new = b.new_constant(draw(st.sampled_from(EXTRA_DTYPES)), shape)
        b.constants.update(new)
    candidates = sorted({v.name for v in inputs} | {v.name for n in b.nodes for v in n.outputs})
    outputs = tuple(draw(st.lists(st.sampled_from(candidates), min_size=1, max_size=3)))
    return Graph(draw(NAMES), tuple(inputs), outputs, tuple(b.nodes), b.constants)


@settings(deadline=None, max_examples=50, suppress_health_check=[HealthCheck.too_slow])
@given(graphs())
def test_random_graphs_verify_and_round_trip(graph):
    verify(graph)
    text = print_graph(graph, inline_limit=INLINE_LIMIT)
    assert text.isascii()
    blobs = {k: v for k, v in graph.constants.items() if v.size > INLINE_LIMIT}
    parsed = parse_graph(text, blobs=blobs)
    difference = graph_difference(graph, parsed)
    assert difference is None, f"{difference}\n{text}"
    verify(parsed)
    assert print_graph(parsed, inline_limit=INLINE_LIMIT) == text
