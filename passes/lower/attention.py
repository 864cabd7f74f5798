"""Lowering of Attention: one row of scores at a time, never the S x T matrix.

Per (batch..., query row i), parallel: the row of T scores lives in a thread-private array;
scores accumulate as vector passes over the keys, then max, exp and sum (vectorized
reductions), then the output row accumulates p_j * v_j as vector passes over the value width.

    row[:] = scale * q[i] @ kT (+ mask[i]);  p = softmax(row);  out[i] = p @ v
"""
from __future__ import annotations

import math

from compiler.ir.attention_spec import AttentionSpec, StridedView
from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.ops.attention import logical_types
from compiler.ir.loops import Assign, Declare, Expr, For, Kernel, Load, LocalArray, LoopKind, Store, Var
from compiler.ir.types import SymSize
from passes.lower.builder import (binary, block, broadcast_index, call, const, dim_expr, linear_index,
                                  load, loop_nest, make_kernel, select, store)


def _stored_index(logical: list, perm: tuple[int, ...], stored_shape) -> Expr:
    """Flat index into an operand stored transposed (logical = stored.transpose(perm))."""
    if not perm:
        return linear_index(logical, stored_shape)
    stored = [None] * len(perm)
    for axis, source in enumerate(perm):
        stored[source] = logical[axis]
    return linear_index(stored, stored_shape)


def _inverse(perm: tuple[int, ...]) -> tuple[int, ...]:
    """stored = logical.transpose(perm) means logical = stored.transpose(inverse)."""
    inverse = [0] * len(perm)
    for axis, source in enumerate(perm):
        inverse[source] = axis
    return tuple(inverse)


def lower_attention(node: Node, in_types, out_types) -> Kernel:
    attrs = node.attrs
    stored = list(in_types[:3])
    q_t, k_t, v_t = logical_types(in_types[:3], attrs)
    mask_t = in_types[3] if len(in_types) > 3 else None
    out_stored = out_types[0]
    dt = q_t.dtype
    batch = list(q_t.shape[:-2])
    rows, depth = q_t.shape[-2], int(q_t.shape[-1])
    keys = int(k_t.shape[-1] if attrs.keys_transposed else k_t.shape[-2])
    width = int(v_t.shape[-1])

    def body(ins, outs):
        q, k, v, out = ins[0], ins[1], ins[2], outs[0]
        mask = ins[3] if len(ins) > 3 else None
        names = [f"b{a}" for a in range(len(batch))]
        bidx = [Var(n) for n in names]
        i, j, d, e = Var("i"), Var("j"), Var("d"), Var("e")
        row = LocalArray("row", dt, keys)


        def load_row(index):
            return Load("row", index, dt)

        q_at = lambda dd: load(q, _stored_index(bidx + [i, dd], attrs.q_perm, stored[0].shape))
        k_at = lambda a, b: load(k, _stored_index(bidx + [a, b], attrs.k_perm, stored[1].shape))
        if attrs.keys_transposed:
            scores = block(
                For("j", const(keys), Store("row", j, const(0, dt)), LoopKind.VECTORIZED),
                For("d", const(depth), block(
                    Declare("q_d", dt, binary("mul", q_at(d), const(attrs.scale, dt))),
                    For("j", const(keys), Store("row", j, binary(
                        "add", load_row(j), binary("mul", Var("q_d", dt), k_at(d, j)))),
                        LoopKind.VECTORIZED))))
        else:
            scores = For("j", const(keys), block(
                Declare("dot", dt, const(0, dt)),
                For("d", const(depth), Assign("dot", binary("add", Var("dot", dt), binary(
                    "mul", q_at(d), k_at(j, d)))), reductions=(("dot", "add"),)),
                Store("row", j, binary("mul", Var("dot", dt), const(attrs.scale, dt)))))
        out_at = _stored_index(bidx + [i, e], _inverse(attrs.out_perm), out_stored.shape)
        steps = [row, scores]
        if mask is not None:
            steps.append(For("j", const(keys), Store("row", j, binary(
                "add", load_row(j), load(mask, broadcast_index(bidx + [i, j], mask_t.shape)))), LoopKind.VECTORIZED))
        if attrs.causal:
            steps.append(For("j", const(keys), Store("row", j, select(binary("gt", j, i), const(-math.inf, dt), load_row(j))),
                             LoopKind.VECTORIZED))
        steps += [
            Declare("row_max", dt, const(-math.inf, dt)),
            For("j", const(keys), Assign("row_max", binary("max", Var("row_max", dt), load_row(j))),
                reductions=(("row_max", "max"),)),
            Declare("row_sum", dt, const(0, dt)),
            For("j", const(keys), block(
                Declare("p", dt, call("exp", binary("sub", load_row(j), Var("row_max", dt)))),
                Store("row", j, Var("p", dt)),
                Assign("row_sum", binary("add", Var("row_sum", dt), Var("p", dt)))), reductions=(("row_sum", "add"),)),
            Declare("inv_sum", dt, binary("div", const(1, dt), Var("row_sum", dt))),
            For("e", const(width), store(out, out_at, const(0, dt)), LoopKind.VECTORIZED),
        ]
        weight = binary("mul", load_row(j), Var("inv_sum", dt))
        if attrs.zero_nan_rows:
            weight = select(call("isnan", weight), const(0, dt), weight)
        steps.append(For("j", const(keys), block(
            Declare("w", dt, weight),
            For("e", const(width), store(out, out_at, binary(
                "add", load(out, out_at), binary("mul", Var("w", dt), load(v, _stored_index(bidx + [j, e], attrs.v_perm, stored[2].shape))))),
                LoopKind.VECTORIZED))))
        return loop_nest(names + ["i"], [dim_expr(b) for b in batch] + [dim_expr(rows)], block(*steps),
                         [LoopKind.PARALLEL] * (len(batch) + 1))

    flops = SymSize.of_shape(tuple(q_t.shape[:-1])).scaled(2 * keys * (depth + width) + 5 * keys)
    return make_kernel(node.op, in_types, out_types, body, flops=flops)


