"""ONNX OneHot, EyeLike, Hardmax, TopK, GatherND, ScatterElements, ScatterND, DepthToSpace and
SpaceToDepth. OneHot's depth and TopK's k determine shapes: compile-time constants."""
from __future__ import annotations

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.frontends.onnx.tensors import to_dtype
from compiler.ir.ops.index import (REDUCTIONS, BlockAttrs, EyeLikeAttrs, GatherNDAttrs, OneHotAttrs,
                                   ScatterAttrs, TopKAttrs)
from compiler.ir.ops.nn import AxisAttrs


def _onehot(node: NodeView) -> Emit:
    depth = node.static_scalar(1, "depth")
    return Emit("OneHot", OneHotAttrs(depth=int(depth), axis=node.int_attr("axis", -1)), inputs=(0, 2))


def _eyelike(node: NodeView) -> Emit:
    dtype = to_dtype(node.int_attr("dtype"), f"{node.where}: attribute 'dtype'") if "dtype" in node.attrs \
        else node.type(0).dtype
    return Emit("EyeLike", EyeLikeAttrs(dtype=dtype, k=node.int_attr("k", 0)))


def _hardmax(node: NodeView) -> Emit:
    if node.opset < 13:
        raise node.unsupported("Hardmax before opset 13 (flattening to 2-d) is not supported")
    return Emit("Hardmax", AxisAttrs(axis=node.int_attr("axis", -1)))


def _topk(node: NodeView) -> Emit:
    if not node.int_attr("sorted", 1):
        raise node.unsupported("unsorted TopK is not supported")
    k = node.static_ints(1, "k")
    if len(k) != 1:
        raise node.invalid(f"k must hold one value, got {k}")
    attrs = TopKAttrs(k=k[0], axis=node.int_attr("axis", -1), largest=bool(node.int_attr("largest", 1)))
    return Emit("TopK", attrs, inputs=(0,), outputs=2)


def _scatter(node: NodeView) -> Emit:
    reduction = node.attr("reduction", "none")
    if reduction not in REDUCTIONS:
        raise node.unsupported(f"reduction '{reduction}' is not supported")
    op = "ScatterElements" if node.op_type in ("ScatterElements", "Scatter") else node.op_type
    return Emit(op, ScatterAttrs(axis=node.int_attr("axis", 0), reduction=str(reduction)))


def _gather_nd(node: NodeView) -> Emit:
    return Emit("GatherND", GatherNDAttrs(batch_dims=node.int_attr("batch_dims", 0)))


def _blocks(node: NodeView) -> Emit:
    mode = node.attr("mode", "DCR")
    if mode not in ("DCR", "CRD"):
        raise node.invalid(f"mode must be DCR or CRD, got '{mode}'")
    return Emit(node.op_type, BlockAttrs(node.int_attr("blocksize"), column_row_depth=mode == "CRD"))


CONVERTERS = {
    "OneHot": _onehot, "EyeLike": _eyelike, "Hardmax": _hardmax, "TopK": _topk,
    "ScatterElements": _scatter, "ScatterND": _scatter, "GatherND": _gather_nd,
    "DepthToSpace": _blocks, "SpaceToDepth": _blocks,
}
