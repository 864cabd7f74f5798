"""Reductions over a set of axes, and the normalisations built on one (LpNormalization,
InstanceNormalization)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.ops.common import normalize_axes, require
from compiler.ir.ops.nn import EpsilonAttrs
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
        if x.dtype.value == "bool" and name not in ("ReduceMax", "ReduceMin"):
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




@dataclass(frozen=True, slots=True)
class LpNormAttrs:
    axis: int = -1
    p: int = 2

    def __post_init__(self) -> None:
        if self.p not in (1, 2):
            raise OpError(f"LpNormalization: p must be 1 or 2, got {self.p}")


def _lp_norm_infer(types, values, attrs):
    require(types, 1, "LpNormalization")
    if not types[0].dtype.is_float:
        raise OpError(f"LpNormalization does not take {types[0].dtype.value}")
    normalize_axes((attrs.axis,), types[0].rank)
    return (types[0],)


def _lp_norm_ref(inputs, attrs):
    """x divided by its L1 or L2 norm along the axis; 0 where the norm is 0."""
    x = inputs[0]
    x64 = x.astype(np.float64)
    norm = np.sum(np.abs(x64), axis=attrs.axis, keepdims=True) if attrs.p == 1 else \
        np.sqrt(np.sum(x64 * x64, axis=attrs.axis, keepdims=True))
    with np.errstate(all="ignore"):
        return (np.where(norm == 0, 0, x64 / norm).astype(x.dtype),)





def _instance_norm_infer(types, values, attrs):
    require(types, 3, "InstanceNormalization")
    x = types[0]
    if x.rank < 3 or not x.dtype.is_float or types[1].shape != (x.shape[1],) or types[2].shape != (x.shape[1],):
        raise OpError("InstanceNormalization needs (N, C, ...) input and (C,) scale and bias")
    return (x,)


def _instance_norm_ref(inputs, attrs):
    x, scale, bias = inputs
    axes = tuple(range(2, x.ndim))
    x64 = x.astype(np.float64)
    mean = x64.mean(axis=axes, keepdims=True)
    var = ((x64 - mean) ** 2).mean(axis=axes, keepdims=True)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x64 - mean) / np.sqrt(var + attrs.epsilon) * scale.reshape(shape) + bias.reshape(shape)
    return (y.astype(x.dtype),)


OPS = table(*(_reduce(name, fn) for name, fn in REDUCTIONS.items()),
            OpDef("LpNormalization", LpNormAttrs, _lp_norm_infer, _lp_norm_ref,
                  doc="divide by the L1 or L2 norm along an axis"),
            OpDef("InstanceNormalization", EpsilonAttrs, _instance_norm_infer, _instance_norm_ref,
                  doc="normalise each (batch, channel) plane, then per-channel scale and bias"))
