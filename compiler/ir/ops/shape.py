"""Data-movement ops: reshape, transpose, concat, split, slice, gather, expand, pad.

Shape-determining operands (a Reshape's shape, Slice's starts...) are attributes here: the
frontends fold them to constants and fail clearly where they are not.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.ops.common import broadcast_shapes, normalize_axes, normalize_axis, require, same_dtype
from compiler.ir.ops.registry import OpDef, OpError, table
from compiler.ir.types import Dim, Sym, SymSize, TensorType


@dataclass(frozen=True, slots=True)
class ReshapeAttrs:
    shape: tuple[int, ...]
    allowzero: bool = False


def resolve_reshape(src: tuple[Dim, ...], target: tuple[int, ...], allowzero: bool) -> tuple[Dim, ...]:
    dims: list[Dim | None] = []
    for i, d in enumerate(target):
        if d == 0 and not allowzero:
            if i >= len(src):
                raise OpError(f"Reshape: 0 at position {i} copies a dimension the input lacks")
            dims.append(src[i])
        elif d == -1:
            dims.append(None)
        elif d < 0:
            raise OpError(f"Reshape: bad dimension {d} in {target}")
        else:
            dims.append(int(d))
    if dims.count(None) > 1:
        raise OpError(f"Reshape: more than one -1 in {target}")
    total = SymSize.of_shape(src)
    known = SymSize.of_shape(tuple(d for d in dims if d is not None))
    if None in dims:
        missing_syms = list(total.symbols)
        for s in known.symbols:
            if s not in missing_syms:
                raise OpError(f"Reshape: cannot infer -1 from symbolic shape {src} to {target}")
            missing_syms.remove(s)
        if known.coef == 0 or total.coef % known.coef:
            raise OpError(f"Reshape: {src} cannot be reshaped to {target}")
        ratio = total.coef // known.coef
        if not missing_syms:
            inferred: Dim = ratio
        elif len(missing_syms) == 1 and ratio == 1:
            inferred = Sym(missing_syms[0])
        else:
            raise OpError(f"Reshape: cannot infer -1 from symbolic shape {src} to {target}")
        dims[dims.index(None)] = inferred
    result = tuple(d for d in dims if d is not None)
    if SymSize.of_shape(result) != total and total.coef != 0:
        raise OpError(f"Reshape: {src} ({total} elements) cannot be reshaped to {target}")
    return result


def _reshape_infer(types, values, attrs):
    require(types, 1, "Reshape")
    return (types[0].with_shape(resolve_reshape(types[0].shape, attrs.shape, attrs.allowzero)),)


def _reshape_ref(inputs, attrs):
    shape = resolve_reshape(inputs[0].shape, attrs.shape, attrs.allowzero)
    return (inputs[0].reshape(shape).copy(),)


@dataclass(frozen=True, slots=True)
class FlattenAttrs:
    axis: int = 1


def _flatten_infer(types, values, attrs):
    require(types, 1, "Flatten")
    x = types[0]
    axis = attrs.axis + x.rank if attrs.axis < 0 else attrs.axis
    if not 0 <= axis <= x.rank:
        raise OpError(f"Flatten: axis {attrs.axis} out of range for rank {x.rank}")
    outer, inner = SymSize.of_shape(x.shape[:axis]), SymSize.of_shape(x.shape[axis:])
    def as_dim(size: SymSize) -> Dim:
        if size.is_static:
            return size.coef
        if size.coef == 1 and len(size.symbols) == 1:
            return Sym(size.symbols[0])
        raise OpError(f"Flatten: cannot express {size} as one dimension")
    return (x.with_shape((as_dim(outer), as_dim(inner))),)


def _flatten_ref(inputs, attrs):
    x = inputs[0]
    axis = attrs.axis + x.ndim if attrs.axis < 0 else attrs.axis
    return (x.reshape(math.prod(x.shape[:axis]), -1).copy(),)


@dataclass(frozen=True, slots=True)
class PermAttrs:
    perm: tuple[int, ...]


def _transpose_infer(types, values, attrs):
    require(types, 1, "Transpose")
    x = types[0]
    if sorted(attrs.perm) != list(range(x.rank)):
        raise OpError(f"Transpose: perm {attrs.perm} is not a permutation of rank {x.rank}")
    return (x.with_shape(tuple(x.shape[p] for p in attrs.perm)),)


@dataclass(frozen=True, slots=True)
class AxesAttrs:
    axes: tuple[int, ...] = ()


def _squeeze_axes(shape, attrs) -> tuple[int, ...]:
    if attrs.axes:
        axes = normalize_axes(attrs.axes, len(shape))
        for a in axes:
            if shape[a] != 1:
                raise OpError(f"Squeeze: axis {a} has size {shape[a]}, not 1")
        return axes
    return tuple(i for i, d in enumerate(shape) if d == 1)


def _squeeze_infer(types, values, attrs):
    require(types, 1, "Squeeze")
    axes = _squeeze_axes(types[0].shape, attrs)
    return (types[0].with_shape(tuple(d for i, d in enumerate(types[0].shape) if i not in axes)),)


def _unsqueeze_shape(shape, attrs):
    rank = len(shape) + len(attrs.axes)
    axes = normalize_axes(attrs.axes, rank)
    dims = iter(shape)
    return tuple(1 if i in axes else next(dims) for i in range(rank))


def _unsqueeze_infer(types, values, attrs):
    require(types, 1, "Unsqueeze")
    if not attrs.axes:
        raise OpError("Unsqueeze needs axes")
    return (types[0].with_shape(_unsqueeze_shape(types[0].shape, attrs)),)


@dataclass(frozen=True, slots=True)
class ConcatAttrs:
    axis: int


def _concat_infer(types, values, attrs):
    require(types, 1, "Concat", optional=10_000)
    dtype = same_dtype(types, "Concat")
    rank = types[0].rank
    axis = normalize_axis(attrs.axis, rank)
    total: Dim = 0
    for t in types:
        if t.rank != rank or any(t.shape[i] != types[0].shape[i] for i in range(rank) if i != axis):
            raise OpError(f"Concat: shapes {[t.shape for t in types]} disagree off axis {axis}")
        if isinstance(t.shape[axis], Sym) or isinstance(total, Sym):
            if len(types) > 1:
                raise OpError("Concat along a symbolic axis is not supported")
            total = t.shape[axis]
        else:
            total += t.shape[axis]
    return (TensorType(types[0].shape[:axis] + (total,) + types[0].shape[axis + 1:], dtype),)


@dataclass(frozen=True, slots=True)
class SplitAttrs:
    axis: int
    sizes: tuple[int, ...]


def _split_infer(types, values, attrs):
    require(types, 1, "Split")
    x = types[0]
    axis = normalize_axis(attrs.axis, x.rank)
    if x.shape[axis] != sum(attrs.sizes):
        raise OpError(f"Split: sizes {attrs.sizes} do not sum to axis length {x.shape[axis]}")
    return tuple(x.with_shape(x.shape[:axis] + (s,) + x.shape[axis + 1:]) for s in attrs.sizes)


def _split_ref(inputs, attrs):
    bounds = np.cumsum(attrs.sizes)[:-1]
    return tuple(p.copy() for p in np.split(inputs[0], bounds, axis=attrs.axis))


@dataclass(frozen=True, slots=True)
class SliceAttrs:
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    axes: tuple[int, ...]
    steps: tuple[int, ...]


def slice_ranges(shape: tuple[Dim, ...], attrs: SliceAttrs) -> list[tuple[int, int, int]]:
    """(start, stop, step) per axis, clamped as ONNX specifies."""
    if not len(attrs.starts) == len(attrs.ends) == len(attrs.axes) == len(attrs.steps):
        raise OpError("Slice: starts, ends, axes and steps differ in length")
    ranges: list[tuple[int, int, int]] = [(0, d, 1) if isinstance(d, int) else (0, -1, 1) for d in shape]
    for axis, start, end, step in zip(normalize_axes(attrs.axes, len(shape)), attrs.starts, attrs.ends, attrs.steps):
        size = shape[axis]
        if isinstance(size, Sym):
            raise OpError("Slice along a symbolic axis is not supported")
        if step == 0:
            raise OpError("Slice: step 0")
        ranges[axis] = _clamp_slice(start, end, step, size)
    return ranges


def _clamp_slice(start: int, end: int, step: int, size: int) -> tuple[int, int, int]:
    # ONNX clamps a negative-step start to size-1 and its end to -1 ("through index 0");
    # Python's slice.indices maps an out-of-range start to -1 instead, which differs.
    start += size if start < 0 else 0
    end += size if end < 0 else 0
    if step > 0:
        return min(max(start, 0), size), min(max(end, 0), size), step
    return min(max(start, 0), size - 1), min(max(end, -1), size - 1), step


def _slice_infer(types, values, attrs):
    require(types, 1, "Slice")
    ranges = slice_ranges(types[0].shape, attrs)
    shape = tuple(len(range(*r)) if isinstance(d, int) else d for r, d in zip(ranges, types[0].shape))
    return (types[0].with_shape(shape),)


def _slice_ref(inputs, attrs):
    ranges = slice_ranges(inputs[0].shape, attrs)
    return (inputs[0][tuple(slice(a, b if b >= 0 else None, c) for a, b, c in ranges)].copy(),)


def _gather_infer(types, values, attrs):
    require(types, 2, "Gather")
    data, indices = types
    if indices.dtype not in (DType.int32, DType.int64):
        raise OpError(f"Gather: indices must be int32 or int64, got {indices.dtype.value}")
    axis = normalize_axis(attrs.axis, data.rank)
    return (data.with_shape(data.shape[:axis] + indices.shape + data.shape[axis + 1:]),)


def _gather_ref(inputs, attrs):
    data, indices = inputs
    axis = attrs.axis % data.ndim
    if np.any(indices >= data.shape[axis]) or np.any(indices < -data.shape[axis]):
        raise OpError(f"Gather: index out of range for axis of size {data.shape[axis]}")
    return (np.take(data, indices, axis=axis),)


def _gather_elements_infer(types, values, attrs):
    require(types, 2, "GatherElements")
    data, indices = types
    if data.rank != indices.rank:
        raise OpError("GatherElements: data and indices must have one rank")
    normalize_axis(attrs.axis, data.rank)
    return (data.with_shape(indices.shape),)


def _gather_elements_ref(inputs, attrs):
    data, indices = inputs
    axis = attrs.axis % data.ndim
    return (np.take_along_axis(data, np.where(indices < 0, indices + data.shape[axis], indices), axis=axis),)


@dataclass(frozen=True, slots=True)
class ExpandAttrs:
    shape: tuple[int, ...]


def _expand_infer(types, values, attrs):
    require(types, 1, "Expand")
    return (types[0].with_shape(broadcast_shapes(types[0].shape, attrs.shape)),)


def _expand_ref(inputs, attrs):
    shape = broadcast_shapes(inputs[0].shape, attrs.shape)
    return (np.broadcast_to(inputs[0], shape).copy(),)


@dataclass(frozen=True, slots=True)
class TileAttrs:
    repeats: tuple[int, ...]


def _tile_infer(types, values, attrs):
    require(types, 1, "Tile")
    x = types[0]
    if len(attrs.repeats) != x.rank:
        raise OpError(f"Tile: {len(attrs.repeats)} repeats for rank {x.rank}")
    if any(isinstance(d, Sym) for d in x.shape):
        raise OpError("Tile of a symbolic shape is not supported")
    return (x.with_shape(tuple(d * r for d, r in zip(x.shape, attrs.repeats))),)


@dataclass(frozen=True, slots=True)
class PadAttrs:
    pads: tuple[int, ...]         # begins, then ends; may be negative (cropping)
    mode: str = "constant"
    value: float = 0.0            # unless a second, run-time scalar input gives it

    def __post_init__(self) -> None:
        if self.mode not in ("constant", "reflect", "edge"):
            raise OpError(f"Pad: mode '{self.mode}' is not supported")


def _pad_infer(types, values, attrs):
    require(types, 1, "Pad", optional=1)
    x = types[0]
    if len(types) > 1 and types[1] is not None and (SymSize.of_shape(types[1].shape) != SymSize(1)
                                                     or types[1].dtype != x.dtype):
        raise OpError(f"Pad: a run-time constant value must be one element of the input's dtype, "
                      f"got {types[1]}")
    if len(attrs.pads) != 2 * x.rank:
        raise OpError(f"Pad: {len(attrs.pads)} pads for rank {x.rank}")
    shape = []
    for i, d in enumerate(x.shape):
        if isinstance(d, Sym):
            if attrs.pads[i] or attrs.pads[x.rank + i]:
                raise OpError("Pad along a symbolic axis is not supported")
            shape.append(d)
        else:
            shape.append(d + attrs.pads[i] + attrs.pads[x.rank + i])
    return (x.with_shape(tuple(shape)),)


def _pad_ref(inputs, attrs):
    x = inputs[0]
    n = x.ndim
    begin, end = attrs.pads[:n], attrs.pads[n:]
    crop = tuple(slice(max(-b, 0), x.shape[i] - max(-e, 0)) for i, (b, e) in enumerate(zip(begin, end)))
    widths = [(max(b, 0), max(e, 0)) for b, e in zip(begin, end)]
    if attrs.mode == "constant":
        value = inputs[1].reshape(()) if len(inputs) > 1 and inputs[1] is not None else \
            np.asarray(attrs.value).astype(x.dtype)
        return (np.pad(x[crop], widths, constant_values=value),)
    return (np.pad(x[crop], widths, mode=attrs.mode),)


@dataclass(frozen=True, slots=True)
class RangeAttrs:
    start: float
    limit: float
    delta: float
    dtype: DType


def _range_count(attrs: RangeAttrs) -> int:
    if attrs.delta == 0:
        raise OpError("Range: delta 0")
    return max(int(math.ceil((attrs.limit - attrs.start) / attrs.delta)), 0)


def _range_ref(inputs, attrs):
    dt = attrs.dtype.to_numpy()
    return ((np.asarray(attrs.start, dt) + np.arange(_range_count(attrs)) * np.asarray(attrs.delta, dt)).astype(dt),)





@dataclass(frozen=True, slots=True)
class GatherAttrs:
    axis: int = 0


OPS = table(
    OpDef("Reshape", ReshapeAttrs, _reshape_infer, _reshape_ref, doc="reshape (0 copies, -1 infers)"),
    OpDef("Flatten", FlattenAttrs, _flatten_infer, _flatten_ref, doc="flatten to 2-d at axis"),
    OpDef("Transpose", PermAttrs, _transpose_infer,
          lambda i, a: (np.transpose(i[0], a.perm).copy(),), doc="permute axes"),
    OpDef("Squeeze", AxesAttrs, _squeeze_infer,
          lambda i, a: (i[0].reshape(_squeeze_infer([_t(i[0])], [], a)[0].static_shape()).copy(),),
          doc="drop size-1 axes"),
    OpDef("Unsqueeze", AxesAttrs, _unsqueeze_infer,
          lambda i, a: (i[0].reshape(_unsqueeze_shape(i[0].shape, a)).copy(),), doc="insert size-1 axes"),
    OpDef("Concat", ConcatAttrs, _concat_infer,
          lambda i, a: (np.concatenate(i, axis=a.axis),), doc="join along an axis"),
    OpDef("Split", SplitAttrs, _split_infer, _split_ref, doc="split along an axis"),
    OpDef("Slice", SliceAttrs, _slice_infer, _slice_ref, doc="strided slice"),
    OpDef("Gather", GatherAttrs, _gather_infer, _gather_ref, doc="take along an axis by run-time indices"),
    OpDef("GatherElements", GatherAttrs, _gather_elements_infer, _gather_elements_ref,
          doc="take_along_axis by run-time indices"),
    OpDef("Expand", ExpandAttrs, _expand_infer, _expand_ref, doc="broadcast to a shape"),
    OpDef("Tile", TileAttrs, _tile_infer, lambda i, a: (np.tile(i[0], a.repeats),), doc="repeat"),
    OpDef("Pad", PadAttrs, _pad_infer, _pad_ref, doc="pad or crop"),
    OpDef("Range", RangeAttrs,
          lambda t, v, a: (TensorType((_range_count(a),), a.dtype),), _range_ref, doc="arithmetic sequence"),
)


def _t(array: np.ndarray) -> TensorType:
    return TensorType(tuple(array.shape), DType.from_numpy(array.dtype))
