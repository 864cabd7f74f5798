"""Lowering of Trilu and ArgMax/ArgMin."""
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
                full = list(idx[:axis]) + [r] + list(idx[axis:])
                return load(ins[0], linear_index(full, x_type.shape))
            r = Var("r")
            update = If(binary(better, at(r), Var("best", dt)),
                        block(Assign("best", at(r)), Assign("best_index", r)))
            return block(Declare("best", dt, at(const(0))), Declare("best_index", DType.int64, const(0)),
                         For("r", dim_expr(x_type.shape[axis]), update),
                         store(outs[0], linear_index(idx, kept_shape), Var("best_index")))
        return parallel_nest("i", kept_shape, make) if kept_shape else make([])
    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel())
