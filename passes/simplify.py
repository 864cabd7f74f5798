"""simplify: local algebraic rewrites, as a table of (op, rule) pairs. A rule returns the
replacement nodes (or a Rewrite that also adds constants) or None for "no match"; the pass
applies the table until nothing changes. Rules: Pow by multiplication, Attention and GELU
recognition, decomposed Softmax and LayerNorm recognition (simplify_norms.py), BatchNorm folded
into its Conv, chains of Transposes (and Reshapes that only add or drop unit axes) collapsed
to one Transpose (simplify_views.py), a Split of a constant projection as one projection
per piece (simplify_split.py).

Needs: a verified graph. Rules never change values, only how they are computed.

    %y = Pow(%x, %three)    (const %three = 3.0)     ->    %x2 = Mul(%x, %x); %y = Mul(%x2, %x)
    %y = Pow(%x, %half)     (const %half = 0.5)      ->    %y = Sqrt(%x)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import NoAttrs, OpError, op_def
from compiler.ir.ops.attention import AttentionAttrs
from passes.eliminate_dead_code import eliminate_dead_code
from passes.pattern import Rewrite, fresh, only_consumers, scalar_constant
from passes.simplify_attention import causal_mask_as_attribute, fold_operand_transposes, fold_output_transpose
from passes.simplify_split import split_projection
from passes.simplify_views import transposes_through_unit_reshapes
from passes.simplify_norms import layernorm_from_parts, shift_layernorm, scale_layernorm, softmax_from_parts

Rule = Callable[[Graph, Node], "list[Node] | None"]


def _pow_by_multiplication(graph: Graph, node: Node) -> list[Node] | None:
    """x^1, x^2, x^3, x^0.5 without powf (powf is a scalar libm call per element)."""
    exponent = scalar_constant(graph, node.inputs[1])
    x, (out,) = node.inputs[0], node.outputs
    if exponent is None or graph.type_of(x).shape != out.type.shape or not out.type.dtype.is_float:
        return None
    if exponent == 1.0:
        return [Node("Identity", node.name, (x,), (out,), NoAttrs())]
    if exponent == 2.0:
        return [Node("Mul", node.name, (x, x), (out,), NoAttrs())]
    if exponent == 3.0:
        square = Value(f"{out.name}__square", out.type)
        return [Node("Mul", f"{node.name}__square", (x, x), (square,), NoAttrs()),
                Node("Mul", node.name, (square.name, x), (out,), NoAttrs())]
    if exponent == 0.5:
        return [Node("Sqrt", node.name, (x,), (out,), NoAttrs())]
    return None


def _scaled_operand(graph: Graph, name: str, consumer: str) -> tuple[str, float]:
    """(x, c) when `name` = Mul(x, c) for a scalar constant c used only by `consumer`."""
    producer = graph.producers.get(name)
    if producer is not None and producer.op == "Mul" and only_consumers(graph, name, {consumer}):
        for mine, other in (producer.inputs, producer.inputs[::-1]):
            value = scalar_constant(graph, other)
            if value is not None and other != mine:
                return mine, value
    return name, 1.0


def _attention(graph: Graph, node: Node) -> list[Node] | None:
    """MatMul(softmax(scale * q @ kT + mask), v), with the exporters' optional
    Where(IsNaN(p), 0, p), becomes one Attention node (the rest dies in dead-code elimination).

        %s = MatMul(Mul(%q, c1), Mul(%kT, c2)); %m = Add(%s, %mask); %p = Softmax(%m)
        %y = MatMul(%p, %v)          ->     %y = Attention(%q, %kT, %v, %mask) {scale=c1*c2}
    """
    probabilities, v = node.inputs
    producer = graph.producers.get(probabilities)
    zero_nan = False
    if producer is not None and producer.op == "Where":
        condition, zero, kept = producer.inputs
        test = graph.producers.get(condition)
        if scalar_constant(graph, zero) != 0.0 or test is None or test.op != "IsNaN" or test.inputs[0] != kept:
            return None
        if not (only_consumers(graph, probabilities, {node.name})
                and only_consumers(graph, condition, {producer.name})
                and only_consumers(graph, kept, {test.name, producer.name})):
            return None
        zero_nan, probabilities = True, kept
        producer = graph.producers.get(kept)
    elif not only_consumers(graph, probabilities, {node.name}):
        return None
    if producer is None or producer.op != "Softmax":
        return None
    softmax = producer
    if softmax.attrs.axis not in (-1, graph.type_of(softmax.inputs[0]).rank - 1):
        return None
    scores = softmax.inputs[0]
    if not only_consumers(graph, scores, {softmax.name}):
        return None
    mask = ""
    before = graph.producers.get(scores)
    if before is not None and before.op == "Add":
        add = before
        for candidate, other in (add.inputs, add.inputs[::-1]):
            source = graph.producers.get(candidate)
            if source is not None and source.op in ("MatMul", "Mul", "Div") and only_consumers(graph, candidate, {add.name}):
                scores, mask, before = candidate, other, source
                break
        else:
            return None
    scale = 1.0
    if before is not None and before.op in ("Div", "Mul"):
        value = scalar_constant(graph, before.inputs[1])
        inner = graph.producers.get(before.inputs[0])
        if not value or inner is None or not only_consumers(graph, before.inputs[0], {before.name}):
            return None
        scale = 1.0 / value if before.op == "Div" else value
        before = inner
    if before is None or before.op != "MatMul":
        return None
    q, q_scale = _scaled_operand(graph, before.inputs[0], before.name)
    k, k_scale = _scaled_operand(graph, before.inputs[1], before.name)
    attrs = AttentionAttrs(scale=scale * q_scale * k_scale, keys_transposed=True, zero_nan_rows=zero_nan)
    inputs = (q, k, v, mask) if mask else (q, k, v)
    types = [graph.type_of(name) for name in inputs]
    try:
        if op_def("Attention").infer(types, [None] * len(types), attrs) != (node.outputs[0].type,):
            return None
    except OpError:
        return None
    return [Node("Attention", node.name, inputs, node.outputs, attrs)]


def _fold_batchnorm(graph: Graph, node: Node) -> Rewrite | None:
    """BatchNormalization after a Conv with constant weights becomes the Conv alone, its
    weights and bias rescaled per output channel at compile time.

        %c = Conv(%x, %w, %b); %y = BatchNormalization(%c, %g, %beta, %mean, %var)
        ->  %y = Conv(%x, %w', %b')   with s = g / sqrt(var + eps), w' = w * s, b' = (b - mean) * s + beta
    """
    conv = graph.producers.get(node.inputs[0])
    if conv is None or conv.op != "Conv" or conv.attrs.channels_last:
        return None
    if not only_consumers(graph, node.inputs[0], {node.name}):
        return None
    params = [graph.constants.get(name) for name in node.inputs[1:]]
    weight = graph.constants.get(conv.inputs[1])
    bias = graph.constants.get(conv.inputs[2]) if len(conv.inputs) > 2 and conv.inputs[2] else None
    if weight is None or any(p is None for p in params) or (len(conv.inputs) > 2 and conv.inputs[2] and bias is None):
        return None
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)
    scale = gamma / np.sqrt(var + node.attrs.epsilon)
    w = (weight.astype(np.float64) * scale.reshape((-1,) + (1,) * (weight.ndim - 1))).astype(weight.dtype)
    b0 = bias.astype(np.float64) if bias is not None else np.zeros_like(mean)
    b = ((b0 - mean) * scale + beta).astype(weight.dtype)
    w_name, b_name = fresh(graph, f"{conv.inputs[1]}_bn"), fresh(graph, f"{node.name}_bias")
    folded = Node("Conv", node.name, (conv.inputs[0], w_name, b_name), node.outputs, conv.attrs)
    return Rewrite([folded], {w_name: w, b_name: b})


# Elementwise ops a decomposed activation may be built from.
_ACTIVATION_PARTS = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Erf", "Tanh", "Sqrt", "Neg", "Identity"})
_MAX_PARTS = 12


def _activation_cone(graph: Graph, node: Node) -> tuple[list[Node], str] | None:
    """The elementwise nodes feeding `node` whose only non-constant leaf is one tensor x:
    (nodes in graph order, x), or None. Every inner value must be used inside the cone."""
    cone: dict[str, Node] = {node.name: node}
    leaves: set[str] = set()
    frontier = [name for name in node.inputs if name]
    while frontier:
        name = frontier.pop()
        if name in graph.constants:
            if graph.constants[name].size != 1:
                return None
            continue
        producer = graph.producers.get(name)
        tensor_constant = producer is not None and any(
            i in graph.constants and graph.constants[i].size != 1 for i in producer.inputs)
        if producer is None or producer.op not in _ACTIVATION_PARTS or tensor_constant or len(cone) >= _MAX_PARTS:
            leaves.add(name)   # (a bias Add, a MatMul...: where the activation's input comes from)
            continue
        if producer.name not in cone:
            cone[producer.name] = producer
            frontier += [n for n in producer.inputs if n]
    if len(leaves) != 1 or len(cone) < 3:
        return None
    inner = {v for n in cone.values() for v in n.output_names} - {node.output_names[0]}
    for value in inner:
        if value in graph.outputs or any(c.name not in cone for c in graph.consumers.get(value, ())):
            return None
    order = [n for n in graph.nodes if n.name in cone]
    return order, leaves.pop()


def _gelu(graph: Graph, node: Node) -> list[Node] | None:
    """A decomposed GELU, in whatever association the exporter wrote it, becomes one Gelu op.
    The candidate (elementwise nodes over one tensor x and scalar constants, with an Erf or a
    Tanh inside) is recognised by what it computes: evaluated on sample points, it must equal
    GELU's erf or tanh form to float32 precision.

        %d = Div(%x, 1.414); %e = Erf(%d); %a = Add(%e, 1); %m = Mul(%x, %a); %y = Mul(%m, 0.5)
        ->  %y = Gelu(%x) {approximate="none"}
    """
    found = _activation_cone(graph, node)
    if found is None:
        return None
    nodes, x = found
    ops = {n.op for n in nodes}
    if not ops & {"Erf", "Tanh"} or graph.type_of(x).dtype is not DType.float32:
        return None
    if graph.type_of(x).shape != node.outputs[0].type.shape:
        return None
    from compiler.ir.interpreter import interpret
    from compiler.ir.ops.elementwise import GeluAttrs, _gelu_ref
    from compiler.ir.types import TensorType
    samples = np.linspace(-6, 6, 97, dtype=np.float32)
    probe_type = TensorType((samples.size,), DType.float32)
    retyped = [Node(n.op, n.name, n.inputs, tuple(Value(v.name, probe_type) for v in n.outputs), n.attrs)
               for n in nodes]
    used = {i for n in nodes for i in n.inputs if i in graph.constants}
    probe = Graph("gelu_probe", (Value(x, probe_type),), (node.output_names[0],), tuple(retyped),
                  {name: graph.constants[name] for name in used})
    try:
        got = interpret(probe, {x: samples})[node.output_names[0]].astype(np.float64)
    except Exception:  # a cone that is not an elementwise function of x: no match
        return None
    approximate = "tanh" if "Tanh" in ops else "none"
    want = _gelu_ref([samples], GeluAttrs(approximate))[0].astype(np.float64)
    if np.max(np.abs(got - want)) > 1e-5 * max(1.0, float(np.max(np.abs(want)))):
        return None
    return [Node("Gelu", node.name, (x,), node.outputs, GeluAttrs(approximate))]


RULES: dict[str, tuple[Rule, ...]] = {
    "Pow": (_pow_by_multiplication,),
    "Mul": (_gelu, scale_layernorm),
    "Add": (shift_layernorm,),
    "Div": (softmax_from_parts, layernorm_from_parts),
    "MatMul": (_attention,),
    "BatchNormalization": (_fold_batchnorm,),
    "Transpose": (transposes_through_unit_reshapes, fold_output_transpose),
    "Reshape": (transposes_through_unit_reshapes,),
    "Attention": (fold_operand_transposes, causal_mask_as_attribute),
    "Split": (split_projection,),
}


@dataclass(frozen=True)
class Simplify:
    max_rounds: int = 8

    def __call__(self, graph: Graph) -> Graph:
        return simplify(graph, self.max_rounds)


def simplify(graph: Graph, max_rounds: int = 8) -> Graph:
    for _ in range(max_rounds):
        changed = False
        nodes: list[Node] = []
        constants = dict(graph.constants)
        for node in graph.nodes:
            replacement = None
            for rule in RULES.get(node.op, ()):
                replacement = rule(graph, node)
                if replacement is not None:
                    break
            if replacement is None:
                nodes.append(node)
                continue
            if isinstance(replacement, Rewrite):
                constants.update(replacement.constants)
                replacement = replacement.nodes
            nodes.extend(replacement)
            changed = True
        if not changed:
            return graph
        # Dead nodes go between rounds: a rule asking "is this value read only by me?" must not
        # count readers an earlier rewrite left behind.
        graph = eliminate_dead_code(graph.with_nodes(nodes, constants))
    return graph



