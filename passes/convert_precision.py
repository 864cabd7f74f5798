"""convert_precision: run a float32 model in float16 or bfloat16 (`aotc compile --dtype fp16`).

Every float32 weight and activation becomes the half type, except where a table below says an op
computes in float32: those ops get float32 inputs (a Cast, or the original float32 constant) and
their float32 outputs are cast to the half type where a half op reads them. As under torch
autocast, arithmetic on such a float32 output stays float32 (PROMOTING_OPS: a transformer's
residual stream), and an embedding lookup (Gather from a constant table that nothing else reads)
reads the float32 table. The model's
signature stays as declared: float32 inputs are cast to half inside, half outputs cast back, so
callers (and comparisons with the float32 model) feed and read the same arrays as before.
Integer, boolean and index tensors are never touched. Half contractions (MatMul, Gemm, Conv)
are still half ops in the graph; the backends accumulate them in float32.

    %h = MatMul(%x, %w)             %x16 = Cast(%x){to=f16}; %h = MatMul(%x16, %w16)   (w16 = f16(w))
    %p = Softmax(%h)         ->     %h32 = Cast(%h){to=f32}; %p = Softmax(%h32)
    return %p                       (p stays float32: the output keeps its declared type)

Needs a graph whose types are inferred (any graph the frontends make). Deterministic: new
names come from the old ones, constants are converted by numpy with a clip to the half type's
finite range (an fp32 -1e30 mask becomes -65504, not -inf, so a fully masked row stays finite).
"""
from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import OpError, op_def
from compiler.ir.ops.elementwise import CastAttrs
from compiler.ir.types import TensorType
from passes.pattern import FreshNames

HALF_TYPES = (DType.float16, DType.bfloat16)

# Ops that compute in float32 whatever the model's precision: long sums and exponentials lose
# too much in 11 (fp16) or 8 (bf16) bits of mantissa, or overflow fp16's 65504. Casts around
# elementwise ones fuse into the neighbouring kernels, so they cost no extra pass over memory.
FLOAT32_OPS = frozenset({
    "Softmax", "LayerNormalization", "InstanceNormalization", "BatchNormalization", "LpNormalization",
    "Attention", "ReduceSum", "ReduceMean", "ReduceProd", "GlobalAveragePool", "CumSum", "CumProd",
    "Exp", "Log", "Erf", "Gelu", "Pow", "Einsum", "Range", "EyeLike",
    # Quantisation keeps its declared float32 scales; its arithmetic is integer anyway.
    "QuantizeLinear", "DequantizeLinear", "QLinearMatMul", "MatMulInteger",
})
# Float inputs that are parameters, not data: they keep float32 in a half op.
FLOAT32_INPUTS = MappingProxyType({"Resize": (1, 2)})
# Arithmetic that computes in float32 when an input is a float32 activation (the output of a
# FLOAT32_OPS op, or of another such op), as torch autocast's type promotion does. The point is
# the residual stream of a transformer: LayerNorm's float32 output plus a sublayer's half output
# stays float32 into the next LayerNorm, instead of being rounded to the half type at every
# layer. Rounded, the error grows with depth (bf16 BERT-small: rel. L2 ~0.6e-3 more per layer;
# BERT-base reached 1.2e-2 after 12); promoted, it stays at one layer's level (2.9e-3).
PROMOTING_OPS = frozenset({"Add", "Sub", "Mul", "Div"})


@dataclass(frozen=True)
class ConvertPrecision:
    dtype: DType = DType.float32

    def __call__(self, graph: Graph) -> Graph:
        return convert_precision(graph, self.dtype)


def convert_precision(graph: Graph, dtype: DType) -> Graph:
    if dtype is DType.float32:
        return graph
    if dtype not in HALF_TYPES:
        raise ValueError(f"convert_precision converts to float16 or bfloat16, not {dtype.value}")
    return _Converter(graph, dtype).run()


def half_array(array: np.ndarray, dtype: DType) -> np.ndarray:
    """float32 -> half, clipped to the half type's finite range (fp16 overflows at 65504)."""
    largest = float(np.finfo(np.float16).max) if dtype is DType.float16 else float(np.finfo(np.float32).max)
    return np.clip(array, -largest, largest).astype(dtype.to_numpy())


