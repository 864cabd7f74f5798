"""Lowering of 2-d sliding-window ops whose channels are independent: MaxPool and depthwise
(or channel-multiplier) Conv.

Per (image, channel) plane, parallel; per output row: the row is initialised, then every
kernel tap (ky, kx) is folded in as one strided, vectorizable pass over the output columns.
The columns a tap may touch are computed here (compile-time constants), so no bounds test
runs inside the vector loop; rows are tested once per (row, ky).

    MaxPool 3x3/2 on f32[1,64,112,112]:
    for (n, c) parallel: for oy: out[oy, :] = -inf
        for ky: iy = 2*oy - 1 + ky; if 0 <= iy < 112:
            for ox in [1, 56) simd: out[oy, ox] = max(out[oy, ox], x[iy, 2*ox - 1 + 0])   (kx = 0)
            ...
"""
from __future__ import annotations

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Declare, For, If, Kernel, LoopKind, Var
from passes.lower.builder import (add, binary, block, const, dim_expr, land, load, lowest, make_kernel,
                                  mul, store, sub)


def _column_range(kx: int, stride: int, pad: int, dilation: int, width: int, out_width: int) -> tuple[int, int]:
    """Output columns ox with 0 <= ox*stride - pad + kx*dilation < width."""
    offset = kx * dilation - pad
    low = -(offset // stride) if offset < 0 else 0          # ceil(-offset / stride)
    high = (width - 1 - offset) // stride + 1 if width - 1 - offset >= 0 else 0
    low = min(low, out_width)
    return low, max(min(high, out_width), low)


def is_window_conv(node: Node, in_types) -> bool:
    """A 2-d Conv where every output channel reads exactly one input channel."""
    if node.op != "Conv" or len(node.attrs.kernel_shape) != 2:
        return False
    x, w = in_types[0], in_types[1]
    return (w.shape[1] == 1 and node.attrs.group == x.shape[1] and node.attrs.group > 1
            and isinstance(x.shape[1], int))


def is_window_pool(node: Node, in_types) -> bool:
    return node.op == "MaxPool" and len(node.attrs.kernel_shape) == 2


def lower_window(node: Node, in_types, out_types) -> Kernel:
    attrs = node.attrs
    x_type, out_type = in_types[0], out_types[0]
    dt = x_type.dtype
    is_conv = node.op == "Conv"
    channels_in = int(x_type.shape[1])
    channels_out = int(out_type.shape[1])
    multiplier = channels_out // channels_in
    height, width = int(x_type.shape[2]), int(x_type.shape[3])
    out_h, out_w = int(out_type.shape[2]), int(out_type.shape[3])
    (kh, kw), (sh, sw) = attrs.kernel_shape, attrs.strides
    (ph, pw), (dh, dw) = attrs.pads[:2], attrs.dilations

    def body(ins, outs):
        x, out = ins[0], outs[0]
        n, c, oy, ox = Var("n"), Var("c"), Var("oy"), Var("ox")
        plane_in = add(mul(n, const(channels_in * height * width)),
                       mul(binary("div", c, const(multiplier)) if multiplier > 1 else c, const(height * width)))
        row_out = add(mul(n, const(channels_out * out_h * out_w)), mul(c, const(out_h * out_w)), mul(oy, const(out_w)))
        if is_conv:
            bias = ins[2] if len(ins) > 2 and ins[2] is not None else None
            init = load(bias, c) if bias is not None else const(0, dt)
        else:
            init = lowest(dt)
        row = [For("ox", const(out_w), store(out, add(row_out, ox), init), LoopKind.VECTORIZED)]
        iy = Var("iy")
        taps = []
        for kx in range(kw):
            low, high = _column_range(kx, sw, pw, dw, width, out_w)
            if high <= low:
                continue
            t = Var("t")
            column = add(t, const(low))
            src = load(x, add(plane_in, mul(iy, const(width)), mul(column, const(sw)), const(kx * dw - pw)))
            dst = add(row_out, column)
            if is_conv:
                weight = load(ins[1], add(mul(c, const(kh * kw)), mul(Var("ky"), const(kw)), const(kx)))
                value = binary("add", load(out, dst), binary("mul", weight, src))
            else:
                value = binary("max", load(out, dst), src)
            taps.append(For("t", const(high - low), store(out, dst, value), LoopKind.VECTORIZED))
        inside = land(binary("ge", iy, const(0)), binary("lt", iy, const(height)))
        per_ky = block(Declare("iy", DType.int64, add(sub(mul(oy, const(sh)), const(ph)), mul(Var("ky"), const(dh)))),
                       If(inside, block(*taps)))
        row.append(For("ky", const(kh), per_ky))
        plane = For("oy", const(out_h), block(*row))
        return For("n", dim_expr(x_type.shape[0]),
                   For("c", const(channels_out), plane, LoopKind.PARALLEL), LoopKind.PARALLEL)

    taps = kh * kw
    flops = out_type.numel().scaled(2 * taps if is_conv else taps)
    return make_kernel(node.op, in_types, out_types, body, flops=flops)

