"""The op table: for each op kind, its attribute schema, shape/dtype inference and numpy reference.

Every level of aotc reads this one table: the frontends build nodes from it, passes and the
verifier infer types with it, the interpreter runs it, and tests compare backends against it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from compiler.ir.types import TensorType


@dataclass(frozen=True, slots=True)
class NoAttrs:
    """Attributes of an op that has none."""


# infer(input types, input values where constant else None, attrs) -> output types
InferFn = Callable[[Sequence["TensorType | None"], Sequence["np.ndarray | None"], object], tuple[TensorType, ...]]
# reference(input arrays (None for absent optional inputs), attrs) -> output arrays
ReferenceFn = Callable[[Sequence["np.ndarray | None"], object], tuple[np.ndarray, ...]]


@dataclass(frozen=True, slots=True)
class OpDef:
    name: str
    attrs: type
    infer: InferFn
    reference: ReferenceFn
    # Inputs that must be compile-time constants (shape-determining), by position.
    static_inputs: tuple[int, ...] = ()
    # One-line summary shown by `aotc targets --ops`.
    doc: str = ""
    # Made by graph passes (e.g. simplify's Attention), never imported from a model format.
    created_by_passes: bool = False


class OpError(ValueError):
    """A node is malformed: wrong input count, rank, dtype or attribute."""


def merge_tables(*tables: Mapping[str, OpDef]) -> dict[str, OpDef]:
    merged: dict[str, OpDef] = {}
    for table in tables:
        for name, op in table.items():
            if name in merged:
                raise ValueError(f"op '{name}' is registered twice")
            merged[name] = op
    return merged


def table(*ops: OpDef) -> dict[str, OpDef]:
    return {op.name: op for op in ops}