class _Converter:
    """One conversion's bookkeeping (local to one call: no state outlives it)."""

    def __init__(self, graph: Graph, dtype: DType):
        self.graph, self.dtype = graph, dtype
        self.types: dict[str, TensorType] = dict(graph.types)
        self.constants = dict(graph.constants)
        self.fresh = FreshNames(graph)
        self.nodes: list[Node] = []
        self.converted: dict[tuple[str, DType], str] = {}   # (value, dtype) -> its cast copy
        self.origin: dict[str, str] = {}                     # half constant -> its float32 original
        self.float32_activations: set[str] = set()           # float32 outputs of converted nodes
        self.lookup_tables = _lookup_tables(graph)

    def as_dtype(self, name: str, dtype: DType) -> str:
        """`name` as a tensor of `dtype`: itself, a converted constant, or a (shared) Cast."""
        current = self.types[name]
        if current.dtype is dtype:
            return name
        if dtype is DType.float32 and name in self.origin:
            return self.origin[name]
        key = (name, dtype)
        if key not in self.converted:
            new = self.fresh(f"{name}_{dtype.value}")
            if name in self.constants:
                self.constants[new] = half_array(self.constants[name], dtype) if dtype in HALF_TYPES \
                    else self.constants[name].astype(dtype.to_numpy())
                self.origin[new] = name
            else:
                self.nodes.append(Node("Cast", self.fresh(f"cast_{new}"), (name,),
                                       (Value(new, TensorType(current.shape, dtype)),), CastAttrs(dtype)))
            self.types[new] = TensorType(current.shape, dtype)
            self.converted[key] = new
        return self.converted[key]

    def inputs_for(self, node: Node, half: bool) -> tuple[str, ...]:
        keep = FLOAT32_INPUTS.get(node.op, ())
        out = []
        for index, name in enumerate(node.inputs):
            if not name or not self.types[name].dtype.is_float:
                out.append(name)
            elif half and index not in keep and self.types[name].dtype is DType.float32:
                out.append(self.as_dtype(name, self.dtype))
            elif (not half or index in keep) and self.types[name].dtype is self.dtype:
                out.append(self.as_dtype(name, DType.float32))
            else:
                out.append(name)
        return tuple(out)

    def infer(self, node: Node, inputs: tuple[str, ...], attrs) -> tuple[TensorType, ...]:
        types = [self.types[n] if n else None for n in inputs]
        values = [self.constants.get(n) if n else None for n in inputs]
        return tuple(op_def(node.op).infer(types, values, attrs))

    def convert(self, node: Node) -> Node:
        attrs = node.attrs
        half = node.op not in FLOAT32_OPS
        if node.op in PROMOTING_OPS and any(name in self.float32_activations for name in node.inputs):
            half = False
        if node.op == "Gather" and node.inputs[0] in self.lookup_tables:
            half = False    # an embedding lookup: the table keeps its float32 values, as under autocast
        if node.op == "Cast":
            # A cast to float32 now casts to the half type; a cast to an integer reads float32,
            # so that no index computed in floating point loses digits.
            half = attrs.to is DType.float32
            if half:
                attrs = CastAttrs(self.dtype, attrs.saturate)
        inputs = self.inputs_for(node, half)
        try:
            out_types = self.infer(node, inputs, attrs)
        except OpError:
            if not half:
                raise
            # The op does not take the half type (its schema says so): it stays float32.
            inputs, attrs = self.inputs_for(node, False), node.attrs
            out_types = self.infer(node, inputs, attrs)
        outputs = tuple(Value(v.name, t) for v, t in zip(node.outputs, out_types))
        self.types.update((v.name, v.type) for v in outputs)
        self.float32_activations.update(v.name for v in outputs if v.type.dtype is DType.float32)
        return Node(node.op, node.name, inputs, outputs, attrs)

    def run(self) -> Graph:
        for node in self.graph.nodes:
            converted = self.convert(node)
            self.nodes.append(converted)
        outputs = []
        for name in self.graph.outputs:
            declared = self.graph.type_of(name).dtype
            outputs.append(self.as_dtype(name, declared) if self.types[name].dtype is not declared else name)
        graph = self.graph.replace(nodes=tuple(self.nodes), outputs=tuple(outputs), constants=self.constants)
        return graph.replace(constants={k: v for k, v in graph.constants.items() if k in _used(graph)})


def _lookup_tables(graph: Graph) -> frozenset[str]:
    """Constants read only as a Gather's table: they stay float32. A table that a half op reads
    too (a tied LM head's MatMul) is converted, so the model does not hold it twice."""
    gathered, other = set(), set()
    for node in graph.nodes:
        for index, name in enumerate(node.inputs):
            if name in graph.constants:
                (gathered if node.op == "Gather" and index == 0 else other).add(name)
    return frozenset(gathered - other)


def _used(graph: Graph) -> set[str]:
    return {name for node in graph.nodes for name in node.inputs} | set(graph.outputs)
