"""Lowering of ConvTranspose: each output element gathers, for every input channel of its group
and every kernel tap, the input position that tap scatters onto it (when the stride divides)."""
from __future__ import annotations

import math

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, If, Kernel, Var
from passes.lower.builder import (add, binary, block, cast, const, land, linear_index, load, loop_nest,
                                  make_kernel, mul, parallel_nest, store, sub)


def lower_conv_transpose(node: Node, in_types, out_types) -> Kernel:
    attrs = node.attrs
    x_type, w_type, out_type = in_types[0], in_types[1], out_types[0]
    in_sp = x_type.static_shape()[2:]
    kernel = w_type.static_shape()[2:]
    n = len(kernel)
    c_in = int(x_type.shape[1]) // attrs.group
    c_out = int(w_type.shape[1])
    has_bias = len(in_types) > 2 and in_types[2] is not None
    acc_dt = DType.float64

    def body(ins, outs):
        def make(idx):
            batch, channel, o = idx[0], idx[1], idx[2:]
            group = binary("div", channel, const(c_out))
            local = binary("mod", channel, const(c_out))
            ci = add(mul(group, const(c_in)), Var("c"))
            taps = [Var(f"k{d}") for d in range(n)]
            num = [sub(add(o[d], const(attrs.pads[d])), mul(taps[d], const(attrs.dilations[d]))) for d in range(n)]
            pos = [binary("div", num[d], const(attrs.strides[d])) for d in range(n)]
            valid = land(*(land(binary("ge", num[d], const(0)),
                                binary("eq", binary("mod", num[d], const(attrs.strides[d])), const(0)),
                                binary("lt", pos[d], const(in_sp[d]))) for d in range(n)))
            xv = cast(acc_dt, load(ins[0], linear_index([batch, ci] + pos, x_type.shape)))
            wv = cast(acc_dt, load(ins[1], linear_index([ci, local] + taps, w_type.shape)))
            update = If(valid, Assign("acc", binary("add", Var("acc", acc_dt), binary("mul", xv, wv))))
            loops = loop_nest(["c"] + [f"k{d}" for d in range(n)], [const(c_in)] + [const(k) for k in kernel], update)
            init = cast(acc_dt, load(ins[2], channel)) if has_bias else const(0, acc_dt)
            return block(Declare("acc", acc_dt, init), loops,
                         store(outs[0], linear_index(idx, out_type.shape), Var("acc", acc_dt)))
        return parallel_nest("i", out_type.shape, make)
    taps = c_in * math.prod(kernel)
    return make_kernel(node.op, in_types, out_types, body, flops=out_type.numel().scaled(2 * taps))
