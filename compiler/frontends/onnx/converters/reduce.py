"""ONNX reductions. Their axes are an attribute before opset 18 (ReduceSum: before 13) and an
optional input after; either way they become `ReduceAttrs.axes`."""
from __future__ import annotations

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.ir.ops.nn import EpsilonAttrs
from compiler.ir.ops.reduce import REDUCTIONS, LpNormAttrs, ReduceAttrs


def _reduce(node: NodeView) -> Emit:
    if "axes" in node.attrs:
        axes = node.ints_attr("axes")
    elif node.has_input(1):
        axes = node.static_ints(1, "axes")
    else:
        axes = ()
    attrs = ReduceAttrs(axes=axes, keepdims=bool(node.int_attr("keepdims", 1)),
                        noop_with_empty_axes=bool(node.int_attr("noop_with_empty_axes", 0)))
    return Emit(node.op_type, attrs, inputs=(0,))


def _lp_normalization(node: NodeView) -> Emit:
    return Emit("LpNormalization", LpNormAttrs(axis=node.int_attr("axis", -1), p=node.int_attr("p", 2)))


def _instance_norm(node: NodeView) -> Emit:
    return Emit("InstanceNormalization", EpsilonAttrs(node.float_attr("epsilon", 1e-5)))


CONVERTERS = {**{op: _reduce for op in REDUCTIONS}, "LpNormalization": _lp_normalization,
              "InstanceNormalization": _instance_norm}
