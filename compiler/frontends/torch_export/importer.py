"""ExportedProgram (core ATen) -> Graph.

Walks `program.graph_module.graph` in order: placeholders become graph inputs (user inputs) or
constants (parameters, buffers, lifted tensor constants, read from the program's state dict);
each ATen call is either folded or converted; the output node names the graph outputs.

Folding runs the ATen op itself (real torch, on CPU) whenever every tensor argument is a
constant: the attention-mask arithmetic transformers build from `ones_like(input_ids)`, arange
and full, a weight's transpose. That gives torch's exact semantics for whatever only depends on
weights and shapes, so converters are needed only for what runs at inference time.
Sizes (`sym_size`, SymInt arithmetic) are never graph values: shape-taking converters read the
result shape torch recorded (`node.meta["val"]`), and every converted result's type is checked
against it.
"""
from __future__ import annotations

import operator
from typing import Mapping

from compiler.errors import ModelError, UnsupportedError
from compiler.frontends.builder import GraphBuilder
from compiler.frontends.names import Namer
from compiler.frontends.torch_export.call import MISSING, Call, Ref, SizeExpr
from compiler.frontends.torch_export.converters import CONVERTERS
from compiler.frontends.torch_export.source import describe
from compiler.frontends.torch_export.tensors import spell, to_array, to_type
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import NoAttrs
from compiler.ir.types import Sym

# Allocations whose contents torch leaves undefined: folded as zeros, so that the constants (and
# the artifact) are the same on every compile.
_UNINITIALIZED = frozenset({"aten.empty.memory_format", "aten.empty_strided.default", "aten.empty_like.default",
                            "aten.new_empty.default", "aten.new_empty_strided.default"})


def import_exported_program(program, *, name: str = "model",
                            symbol_names: Mapping[str, str] | None = None) -> Graph:
    """Import a core-ATen ExportedProgram (after `run_decompositions()`) as a graph-IR Graph.

    `symbol_names` maps torch's size symbols ("s77") to the names the graph's symbolic dims get
    (the `torch.export.Dim` names); others are named after the first input axis they appear on.
    Raises UnsupportedError naming the op and its source line for what aotc cannot import.
    """
    return _Importer(program, symbol_names or {}).run(name)


