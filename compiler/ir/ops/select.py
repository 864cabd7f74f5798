"""Ops that select by position: Trilu (a triangle of the last two axes), ArgMax/ArgMin,
ReverseSequence, and inference Dropout with its mask."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.ops.common import normalize_axis, require
from compiler.ir.ops.registry import NoAttrs, OpDef, OpError, table
from compiler.ir.types import TensorType


@dataclass(frozen=True, slots=True)
class TriluAttrs:
    upper: bool = True


def _trilu_infer(types, values, attrs):
    require(types, 1, "Trilu", optional=1)
    if types[0].rank < 2:
        raise OpError(f"Trilu needs rank 2 or more, got {types[0].rank}")
    if len(types) > 1 and types[1] is not None and (types[1].dtype is not DType.int64 or types[1].rank != 0):
        raise OpError("Trilu: k must be an int64 scalar")
    return (types[0],)


def _trilu_ref(inputs, attrs):
    x = inputs[0]
    k = int(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else 0
    return ((np.triu(x, k) if attrs.upper else np.tril(x, k)).astype(x.dtype),)


@dataclass(frozen=True, slots=True)
class ArgAttrs:
    axis: int = 0
    keepdims: bool = True
    select_last_index: bool = False


def _arg_infer(name: str):
    def infer(types, values, attrs):
        require(types, 1, name)
        x = types[0]
        axis = normalize_axis(attrs.axis, x.rank)
        if x.shape[axis] == 0:
            raise OpError(f"{name} over an empty axis")
        shape = tuple(1 if i == axis else d for i, d in enumerate(x.shape)) if attrs.keepdims else \
            tuple(d for i, d in enumerate(x.shape) if i != axis)
        return (TensorType(shape, DType.int64),)
    return infer


def _arg_ref(fn):
    def reference(inputs, attrs):
        x = inputs[0]
        axis = attrs.axis % x.ndim
        if attrs.select_last_index:
            flipped = np.flip(x, axis)
            index = x.shape[axis] - 1 - fn(flipped, axis=axis)
        else:
            index = fn(x, axis=axis)
        if attrs.keepdims:
            index = np.expand_dims(index, axis)
        return (np.asarray(index, dtype=np.int64),)
    return reference




@dataclass(frozen=True, slots=True)
class ReverseSequenceAttrs:
    batch_axis: int = 1
    time_axis: int = 0


def _reverse_sequence_infer(types, values, attrs):
    require(types, 2, "ReverseSequence")
    x, lens = types
    if x.rank < 2 or lens.rank != 1 or lens.dtype is not DType.int64 or {attrs.batch_axis, attrs.time_axis} != {0, 1}:
        raise OpError("ReverseSequence needs rank >= 2, int64 lengths and batch/time axes 0 and 1")
    return (x,)


def _reverse_sequence_ref(inputs, attrs):
    x, lens = inputs
    out = x.copy()
    for b, length in enumerate(lens):
        index = [slice(None)] * x.ndim
        index[attrs.batch_axis] = b
        index[attrs.time_axis] = slice(0, int(length))
        out[tuple(index)] = np.flip(x[tuple(index)], axis=0)
    return (out,)


def _dropout_infer(types, values, attrs):
    require(types, 1, "Dropout")
    return (types[0], TensorType(types[0].shape, DType.bool))


OPS = table(
    OpDef("Trilu", TriluAttrs, _trilu_infer, _trilu_ref, doc="upper or lower triangle, offset by a run-time k"),
    OpDef("ArgMax", ArgAttrs, _arg_infer("ArgMax"), _arg_ref(np.argmax), doc="index of the largest along an axis"),
    OpDef("ArgMin", ArgAttrs, _arg_infer("ArgMin"), _arg_ref(np.argmin), doc="index of the smallest along an axis"),
    OpDef("ReverseSequence", ReverseSequenceAttrs, _reverse_sequence_infer, _reverse_sequence_ref,
          doc="reverse each batch entry's first `length` time steps"),
    OpDef("Dropout", NoAttrs, _dropout_infer, lambda i, a: (i[0].copy(), np.ones(i[0].shape, bool)),
          doc="inference dropout with its mask output (all kept)"),
)
