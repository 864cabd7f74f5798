"""Lowering of ConvTranspose and Col2Im: each output element gathers, for every input channel of its group
and every kernel tap, the input position that tap scatters onto it (when the stride divides)."""
from __future__ import annotations

import math

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.ops.conv_transpose import col2im_blocks
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


def lower_col2im(node: Node, in_types, out_types) -> Kernel:
    """Each image element sums the column entries of the block taps that land on it."""
    attrs = node.attrs
    x_type, out_type = in_types[0], out_types[0]
    n = len(attrs.image_shape)
    blocks = col2im_blocks(attrs)
    block_size = math.prod(attrs.block_shape)
    acc_dt = DType.float64

    def body(ins, outs):
        def make(idx):
            batch, channel, p = idx[0], idx[1], idx[2:]
            taps = [Var(f"k{d}") for d in range(n)]
            num = [sub(add(p[d], const(attrs.pads[d])), mul(taps[d], const(attrs.dilations[d]))) for d in range(n)]
            pos = [binary("div", num[d], const(attrs.strides[d])) for d in range(n)]
            valid = land(*(land(binary("ge", num[d], const(0)),
                                binary("eq", binary("mod", num[d], const(attrs.strides[d])), const(0)),
                                binary("lt", pos[d], const(blocks[d]))) for d in range(n)))
            row = add(mul(channel, const(block_size)), linear_index(taps, attrs.block_shape))
            value = cast(acc_dt, load(ins[0], linear_index([batch, row, linear_index(pos, blocks)], x_type.shape)))
            update = If(valid, Assign("acc", binary("add", Var("acc", acc_dt), value)))
            loops = loop_nest([f"k{d}" for d in range(n)], [const(k) for k in attrs.block_shape], update)
            return block(Declare("acc", acc_dt, const(0, acc_dt)), loops,
                          store(outs[0], linear_index(idx, out_type.shape), Var("acc", acc_dt)))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body)
