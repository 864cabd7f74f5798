"""Resize as separable interpolation: for each resized axis, a table of source indices and
weights per output position (taps). The ONNX frontend builds the tables from the attributes
and the static shapes, so every mode (nearest, linear, cubic, antialias, coordinate modes)
is one op here."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.ops.common import require
from compiler.ir.ops.registry import OpDef, OpError, table


@dataclass(frozen=True, slots=True)
class ResizeAttrs:
    axes: tuple[int, ...]     # the resized axes; inputs 1 + 2k, 2 + 2k are axis k's tables


def _infer(types, values, attrs):
    require(types, 1 + 2 * len(attrs.axes), "Resize")
    x = types[0]
    shape = list(x.shape)
    for k, axis in enumerate(attrs.axes):
        index, weight = types[1 + 2 * k], types[2 + 2 * k]
        if index.dtype is not DType.int64 or weight.dtype is not DType.float64 or index.rank != 2 \
                or index.shape != weight.shape or not 0 <= axis < x.rank:
            raise OpError("Resize: each axis needs int64 indices and float64 weights of one (out, taps) shape")
        shape[axis] = index.shape[0]
    return (x.with_shape(tuple(shape)),)


def _reference(inputs, attrs):
    x = inputs[0]
    y = x.astype(np.float64)
    for k, axis in enumerate(attrs.axes):
        index, weight = inputs[1 + 2 * k], inputs[2 + 2 * k]
        taken = np.take(y, index, axis=axis)                  # ..., out, taps, ...
        shape = [1] * taken.ndim
        shape[axis], shape[axis + 1] = weight.shape
        y = np.sum(taken * weight.reshape(shape), axis=axis + 1)
    return (y.astype(x.dtype),)


OPS = table(OpDef("Resize", ResizeAttrs, _infer, _reference, doc="separable interpolation by per-axis tap tables"))
