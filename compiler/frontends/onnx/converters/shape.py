"""Data-movement ONNX ops. Their shape-determining inputs (Reshape's shape, Slice's starts...)
must be compile-time constants and become the typed attributes of the graph-IR op."""
from __future__ import annotations

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.ir.ops.common import normalize_axes
from compiler.ir.ops.registry import OpError
from compiler.ir.ops.shape import (AxesAttrs, ConcatAttrs, ExpandAttrs, FlattenAttrs, GatherAttrs, PadAttrs,
                                   PermAttrs, RangeAttrs, ReshapeAttrs, SliceAttrs, SplitAttrs, TileAttrs)

PAD_MODES = ("constant", "reflect", "edge")


def _reshape(node: NodeView) -> Emit:
    attrs = ReshapeAttrs(node.static_ints(1, "shape"), allowzero=bool(node.int_attr("allowzero", 0)))
    return Emit("Reshape", attrs, inputs=(0,))


def _flatten(node: NodeView) -> Emit:
    return Emit("Flatten", FlattenAttrs(node.int_attr("axis", 1)))


def _transpose(node: NodeView) -> Emit:
    default = tuple(reversed(range(node.type(0).rank)))
    return Emit("Transpose", PermAttrs(node.ints_attr("perm", default)))


def _axes(node: NodeView) -> tuple[int, ...]:
    # An attribute before opset 13, an optional input since.
    if "axes" in node.attrs:
        return node.ints_attr("axes")
    return node.static_ints(1, "axes") if node.has_input(1) else ()


def _squeeze(node: NodeView) -> Emit:
    return Emit("Squeeze", AxesAttrs(_axes(node)), inputs=(0,))


def _unsqueeze(node: NodeView) -> Emit:
    return Emit("Unsqueeze", AxesAttrs(_axes(node)), inputs=(0,))


def _concat(node: NodeView) -> Emit:
    return Emit("Concat", ConcatAttrs(node.int_attr("axis")))


def _split(node: NodeView) -> Emit:
    x = node.type(0)
    axis = node.int_attr("axis", 0)
    count = node.num_outputs
    if "split" in node.attrs:                      # before opset 13
        sizes = node.ints_attr("split")
    elif node.has_input(1):
        sizes = node.static_ints(1, "split sizes")
    else:
        try:
            length = x.shape[normalize_axes((axis,), x.rank)[0]]
        except OpError as error:
            raise node.invalid(str(error)) from None
        if not isinstance(length, int):
            raise node.unsupported(f"splitting symbolic axis {axis} of {x.shape} needs explicit sizes")
        if "num_outputs" in node.attrs:            # opset 18: the last chunk may be smaller
            count = node.int_attr("num_outputs")
            chunk = -(-length // count)
            sizes = (chunk,) * (count - 1) + (length - chunk * (count - 1),)
        elif length % count:
            raise node.invalid(f"axis {axis} of length {length} does not split into {count} equal parts")
        else:
            sizes = (length // count,) * count
    if len(sizes) != node.num_outputs:
        raise node.invalid(f"{len(sizes)} split sizes for {node.num_outputs} outputs")
    return Emit("Split", SplitAttrs(axis, tuple(sizes)), inputs=(0,), outputs=len(sizes))


def _slice(node: NodeView) -> Emit:
    starts = node.static_ints(1, "starts")
    ends = node.static_ints(2, "ends")
    axes = node.static_ints(3, "axes") if node.has_input(3) else tuple(range(len(starts)))
    steps = node.static_ints(4, "steps") if node.has_input(4) else (1,) * len(starts)
    return Emit("Slice", SliceAttrs(starts, ends, axes, steps), inputs=(0,))


def _gather(node: NodeView) -> Emit:
    return Emit(node.op_type, GatherAttrs(node.int_attr("axis", 0)))


def _expand(node: NodeView) -> Emit:
    return Emit("Expand", ExpandAttrs(node.static_ints(1, "shape")), inputs=(0,))


def _tile(node: NodeView) -> Emit:
    return Emit("Tile", TileAttrs(node.static_ints(1, "repeats")), inputs=(0,))


def _pad(node: NodeView) -> Emit:
    mode = node.attr("mode", "constant")
    if mode not in PAD_MODES:
        raise node.unsupported(f"pad mode '{mode}' is not supported (only {', '.join(PAD_MODES)})")
    pads = node.static_ints(1, "pads")
    runtime_value = node.has_input(2) and node.value(2) is None
    value = node.constant_scalar(2, "constant value") if node.has_input(2) and not runtime_value else 0.0
    if node.has_input(3):                          # opset 18: pads cover only these axes
        rank = node.type(0).rank
        try:
            axes = normalize_axes(node.static_ints(3, "axes"), rank)
        except OpError as error:
            raise node.invalid(str(error)) from None
        if len(pads) != 2 * len(axes):
            raise node.invalid(f"{len(pads)} pads for {len(axes)} axes")
        full = [0] * (2 * rank)
        for j, axis in enumerate(axes):
            full[axis], full[rank + axis] = pads[j], pads[len(axes) + j]
        pads = tuple(full)
    return Emit("Pad", PadAttrs(pads, mode=str(mode), value=float(value)), inputs=(0, 2) if runtime_value else (0,))


def _range(node: NodeView) -> Emit:
    start, limit, delta = (float(node.static_scalar(i, what))
                           for i, what in enumerate(("start", "limit", "delta")))
    attrs = RangeAttrs(start=start, limit=limit, delta=delta, dtype=node.type(0).dtype)
    return Emit("Range", attrs, inputs=())


CONVERTERS = {
    "Reshape": _reshape,
    "Flatten": _flatten,
    "Transpose": _transpose,
    "Squeeze": _squeeze,
    "Unsqueeze": _unsqueeze,
    "Concat": _concat,
    "Split": _split,
    "Slice": _slice,
    "Gather": _gather,
    "GatherElements": _gather,
    "Expand": _expand,
    "Tile": _tile,
    "Pad": _pad,
    "Range": _range,
}
