"""Lowering of 2-d sliding-window ops whose channels are independent: MaxPool and depthwise
(or channel-multiplier) Conv.

Per (image, channel) plane, parallel. Every output point sums exactly its valid taps, unrolled
into one register accumulator: which taps are valid is decided here, at compile time, for the
few border rows and columns (each unrolled on its own) and for the interior (one vectorized
loop over columns), so no bounds test runs at all. A
fused epilogue (bias, residual, ReLU/Clip) is applied to the accumulator before the one store.

    depthwise 3x3/1 on f32[1,32,112,112]:
    for (n, c) parallel: for oy in [1, 111): for ox in [1, 111) simd:
        out[c, oy, ox] = clip(b[c] + sum_{ky,kx} w[c,ky,kx] * x[c, oy-1+ky, ox-1+kx], 0, 6)
"""
from __future__ import annotations

from typing import Callable, NamedTuple


from compiler.ir.graph import Node
from compiler.ir.dtypes import DType
from compiler.ir.loops import Assign, Declare, Expr, For, If, Kernel, LoopKind, Stmt, Var
from passes.lower.builder import (add, binary, block, const, dim_expr, land, load, lowest, make_kernel, mul,
                                  parallel_nest, store, sub)

# finish(accumulator, output index expressions, input buffers) -> value to store
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
    channels, per_group = (x.shape[3], w.shape[2]) if node.attrs.channels_last else (x.shape[1], w.shape[1])
    return per_group == 1 and node.attrs.group == channels and node.attrs.group > 1 and isinstance(channels, int)


def is_window_pool(node: Node, in_types) -> bool:
    # Float data only: for integers the per-tap selects nest into expressions whose printed
    # form grows exponentially (a uint8 MaxPool never finished printing); lower_pool serves them.
    return node.op == "MaxPool" and len(node.attrs.kernel_shape) == 2 and in_types[0].dtype.is_float


class _Geometry(NamedTuple):
    dt: DType
    is_conv: bool
    channels_in: int
    channels_out: int
    multiplier: int             # output channels per input channel (depthwise: 1)
    height: int
    width: int
    out_h: int
    out_w: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]        # begin padding (top, left)
    dilation: tuple[int, int]


def _geometry(node: Node, in_types, out_types) -> _Geometry:
    """Sizes of a window op in either layout (channels-last: (N, H, W, C))."""
    attrs, x_type, out_type = node.attrs, in_types[0], out_types[0]
    if attrs.channels_last:
        (height, width, channels_in), (out_h, out_w, channels_out) = x_type.shape[1:], out_type.shape[1:]
    else:
        (channels_in, height, width), (channels_out, out_h, out_w) = x_type.shape[1:], out_type.shape[1:]
    channels_in, channels_out = int(channels_in), int(channels_out)
    return _Geometry(x_type.dtype, node.op == "Conv", channels_in, channels_out, channels_out // channels_in,
                     int(height), int(width), int(out_h), int(out_w), tuple(attrs.kernel_shape),
                     tuple(attrs.strides), tuple(attrs.pads[:2]), tuple(attrs.dilations))


def _start(g: _Geometry, ins, channel: Expr) -> Expr:
    """The accumulator's first value: the bias (or 0) for a convolution, lowest for a max."""
    if not g.is_conv:
        return lowest(g.dt)
    bias = ins[2] if len(ins) > 2 and ins[2] is not None else None
    return load(bias, channel) if bias is not None else const(0, g.dt)


def _tap_position(o: Expr, stride: int, pad: int, k: "int | Expr", dilation: int) -> Expr:
    """Input coordinate read by tap k (a constant or a loop variable) of output coordinate o."""
    offset = const(k * dilation) if isinstance(k, int) else mul(k, const(dilation))
    return add(sub(mul(o, const(stride)), const(pad)), offset)


def _accumulate(g: _Geometry, acc: Expr, weight: Expr | None, value: Expr) -> Expr:
    """One tap folded into the accumulator: acc + weight * value (convolution), max (pool)."""
    return binary("add", acc, binary("mul", weight, value)) if g.is_conv else binary("max", acc, value)


