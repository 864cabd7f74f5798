"""Ops that address elements by computed positions: OneHot, EyeLike, Hardmax, TopK, GatherND,
ScatterElements, ScatterND, DepthToSpace and SpaceToDepth."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.ops.common import normalize_axis, require
from compiler.ir.ops.nn import AxisAttrs
from compiler.ir.ops.registry import OpDef, OpError, table
from compiler.ir.types import TensorType

_INDEX_DTYPES = (DType.int32, DType.int64)


@dataclass(frozen=True, slots=True)
class OneHotAttrs:
    depth: int
    axis: int = -1


def _onehot_infer(types, values, attrs):
    require(types, 2, "OneHot")
    indices, vals = types
    if vals.rank != 1 or vals.shape[0] != 2:
        raise OpError("OneHot: values must hold [off, on]")
    axis = normalize_axis(attrs.axis, indices.rank + 1)
    shape = indices.shape[:axis] + (attrs.depth,) + indices.shape[axis:]
    return (TensorType(shape, vals.dtype),)


def _onehot_ref(inputs, attrs):
    indices, vals = inputs
    axis = normalize_axis(attrs.axis, indices.ndim + 1)
    idx = indices.astype(np.int64)
    idx = np.where(idx < 0, idx + attrs.depth, idx)
    hot = np.expand_dims(idx, axis) == np.arange(attrs.depth).reshape(
        (attrs.depth,) + (1,) * (indices.ndim - axis))
    return (np.where(hot, vals[1], vals[0]).astype(vals.dtype),)


@dataclass(frozen=True, slots=True)
class EyeLikeAttrs:
    dtype: DType
    k: int = 0


def _eyelike_infer(types, values, attrs):
    require(types, 1, "EyeLike")
    if types[0].rank != 2 or not types[0].is_static:
        raise OpError("EyeLike needs a static 2-d input")
    return (TensorType(types[0].shape, attrs.dtype),)


def _eyelike_ref(inputs, attrs):
    rows, cols = inputs[0].shape
    return (np.eye(rows, cols, k=attrs.k, dtype=attrs.dtype.to_numpy()),)


def _hardmax_infer(types, values, attrs):
    require(types, 1, "Hardmax")
    normalize_axis(attrs.axis, types[0].rank)
    return (types[0],)


def _hardmax_ref(inputs, attrs):
    x = inputs[0]
    axis = normalize_axis(attrs.axis, x.ndim)
    first = np.expand_dims(np.argmax(x, axis=axis), axis)
    return ((np.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1)) == first).astype(x.dtype),)


@dataclass(frozen=True, slots=True)
class TopKAttrs:
    k: int
    axis: int = -1
    largest: bool = True


def _topk_infer(types, values, attrs):
    require(types, 1, "TopK")
    x = types[0]
    axis = normalize_axis(attrs.axis, x.rank)
    if not isinstance(x.shape[axis], int) or not 0 <= attrs.k <= x.shape[axis]:
        raise OpError(f"TopK: k={attrs.k} does not fit axis {axis} of {x.shape}")
    shape = x.shape[:axis] + (attrs.k,) + x.shape[axis + 1:]
    return (x.with_shape(shape), TensorType(shape, DType.int64))


def _topk_ref(inputs, attrs):
    """Sorted; ties keep the smaller index first."""
    x = inputs[0]
    axis = normalize_axis(attrs.axis, x.ndim)
    key = x.astype(np.float64)
    order = np.argsort(-key if attrs.largest else key, axis=axis, kind="stable")
    index = np.take(order, np.arange(attrs.k), axis=axis)
    return (np.take_along_axis(x, index, axis=axis), index.astype(np.int64))


@dataclass(frozen=True, slots=True)
class ScatterAttrs:
    axis: int = 0
    reduction: str = "none"

    def __post_init__(self) -> None:
        if self.reduction not in REDUCTIONS:
            raise OpError(f"scatter reduction '{self.reduction}' is not one of {', '.join(REDUCTIONS)}")


REDUCTIONS = {"none": None, "add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _scatter_elements_infer(types, values, attrs):
    require(types, 3, "ScatterElements")
    data, indices, updates = types
    if indices.dtype not in _INDEX_DTYPES or indices.shape != updates.shape or data.rank != indices.rank:
        raise OpError("ScatterElements: indices and updates must share a shape of data's rank")
    normalize_axis(attrs.axis, data.rank)
    return (data,)


def _scatter_elements_ref(inputs, attrs):
    data, indices, updates = inputs
    out = data.copy()
    axis = normalize_axis(attrs.axis, data.ndim)
    combine = REDUCTIONS[attrs.reduction]
    for position in np.ndindex(*indices.shape):
        target = list(position)
        i = int(indices[position])
        target[axis] = i + data.shape[axis] if i < 0 else i
        target = tuple(target)
        out[target] = updates[position] if combine is None else combine(out[target], updates[position])
    return (out,)


def _scatter_nd_infer(types, values, attrs):
    require(types, 3, "ScatterND")
    data, indices, updates = types
    depth = indices.shape[-1] if indices.rank else None
    if indices.dtype is not DType.int64 or not isinstance(depth, int) or depth > data.rank or \
            updates.shape != indices.shape[:-1] + data.shape[depth:]:
        raise OpError("ScatterND: updates must have shape indices.shape[:-1] + data.shape[indices.shape[-1]:]")
    return (data,)


def _scatter_nd_ref(inputs, attrs):
    data, indices, updates = inputs
    out = data.copy()
    combine = REDUCTIONS[attrs.reduction]
    for position in np.ndindex(*indices.shape[:-1]):
        target = tuple(int(i) for i in indices[position])
        out[target] = updates[position] if combine is None else combine(out[target], updates[position])
    return (out,)


@dataclass(frozen=True, slots=True)
class GatherNDAttrs:
    batch_dims: int = 0


def _gather_nd_infer(types, values, attrs):
    require(types, 2, "GatherND")
    data, indices = types
    b = attrs.batch_dims
    depth = indices.shape[-1] if indices.rank else None
    if indices.dtype is not DType.int64 or not isinstance(depth, int) or b + depth > data.rank:
        raise OpError("GatherND: indices.shape[-1] + batch_dims must not exceed data's rank")
    return (data.with_shape(indices.shape[:-1] + data.shape[b + depth:]),)


def _gather_nd_ref(inputs, attrs):
    data, indices = inputs
    b = attrs.batch_dims
    out_shape = indices.shape[:-1] + data.shape[b + indices.shape[-1]:]
    out = np.empty(out_shape, data.dtype)
    for position in np.ndindex(*indices.shape[:-1]):
        where = tuple(position[:b]) + tuple(int(i) for i in indices[position])
        out[position] = data[where]
    return (out,)


@dataclass(frozen=True, slots=True)
class BlockAttrs:
    blocksize: int
    column_row_depth: bool = False   # mode CRD (else DCR)


def _depth_to_space_infer(types, values, attrs):
    require(types, 1, "DepthToSpace")
    n, c, h, w = _static4(types[0], "DepthToSpace")
    b = attrs.blocksize
    if c % (b * b):
        raise OpError(f"DepthToSpace: {c} channels do not divide by blocksize² {b * b}")
    return (types[0].with_shape((n, c // (b * b), h * b, w * b)),)


def _depth_to_space_ref(inputs, attrs):
    x = inputs[0]
    n, c, h, w = x.shape
    b = attrs.blocksize
    if attrs.column_row_depth:
        y = x.reshape(n, c // (b * b), b, b, h, w).transpose(0, 1, 4, 2, 5, 3)
    else:
        y = x.reshape(n, b, b, c // (b * b), h, w).transpose(0, 3, 4, 1, 5, 2)
    return (y.reshape(n, c // (b * b), h * b, w * b).copy(),)


def _space_to_depth_infer(types, values, attrs):
    require(types, 1, "SpaceToDepth")
    n, c, h, w = _static4(types[0], "SpaceToDepth")
    b = attrs.blocksize
    if h % b or w % b:
        raise OpError(f"SpaceToDepth: {h}x{w} does not divide by blocksize {b}")
    return (types[0].with_shape((n, c * b * b, h // b, w // b)),)


def _space_to_depth_ref(inputs, attrs):
    x = inputs[0]
    n, c, h, w = x.shape
    b = attrs.blocksize
    y = x.reshape(n, c, h // b, b, w // b, b)
    y = y.transpose(0, 1, 3, 5, 2, 4) if attrs.column_row_depth else y.transpose(0, 3, 5, 1, 2, 4)
    return (y.reshape(n, c * b * b, h // b, w // b).copy(),)


def _static4(t: TensorType, op: str) -> tuple[int, int, int, int]:
    if t.rank != 4 or not t.is_static:
        raise OpError(f"{op} needs a static rank-4 input")
    return t.static_shape()  # type: ignore[return-value]


OPS = table(
    OpDef("OneHot", OneHotAttrs, _onehot_infer, _onehot_ref, doc="one-hot encode (depth static)"),
    OpDef("EyeLike", EyeLikeAttrs, _eyelike_infer, _eyelike_ref, doc="identity matrix shaped like the input"),
    OpDef("Hardmax", AxisAttrs, _hardmax_infer, _hardmax_ref, doc="1 at the first maximum along an axis"),
    OpDef("TopK", TopKAttrs, _topk_infer, _topk_ref, doc="k largest or smallest, sorted, with indices"),
    OpDef("ScatterElements", ScatterAttrs, _scatter_elements_infer, _scatter_elements_ref,
          doc="write updates at run-time positions along an axis"),
    OpDef("ScatterND", ScatterAttrs, _scatter_nd_infer, _scatter_nd_ref, doc="write slices at run-time index tuples"),
    OpDef("GatherND", GatherNDAttrs, _gather_nd_infer, _gather_nd_ref, doc="read slices at run-time index tuples"),
    OpDef("DepthToSpace", BlockAttrs, _depth_to_space_infer, _depth_to_space_ref, doc="channels into blocks"),
    OpDef("SpaceToDepth", BlockAttrs, _space_to_depth_infer, _space_to_depth_ref, doc="blocks into channels"),
)
