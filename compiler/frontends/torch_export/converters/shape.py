"""Data-movement ATen ops: view, permute, expand, (un)squeeze, slice, select, cat, split,
gather, index, pad, repeat.

Shape arguments may hold symbolic sizes (`[s0, 784]`), which the graph IR's attributes cannot:
view and expand take their target from the result shape torch recorded, spelling a symbolic
dimension by its place in the input (Reshape's 0 "copy this dim", Expand's 1 "keep it").
"""
from __future__ import annotations

import numpy as np

from compiler.frontends.torch_export.call import Call
from compiler.ir.ops.common import normalize_axis
from compiler.ir.ops.registry import OpError
from compiler.ir.ops.shape import (AxesAttrs, ConcatAttrs, ExpandAttrs, GatherAttrs, PadAttrs, PermAttrs,
                                   ReshapeAttrs, SliceAttrs, SplitAttrs, TileAttrs)
from compiler.ir.types import Sym

# torch's "to the end" for slice bounds (INT64_MAX)
_END = 2**63 - 1


def _axis(call: Call, key: str, rank: int) -> int:
    try:
        return normalize_axis(call.int(key), rank)
    except OpError as error:
        raise call.invalid(str(error)) from None


def _view(call: Call) -> str:
    x = call.tensor("self")
    source, target = call.type(x).shape, call.out_type().shape
    dims = []
    for axis, dim in enumerate(target):
        if isinstance(dim, int):
            dims.append(dim)
        elif axis < len(source) and source[axis] == dim:
            dims.append(0)                      # Reshape's "copy the input's dimension"
        else:
            dims.append(-1)
    if dims.count(-1) > 1 or (0 in target and any(isinstance(d, Sym) for d in target)):
        raise call.unsupported(f"reshaping {source} to {target} moves symbolic dimensions")
    allowzero = 0 in target
    return call.emit("Reshape", ReshapeAttrs(tuple(dims), allowzero=allowzero), x)


def _permute(call: Call) -> str:
    x = call.tensor("self")
    rank = call.type(x).rank
    perm = tuple(d % rank if rank else 0 for d in call.ints("dims"))
    return call.emit("Transpose", PermAttrs(perm), x)


def _expand(call: Call) -> str:
    x = call.tensor("self")
    source, target = call.type(x).shape, call.out_type().shape
    if source == target:
        return x                                # decompositions expand to the same shape often
    offset = len(target) - len(source)
    dims = []
    for axis, dim in enumerate(target):
        if isinstance(dim, int):
            dims.append(dim)
        elif axis >= offset and source[axis - offset] == dim:
            dims.append(1)                      # broadcasting keeps the input's symbolic dim
        else:
            raise call.unsupported(f"expanding {source} to {target} creates a symbolic dimension")
    return call.emit("Expand", ExpandAttrs(tuple(dims)), x)


def _unsqueeze(call: Call) -> str:
    return call.emit("Unsqueeze", AxesAttrs((call.int("dim"),)), call.tensor("self"))


def _squeeze(call: Call) -> str:
    """torch ignores listed axes whose size is not 1; the graph op would reject them."""
    x = call.tensor("self")
    shape = call.type(x).shape
    listed = call.ints("dim") if "dim" in call.args else tuple(range(len(shape)))
    axes = tuple(a for a in {normalize_axis(a, len(shape)) for a in listed} if shape[a] == 1)
    if not axes:
        return x
    return call.emit("Squeeze", AxesAttrs(tuple(sorted(axes))), x)


def _slice(call: Call) -> str:
    x = call.tensor("self")
    shape = call.type(x).shape
    axis = _axis(call, "dim", len(shape))
    size = shape[axis]
    start, end, step = call.arg("start"), call.arg("end"), call.int("step")
    start = 0 if start is None else start
    end = _END if end is None or end == size else end      # == also matches a symbolic size
    if isinstance(end, int) and isinstance(size, int) and end >= size:
        end = _END
    if start == 0 and end == _END and step == 1:
        return x                                # the whole axis: export leaves these in
    if isinstance(size, Sym) or not isinstance(start, int) or not isinstance(end, int):
        raise call.unsupported(f"slicing axis {axis} of {shape} from {start} to {end} is not supported "
                               f"(symbolic sizes)")
    return call.emit("Slice", SliceAttrs((start,), (min(end, size),), (axis,), (step,)), x)


