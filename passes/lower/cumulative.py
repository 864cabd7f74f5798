"""Lowering of CumSum and CumProd. The axis is a run-time input, so the kernel picks the
axis's length and stride from the static shape by comparisons, then scans every line along it
serially."""
from __future__ import annotations

import math

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, For, Kernel, LoopKind, Var
from passes.lower.builder import add, binary, block, cast, const, load, make_kernel, mul, select, store, sub


def lower_cumulative(node: Node, in_types, out_types) -> Kernel:
    x_type = in_types[0]
    shape = x_type.static_shape()
    rank = len(shape)
    strides = [math.prod(shape[k + 1:]) for k in range(rank)]
    total = math.prod(shape)
    dt = x_type.dtype
    combine = "add" if node.op == "CumSum" else "mul"
    identity = const(0 if node.op == "CumSum" else 1, dt)

    def pick(axis, values):
        out = const(values[-1])
        for k in reversed(range(rank - 1)):
            out = select(binary("eq", axis, const(k)), const(values[k]), out)
        return out

    def body(ins, outs):
        raw = cast(DType.int64, load(ins[1], const(0)))
        axis = Var("axis")
        length, stride = Var("length"), Var("stride")
        e, r = Var("e"), Var("r")
        base = add(mul(binary("div", e, stride), stride, length), binary("mod", e, stride))
        position = sub(sub(length, const(1)), r) if node.attrs.reverse else r
        at = add(base, mul(position, stride))
        value = load(ins[0], at)
        acc = Var("acc", dt)
        if node.attrs.exclusive:
            scan = block(store(outs[0], at, acc), Assign("acc", binary(combine, acc, value)))
        else:
            scan = block(Assign("acc", binary(combine, acc, value)), store(outs[0], at, acc))
        lines = binary("div", const(total), length)
        return block(
            Declare("axis", DType.int64, select(binary("lt", raw, const(0)), add(raw, const(rank)), raw)),
            Declare("length", DType.int64, pick(axis, shape)),
            Declare("stride", DType.int64, pick(axis, strides)),
            For("e", lines, block(Declare("acc", dt, identity), For("r", length, scan)), LoopKind.PARALLEL))
    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel())
