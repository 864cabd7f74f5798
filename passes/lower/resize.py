"""Lowering of Resize: every output element sums, over the tap combinations of the resized
axes, the product of their weights times the input element at their indices (tables read at
run time from the weights blob)."""
from __future__ import annotations

import itertools

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Expr, Kernel
from passes.lower.builder import add, binary, cast, const, linear_index, load, make_kernel, mul, parallel_nest, store


def lower_resize(node: Node, in_types, out_types) -> Kernel:
    x_type, out_type = in_types[0], out_types[0]
    axes = node.attrs.axes
    taps = [int(in_types[1 + 2 * k].shape[1]) for k in range(len(axes))]

    def body(ins, outs):
        def make(idx):
            total: Expr | None = None
            for combo in itertools.product(*(range(t) for t in taps)):
                src, weight = list(idx), None
                for k, (axis, tap) in enumerate(zip(axes, combo)):
                    at = add(mul(idx[axis], const(taps[k])), const(tap))
                    src[axis] = load(ins[1 + 2 * k], at)
                    w = load(ins[2 + 2 * k], at)
                    weight = w if weight is None else binary("mul", weight, w)
                term = cast(DType.float64, load(ins[0], linear_index(src, x_type.shape)))
                term = term if weight is None else binary("mul", weight, term)
                total = term if total is None else binary("add", total, term)
            return store(outs[0], linear_index(idx, out_type.shape), total)
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body)