def _window_kernel(node: Node, in_types, out_types, g: _Geometry, body) -> Kernel:
    taps = g.kernel[0] * g.kernel[1]
    flops = out_types[0].numel().scaled(2 * taps if g.is_conv else taps)
    return make_kernel(node.op, in_types, out_types, body, flops=flops)


def lower_window(node: Node, in_types, out_types, finish: Finish | None = None,
                 per_point: bool = False) -> Kernel:
    """`per_point` (GPU targets): one parallel iteration per output element instead of one per
    channel plane, which leaves a GPU with only N x C threads (96 for a MobileNetV2 layer)."""
    if node.attrs.channels_last:
        return lower_window_channels_last(node, in_types, out_types, finish)
    if per_point:
        return lower_window_points(node, in_types, out_types, finish)
    x_type = in_types[0]
    g = _geometry(node, in_types, out_types)
    dt, is_conv, channels_in, channels_out, multiplier, height, width, out_h, out_w = g[:9]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = g.kernel, g.stride, g.pad, g.dilation
    rows = interior(height, out_h, kh, sh, ph, dh)
    cols = interior(width, out_w, kw, sw, pw, dw)

    def body(ins, outs):
        x, out = ins[0], outs[0]
        n, c = Var("n"), Var("c")
        source_channel = binary("div", c, const(multiplier)) if multiplier > 1 else c
        plane_in = add(mul(n, const(channels_in * height * width)), mul(source_channel, const(height * width)))
        start = _start(g, ins, c)

        def tap(ky: int, kx: int, acc: Expr, iy: Expr, ix: Expr) -> Expr:
            value = load(x, add(plane_in, mul(iy, const(width)), ix))
            return _accumulate(g, acc, Var(f"w{ky}_{kx}", dt) if is_conv else None, value)

        def valid(o: int, size: int, stride: int, pad: int, k: int, dilation: int) -> bool:
            return 0 <= o * stride - pad + k * dilation < size

        def point(oy_e: Expr, ox_e: Expr, kys, kxs) -> Expr:
            acc = start
            for ky in kys:
                for kx in kxs:
                    acc = tap(ky, kx, acc, _tap_position(oy_e, sh, ph, ky, dh), _tap_position(ox_e, sw, pw, kx, dw))
            return acc

        def row(oy_e: Expr, kys) -> list:
            """One output row whose valid kernel rows are `kys`: border columns unrolled with
            exactly their valid taps (no tests), the interior as one vector loop."""
            stmts = []
            border_columns = list(range(0, cols[0])) + list(range(cols[1], out_w))
            for ox_c in border_columns:
                kxs = [kx for kx in range(kw) if valid(ox_c, width, sw, pw, kx, dw)]
                index = [n, c, oy_e, const(ox_c)]
                target = add(mul(n, const(channels_out * out_h * out_w)), mul(c, const(out_h * out_w)),
                             mul(oy_e, const(out_w)), const(ox_c))
                value = point(oy_e, const(ox_c), kys, kxs)
                stmts.append(store(out, target, finish(value, index, ins) if finish else value))
            if cols[1] > cols[0]:
                t = Var("t")
                ox_e = add(t, const(cols[0]))
                target = add(mul(n, const(channels_out * out_h * out_w)), mul(c, const(out_h * out_w)),
                             mul(oy_e, const(out_w)), ox_e)
                value = point(oy_e, ox_e, kys, range(kw))
                stmts.append(For("t", const(cols[1] - cols[0]),
                                 store(out, target, finish(value, [n, c, oy_e, ox_e], ins) if finish else value),
                                 LoopKind.VECTORIZED))
            return stmts

        rows_code = []
        for oy_c in range(0, rows[0]):
            rows_code += row(const(oy_c), [ky for ky in range(kh) if valid(oy_c, height, sh, ph, ky, dh)])
        if rows[1] > rows[0]:
            u = Var("u")
            rows_code.append(For("u", const(rows[1] - rows[0]), block(*row(add(u, const(rows[0])), range(kh)))))
        for oy_c in range(rows[1], out_h):
            rows_code += row(const(oy_c), [ky for ky in range(kh) if valid(oy_c, height, sh, ph, ky, dh)])
        weights = []
        if is_conv:
            weights = [Declare(f"w{ky}_{kx}", dt, load(ins[1], add(mul(c, const(kh * kw)), const(ky * kw + kx))))
                       for ky in range(kh) for kx in range(kw)]
        plane = block(*weights, *rows_code)
        return For("n", dim_expr(x_type.shape[0]),
                   For("c", const(channels_out), plane, LoopKind.PARALLEL), LoopKind.PARALLEL)

    return _window_kernel(node, in_types, out_types, g, body)