class _Importer:
    def __init__(self, program, symbol_names: Mapping[str, str]) -> None:
        self.program = program
        self.builder = GraphBuilder()
        self.symbols = Namer("s")
        self.symbol_names = dict(symbol_names)
        self.env: dict[object, object] = {}     # fx node -> Ref, tuple of Ref/None, dim, or None

    def run(self, name: str) -> Graph:
        graph = self.program.graph_module.graph
        specs = {spec.arg.name: spec for spec in self.program.graph_signature.input_specs
                 if hasattr(spec.arg, "name")}
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        self._name_input_symbols(placeholders, specs)
        inputs: list[str] = []
        outputs: list[str] = []
        for node in graph.nodes:
            if node.op == "placeholder":
                self._placeholder(node, specs.get(node.name), inputs)
            elif node.op == "call_function":
                self.env[node] = self._call_function(node)
            elif node.op == "output":
                outputs = self._outputs(node)
            else:
                raise UnsupportedError(f"node '{node.name}' is a {node.op}; aotc imports programs of "
                                       f"ATen calls only (run_decompositions() first)")
        return self.builder.graph(name, inputs, self._named_outputs(outputs))

    # --- symbols and placeholders -------------------------------------------------------------

    def _name_input_symbols(self, placeholders, specs) -> None:
        """A symbol without a Dim name is called after the first input axis it sizes (x_d0)."""
        for node in placeholders:
            fake = node.meta.get("val")
            if not _is_user_input(specs.get(node.name)) or not hasattr(fake, "shape"):
                continue
            for axis, size in enumerate(fake.shape):
                if not isinstance(size, int) and size.node.expr.is_Symbol:
                    self.symbol_names.setdefault(str(size.node.expr), f"{node.name}_d{axis}")

    def _symbol(self, torch_name: str) -> str:
        return self.symbols.named(torch_name, self.symbol_names.get(torch_name, torch_name))

    def _placeholder(self, node, spec, inputs: list[str]) -> None:
        kind = spec.kind.name if spec is not None else "?"
        fake = node.meta.get("val")
        if kind == "USER_INPUT":
            if not hasattr(fake, "shape"):
                raise UnsupportedError(f"input '{node.name}' is a {type(fake).__name__}, not a tensor; "
                                       f"aotc compiles tensor inputs only")
            name = self.builder.input(node.name, to_type(fake, self._symbol, f"input '{node.name}'"))
            inputs.append(name)
            self.env[node] = Ref(name)
        elif kind in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
            tensor = self.program.state_dict.get(spec.target)
            if tensor is None:
                tensor = self.program.constants.get(spec.target)
            if tensor is None:
                raise ModelError(f"{kind.lower()} '{spec.target}' has no value in the exported program")
            self.env[node] = Ref(self.builder.constant(spec.target, to_array(tensor, f"{kind.lower()} '{spec.target}'")))
        else:
            raise UnsupportedError(f"input '{node.name}' is a {kind.lower()}; aotc imports tensor inputs, "
                                   f"parameters, buffers and tensor constants only")

    # --- calls ------------------------------------------------------------------------------

    def _call_function(self, node):
        import torch
        target = node.target
        fake = node.meta.get("val")
        if isinstance(fake, (int, float, bool, torch.SymInt, torch.SymFloat, torch.SymBool)):
            return self._size(fake)
        if target is operator.getitem:
            return self._getitem(node)
        key = str(target)
        where = describe(node, key)
        args = torch.fx.node.map_aggregate(node.args, self._argument)
        kwargs = torch.fx.node.map_aggregate(node.kwargs, self._argument)
        if self._foldable(target, args, kwargs):
            return self._fold(node, where, target, args, kwargs)
        converter = CONVERTERS.get(key)
        if converter is None:
            others = sorted(_without_converter(node.graph) - {key})
            also = f"; other ops without a converter: {', '.join(others)}" if others else ""
            raise UnsupportedError(f"{where} is not supported by aotc's torch.export frontend{also}")
        out_types = tuple(None if v is None else to_type(v, self._symbol, where) for v in _results(fake))
        call = Call(key, where, node.name, _bind(target, args, kwargs, where), out_types, self.builder)
        result = converter(call)
        return self._check(call, result)

    def _size(self, value):
        """A size, as an int or Sym; what the IR cannot spell stays an opaque SizeExpr."""
        if isinstance(value, (int, float, bool)):
            return value
        expr = value.node.expr
        if expr.is_Symbol:
            return Sym(self._symbol(str(expr)))
        if expr.is_Integer:
            return int(expr)
        return SizeExpr(spell(expr, self._symbol))

    def _argument(self, value):
        import torch
        if isinstance(value, torch.fx.Node):
            return self.env[value]
        return value

    def _getitem(self, node):
        source, index = node.args
        results = self.env[source]
        if not isinstance(results, tuple):
            raise ModelError(f"node '{node.name}' indexes '{source.name}', which has one result")
        if results[index] is None:
            raise UnsupportedError(f"{describe(source, str(source.target))}: result {index} is used, "
                                   f"but aotc computes only its first result")
        return results[index]

    def _foldable(self, target, args, kwargs) -> bool:
        import torch
        if not isinstance(target, torch._ops.OpOverload) or torch.Tag.nondeterministic_seeded in target.tags:
            return False
        leaves: list = []
        torch.fx.node.map_aggregate((args, kwargs), leaves.append)
        return all(not isinstance(v, (Sym, SizeExpr)) and
                   (not isinstance(v, Ref) or self.builder.value_of(v.name) is not None) for v in leaves)

    def _fold(self, node, where: str, target, args, kwargs):
        """Run the op on its constant arguments; its results become constants."""
        import torch

        def real(value):
            return torch.from_numpy(self.builder.value_of(value.name).copy()) if isinstance(value, Ref) else value

        try:
            with torch.no_grad():
                result = target(*torch.fx.node.map_aggregate(args, real),
                                **torch.fx.node.map_aggregate(kwargs, real))
        except Exception as error:  # torch's own message, on one line
            raise ModelError(f"{where}: folding it on constant inputs failed: "
                             f"{str(error).strip().splitlines()[0]}") from None
        if result is None:
            return None
        if str(target) in _UNINITIALIZED:
            result = torch.zeros_like(result)
        if isinstance(result, torch.Tensor):
            return Ref(self.builder.constant(node.name, to_array(result, where)))
        return tuple(None if r is None else Ref(self.builder.constant(node.name, to_array(r, where)))
                     for r in result)

    def _check(self, call: Call, result):
        """Converters must agree with torch's own record of each result's shape and dtype."""
        if result is None:
            return None
        names = result if isinstance(result, tuple) else (result,)
        if len(names) != len(call.out_types):
            raise RuntimeError(f"{call.where}: converter returned {len(names)} results, torch has "
                               f"{len(call.out_types)}")
        for index, (out, expected) in enumerate(zip(names, call.out_types)):
            if out is not None and self.builder.type_of(out) != expected:
                raise RuntimeError(f"{call.where}: converter computes result {index} as "
                                   f"{self.builder.type_of(out)}, torch says {expected}")
        refs = tuple(None if n is None else Ref(n) for n in names)
        return refs if isinstance(result, tuple) else refs[0]

    # --- outputs ----------------------------------------------------------------------------

    def _outputs(self, node) -> list[str]:
        specs = self.program.graph_signature.output_specs
        values = node.args[0] if isinstance(node.args[0], (tuple, list)) else (node.args[0],)
        names = []
        for spec, value in zip(specs, values):
            if spec.kind.name != "USER_OUTPUT":
                raise UnsupportedError(f"the program's output '{spec.arg.name}' is a {spec.kind.name.lower()} "
                                       f"(a mutated buffer or input); aotc compiles pure inference programs")
            result = self.env.get(value) if hasattr(value, "op") else None
            if not isinstance(result, Ref):
                raise UnsupportedError(f"output {len(names)} ({value!r}) is not a tensor; aotc's "
                                       f"outputs are tensors")
            names.append(result.name)
        return names

    def _named_outputs(self, outputs: list[str]) -> list[str]:
        """Outputs are called y (one) or y_0, y_1, ...: exported programs have no output names.
        A value computed by a node is renamed; an input, a constant or a repeated output is
        copied by an Identity."""
        wanted = ["y"] if len(outputs) == 1 else [f"y_{i}" for i in range(len(outputs))]
        taken = set(self.builder.types)
        renames: dict[str, str] = {}
        produced = {v.name for n in self.builder.nodes for v in n.outputs}
        final = []
        for old, new in zip(outputs, wanted):
            new = new if new not in taken else self.builder.values.fresh(new)
            if old in produced and old not in renames:
                renames[old] = new
            else:
                type_ = self.builder.type_of(old)
                self.builder.types[new] = type_
                self.builder.nodes.append(Node("Identity", self.builder.node_names.fresh(new), (old,),
                                               (Value(new, type_),), NoAttrs()))
            final.append(new)
        if renames:
            self._rename(renames)
        return final

    def _rename(self, renames: Mapping[str, str]) -> None:
        def rename(name: str) -> str:
            return renames.get(name, name)
        for old, new in renames.items():
            self.builder.types[new] = self.builder.types[old]
        self.builder.nodes = [Node(n.op, n.name, tuple(rename(i) for i in n.inputs),
                                   tuple(Value(rename(v.name), v.type) for v in n.outputs), n.attrs)
                              for n in self.builder.nodes]


