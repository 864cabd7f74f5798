"""Attention as one graph op: softmax(scale * q @ k^T + mask) @ v over the last two axes.

The simplify pass recognises the decomposed form both torch exporters emit, so backends get
one op to implement (flash-style) instead of pattern-matching each exporter's variant.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.ops.common import broadcast_shapes, require
from compiler.ir.ops.registry import OpDef, OpError, table
from compiler.ir.types import TensorType


@dataclass(frozen=True, slots=True)
class AttentionAttrs:
    scale: float = 1.0
    causal: bool = False            # row i attends to keys j <= i (top-left aligned, as torch)
    keys_transposed: bool = False   # k is [..., D, T] (as exporters hand it to the MatMul) not [..., T, D]
    zero_nan_rows: bool = False     # rows whose softmax is NaN (all scores -inf) become 0
    # Operands stored in another axis order (a folded Transpose): logical operand =
    # stored.transpose(perm); the stored output = logical output.transpose(out_perm). Empty:
    # as stored. simplify folds only orders that keep the last axis last.
    q_perm: tuple[int, ...] = ()
    k_perm: tuple[int, ...] = ()
    v_perm: tuple[int, ...] = ()
    out_perm: tuple[int, ...] = ()


def permuted(ttype: TensorType, perm: tuple[int, ...]) -> TensorType:
    """The type of ttype's tensor transposed by perm (perm empty: itself)."""
    return ttype.with_shape(tuple(ttype.shape[p] for p in perm)) if perm else ttype


def logical_types(types, attrs: AttentionAttrs) -> list:
    """q, k, v as the attention reads them (stored types permuted), then the rest."""
    perms = (attrs.q_perm, attrs.k_perm, attrs.v_perm)
    return [permuted(t, perms[i]) if i < 3 else t for i, t in enumerate(types)]


def _shapes(types, attrs):
    q, k, v = types[0], types[1], types[2]
    if not (q.rank == k.rank == v.rank) or q.rank < 2:
        raise OpError("Attention: q, k and v need one rank >= 2")
    if not (q.dtype == k.dtype == v.dtype) or not q.dtype.is_float:
        raise OpError("Attention: q, k and v need one float dtype")
    depth_k, keys = (k.shape[-2], k.shape[-1]) if attrs.keys_transposed else (k.shape[-1], k.shape[-2])
    if q.shape[-1] != depth_k or v.shape[-2] != keys:
        raise OpError(f"Attention: shapes q{q.shape} k{k.shape} v{v.shape} disagree")
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise OpError("Attention: q, k and v need equal batch dimensions")
    return q.shape[-2], keys


def _infer(types, values, attrs):
    require(types, 3, "Attention", optional=1)
    for perm, t in zip((attrs.q_perm, attrs.k_perm, attrs.v_perm, attrs.out_perm), types):
        if perm and sorted(perm) != list(range(t.rank)):
            raise OpError(f"Attention: {perm} is not a permutation of rank {t.rank}")
    types = logical_types(types, attrs)
    rows, keys = _shapes(types, attrs)
    q, v = types[0], types[2]
    if len(types) > 3 and types[3] is not None:
        scores = q.shape[:-1] + (keys,)
        if broadcast_shapes(types[3].shape, scores) != tuple(scores):
            raise OpError(f"Attention: mask {types[3].shape} does not broadcast to scores {scores}")
    return (permuted(TensorType(q.shape[:-1] + (v.shape[-1],), q.dtype), attrs.out_perm),)


def _reference(inputs, attrs):
    q, k, v = (_transposed(x, perm).astype(np.float64)
               for x, perm in zip(inputs[:3], (attrs.q_perm, attrs.k_perm, attrs.v_perm)))
    kt = k if attrs.keys_transposed else np.swapaxes(k, -1, -2)
    scores = (q @ kt) * attrs.scale
    if len(inputs) > 3 and inputs[3] is not None:
        scores = scores + inputs[3]
    if attrs.causal:
        s, t = scores.shape[-2], scores.shape[-1]
        scores = np.where(np.tril(np.ones((s, t), bool)), scores, -np.inf)
    with np.errstate(invalid="ignore"):
        e = np.exp(scores - scores.max(axis=-1, keepdims=True))
        p = e / e.sum(axis=-1, keepdims=True)
    if attrs.zero_nan_rows:
        p = np.where(np.isnan(p), 0.0, p)
    return (_transposed(p @ v, attrs.out_perm).astype(inputs[0].dtype),)


def _transposed(x: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    return np.transpose(x, perm) if perm else x


OPS = table(OpDef("Attention", AttentionAttrs, _infer, _reference,
                  doc="softmax(scale * q k^T + mask) v (recognised by simplify)", created_by_passes=True))
