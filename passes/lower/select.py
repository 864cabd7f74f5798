"""Lowering of Trilu, ArgMax/ArgMin and Hardmax."""
from __future__ import annotations

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, For, If, Kernel, Var
from compiler.ir.types import SymSize
from passes.lower.builder import (binary, block, const, dim_expr, linear_index, load, make_kernel,
                                  parallel_nest, select, store, sub)


def lower_trilu(node: Node, in_types, out_types) -> Kernel:
    """Element (.., i, j) is kept where j - i >= k (upper) or j - i <= k (lower); k is read at
    run time (0 when absent)."""
    x_type = in_types[0]
    has_k = len(in_types) > 1 and in_types[1] is not None

    def body(ins, outs):
        def make(idx):
            k = load(ins[1], const(0)) if has_k else const(0)
            offset = sub(idx[-1], idx[-2])
            keep = binary("ge" if node.attrs.upper else "le", offset, k)
            at = linear_index(idx, x_type.shape)
            return store(outs[0], at, select(keep, load(ins[0], at), const(0, x_type.dtype)))
        return parallel_nest("i", x_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_arg(node: Node, in_types, out_types) -> Kernel:
    """One serial scan along the axis per output element; ties keep the first index (the last
    with select_last_index)."""
    x_type = in_types[0]
    axis = node.attrs.axis % x_type.rank
    kept_shape = [d for i, d in enumerate(x_type.shape) if i != axis]
    better = ("gt" if node.op == "ArgMax" else "lt") if not node.attrs.select_last_index else \
        ("ge" if node.op == "ArgMax" else "le")
    dt = x_type.dtype

    def body(ins, outs):
        def make(idx):
            def at(r):
                return linear_index(list(idx[:axis]) + [r] + list(idx[axis:]), x_type.shape)
            return block(_best_along(ins[0], at, x_type.shape[axis], better, dt),
                         store(outs[0], linear_index(idx, kept_shape), Var("best_index")))
        return parallel_nest("i", kept_shape, make) if kept_shape else make([])
    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel())


def lower_hardmax(node: Node, in_types, out_types) -> Kernel:
    """The first maximum along the axis (as lower_arg finds it) gets 1, every other element 0."""
    x_type = in_types[0]
    axis = node.attrs.axis % x_type.rank
    kept_shape = [d for i, d in enumerate(x_type.shape) if i != axis]
    dt = x_type.dtype

    def body(ins, outs):
        def make(idx):
            def at(r):
                return linear_index(list(idx[:axis]) + [r] + list(idx[axis:]), x_type.shape)
            r = Var("r")
            mark = store(outs[0], at(r), select(binary("eq", r, Var("best_index")), const(1, dt), const(0, dt)))
            return block(_best_along(ins[0], at, x_type.shape[axis], "gt", dt), For("r", dim_expr(x_type.shape[axis]), mark))
        return parallel_nest("i", kept_shape, make) if kept_shape else make([])
    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel())


def _best_along(x, at, length, better: str, dt):
    """Declares best and best_index: the extreme of x[at(r)] for r < length by `better`."""
    r = Var("r")
    update = If(binary(better, load(x, at(r)), Var("best", dt)),
                block(Assign("best", load(x, at(r))), Assign("best_index", r)))
    return block(Declare("best", dt, load(x, at(const(0)))), Declare("best_index", DType.int64, const(0)),
                 For("r", dim_expr(length), update))


def lower_reverse_sequence(node: Node, in_types, out_types) -> Kernel:
    """Output (b, t) reads time length[b] - 1 - t while t < length[b], else t itself."""
    x_type = in_types[0]
    b_axis, t_axis = node.attrs.batch_axis, node.attrs.time_axis

    def body(ins, outs):
        def make(idx):
            length = load(ins[1], idx[b_axis])
            t = idx[t_axis]
            src = list(idx)
            src[t_axis] = select(binary("lt", t, length), sub(sub(length, const(1)), t), t)
            return store(outs[0], linear_index(idx, x_type.shape), load(ins[0], linear_index(src, x_type.shape)))
        return parallel_nest("i", x_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_dropout(node: Node, in_types, out_types) -> Kernel:
    """Inference: the data passes through and the mask keeps everything."""
    x_type = in_types[0]

    def body(ins, outs):
        def make(idx):
            at = linear_index(idx, x_type.shape)
            return block(store(outs[0], at, load(ins[0], at)), store(outs[1], at, const(True, DType.bool)))
        return parallel_nest("i", x_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))
