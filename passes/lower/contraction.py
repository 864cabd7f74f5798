"""Lowering of contractions (MatMul, Gemm, Conv) to plain loop nests.

These are the correctness baseline: i-k-j order so the innermost loop is a contiguous,
vectorizable axpy. The backends' contraction templates (register-blocked microkernels) replace
them where a target has one.
"""
from __future__ import annotations

from typing import Sequence

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, For, If, Kernel, LoopKind, Var
from compiler.ir.types import Dim, TensorType
from passes.lower.builder import (add, binary, block, broadcast_index, cast, const, dim_expr, land,
                                  linear_index, load, loop_nest, make_kernel, mul, store, sub)

# Half operands accumulate in float32 (as cuBLAS and every fp16 GEMM do): a half running sum
# over K = 768 products would lose about log2(768) of its 11 bits.
HALF_TYPES = (DType.float16, DType.bfloat16)
F32 = DType.float32



def _batched_matmul(a_shape: Sequence[Dim], b_shape: Sequence[Dim], out_shape: Sequence[Dim],
                    a_trans: bool, b_trans: bool, dt, alpha: float | None, bias_type: TensorType | None,
                    beta: float):
    """Body builder for out[..., m, n] = alpha * sum_k A[..., m, k] B[..., k, n] + beta * C."""
    def body(ins, outs):
        a, b, out = ins[0], ins[1], outs[0]
        bias = ins[2] if len(ins) > 2 else None
        batch = list(out_shape[:-2])
        m_dim, n_dim = out_shape[-2], out_shape[-1]
        k_dim = a_shape[-2] if a_trans else a_shape[-1]
        names = [f"b{k}" for k in range(len(batch))]
        bidx = [Var(n) for n in names]
        m, n, k = Var("m"), Var("n"), Var("k")

        def operand_index(shape, row, col, trans):
            inner = [col, row] if trans else [row, col]
            offset = len(bidx) - (len(shape) - 2)
            idx = [const(0) if shape[p] == 1 else bidx[offset + p] for p in range(len(shape) - 2)] + inner
            return linear_index(idx, shape)

        out_index = linear_index(bidx + [m, n], out_shape)
        if bias is not None:
            init = load(bias, broadcast_index(bidx + [m, n], bias_type.shape))
            if beta != 1.0:
                init = binary("mul", init, const(beta, dt))
        else:
            init = const(0, dt)
        a_val = load(a, operand_index(a_shape, m, k, a_trans))
        if dt in HALF_TYPES:
            # One float32 dot product per output: out[m, n] = half(init + alpha * sum_k a * b).
            product = binary("mul", cast(F32, a_val), cast(F32, load(b, operand_index(b_shape, k, n, b_trans))))
            total = Var("acc", F32)
            if alpha is not None and alpha != 1.0:
                total = binary("mul", total, const(alpha, F32))
            if bias is not None:
                total = binary("add", total, cast(F32, init))
            row = For("n", dim_expr(n_dim), block(
                Declare("acc", F32, const(0, F32)),
                For("k", dim_expr(k_dim), Assign("acc", binary("add", Var("acc", F32), product)),
                    reductions=(("acc", "add"),)),
                store(out, out_index, cast(dt, total))))
            kinds = [LoopKind.PARALLEL] + [LoopKind.SERIAL] * len(batch)
            return loop_nest(names + ["m"], [dim_expr(d) for d in batch] + [dim_expr(m_dim)], row, kinds)
        if alpha is not None and alpha != 1.0:
            a_val = binary("mul", a_val, const(alpha, dt))
        row = block(
            For("n", dim_expr(n_dim), store(out, out_index, init), LoopKind.VECTORIZED),
            For("k", dim_expr(k_dim), block(
                Declare("a_mk", dt, a_val),
                For("n", dim_expr(n_dim), store(out, out_index, binary(
                    "add", load(out, out_index),
                    binary("mul", Var("a_mk", dt), load(b, operand_index(b_shape, k, n, b_trans))))),
                    LoopKind.VECTORIZED))))
        kinds = [LoopKind.PARALLEL] + [LoopKind.SERIAL] * len(batch)
        return loop_nest(names + ["m"], [dim_expr(d) for d in batch] + [dim_expr(m_dim)], row, kinds)
    return body


def lower_matmul(node: Node, in_types, out_types) -> Kernel:
    a, b = in_types
    a_shape = (1,) + a.shape if a.rank == 1 else a.shape
    b_shape = b.shape + (1,) if b.rank == 1 else b.shape
    out_shape = out_types[0].shape
    if a.rank == 1:
        out_shape = out_shape[:-1] + (1,) + out_shape[-1:] if b.rank > 1 else (1,)
    if b.rank == 1:
        out_shape = out_shape + (1,)
    k = a_shape[-1]
    flops = out_types[0].numel().scaled(2 * (k if isinstance(k, int) else 1))
    body = _batched_matmul(a_shape, b_shape, out_shape, False, False, a.dtype, None, None, 0.0)
    return make_kernel(node.op, in_types, out_types, body, flops=flops)


