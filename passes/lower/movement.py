"""Lowering of data-movement ops: reshapes (flat copies), transpose, concat, split, slice,
gather, expand, tile, pad, range."""
from __future__ import annotations

from compiler.ir.graph import Node
from compiler.ir.loops import Expr, For, Kernel, LoopKind, Var
from compiler.ir.ops.shape import slice_ranges
from compiler.ir.types import SymSize
from passes.lower.builder import (add, binary, block, broadcast_index, cast, const, dim_expr, land,
                                  linear_index, load, loop_nest, make_kernel, mul, parallel_nest, select, store,
                                  sub)
from passes.lower.elementwise import dim_expr_of_numel


def lower_copy(node: Node, in_types, out_types) -> Kernel:
    """Reshape, Flatten, Squeeze, Unsqueeze: the bytes do not move, so a flat copy."""
    def body(ins, outs):
        i = Var("i")
        return For("i", dim_expr_of_numel(out_types[0]), store(outs[0], i, load(ins[0], i)), LoopKind.PARALLEL)
    return make_kernel(node.op, in_types[:1], out_types, body, flops=SymSize(0))


# An output's last axis at most this long, read with a stride, is unrolled (_interleave_nest).
INTERLEAVE_MAX = 4


def lower_transpose(node: Node, in_types, out_types) -> Kernel:
    perm = node.attrs.perm
    x_type, out_type = in_types[0], out_types[0]

    def body(ins, outs):
        def make(idx):
            src = [None] * len(perm)
            for out_axis, in_axis in enumerate(perm):
                src[in_axis] = idx[out_axis]
            return store(outs[0], linear_index(idx, out_type.shape), load(ins[0], linear_index(src, x_type.shape)))
        if _interleaves(perm, out_type.shape):
            return _interleave_nest(perm, out_type.shape, make)
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def _interleaves(perm, shape) -> bool:
    """A transpose whose output's last axis is a few elements read with a stride (an image's
    NCHW -> NHWC: 3 channels): vectorizing that axis runs 3 of 16 lanes."""
    return (len(perm) >= 3 and all(isinstance(d, int) for d in shape) and shape[-1] <= INTERLEAVE_MAX
            and perm[-1] != len(perm) - 1)


def _interleave_nest(perm, shape, make) -> For:
    """The output's last axis unrolled (one store each), the axis that reads the input's
    contiguous one innermost and vectorized (contiguous loads, interleaved stores), the other
    axes outside it, threaded together. The input image of MobileNetV2 and the ResNets
    (1 x 3 x 224 x 224): 0.045 ms on one thread as a 3-lane loop."""
    rank = len(perm)
    inner = perm.index(rank - 1)
    order = [axis for axis in range(rank - 1) if axis != inner] + [inner]
    idx = [Var(f"i{axis}") for axis in range(rank - 1)]
    body = block(*[make(idx + [const(k)]) for k in range(shape[-1])])
    kinds = [LoopKind.PARALLEL] * (len(order) - 1) + [LoopKind.VECTORIZED]
    return loop_nest([f"i{axis}" for axis in order], [const(shape[axis]) for axis in order], body, kinds)


def lower_concat(node: Node, in_types, out_types) -> Kernel:
    out_type = out_types[0]
    axis = node.attrs.axis % out_type.rank

    def body(ins, outs):
        nests, offset = [], const(0)
        for buf, t in zip(ins, in_types):
            def make(idx, offset=offset, t=t, buf=buf):
                dst = list(idx)
                dst[axis] = add(idx[axis], offset)
                return store(outs[0], linear_index(dst, out_type.shape), load(buf, linear_index(idx, t.shape)))
            nests.append(parallel_nest("i", t.shape, make))
            offset = add(offset, dim_expr(t.shape[axis]))  # symbolic when one input spans a symbolic axis
        return block(*nests)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_split(node: Node, in_types, out_types) -> Kernel:
    x_type = in_types[0]
    axis = node.attrs.axis % x_type.rank

    def body(ins, outs):
        nests, offset = [], 0
        for buf, t in zip(outs, out_types):
            def make(idx, offset=offset, t=t, buf=buf):
                src = list(idx)
                src[axis] = add(idx[axis], const(offset))
                return store(buf, linear_index(idx, t.shape), load(ins[0], linear_index(src, x_type.shape)))
            nests.append(parallel_nest("i", t.shape, make))
            offset += int(t.shape[axis])
        return block(*nests)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_slice(node: Node, in_types, out_types) -> Kernel:
    x_type, out_type = in_types[0], out_types[0]
    ranges = slice_ranges(x_type.shape, node.attrs)

    def body(ins, outs):
        def make(idx):
            src = [add(const(start), mul(i, const(step))) for i, (start, _, step) in zip(idx, ranges)]
            return store(outs[0], linear_index(idx, out_type.shape), load(ins[0], linear_index(src, x_type.shape)))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def _wrapped_index(raw: Expr, size: Expr) -> Expr:
    """A run-time index made non-negative (ONNX allows -size..size-1) and clamped into range,
    so a bad index can never read outside the tensor."""
    from compiler.ir.dtypes import DType
    i = cast(DType.int64, raw)
    i = select(binary("lt", i, const(0)), add(i, size), i)
    return binary("min", binary("max", i, const(0)), sub(size, const(1)))


