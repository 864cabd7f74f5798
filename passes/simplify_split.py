"""Rule for simplify: a Split of a projection by constant weights, along the projection's
output features, is one projection per piece. GPT-2 computes q, k and v as one Gemm (c_attn)
whose 3 x 384 columns a Split then copies out; three Gemms on the weights' column slices write
the pieces where the copies would have gone (same GEMM efficiency at these widths, one kernel
and one full read and write of the QKV tensor fewer per layer, on every backend).

    %p = Gemm(%x, %w, %b); %r = Reshape(%p){1,128,1152}; %q, %k, %v = Split(%r){axis=2, sizes=[384, 384, 384]}
        ->  %pq = Gemm(%x, %w[:, 0:384], %b[0:384]); %q = Reshape(%pq){1,128,384}   (and k, v)

Reshapes between the projection and the Split must keep the last axis (so it is still the
projection's output features), and every value on the way must be read by the chain alone.
"""
from __future__ import annotations

import numpy as np

from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops.common import normalize_axis
from compiler.ir.ops.shape import ReshapeAttrs
from passes.pattern import FreshNames, Rewrite, only_consumers


def _projection_behind(graph: Graph, value: str, reader: str) -> tuple[Node, bool] | None:
    """The Gemm / MatMul whose output reaches `value` through last-axis-keeping Reshapes read by
    the chain alone, and whether any Reshape was passed."""
    reshaped = False
    while True:
        if not only_consumers(graph, value, {reader}):
            return None
        producer = graph.producers.get(value)
        if producer is None:
            return None
        if producer.op in ("Gemm", "MatMul"):
            return producer, reshaped
        if producer.op != "Reshape":
            return None
        before, after = graph.type_of(producer.inputs[0]).shape, graph.type_of(value).shape
        if not before or not after or before[-1] != after[-1]:
            return None
        value, reader, reshaped = producer.inputs[0], producer.name, True


def _feature_slices(graph: Graph, projection: Node, features: int):
    """(weight, bias) as functions of a column range, or None when the weights are not
    constants laid out with the output features on one axis."""
    weight = graph.constants.get(projection.inputs[1])
    if weight is None or weight.ndim != 2:
        return None
    transposed = projection.op == "Gemm" and projection.attrs.trans_b
    if weight.shape[0 if transposed else 1] != features:
        return None
    bias = None
    if projection.op == "Gemm" and len(projection.inputs) > 2 and projection.inputs[2]:
        bias = graph.constants.get(projection.inputs[2])
        if bias is None:
            return None
    cut_weight = (lambda s, e: weight[s:e, :]) if transposed else (lambda s, e: weight[:, s:e])

    def cut_bias(s: int, e: int):
        if bias is None or bias.ndim == 0 or bias.shape[-1] == 1:
            return bias                                   # broadcast along the features: whole
        return bias[..., s:e]
    return cut_weight, cut_bias


def split_projection(graph: Graph, node: Node) -> Rewrite | None:
    x_type = graph.type_of(node.inputs[0])
    if normalize_axis(node.attrs.axis, x_type.rank) != x_type.rank - 1:
        return None
    found = _projection_behind(graph, node.inputs[0], node.name)
    if found is None:
        return None
    projection, reshaped = found
    out_type = projection.outputs[0].type
    features = out_type.shape[-1]
    if not isinstance(features, int) or sum(node.attrs.sizes) != features:
        return None
    if reshaped and not all(v.type.is_static for v in node.outputs):
        return None
    slices = _feature_slices(graph, projection, features)
    if slices is None:
        return None
    cut_weight, cut_bias = slices
    names = FreshNames(graph)
    nodes, constants, start = [], {}, 0
    for index, (size, piece) in enumerate(zip(node.attrs.sizes, node.outputs)):
        end = start + size
        w_name = names(f"{projection.inputs[1]}_cols{start}_{end}")
        constants[w_name] = np.ascontiguousarray(cut_weight(start, end))
        inputs = [projection.inputs[0], w_name]
        bias = cut_bias(start, end)
        if bias is not None:
            b_name = names(f"{projection.inputs[2]}_cols{start}_{end}")
            constants[b_name] = np.ascontiguousarray(bias)
            inputs.append(b_name)
        if reshaped:
            part = Value(names(f"{piece.name}_projection"), out_type.with_shape(out_type.shape[:-1] + (size,)))
            nodes.append(Node(projection.op, names(f"{projection.name}_part{index}"), tuple(inputs), (part,),
                              projection.attrs))
            nodes.append(Node("Reshape", names(f"{node.name}_part{index}"), (part.name,), (piece,),
                              ReshapeAttrs(tuple(int(d) for d in piece.type.shape))))
        else:
            nodes.append(Node(projection.op, names(f"{projection.name}_part{index}"), tuple(inputs), (piece,),
                              projection.attrs))
        start = end
    return Rewrite(nodes, constants)