def lower_gemm(node: Node, in_types, out_types) -> Kernel:
    attrs = node.attrs
    a, b = in_types[0], in_types[1]
    bias = in_types[2] if len(in_types) > 2 else None
    k = a.shape[0] if attrs.trans_a else a.shape[1]
    flops = out_types[0].numel().scaled(2 * (k if isinstance(k, int) else 1))
    body = _batched_matmul(a.shape, b.shape, out_types[0].shape, attrs.trans_a, attrs.trans_b, a.dtype,
                           attrs.alpha, bias, attrs.beta)
    return make_kernel(node.op, in_types, out_types, body, flops=flops)


def lower_conv(node: Node, in_types, out_types) -> Kernel:
    """Direct convolution: per (n, output channel) plane, accumulate every (ci, kernel tap)
    as a strided axpy over output rows, skipping taps that fall into the padding."""
    attrs = node.attrs
    x_type, w_type = in_types[0], in_types[1]
    out_type = out_types[0]
    dt = x_type.dtype
    spatial = len(attrs.kernel_shape)
    last = attrs.channels_last    # x, y: (N, *spatial, C); w: (*kernel, C_in/g, C_out)
    cout = w_type.shape[-1] if last else w_type.shape[0]
    cin_g = w_type.shape[-2] if last else w_type.shape[1]
    cout_g = cout // attrs.group
    out_sp = out_type.shape[1:-1] if last else out_type.shape[2:]
    in_sp = x_type.shape[1:-1] if last else x_type.shape[2:]

    def body(ins, outs):
        x, w, out = ins[0], ins[1], outs[0]
        bias = ins[2] if len(ins) > 2 else None
        n, co, ci = Var("n"), Var("co"), Var("ci")
        o = [Var(f"o{d}") for d in range(spatial)]
        kk = [Var(f"k{d}") for d in range(spatial)]
        in_pos = [add(sub(mul(o[d], const(attrs.strides[d])), const(attrs.pads[d])),
                      mul(kk[d], const(attrs.dilations[d]))) for d in range(spatial)]
        channel = add(mul(binary("div", co, const(cout_g)), const(cin_g)), ci)
        if last:
            out_index = linear_index([n] + o + [co], out_type.shape)
            x_index = linear_index([n] + in_pos + [channel], x_type.shape)
            w_index = linear_index(kk + [ci, co], w_type.shape)
        else:
            out_index = linear_index([n, co] + o, out_type.shape)
            x_index = linear_index([n, channel] + in_pos, x_type.shape)
            w_index = linear_index([co, ci] + kk, w_type.shape)
        inside = [land(binary("ge", p, const(0)), binary("lt", p, const(int(size))))
                  for p, size in zip(in_pos, in_sp)]
        init = load(bias, co) if bias is not None else const(0, dt)
        if dt in HALF_TYPES:
            return _half_conv_body(x, w, out, init, in_pos, inside, x_index, w_index, out_index, spatial,
                                   cin_g, attrs, out_sp, dim_expr(x_type.shape[0]), cout, dt)
        zero_plane = loop_nest([f"o{d}" for d in range(spatial)], [const(int(s)) for s in out_sp],
                               store(out, out_index, init),
                               [LoopKind.SERIAL] * (spatial - 1) + [LoopKind.VECTORIZED])
        # Innermost: the last output axis, vectorized; the bounds test on the outer axes is
        # hoisted out of it.
        update = store(out, out_index, binary("add", load(out, out_index),
                                              binary("mul", Var("w_tap", dt), load(x, x_index))))
        inner = For(f"o{spatial - 1}", const(int(out_sp[-1])), If(inside[-1], update), LoopKind.VECTORIZED)
        for d in reversed(range(spatial - 1)):
            inner = For(f"o{d}", const(int(out_sp[d])), If(inside[d], inner))
        taps = loop_nest(["ci"] + [f"k{d}" for d in range(spatial)],
                         [const(int(cin_g))] + [const(k) for k in attrs.kernel_shape],
                         block(Declare("w_tap", dt, load(w, w_index)), inner))
        plane = block(zero_plane, taps)
        return loop_nest(["n", "co"], [dim_expr(x_type.shape[0]), const(int(cout))], plane,
                         [LoopKind.PARALLEL, LoopKind.SERIAL])

    macs = int(cin_g) * int(_prod(attrs.kernel_shape))
    return make_kernel(node.op, in_types, out_types, body, flops=out_type.numel().scaled(2 * macs))


def _half_conv_body(x, w, out, init, in_pos, inside, x_index, w_index, out_index, spatial, cin_g, attrs,
                    out_sp, batch, cout, dt):
    """Per output element, a float32 sum over (ci, taps) of the taps inside the input."""
    product = binary("mul", cast(F32, load(w, w_index)), cast(F32, load(x, x_index)))
    update = If(land(*inside), Assign("acc", binary("add", Var("acc", F32), product)))
    taps = loop_nest(["ci"] + [f"k{d}" for d in range(spatial)],
                     [const(int(cin_g))] + [const(k) for k in attrs.kernel_shape], update)
    point = block(Declare("acc", F32, cast(F32, init)), taps, store(out, out_index, cast(dt, Var("acc", F32))))
    return loop_nest(["n", "co"] + [f"o{d}" for d in range(spatial)],
                     [batch, const(int(cout))] + [const(int(s)) for s in out_sp], point,
                     [LoopKind.PARALLEL] + [LoopKind.SERIAL] * (spatial + 1))


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out