def _select(call: Call) -> str:
    x = call.tensor("self")
    axis = _axis(call, "dim", call.type(x).rank)
    index, size = call.int("index"), call.type(x).shape[axis]
    if index < 0:
        if not isinstance(size, int):
            raise call.unsupported(f"selecting index {index} from the end of symbolic axis {axis}")
        index += size
    return call.emit("Gather", GatherAttrs(axis), x, call.constant(np.array(index, np.int64)))


def _cat(call: Call) -> str:
    dtype = call.out_type().dtype
    inputs = [call.cast(t, dtype) for t in call.tensors("tensors")]
    return call.emit("Concat", ConcatAttrs(call.int("dim")), *inputs)


def _split_with_sizes(call: Call) -> tuple[str, ...]:
    sizes = call.ints("split_sizes")
    x = call.tensor("self")
    return call.emit_outputs("Split", SplitAttrs(call.int("dim"), sizes), (x,), len(sizes))


def _split(call: Call) -> tuple[str, ...]:
    x = call.tensor("self")
    axis = _axis(call, "dim", call.type(x).rank)
    length, chunk = call.type(x).shape[axis], call.int("split_size")
    if not isinstance(length, int):
        raise call.unsupported(f"splitting symbolic axis {axis} is not supported")
    sizes = tuple(min(chunk, length - begin) for begin in range(0, length, chunk))
    return call.emit_outputs("Split", SplitAttrs(axis, sizes), (x,), len(sizes))


def _gather(call: Call) -> str:
    return call.emit("GatherElements", GatherAttrs(call.int("dim")), call.tensor("self"), call.tensor("index"))


def _index_select(call: Call) -> str:
    return call.emit("Gather", GatherAttrs(call.int("dim")), call.tensor("self"), call.tensor("index"))


def _index(call: Call) -> str:
    """x[..., idx] with one index tensor after full slices: a Gather on that axis."""
    indices = call.arg("indices")
    present = [i for i, v in enumerate(indices) if v is not None]
    if len(present) != 1:
        raise call.unsupported(f"indexing with {len(present)} index tensors computed at run time is not "
                               f"supported (only one)")
    axis = present[0]
    if call.type(indices[axis].name).dtype.value == "bool":
        raise call.unsupported("indexing with a boolean mask is not supported (its size depends on the data)")
    return call.emit("Gather", GatherAttrs(axis), call.tensor("self"), indices[axis].name)


def _constant_pad_nd(call: Call) -> str:
    x = call.tensor("self")
    rank = call.type(x).rank
    pad = call.ints("pad")          # (last begin, last end, second-to-last begin, ...)
    begins, ends = [0] * rank, [0] * rank
    for i in range(len(pad) // 2):
        begins[rank - 1 - i], ends[rank - 1 - i] = pad[2 * i], pad[2 * i + 1]
    return call.emit("Pad", PadAttrs(tuple(begins + ends), value=float(call.number("value"))), x)


def _repeat(call: Call) -> str:
    x = call.tensor("self")
    repeats = call.ints("repeats")
    extra = len(repeats) - call.type(x).rank
    if extra > 0:
        x = call.emit("Unsqueeze", AxesAttrs(tuple(range(extra))), x)
    return call.emit("Tile", TileAttrs(repeats), x)


CONVERTERS = {
    **{f"aten.{name}.default": _view for name in ("view", "_unsafe_view", "reshape")},
    "aten.permute.default": _permute,
    "aten.expand.default": _expand,
    "aten.unsqueeze.default": _unsqueeze,
    "aten.squeeze.dims": _squeeze,
    "aten.squeeze.dim": _squeeze,
    "aten.squeeze.default": _squeeze,
    "aten.slice.Tensor": _slice,
    "aten.select.int": _select,
    "aten.cat.default": _cat,
    "aten.split_with_sizes.default": _split_with_sizes,
    "aten.split.Tensor": _split,
    "aten.gather.default": _gather,
    "aten.index_select.default": _index_select,
    "aten.index.Tensor": _index,
    "aten.constant_pad_nd.default": _constant_pad_nd,
    "aten.repeat.default": _repeat,
}
