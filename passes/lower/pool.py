"""Lowering of MaxPool, AveragePool and LpPool: one output element per iteration, the window inline."""
from __future__ import annotations

import math

from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, Expr, If, Kernel, Var
from passes.lower.builder import (add, binary, block, call, const, land, linear_index, load,
                                  loop_nest, lowest, make_kernel, mul, parallel_nest, store, sub)


def lower_pool(node: Node, in_types, out_types) -> Kernel:
    attrs = node.attrs
    x_type, out_type = in_types[0], out_types[0]
    dt = x_type.dtype
    spatial = len(attrs.kernel_shape)
    last = attrs.channels_last    # (N, *spatial, C)
    in_sp = [int(d) for d in (x_type.shape[1:-1] if last else x_type.shape[2:])]
    is_max = node.op == "MaxPool"

    def body(ins, outs):
        x, out = ins[0], outs[0]

        def make(idx):
            o = idx[1:-1] if last else idx[2:]
            kk = [Var(f"k{d}") for d in range(spatial)]
            pos = [add(sub(mul(o[d], const(attrs.strides[d])), const(attrs.pads[d])),
                       mul(kk[d], const(attrs.dilations[d]))) for d in range(spatial)]
            inside = land(*(land(binary("ge", p, const(0)), binary("lt", p, const(s)))
                            for p, s in zip(pos, in_sp)))
            where = [idx[0]] + pos + [idx[-1]] if last else list(idx[:2]) + pos
            value = load(x, linear_index(where, x_type.shape))
            if node.op == "LpPool":
                power = binary("pow", call("abs", value), const(attrs.p, dt))
                update = If(inside, Assign("acc", binary("add", Var("acc", dt), power)))
                stmts = [Declare("acc", dt, const(0, dt))]
                result = binary("pow", Var("acc", dt), const(1.0 / attrs.p, dt))
            elif is_max:
                update = If(inside, Assign("acc", binary("max", Var("acc", dt), value)))
                init = lowest(dt)
                result: Expr = Var("acc", dt)
                stmts = [Declare("acc", dt, init)]
            else:
                update = block(If(inside, Assign("acc", binary("add", Var("acc", dt), value))),
                               _count_update(attrs, pos, in_sp, inside, dt))
                stmts = [Declare("acc", dt, const(0, dt)), Declare("count", dt, const(0, dt))]
                result = binary("div", Var("acc", dt), Var("count", dt))
            window = loop_nest([f"k{d}" for d in range(spatial)], [const(k) for k in attrs.kernel_shape], update)
            return block(*stmts, window, store(out, linear_index(idx, out_type.shape), result))
        return parallel_nest("i", out_type.shape, make)

    taps = math.prod(attrs.kernel_shape)
    return make_kernel(node.op, in_types, out_types, body, flops=out_type.numel().scaled(taps))


def _count_update(attrs, pos, in_sp, inside, dt):
    """AveragePool's divisor: taps inside the input, or inside input + padding when
    count_include_pad (never the ceil-mode overhang beyond the padding)."""
    one = const(1, dt)
    if attrs.count_include_pad:
        n = len(in_sp)
        in_padded = land(*(land(binary("ge", p, const(-attrs.pads[d])),
                                binary("lt", p, const(in_sp[d] + attrs.pads[n + d])))
                           for d, p in enumerate(pos)))
        return If(in_padded, Assign("count", binary("add", Var("count", dt), one)))
    return If(inside, Assign("count", binary("add", Var("count", dt), one)))

