"""Lowering of QuantizeLinear, DequantizeLinear and QLinearMatMul: elementwise, with the scale and zero point
read per tensor, per axis or per block."""
from __future__ import annotations

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, For, Kernel, Var
from compiler.ir.ops.quantize import scale_index_axes
from passes.lower.builder import (binary, block, call, cast, const, dim_expr, highest, linear_index, load, lowest,
                                  make_kernel, parallel_nest, store)


def lower_quantize(node: Node, in_types, out_types) -> Kernel:
    x_type, scale_type = in_types[0], in_types[1]
    has_zero = len(in_types) > 2 and in_types[2] is not None
    kind = scale_index_axes(x_type.rank, scale_type.rank, node.attrs)
    axis = node.attrs.axis % x_type.rank if kind != "tensor" else 0
    wide = DType.float64 if DType.float64 in (x_type.dtype, scale_type.dtype) else DType.float32
    out_dt = out_types[0].dtype

    def param_at(idx):
        if kind == "tensor":
            return const(0)
        if kind == "axis":
            return idx[axis]
        blocked = list(idx)
        blocked[axis] = binary("div", idx[axis], const(node.attrs.block_size))
        return linear_index(blocked, scale_type.shape)

    def body(ins, outs):
        x, scale = ins[0], ins[1]
        zero = ins[2] if has_zero else None

        def make(idx):
            at = linear_index(idx, x_type.shape)
            s = cast(wide, load(scale, param_at(idx)))
            z = cast(wide, load(zero, param_at(idx))) if zero is not None else const(0, wide)
            if node.op == "QuantizeLinear":
                q = binary("add", call("round", binary("div", cast(wide, load(x, at)), s)), z)
                q = binary("min", binary("max", q, cast(wide, lowest(out_dt))), cast(wide, highest(out_dt)))
            else:
                q = binary("mul", binary("sub", cast(wide, load(x, at)), z), s)
            return store(outs[0], at, cast(out_dt, q))
        return parallel_nest("i", x_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body)


def lower_qlinear_matmul(node: Node, in_types, out_types) -> Kernel:
    """Integer sums of (a - a_zero)(b - b_zero), scaled by a_scale * b_scale / y_scale computed
    in the scales' own dtype (as the reference does), then rounded, shifted and saturated."""
    a_type, b_type, out_type = in_types[0], in_types[3], out_types[0]
    k_len = a_type.shape[-1]
    out_dt = out_type.dtype
    wide = DType.float64

    def body(ins, outs):
        a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = ins

        def make(idx):
            k = Var("k")
            a_at = list(idx[:-1]) + [k]
            b_at = (list(idx[:-2]) if b_type.rank == a_type.rank else []) + [k, idx[-1]]
            term = binary("mul", binary("sub", cast(DType.int64, load(a, linear_index(a_at, a_type.shape))),
                                        cast(DType.int64, load(a_zero, const(0)))),
                          binary("sub", cast(DType.int64, load(b, linear_index(b_at, b_type.shape))),
                                 cast(DType.int64, load(b_zero, const(0)))))
            factor = binary("div", binary("mul", load(a_scale, const(0)), load(b_scale, const(0))),
                            load(y_scale, const(0)))
            q = binary("add", call("round", binary("mul", cast(wide, Var("acc")), cast(wide, factor))),
                       cast(wide, load(y_zero, const(0))))
            q = binary("min", binary("max", q, cast(wide, lowest(out_dt))), cast(wide, highest(out_dt)))
            return block(Declare("acc", DType.int64, const(0)),
                         For("k", dim_expr(k_len), Assign("acc", binary("add", Var("acc"), term))),
                         store(outs[0], linear_index(idx, out_type.shape), cast(out_dt, q)))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body)


def lower_matmul_integer(node: Node, in_types, out_types) -> Kernel:
    a_type, b_type, out_type = in_types[0], in_types[1], out_types[0]
    zeros = [len(in_types) > k and in_types[k] is not None for k in (2, 3)]

    def body(ins, outs):
        a, b = ins[0], ins[1]

        def operand(buf, at, shape, zero_index):
            value = cast(DType.int64, load(buf, linear_index(at, shape)))
            if zeros[zero_index]:
                value = binary("sub", value, cast(DType.int64, load(ins[2 + zero_index], const(0))))
            return value

        def make(idx):
            k = Var("k")
            a_at = list(idx[:-1]) + [k]
            b_at = (list(idx[:-2]) if b_type.rank == a_type.rank else []) + [k, idx[-1]]
            term = binary("mul", operand(a, a_at, a_type.shape, 0), operand(b, b_at, b_type.shape, 1))
            return block(Declare("acc", DType.int64, const(0)),
                         For("k", dim_expr(a_type.shape[-1]), Assign("acc", binary("add", Var("acc"), term))),
                         store(outs[0], linear_index(idx, out_type.shape), Var("acc")))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body)
