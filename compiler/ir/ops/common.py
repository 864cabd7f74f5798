"""Helpers shared by the op definitions: broadcasting, axis normalisation, type checks."""
from __future__ import annotations

from typing import Sequence

from compiler.ir.dtypes import DType
from compiler.ir.ops.registry import OpError
from compiler.ir.types import Dim, TensorType


def broadcast_shapes(*shapes: tuple[Dim, ...]) -> tuple[Dim, ...]:
    rank = max((len(s) for s in shapes), default=0)
    result: list[Dim] = []
    for axis in range(rank):
        dims = {s[axis - rank + len(s)] for s in shapes if axis - rank + len(s) >= 0}
        dims.discard(1)
        if len(dims) > 1:
            raise OpError(f"shapes {', '.join(str(tuple(s)) for s in shapes)} do not broadcast")
        result.append(dims.pop() if dims else 1)
    return tuple(result)


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise OpError(f"axis {axis} is out of range for rank {rank}")
    return axis % rank if rank else 0


def normalize_axes(axes: Sequence[int], rank: int) -> tuple[int, ...]:
    normalized = tuple(normalize_axis(int(a), rank) for a in axes)
    if len(set(normalized)) != len(normalized):
        raise OpError(f"repeated axis in {tuple(axes)}")
    return normalized


def require(types: Sequence[TensorType | None], count: int, op: str, optional: int = 0) -> None:
    present = len(types)
    if not count <= present <= count + optional:
        expected = str(count) if not optional else f"{count} to {count + optional}"
        raise OpError(f"{op} takes {expected} inputs, got {present}")
    for index, t in enumerate(types[:count]):
        if t is None:
            raise OpError(f"{op}: input {index} is required")


def same_dtype(types: Sequence[TensorType | None], op: str) -> DType:
    dtypes = {t.dtype for t in types if t is not None}
    if len(dtypes) != 1:
        raise OpError(f"{op}: inputs must share one dtype, got {', '.join(sorted(d.value for d in dtypes))}")
    return dtypes.pop()


def static_value(values, index: int, op: str, what: str):
    """The constant value of input `index`, which determines the output shape."""
    if index >= len(values) or values[index] is None:
        raise OpError(f"{op}: input {index} ({what}) must be a compile-time constant")
    return values[index]
