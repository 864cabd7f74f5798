"""Attention as data: what a backend's flash-attention template needs to know.

    out[b, i, e] = sum_j softmax_j(scale * sum_d q[b, i, d] k[b, j, d] + mask[b, i, j]) v[b, j, e]

`b` runs over the batch axes (batch, heads). Each operand is a strided view of its buffer, so
the exporters' head-split layouts (a Transpose folded into the op as q_perm, out_perm, ...)
and a broadcast mask are just strides; the template never sees the permutations.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StridedView:
    """Element (b..., row, col) at param[sum(b_a * batch[a]) + row * row_stride + col * col_stride];
    a stride of 0 broadcasts."""
    param: str
    batch: tuple[int, ...]
    row_stride: int
    col_stride: int


@dataclass(frozen=True, slots=True)
class AttentionSpec:
    batch: tuple[int, ...]      # extents of the batch axes (static)
    rows: int                   # queries i
    keys: int                   # keys j
    depth: int                  # d, the q.k contraction
    width: int                  # e, the value width
    q: StridedView              # (i, d)
    k: StridedView              # (j, d)
    v: StridedView              # (j, e)
    out: StridedView            # (i, e)
    mask: StridedView | None    # (i, j), added to the scaled scores
    scale: float
    causal: bool                # key j > query i is masked out
    zero_nan_rows: bool         # a row with every score -inf gives 0 instead of NaN
