"""Lowering of 2-d sliding-window ops whose channels are independent: MaxPool and depthwise
(or channel-multiplier) Conv.

Per (image, channel) plane, parallel. Interior output rows and columns (where every tap lies
inside the input) are computed with all taps unrolled into one register accumulator and a
vectorized loop over columns; the few border rows and columns take a checked scalar path.
The interior bounds are compile-time constants, so the vector loop has no bounds tests. A
fused epilogue (bias, residual, ReLU/Clip) is applied to the accumulator before the one store.

    depthwise 3x3/1 on f32[1,32,112,112]:
    for (n, c) parallel: for oy in [1, 111): for ox in [1, 111) simd:
        out[c, oy, ox] = clip(b[c] + sum_{ky,kx} w[c,ky,kx] * x[c, oy-1+ky, ox-1+kx], 0, 6)
"""
from __future__ import annotations

from typing import Callable


from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Block, Declare, Expr, For, If, Kernel, LoopKind, Var
from passes.lower.builder import (add, binary, block, const, dim_expr, land, load, lowest, make_kernel,
                                  mul, store, sub)

# finish(accumulator, [n, c, oy, ox] index expressions, input buffers) -> value to store
Finish = Callable[[Expr, list, list], Expr]


def interior(size: int, out_size: int, kernel: int, stride: int, pad: int, dilation: int) -> tuple[int, int]:
    """Output positions o in [low, high) whose whole window o*stride - pad + k*dilation,
    k < kernel, lies inside [0, size)."""
    low = -(-pad // stride)                                         # ceil(pad / stride)
    last_tap = (kernel - 1) * dilation
    high = (size - 1 - last_tap + pad) // stride + 1 if size - 1 - last_tap + pad >= 0 else 0
    low = min(max(low, 0), out_size)
    return low, max(min(high, out_size), low)


def is_window_conv(node: Node, in_types) -> bool:
    """A 2-d Conv where every output channel reads exactly one input channel."""
    if node.op != "Conv" or len(node.attrs.kernel_shape) != 2:
        return False
    x, w = in_types[0], in_types[1]
    return (w.shape[1] == 1 and node.attrs.group == x.shape[1] and node.attrs.group > 1
            and isinstance(x.shape[1], int))


def is_window_pool(node: Node, in_types) -> bool:
    return node.op == "MaxPool" and len(node.attrs.kernel_shape) == 2


def lower_window(node: Node, in_types, out_types, finish: Finish | None = None,
                 extra_types=()) -> Kernel:
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
    rows = interior(height, out_h, kh, sh, ph, dh)
    cols = interior(width, out_w, kw, sw, pw, dw)

    def body(ins, outs):
        x, out = ins[0], outs[0]
        n, c, oy, ox = Var("n"), Var("c"), Var("oy"), Var("ox")
        source_channel = binary("div", c, const(multiplier)) if multiplier > 1 else c
        plane_in = add(mul(n, const(channels_in * height * width)), mul(source_channel, const(height * width)))
        out_index = add(mul(n, const(channels_out * out_h * out_w)), mul(c, const(out_h * out_w)),
                        mul(oy, const(out_w)), ox)
        bias = ins[2] if is_conv and len(ins) > 2 and ins[2] is not None else None
        start = (load(bias, c) if bias is not None else const(0, dt)) if is_conv else lowest(dt)

        def tap(ky: int, kx: int, acc: Expr, iy: Expr, ix: Expr) -> Expr:
            value = load(x, add(plane_in, mul(iy, const(width)), ix))
            if is_conv:
                return binary("add", acc, binary("mul", Var(f"w{ky}_{kx}", dt), value))
            return binary("max", acc, value)

        def result(acc: Expr) -> Expr:
            return finish(acc, [n, c, oy, ox], ins) if finish else acc

        def position(o: Expr, stride: int, pad: int, k: int, dilation: int) -> Expr:
            return add(sub(mul(o, const(stride)), const(pad)), const(k * dilation))

        # Interior: every tap valid; one expression, vectorized over ox.
        acc = start
        for ky in range(kh):
            for kx in range(kw):
                acc = tap(ky, kx, acc, position(oy, sh, ph, ky, dh), position(ox, sw, pw, kx, dw))
        fast = For("ox", const(cols[1] - cols[0]), store(out, _shifted(out_index, "ox", cols[0]),
                                                           _shift(result(acc), "ox", cols[0])), LoopKind.VECTORIZED)

        # Borders: the same sum with each tap tested.
        checked = [Declare("acc", dt, start)]
        for ky in range(kh):
            for kx in range(kw):
                iy, ix = position(oy, sh, ph, ky, dh), position(ox, sw, pw, kx, dw)
                inside = land(binary("ge", iy, const(0)), binary("lt", iy, const(height)),
                              binary("ge", ix, const(0)), binary("lt", ix, const(width)))
                checked.append(If(inside, Assign("acc", tap(ky, kx, Var("acc", dt), iy, ix))))
        checked.append(store(out, out_index, result(Var("acc", dt))))
        slow_point = Block(tuple(checked))

        def columns(lo: int, hi: int) -> For | None:
            if hi <= lo:
                return None
            return For("ox", const(hi - lo), _shift_block(slow_point, "ox", lo))

        interior_row = [s for s in (columns(0, cols[0]), fast, columns(cols[1], out_w)) if s is not None]
        border_row = For("ox", const(out_w), slow_point)
        row = If(land(binary("ge", oy, const(rows[0])), binary("lt", oy, const(rows[1]))),
                 block(*interior_row), border_row)
        weights = []
        if is_conv:
            weights = [Declare(f"w{ky}_{kx}", dt, load(ins[1], add(mul(c, const(kh * kw)), const(ky * kw + kx))))
                       for ky in range(kh) for kx in range(kw)]
        plane = block(*weights, For("oy", const(out_h), row))
        return For("n", dim_expr(x_type.shape[0]),
                   For("c", const(channels_out), plane, LoopKind.PARALLEL), LoopKind.PARALLEL)

    taps = kh * kw
    flops = out_type.numel().scaled(2 * taps if is_conv else taps)
    return make_kernel(node.op, list(in_types) + list(extra_types), out_types, body, flops=flops)


def _shift(expr, var: str, offset: int):
    """`expr` with loop variable `var` replaced by `var + offset`."""
    from compiler.ir.loops import Binary, Call, Cast, Load, Select
    if offset == 0:
        return expr
    if isinstance(expr, Var) and expr.name == var:
        return add(expr, const(offset))
    if isinstance(expr, Binary):
        return Binary(expr.op, _shift(expr.a, var, offset), _shift(expr.b, var, offset))
    if isinstance(expr, Load):
        return Load(expr.buffer, _shift(expr.index, var, offset), expr.dtype)
    if isinstance(expr, Call):
        return Call(expr.fn, tuple(_shift(a, var, offset) for a in expr.args))
    if isinstance(expr, Select):
        return Select(_shift(expr.cond, var, offset), _shift(expr.a, var, offset), _shift(expr.b, var, offset))
    if isinstance(expr, Cast):
        return Cast(expr.dtype, _shift(expr.a, var, offset))
    return expr


def _shifted(index, var: str, offset: int):
    return _shift(index, var, offset)


def _shift_block(stmt, var: str, offset: int):
    from compiler.ir.loops import Store
    if offset == 0:
        return stmt
    if isinstance(stmt, Block):
        return Block(tuple(_shift_block(s, var, offset) for s in stmt.stmts))
    if isinstance(stmt, Declare):
        return Declare(stmt.var, stmt.dtype, _shift(stmt.init, var, offset))
    if isinstance(stmt, Assign):
        return Assign(stmt.var, _shift(stmt.value, var, offset))
    if isinstance(stmt, If):
        return If(_shift(stmt.cond, var, offset), _shift_block(stmt.then, var, offset),
                  None if stmt.otherwise is None else _shift_block(stmt.otherwise, var, offset))
    if isinstance(stmt, Store):
        return Store(stmt.buffer, _shift(stmt.index, var, offset), _shift(stmt.value, var, offset))
    return stmt



