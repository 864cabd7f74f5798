"""ModelProto -> Graph: types the graph inputs, turns initializers into constants, converts each
node in ONNX order while folding every node whose inputs are all constants, then drops what the
outputs do not need.

Folding eagerly is what makes the exporters' shape arithmetic (Shape -> Gather -> Concat ->
Reshape) disappear: a shape-determining input must be a constant by the time its consumer is
converted. Nothing that depends on a graph input's values is folded; Shape reads only the
static shape.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Mapping

import numpy as np
import onnx

from compiler.errors import ModelError, UnsupportedError
from compiler.frontends.builder import check_folded, frozen, prune
from compiler.frontends.onnx.converters import CONVERTERS
from compiler.frontends.onnx.expand import expand_functions
from compiler.frontends.onnx.loader import LoadedModel, load_model
from compiler.frontends.names import Namer, sanitize
from compiler.frontends.onnx.node import Alias, Emit, Fold, NodeView
from compiler.frontends.onnx.tensors import DTYPES, attribute_values, to_array, to_dtype
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value, constant_type
from compiler.ir.ops import OPS, NoAttrs, OpError
from compiler.ir.types import Dim, Sym, TensorType

_DEFAULT_DOMAINS = ("", "ai.onnx")
# Shape values are shapes, axes and counts: a larger result is data, never one of them.
_SHAPE_VALUE_LIMIT = 64


def import_onnx(model: "str | os.PathLike[str] | onnx.ModelProto", *, name: str | None = None,
                shape_values: Mapping[str, np.ndarray] | None = None) -> Graph:
    """Import an ONNX model (a path or a ModelProto) as a graph-IR `Graph`.

    `shape_values` (ONNX graph-input name -> value) lets an input that determines shapes (a
    Reshape's shape, a Slice's starts, a TopK's k) be specialised to that value where a node
    needs it constant; the input stays a run-time input of the graph everywhere else, so
    nothing else is computed at import time from it.

    Raises ModelError for a missing, corrupt or inconsistent model and UnsupportedError for an
    op, dtype, opset or run-time shape computation aotc does not handle; both one line.
    """
    return import_onnx_counted(model, name=name)[0]


def import_onnx_counted(model: "str | os.PathLike[str] | onnx.ModelProto", *, name: str | None = None,
                        shape_values: Mapping[str, np.ndarray] | None = None) -> tuple[Graph, int]:
    """`import_onnx`, plus the number of nodes the model computes as written (local functions
    inlined): the one-kernel-per-node baseline `aotc inspect` compares fusion with."""
    imported = import_onnx_specialised(model, name=name, shape_values=shape_values)
    return imported.graph, imported.source_nodes


@dataclass(frozen=True)
class Imported:
    graph: Graph
    source_nodes: int                   # nodes as written (local functions inlined)
    specialised: tuple[str, ...]        # ONNX inputs some node read from `shape_values`


def import_onnx_specialised(model: "str | os.PathLike[str] | onnx.ModelProto", *, name: str | None = None,
                            shape_values: Mapping[str, np.ndarray] | None = None) -> Imported:
    """`import_onnx`, saying which of `shape_values` the graph was specialised to."""
    loaded = load_model(model)
    loaded = replace(loaded, proto=expand_functions(loaded.proto, loaded.opset, loaded.source, _wants_expansion))
    importer = _Importer(loaded, shape_values or {})
    graph = importer.run(name)
    return Imported(graph, len(loaded.proto.graph.node), tuple(sorted(importer.specialised)))


class _Importer:
    def __init__(self, loaded: LoadedModel, shape_values: Mapping[str, np.ndarray]) -> None:
        self.loaded = loaded
        self.given_shape_values = shape_values
        # Values a node may read where they determine shapes: given graph inputs, and small
        # results of nodes computed from those and constants (the nodes still run as code).
        self.shape_values: dict[str, np.ndarray] = {}   # graph-IR value name -> value
        self.shape_sources: dict[str, frozenset[str]] = {}   # ... -> the ONNX inputs it comes from
        self.specialised: set[str] = set()              # ONNX names of inputs read that way
        self.source = loaded.source
        self.graph = loaded.proto.graph
        self.values = Namer("v")
        self.node_names = Namer("n")
        self.symbols = Namer("s")
        self.env: dict[str, str] = {}              # ONNX value name -> graph-IR value name
        self.types: dict[str, TensorType] = {}     # graph-IR value name -> type
        self.constants: dict[str, np.ndarray] = {}
        self.nodes: list[Node] = []
        self.graph_outputs = {o.name for o in self.graph.output}
        self.consumed = self.graph_outputs | {name for n in self.graph.node for name in n.input if name}

    def run(self, name: str | None) -> Graph:
        self._check_ops()
        if self.graph.sparse_initializer:
            raise UnsupportedError(f"{self.source}: sparse initializers are not supported")
        initializer_names = {t.name for t in self.graph.initializer}
        inputs = []
        for info in self.graph.input:
            if info.name not in initializer_names:
                type_ = self._input_type(info)
                inputs.append(Value(self._define(info.name, type_), type_))
                if info.name in self.given_shape_values:
                    self.shape_values[inputs[-1].name] = np.asarray(self.given_shape_values[info.name])
                    self.shape_sources[inputs[-1].name] = frozenset({info.name})
        for tensor in self.graph.initializer:
            self._define_constant(tensor.name, to_array(tensor, f"{self.source}: initializer '{tensor.name}'"))
        for index, node in enumerate(self.graph.node):
            self._convert(index, node)
        outputs = tuple(self._lookup(o.name, f"{self.source}: graph output") for o in self.graph.output)
        self._check_declared_dtypes()
        nodes, constants = prune(self.nodes, self.constants, outputs)
        graph_name = name if name is not None else sanitize(self.graph.name or self.loaded.stem, "g")
        return Graph(graph_name, tuple(inputs), outputs, tuple(nodes), constants)

    # --- values -----------------------------------------------------------------------------

    def _define(self, onnx_name: str, type_: TensorType, fallback: str = "v") -> str:
        name = self.values.fresh(onnx_name or fallback)
        if onnx_name:
            self.env[onnx_name] = name
        self.types[name] = type_
        return name

    def _define_constant(self, onnx_name: str, array: np.ndarray, fallback: str = "v") -> str:
        array = frozen(array)
        name = self._define(onnx_name, constant_type(array), fallback)
        self.constants[name] = array
        return name

    def _lookup(self, onnx_name: str, what: str) -> str:
        try:
            return self.env[onnx_name]
        except KeyError:
            raise ModelError(f"{what} '{onnx_name}' is not defined before it is used") from None

    def _input_type(self, info: onnx.ValueInfoProto) -> TensorType:
        what = f"{self.source}: input '{info.name}'"
        if info.type.WhichOneof("value") != "tensor_type":
            raise UnsupportedError(f"{what} is not a tensor")
        tensor_type = info.type.tensor_type
        dtype = to_dtype(tensor_type.elem_type, what)
        if not tensor_type.HasField("shape"):
            raise UnsupportedError(f"{what} has no declared shape; aotc needs at least its rank")
        dims: list[Dim] = []
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value"):
                if dim.dim_value < 0:
                    raise ModelError(f"{what} has negative dimension {dim.dim_value}")
                dims.append(int(dim.dim_value))
            elif dim.dim_param:
                dims.append(Sym(self.symbols.named(("param", dim.dim_param), dim.dim_param)))
            else:
                dims.append(Sym(self.symbols.named(("anonymous", info.name, axis), f"{info.name}_d{axis}")))
        return TensorType(tuple(dims), dtype)

    # --- nodes ------------------------------------------------------------------------------

    def _check_ops(self) -> None:
        """Report unsupported ops before anything else, so the first error is the main one."""
        missing: list[tuple[str, str]] = []
        for index, node in enumerate(self.graph.node):
            label = _label(node, index)
            if node.domain not in _DEFAULT_DOMAINS:
                raise UnsupportedError(f"{self.source}: op {node.op_type} (node '{label}') is from domain "
                                       f"'{node.domain}', which aotc does not support; only the default "
                                       f"ONNX domain is imported")
            if node.op_type not in CONVERTERS:
                missing.append((node.op_type, label))
        if missing:
            op, label = missing[0]
            others = sorted({o for o, _ in missing} - {op})
            also = f"; also unsupported: {', '.join(others)}" if others else ""
            raise UnsupportedError(f"{self.source}: op {op} (node '{label}') is not supported by aotc; "
                                   f"see `aotc targets --ops`{also}")

    def _convert(self, index: int, node: onnx.NodeProto) -> None:
        label = _label(node, index)
        where = f"{self.source}: op {node.op_type} (node '{label}')"
        names = tuple(node.input)
        ours = tuple(self._lookup(n, f"{where}: input") if n else "" for n in names)
        view = NodeView(
            op_type=node.op_type, where=where, opset=self.loaded.opset,
            attrs=attribute_values(node, where), input_names=names,
            input_types=tuple(self.types[n] if n else None for n in ours),
            input_values=tuple(self.constants.get(n) if n else None for n in ours),
            output_names=tuple(node.output),
            outputs_used=tuple(bool(name) and name in self.consumed for name in node.output),
            shape_values=tuple(self.shape_values.get(n) if n else None for n in ours),
            on_shape_value=lambda index: read.append(ours[index]))
        read: list[str] = []
        try:
            result = CONVERTERS[node.op_type](view)
        except OpError as error:
            raise ModelError(f"{where}: {error}") from None
        for name in read:
            self.specialised.update(self.shape_sources[name])
        if isinstance(result, Emit):
            # A node that read a specialised input runs as code even when it has no run-time
            # operand left (Range from a specialised limit): only shapes are specialised.
            self._emit(view, label, result, fold=not read)
        elif isinstance(result, Fold):
            self._check_unused_outputs(view, len(result.arrays))
            for output, array in zip(node.output, result.arrays):
                self._define_constant(output, array, f"{label}_out")
        elif isinstance(result, Alias):
            if node.output[0] in self.graph_outputs:   # a graph output keeps its own name
                self._emit(view, label, Emit("Identity", NoAttrs(), inputs=(result.input,)))
            else:
                self._check_unused_outputs(view, 1)
                self.env[node.output[0]] = ours[result.input]
        else:
            raise TypeError(f"converter for {node.op_type} returned {result!r}")

    def _emit(self, view: NodeView, label: str, emit: Emit, fold: bool = True) -> None:
        positions = range(view.num_inputs) if emit.inputs is None else emit.inputs
        names = [self.env[view.input_names[i]] if view.has_input(i) else "" for i in positions]
        while names and not names[-1]:
            names.pop()
        names += [self._define_constant("", array, f"{label}_table{k}") for k, array in enumerate(emit.constants)]
        types = [self.types[n] if n else None for n in names]
        values = [self.constants.get(n) if n else None for n in names]
        op = OPS[emit.op]
        try:
            out_types = op.infer(types, values, emit.attrs)
        except OpError as error:
            raise ModelError(f"{view.where}: {error}") from None
        if len(out_types) != emit.outputs or view.num_outputs < emit.outputs:
            raise ModelError(f"{view.where}: has {view.num_outputs} outputs, op {emit.op} computes {len(out_types)}")
        self._check_unused_outputs(view, emit.outputs)
        fallback = f"{label}_out"
        foldable = fold and all(not n or n in self.constants for n in names)
        if foldable and all(t.dtype is not DType.bfloat16 for t in out_types):
            try:
                arrays = op.reference(values, emit.attrs)
            except OpError as error:
                raise ModelError(f"{view.where}: {error}") from None
            for output, type_, array in zip(view.output_names, out_types, arrays):
                check_folded(emit.op, type_, array)
                self._define_constant(output, array, fallback)
            return
        outputs = tuple(Value(self._define(o, t, fallback), t) for o, t in zip(view.output_names, out_types))
        self.nodes.append(Node(emit.op, self.node_names.fresh(label), tuple(names), outputs, emit.attrs))
        self._propagate_shape_values(emit, names, outputs)

    def _propagate_shape_values(self, emit: Emit, names: list[str], outputs: tuple[Value, ...]) -> None:
        """A small result computed only from constants and shape values is itself a shape value
        (the exporters' and ONNX functions' shape arithmetic on a specialised input)."""
        if not any(n in self.shape_values for n in names) or \
                not all(not n or n in self.constants or n in self.shape_values for n in names) or \
                any(not v.type.is_static or v.type.numel().coef > _SHAPE_VALUE_LIMIT or v.type.dtype.is_narrow
                    or v.type.dtype is DType.bfloat16 for v in outputs):
            return
        values = [self.constants.get(n, self.shape_values.get(n)) if n else None for n in names]
        try:
            arrays = OPS[emit.op].reference(values, emit.attrs)
        except (OpError, ValueError, TypeError, ArithmeticError):
            return
        sources = frozenset().union(*(self.shape_sources.get(n, frozenset()) for n in names))
        for value, array in zip(outputs, arrays):
            self.shape_values[value.name] = np.asarray(array)
            self.shape_sources[value.name] = sources

    def _check_unused_outputs(self, view: NodeView, produced: int) -> None:
        for index in range(produced, view.num_outputs):
            name = view.output_names[index]
            if name and name in self.consumed:
                raise UnsupportedError(f"{view.where}: output {index} ('{name}') is used, but aotc "
                                       f"computes only the first {produced} output(s) of {view.op_type}")

    def _check_declared_dtypes(self) -> None:
        """The model's own value_info and output types must agree with the inferred dtypes."""
        for info in (*self.graph.value_info, *self.graph.output):
            elem_type = info.type.tensor_type.elem_type if info.type.HasField("tensor_type") else 0
            ours = self.env.get(info.name)
            if elem_type not in DTYPES or ours is None:
                continue
            declared, inferred = DTYPES[elem_type], self.types[ours].dtype
            if declared is not inferred:
                raise ModelError(f"{self.source}: value '{info.name}' is declared {declared.value} but its "
                                 f"producer computes {inferred.value}")


# Ops whose converter computes only the first output: a model that uses the others gets the
# op's ONNX function body instead.
_FIRST_OUTPUT_ONLY = ("LayerNormalization",)


def _wants_expansion(node: onnx.NodeProto, consumed: set[str]) -> bool:
    if node.op_type not in CONVERTERS:
        return True
    return node.op_type in _FIRST_OUTPUT_ONLY and any(name in consumed for name in node.output[1:])


def _label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"
