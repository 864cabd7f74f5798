"""CumSum and CumProd along an axis given at run time."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.ops.common import require
from compiler.ir.ops.registry import OpDef, OpError, table


@dataclass(frozen=True, slots=True)
class CumulativeAttrs:
    exclusive: bool = False
    reverse: bool = False


def _infer(name: str):
    def infer(types, values, attrs):
        require(types, 2, name)
        x, axis = types
        if axis.dtype not in (DType.int32, DType.int64) or axis.rank > 1:
            raise OpError(f"{name}: axis must be an int32 or int64 scalar")
        if x.rank == 0 or not x.is_static:
            raise OpError(f"{name} needs a static shape of rank 1 or more")
        return (x,)
    return infer


def _reference(fn, identity: int):
    def reference(inputs, attrs):
        x, axis = inputs
        axis = int(np.asarray(axis).reshape(-1)[0]) % x.ndim
        work = np.flip(x, axis) if attrs.reverse else x
        out = fn(work, axis=axis, dtype=x.dtype)
        if attrs.exclusive:
            out = np.concatenate([np.full_like(np.take(out, [0], axis=axis), identity),
                                  np.take(out, range(x.shape[axis] - 1), axis=axis)], axis=axis)
        return ((np.flip(out, axis) if attrs.reverse else out).astype(x.dtype),)
    return reference


OPS = table(
    OpDef("CumSum", CumulativeAttrs, _infer("CumSum"), _reference(np.cumsum, 0), doc="running sum along a run-time axis"),
    OpDef("CumProd", CumulativeAttrs, _infer("CumProd"), _reference(np.cumprod, 1),
          doc="running product along a run-time axis"),
)
