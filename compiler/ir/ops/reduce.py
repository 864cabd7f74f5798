"""Reductions over a set of axes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.ops.common import normalize_axes, require
from compiler.ir.ops.registry import OpDef, OpError, table


@dataclass(frozen=True, slots=True)
class ReduceAttrs:
    axes: tuple[int, ...] = ()          # empty: every axis (unless noop_with_empty_axes)
    keepdims: bool = True
    noop_with_empty_axes: bool = False


REDUCTIONS = {
    "ReduceSum": np.sum, "ReduceMean": np.mean, "ReduceMax": np.max, "ReduceMin": np.min,
    "ReduceProd": np.prod,
}


def reduced_axes(rank: int, attrs: ReduceAttrs) -> tuple[int, ...]:
    if not attrs.axes:
        return () if attrs.noop_with_empty_axes else tuple(range(rank))
    return tuple(sorted(normalize_axes(attrs.axes, rank)))


def _reduce(name: str, fn) -> OpDef:
    def infer(types, values, attrs):
        require(types, 1, name)
        x = types[0]
        if x.dtype.value == "bool":
            raise OpError(f"{name} does not take bool inputs")
        axes = reduced_axes(x.rank, attrs)
        if attrs.keepdims:
            shape = tuple(1 if i in axes else d for i, d in enumerate(x.shape))
        else:
            shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return (x.with_shape(shape),)

    def reference(inputs, attrs):
        x = inputs[0]
        axes = reduced_axes(x.ndim, attrs)
        if not axes:
            return (x.copy(),)
        if name in ("ReduceMax", "ReduceMin") and any(x.shape[a] == 0 for a in axes):
            raise OpError(f"{name} of an empty axis has no value")
        work = x.astype(np.float64) if x.dtype.kind == "f" and name in ("ReduceSum", "ReduceMean", "ReduceProd") else x
        return (np.asarray(fn(work, axis=axes, keepdims=attrs.keepdims)).astype(x.dtype),)

    return OpDef(name, ReduceAttrs, infer, reference, doc=f"{name[6:].lower()} over axes")


OPS = table(*(_reduce(name, fn) for name, fn in REDUCTIONS.items()))