def lower_gather(node: Node, in_types, out_types) -> Kernel:
    data_type, idx_type = in_types
    out_type = out_types[0]
    axis = node.attrs.axis % data_type.rank
    q = idx_type.rank

    def body(ins, outs):
        data, indices = ins
        def make(idx):
            raw = load(indices, linear_index(idx[axis:axis + q], idx_type.shape))
            src = list(idx[:axis]) + [_wrapped_index(raw, dim_expr(data_type.shape[axis]))] + list(idx[axis + q:])
            return store(outs[0], linear_index(idx, out_type.shape), load(data, linear_index(src, data_type.shape)))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_gather_elements(node: Node, in_types, out_types) -> Kernel:
    data_type, idx_type = in_types
    axis = node.attrs.axis % data_type.rank

    def body(ins, outs):
        data, indices = ins
        def make(idx):
            raw = load(indices, linear_index(idx, idx_type.shape))
            src = list(idx)
            src[axis] = _wrapped_index(raw, dim_expr(data_type.shape[axis]))
            return store(outs[0], linear_index(idx, idx_type.shape), load(data, linear_index(src, data_type.shape)))
        return parallel_nest("i", idx_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_expand(node: Node, in_types, out_types) -> Kernel:
    out_type = out_types[0]

    def body(ins, outs):
        return parallel_nest("i", out_type.shape, lambda idx: store(
            outs[0], linear_index(idx, out_type.shape), load(ins[0], broadcast_index(idx, in_types[0].shape))))
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_tile(node: Node, in_types, out_types) -> Kernel:
    x_type, out_type = in_types[0], out_types[0]

    def body(ins, outs):
        def make(idx):
            src = [binary("mod", i, const(int(d))) for i, d in zip(idx, x_type.shape)]
            return store(outs[0], linear_index(idx, out_type.shape), load(ins[0], linear_index(src, x_type.shape)))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_pad(node: Node, in_types, out_types) -> Kernel:
    """Output position i on an axis reads the input window left after cropping (negative pads)
    at i - begin pad; outside it, the constant, the nearest edge value, or the mirror image.
    Reflection repeats with period 2 * (size - 1) as the op's reference (numpy) does, so a pad
    wider than the axis never reads outside the input."""
    attrs = node.attrs
    x_type, out_type = in_types[0], out_types[0]
    rank = x_type.rank
    dt = x_type.dtype

    def body(ins, outs):
        def make(idx):
            src, inside = [], []
            for axis, i in enumerate(idx):
                begin, end = attrs.pads[axis], attrs.pads[rank + axis]
                if not begin and not end:
                    src.append(i)   # untouched, symbolic axes included
                    continue
                low = max(-begin, 0)
                size = int(x_type.shape[axis]) - low - max(-end, 0)
                p = sub(i, const(max(begin, 0)))
                if attrs.mode == "constant":
                    inside.append(land(binary("ge", p, const(0)), binary("lt", p, const(size))))
                    p = _clamp(p, size)   # the load stays in bounds even where unused
                elif attrs.mode == "edge":
                    p = _clamp(p, size)
                else:
                    p = _reflect(p, size)
                src.append(add(p, const(low)))
            value = load(ins[0], linear_index(src, x_type.shape))
            if inside:
                fill = load(ins[1], const(0)) if len(ins) > 1 and ins[1] is not None else const(attrs.value, dt)
                value = select(land(*inside), value, fill)
            return store(outs[0], linear_index(idx, out_type.shape), value)
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def _clamp(p: Expr, size: int) -> Expr:
    return binary("min", binary("max", p, const(0)), const(max(size - 1, 0)))


def _reflect(p: Expr, size: int) -> Expr:
    """Mirror p into [0, size) without repeating the edge: period 2 * (size - 1)."""
    if size <= 1:
        return const(0)
    period = 2 * (size - 1)
    q = binary("mod", select(binary("lt", p, const(0)), sub(const(0), p), p), const(period))
    return select(binary("lt", q, const(size)), q, sub(const(period), q))


def lower_range(node: Node, in_types, out_types) -> Kernel:
    attrs = node.attrs
    dt = attrs.dtype

    def body(ins, outs):
        i = Var("i")
        value = binary("add", const(attrs.start, dt), binary("mul", cast(dt, i), const(attrs.delta, dt)))
        return For("i", dim_expr_of_numel(out_types[0]), store(outs[0], i, value), LoopKind.PARALLEL)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))
