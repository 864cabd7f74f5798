"""Rules for simplify: decomposed Softmax and LayerNorm, as older exporters (TorchScript below
opset 17) and hand-written models spell them, become the graph ops `Softmax` and
`LayerNormalization`, so every backend sees one normalisation op, never an exporter's variant.

    %m = ReduceMax(%x){axes=[-1]}; %e = Exp(Sub(%x, %m)); %y = Div(%e, ReduceSum(%e){axes=[-1]})
        ->  %y = Softmax(%x) {axis=-1}
    %d = Sub(%x, ReduceMean(%x)); %n = Div(%d, Sqrt(Add(ReduceMean(Mul(%d, %d)), eps)))
        ->  %n = LayerNormalization(%x, ones) {axis=-1, epsilon=eps}
    %y = Add(Mul(LayerNormalization(%x, %s), %g), %b)  (constants)
        ->  %y = LayerNormalization(%x, %s*%g, %b) {…}

A LayerNorm's affine tail is folded by two small rules (a constant scale, then a constant
shift), so a LayerNorm followed by any constant per-feature affine folds too.
"""
from __future__ import annotations

import numpy as np

from compiler.ir.graph import Graph, Node
from compiler.ir.ops.nn import AxisAttrs, LayerNormAttrs
from compiler.ir.ops.reduce import reduced_axes
from passes.pattern import Rewrite, fresh, only_consumers, produced_by, scalar_constant


def _trailing_axis(graph: Graph, reduction: Node) -> int | None:
    """The first axis of a keepdims reduction over the trailing axes (axis..rank-1), else None."""
    rank = graph.type_of(reduction.inputs[0]).rank
    axes = reduced_axes(rank, reduction.attrs)
    if not reduction.attrs.keepdims or not axes or axes != tuple(range(axes[0], rank)):
        return None
    return axes[0]


def _same_reduction(graph: Graph, a: Node, b: Node) -> bool:
    rank = graph.type_of(a.inputs[0]).rank
    return (a.attrs.keepdims == b.attrs.keepdims
            and reduced_axes(rank, a.attrs) == reduced_axes(graph.type_of(b.inputs[0]).rank, b.attrs))


def softmax_from_parts(graph: Graph, node: Node) -> list[Node] | None:
    """Div(e, ReduceSum(e)) with e = Exp(x - ReduceMax(x)) or e = Exp(x), over one axis."""
    exps, total = node.inputs
    exp, summed = produced_by(graph, exps, "Exp"), produced_by(graph, total, "ReduceSum")
    if exp is None or summed is None or summed.inputs[0] != exps:
        return None
    rank = graph.type_of(exps).rank
    axes = reduced_axes(rank, summed.attrs)
    if len(axes) != 1 or not summed.attrs.keepdims or not graph.type_of(exps).dtype.is_float:
        return None
    if not (only_consumers(graph, total, {node.name}) and only_consumers(graph, exps, {summed.name, node.name})):
        return None
    x = exp.inputs[0]
    shifted = produced_by(graph, x, "Sub")
    if shifted is not None and only_consumers(graph, x, {exp.name}):
        peak = produced_by(graph, shifted.inputs[1], "ReduceMax")
        if (peak is not None and peak.inputs[0] == shifted.inputs[0] and _same_reduction(graph, peak, summed)
                and only_consumers(graph, shifted.inputs[1], {shifted.name})):
            x = shifted.inputs[0]
    return [Node("Softmax", node.name, (x,), node.outputs, AxisAttrs(axes[0] - rank))]