def _row_major(shape) -> list[int]:
    out, acc = [], 1
    for dim in reversed(shape):
        out.append(acc)
        acc *= dim
    return out[::-1]


def _view(param: str, stored_shape, stored_axis_of: tuple[int, ...], row_axis: int, col_axis: int,
          batch_rank: int) -> StridedView:
    """The strides of a logical operand whose axis a is stored axis stored_axis_of[a]."""
    stored = _row_major(stored_shape)
    logical = [stored[s] for s in stored_axis_of] if stored_axis_of else stored
    return StridedView(param, tuple(logical[:batch_rank]), logical[row_axis], logical[col_axis])


def attention_spec(node: Node, in_types, out_types) -> AttentionSpec | None:
    """The Attention node as strided views of lower_attention's parameters (in0 = q, in1 = k,
    in2 = v, in3 = mask, out0); None where a shape is symbolic or the dtype is not float32
    (templates then print the loop nest)."""
    attrs = node.attrs
    types = [t for t in in_types if t is not None] + list(out_types)
    if any(not t.is_static for t in types) or any(t.dtype != DType.float32 for t in types):
        return None
    q_t, k_t, v_t = logical_types(in_types[:3], attrs)
    rank = q_t.rank
    batch = tuple(int(d) for d in q_t.shape[:-2])
    keys_axes = (rank - 1, rank - 2) if attrs.keys_transposed else (rank - 2, rank - 1)
    mask = None
    if len(in_types) > 3 and in_types[3] is not None:
        mask_t = in_types[3]
        full = batch + (int(q_t.shape[-2]), int(k_t.shape[keys_axes[0]]))
        offset = len(full) - mask_t.rank
        own = _row_major(mask_t.shape)
        strides = [0] * offset + [0 if d == 1 else s for d, s in zip(mask_t.shape, own)]
        mask = StridedView("in3", tuple(strides[:-2]), strides[-2], strides[-1])
    return AttentionSpec(
        batch=batch, rows=int(q_t.shape[-2]), keys=int(k_t.shape[keys_axes[0]]), depth=int(q_t.shape[-1]),
        width=int(v_t.shape[-1]),
        q=_view("in0", in_types[0].shape, attrs.q_perm, rank - 2, rank - 1, rank - 2),
        k=_view("in1", in_types[1].shape, attrs.k_perm, keys_axes[0], keys_axes[1], rank - 2),
        v=_view("in2", in_types[2].shape, attrs.v_perm, rank - 2, rank - 1, rank - 2),
        out=_view("out0", out_types[0].shape, _inverse(attrs.out_perm) if attrs.out_perm else (),
                  rank - 2, rank - 1, rank - 2),
        mask=mask, scale=float(attrs.scale), causal=attrs.causal, zero_nan_rows=attrs.zero_nan_rows)
