"""ONNX Trilu, ArgMax, ArgMin, CumSum, CumProd, Einsum and ReverseSequence."""
from __future__ import annotations

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.ir.ops.cumulative import CumulativeAttrs
from compiler.ir.ops.einsum import EinsumAttrs
from compiler.ir.ops.select import ArgAttrs, ReverseSequenceAttrs, TriluAttrs


def _trilu(node: NodeView) -> Emit:
    return Emit("Trilu", TriluAttrs(upper=bool(node.int_attr("upper", 1))))


def _arg(node: NodeView) -> Emit:
    return Emit(node.op_type, ArgAttrs(axis=node.int_attr("axis", 0), keepdims=bool(node.int_attr("keepdims", 1)),
                                       select_last_index=bool(node.int_attr("select_last_index", 0))))




def _cumulative(node: NodeView) -> Emit:
    return Emit(node.op_type, CumulativeAttrs(exclusive=bool(node.int_attr("exclusive", 0)),
                                              reverse=bool(node.int_attr("reverse", 0))))


def _reverse_sequence(node: NodeView) -> Emit:
    return Emit("ReverseSequence", ReverseSequenceAttrs(batch_axis=node.int_attr("batch_axis", 1),
                                                        time_axis=node.int_attr("time_axis", 0)))


def _einsum(node: NodeView) -> Emit:
    return Emit("Einsum", EinsumAttrs(str(node.attr("equation"))))


CONVERTERS = {"Einsum": _einsum, "ReverseSequence": _reverse_sequence, "Trilu": _trilu, "ArgMax": _arg, "ArgMin": _arg, "CumSum": _cumulative, "CumProd": _cumulative}