def lower_window_points(node: Node, in_types, out_types, finish: Finish | None = None) -> Kernel:
    """NCHW, one output element per iteration of a fully parallel nest: the kh x kw taps
    unrolled, each guarded by its bounds test, into one accumulator; the tail before the store."""
    out_type = out_types[0]
    g = _geometry(node, in_types, out_types)
    dt, is_conv, channels_in, channels_out, multiplier, height, width, out_h, out_w = g[:9]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = g.kernel, g.stride, g.pad, g.dilation

    def body(ins, outs):
        x, out = ins[0], outs[0]

        def point(idx):
            n, c, oy, ox = idx
            source = binary("div", c, const(multiplier)) if multiplier > 1 else c
            plane = add(mul(n, const(channels_in * height * width)), mul(source, const(height * width)))
            start = _start(g, ins, c)
            taps = []
            for ky in range(kh):
                iy = _tap_position(oy, sh, ph, ky, dh)
                for kx in range(kw):
                    ix = _tap_position(ox, sw, pw, kx, dw)
                    value = load(x, add(plane, mul(iy, const(width)), ix))
                    weight = load(ins[1], add(mul(c, const(kh * kw)), const(ky * kw + kx))) if is_conv else None
                    update = _accumulate(g, Var("acc", dt), weight, value)
                    inside = land(binary("ge", iy, const(0)), binary("lt", iy, const(height)),
                                  binary("ge", ix, const(0)), binary("lt", ix, const(width)))
                    taps.append(If(inside, Assign("acc", update)))
            index = add(mul(n, const(channels_out * out_h * out_w)), mul(c, const(out_h * out_w)),
                        mul(oy, const(out_w)), ox)
            value = Var("acc", dt)
            return block(Declare("acc", dt, start), *taps,
                         store(out, index, finish(value, list(idx), ins) if finish else value))
        return parallel_nest("i", out_type.shape, point)

    return _window_kernel(node, in_types, out_types, g, body)


# Interior pixels of a row computed together: each tap's weight vector is loaded once for all
# of them (one load per FMA instead of two for a depthwise convolution).
PIXEL_BLOCK = 4