def layernorm_from_parts(graph: Graph, node: Node) -> Rewrite | None:
    """Div(x - mean(x), Sqrt(mean((x - mean(x))^2) + eps)) over trailing axes (the square as
    Mul(d, d): simplify has already rewritten Pow(d, 2))."""
    centred, deviation = node.inputs
    sub, root = produced_by(graph, centred, "Sub"), produced_by(graph, deviation, "Sqrt")
    if sub is None or root is None:
        return None
    x, mean = sub.inputs
    first_mean = produced_by(graph, mean, "ReduceMean")
    plus_eps = produced_by(graph, root.inputs[0], "Add")
    if first_mean is None or first_mean.inputs[0] != x or plus_eps is None:
        return None
    axis = _trailing_axis(graph, first_mean)
    variance, epsilon = plus_eps.inputs
    if scalar_constant(graph, epsilon) is None:
        variance, epsilon = epsilon, variance
    eps = scalar_constant(graph, epsilon)
    second_mean = produced_by(graph, variance, "ReduceMean")
    if axis is None or eps is None or second_mean is None or not _same_reduction(graph, first_mean, second_mean):
        return None
    square = produced_by(graph, second_mean.inputs[0], "Mul")
    if square is None or square.inputs != (centred, centred):
        return None
    private = ((mean, {sub.name}), (centred, {square.name, node.name}), (square.output_names[0], {second_mean.name}),
               (variance, {plus_eps.name}), (root.inputs[0], {root.name}), (deviation, {node.name}))
    if not all(only_consumers(graph, value, users) for value, users in private):
        return None
    x_type = graph.type_of(x)
    if not x_type.dtype.is_float or node.outputs[0].type.shape != x_type.shape:
        return None
    ones_name = fresh(graph, f"{node.name}_ones")
    ones = np.ones(x_type.shape[axis:], dtype=x_type.dtype.to_numpy())
    attrs = LayerNormAttrs(axis=axis - x_type.rank, epsilon=eps)
    return Rewrite([Node("LayerNormalization", node.name, (x, ones_name), node.outputs, attrs)], {ones_name: ones})


def _layernorm_and_constant(graph: Graph, node: Node):
    """(LayerNormalization node, its constant scale, its constant bias or None, the other
    operand's constant) when `node` combines a LayerNorm read by it alone with a constant that
    varies only along the normalised axes."""
    for mine, other in (node.inputs, node.inputs[::-1]):
        norm = produced_by(graph, mine, "LayerNormalization")
        constant = graph.constants.get(other)
        if norm is None or constant is None or not only_consumers(graph, mine, {node.name}):
            continue
        scale = graph.constants.get(norm.inputs[1])
        bias_name = norm.inputs[2] if len(norm.inputs) > 2 else ""
        bias = graph.constants.get(bias_name) if bias_name else None
        x_type = graph.type_of(norm.inputs[0])
        normalised = x_type.shape[norm.attrs.axis % x_type.rank:]
        if (scale is None or (bias_name and bias is None) or constant.ndim > len(normalised)
                or node.outputs[0].type != x_type or constant.dtype != scale.dtype):
            continue
        if np.broadcast_shapes(constant.shape, normalised) != tuple(normalised):
            continue
        full = tuple(normalised)
        return norm, np.broadcast_to(scale, full), None if bias is None else np.broadcast_to(bias, full), \
            np.broadcast_to(constant, full)
    return None


def _renormalised(graph: Graph, node: Node, norm: Node, scale, bias) -> Rewrite:
    names = [fresh(graph, f"{node.name}_scale")]
    constants = {names[0]: np.ascontiguousarray(scale)}
    if bias is not None:
        names.append(fresh(graph, f"{node.name}_bias"))
        constants[names[1]] = np.ascontiguousarray(bias)
    folded = Node("LayerNormalization", node.name, (norm.inputs[0], *names), node.outputs, norm.attrs)
    return Rewrite([folded], constants)


def scale_layernorm(graph: Graph, node: Node) -> Rewrite | None:
    """Mul(LayerNorm(x, s, b), g) = LayerNorm(x, s*g, b*g)."""
    found = _layernorm_and_constant(graph, node)
    if found is None:
        return None
    norm, scale, bias, factor = found
    return _renormalised(graph, node, norm, scale * factor, None if bias is None else bias * factor)


def shift_layernorm(graph: Graph, node: Node) -> Rewrite | None:
    """Add(LayerNorm(x, s, b), c) = LayerNorm(x, s, b + c)."""
    found = _layernorm_and_constant(graph, node)
    if found is None:
        return None
    norm, scale, bias, shift = found
    return _renormalised(graph, node, norm, scale, shift if bias is None else bias + shift)