def _is_user_input(spec) -> bool:
    return spec is not None and spec.kind.name == "USER_INPUT"


def _without_converter(graph) -> set[str]:
    """ATen ops of the program that no converter handles (some may still fold to constants)."""
    return {str(n.target) for n in graph.nodes
            if n.op == "call_function" and str(n.target).startswith("aten.") and str(n.target) not in CONVERTERS
            and hasattr(n.meta.get("val"), "shape")}


def _results(fake) -> tuple:
    if isinstance(fake, (tuple, list)):
        return tuple(v if hasattr(v, "shape") else None for v in fake)
    return (fake,) if hasattr(fake, "shape") else ()


def _bind(target, args: tuple, kwargs: dict, where: str) -> dict[str, object]:
    """Arguments by schema name, defaults filled in."""
    bound: dict[str, object] = {}
    schema = getattr(target, "_schema", None)
    if schema is None:
        raise UnsupportedError(f"{where}: not an ATen operator")
    positional = list(args)
    for argument in schema.arguments:
        if positional and not argument.kwarg_only:
            bound[argument.name] = positional.pop(0)
        elif argument.name in kwargs:
            bound[argument.name] = kwargs[argument.name]
        elif argument.has_default_value():
            bound[argument.name] = argument.default_value
        else:
            bound[argument.name] = MISSING
    return bound