def lower_window_channels_last(node: Node, in_types, out_types, finish: Finish | None = None) -> Kernel:
    """Channels-last (N, H, W, C), per output row (parallel). Interior pixels (every tap inside
    the image; compile-time bounds) go PIXEL_BLOCK at a time: one vector pass over the
    channels with a register accumulator per pixel, the taps unrolled, each weight loaded once
    for the block, the epilogue applied before the one store. Border pixels: each valid tap is
    a vector pass accumulating into the output row."""
    x_type = in_types[0]
    g = _geometry(node, in_types, out_types)
    dt, is_conv, channels_in, channels_out, multiplier, height, width, out_h, out_w = g[:9]
    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = g.kernel, g.stride, g.pad, g.dilation
    rows = interior(height, out_h, kh, sh, ph, dh)
    cols = interior(width, out_w, kw, sw, pw, dw)
    blocks = (cols[1] - cols[0]) // PIXEL_BLOCK

    def body(ins, outs):
        x, out = ins[0], outs[0]
        n, oy, ox, c = Var("n"), Var("oy"), Var("ox"), Var("c")
        ky, kx = Var("ky"), Var("kx")
        source_channel = binary("div", c, const(multiplier)) if multiplier > 1 else c
        start = _start(g, ins, c)
        iy, ix = Var("iy"), Var("ix")

        def at(column: Expr) -> Expr:
            return add(mul(n, const(out_h * out_w * channels_out)), mul(oy, const(out_w * channels_out)),
                       mul(column, const(channels_out)), c)

        def value_at(y: Expr, x_: Expr) -> Expr:
            return load(x, add(mul(n, const(height * width * channels_in)), mul(y, const(width * channels_in)),
                               mul(x_, const(channels_in)), source_channel))

        def weight(tap_y, tap_x) -> Expr:
            return load(ins[1], add(mul(add(mul(tap_y, const(kw)), tap_x), const(channels_out)), c))

        def interior_pixels(columns: list[Expr]) -> For:
            """Output pixels (oy, columns[j]), all interior: a register accumulator each."""
            names = [f"acc{j}" for j in range(len(columns))]
            steps = [Declare(name, dt, start) for name in names]
            for ty in range(kh):
                for tx in range(kw):
                    y = _tap_position(oy, sh, ph, ty, dh)
                    if is_conv:
                        steps.append(Declare(f"w{ty}_{tx}", dt, weight(const(ty), const(tx))))
                    for name, column in zip(names, columns):
                        value = value_at(y, _tap_position(column, sw, pw, tx, dw))
                        tap_weight = Var(f"w{ty}_{tx}", dt) if is_conv else None
                        steps.append(Assign(name, _accumulate(g, Var(name, dt), tap_weight, value)))
            for name, column in zip(names, columns):
                acc = Var(name, dt)
                steps.append(store(out, at(column), finish(acc, [n, oy, column, c], ins) if finish else acc))
            return For("c", const(channels_out), block(*steps), LoopKind.VECTORIZED)

        def border_pixel() -> Stmt:
            """Output pixel (oy, ox): the valid taps only, accumulated in the output row."""
            inside = lambda v, size: binary("and", binary("ge", v, const(0)), binary("lt", v, const(size)))
            update = _accumulate(g, load(out, at(ox)), weight(ky, kx) if is_conv else None, value_at(iy, ix))
            taps = For("ky", const(kh), block(
                Declare("iy", DType.int64, _tap_position(oy, sh, ph, ky, dh)),
                If(inside(iy, height), For("kx", const(kw), block(
                    Declare("ix", DType.int64, _tap_position(ox, sw, pw, kx, dw)),
                    If(inside(ix, width), For("c", const(channels_out), store(out, at(ox), update),
                                              LoopKind.VECTORIZED)))))))
            steps = [For("c", const(channels_out), store(out, at(ox), start), LoopKind.VECTORIZED), taps]
            if finish is not None:
                steps.append(For("c", const(channels_out),
                                 store(out, at(ox), finish(load(out, at(ox)), [n, oy, ox, c], ins)), LoopKind.VECTORIZED))
            return block(*steps)

        def columns(var: str, first: int, count: int, make) -> Stmt | None:
            """For ox in [first, first + count): make() with ox declared."""
            if count <= 0:
                return None
            return For(var, const(count), block(Declare("ox", DType.int64, add(Var(var), const(first))), make()))

        base = Var("base")
        blocked = For("ob", const(blocks), block(
            Declare("base", DType.int64, add(mul(Var("ob"), const(PIXEL_BLOCK)), const(cols[0]))),
            interior_pixels([add(base, const(j)) for j in range(PIXEL_BLOCK)]))) if blocks else None
        tail_first = cols[0] + blocks * PIXEL_BLOCK
        row_steps = [columns("ol", 0, cols[0], border_pixel), blocked,
                     columns("ot", tail_first, cols[1] - tail_first, lambda: interior_pixels([ox])),
                     columns("orr", cols[1], out_w - cols[1], border_pixel)]
        interior_row = block(*[step for step in row_steps if step is not None])
        border_row = For("ox", const(out_w), border_pixel())
        in_rows = land(binary("ge", oy, const(rows[0])), binary("lt", oy, const(rows[1])))
        return For("n", dim_expr(x_type.shape[0]), For("oy", const(out_h), If(in_rows, interior_row, border_row),
                                                        LoopKind.PARALLEL), LoopKind.PARALLEL)

    return _window_kernel(node, in_types, out_types, g, body)
