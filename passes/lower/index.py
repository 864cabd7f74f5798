"""Lowering of OneHot, EyeLike, TopK, GatherND, ScatterElements, ScatterND, DepthToSpace and
SpaceToDepth. Scatters copy the data in parallel, then apply the updates serially in order,
so repeated indices resolve as the reference does."""
from __future__ import annotations

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, Expr, For, If, Kernel, Var
from compiler.ir.types import SymSize
from passes.lower.builder import (add, binary, block, cast, const, dim_expr, linear_index, load, loop_nest,
                                  make_kernel, mul, parallel_nest, select, store, sub)
from passes.lower.movement import _wrapped_index


def lower_onehot(node: Node, in_types, out_types) -> Kernel:
    ind_type, out_type = in_types[0], out_types[0]
    axis = node.attrs.axis % out_type.rank
    depth = node.attrs.depth

    def body(ins, outs):
        indices, values = ins
        def make(idx):
            raw = cast(DType.int64, load(indices, linear_index(idx[:axis] + idx[axis + 1:], ind_type.shape)))
            v = select(binary("lt", raw, const(0)), add(raw, const(depth)), raw)
            value = select(binary("eq", v, idx[axis]), load(values, const(1)), load(values, const(0)))
            return store(outs[0], linear_index(idx, out_type.shape), value)
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_eyelike(node: Node, in_types, out_types) -> Kernel:
    out_type = out_types[0]
    dt = out_type.dtype

    def body(ins, outs):
        return parallel_nest("i", out_type.shape, lambda idx: store(
            outs[0], linear_index(idx, out_type.shape),
            select(binary("eq", sub(idx[1], idx[0]), const(node.attrs.k)), const(1, dt), const(0, dt))))
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_topk(node: Node, in_types, out_types) -> Kernel:
    """The t-th output is the best element that comes after the (t-1)-th in the order
    (value, then smaller index first): k scans of the line, no scratch memory."""
    x_type = in_types[0]
    axis = node.attrs.axis % x_type.rank
    out_shape = out_types[0].shape
    kept = [d for a, d in enumerate(x_type.shape) if a != axis]
    dt = x_type.dtype
    wins = "gt" if node.attrs.largest else "lt"

    def before(av, ai, bv, bi) -> Expr:
        return binary("or", binary(wins, av, bv), binary("and", binary("eq", av, bv), binary("lt", ai, bi)))

    def body(ins, outs):
        def make(idx):
            def at(position, shape):
                return linear_index(list(idx[:axis]) + [position] + list(idx[axis:]), shape)
            r, t = Var("r"), Var("t")
            c = load(ins[0], at(r, x_type.shape))
            pv, pi, bv, bi = Var("pv", dt), Var("pi"), Var("bv", dt), Var("bi")
            valid = binary("or", binary("lt", pi, const(0)), before(pv, pi, c, r))
            better = binary("or", binary("lt", bi, const(0)), before(c, r, bv, bi))
            scan = For("r", dim_expr(x_type.shape[axis]),
                       If(binary("and", valid, better), block(Assign("bv", c), Assign("bi", r))))
            step = block(Declare("bv", dt, const(0, dt)), Declare("bi", DType.int64, const(-1)), scan,
                         store(outs[0], at(t, out_shape), bv), store(outs[1], at(t, out_shape), bi),
                         Assign("pv", bv), Assign("pi", bi))
            return block(Declare("pv", dt, const(0, dt)), Declare("pi", DType.int64, const(-1)),
                         For("t", const(node.attrs.k), step))
        return parallel_nest("i", kept, make) if kept else make([])
    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel().scaled(node.attrs.k))


def _combine(reduction: str, old: Expr, new: Expr) -> Expr:
    return new if reduction == "none" else binary(reduction, old, new)


def _copy(src, dst, numel: Expr):
    i = Var("c")
    from compiler.ir.loops import LoopKind
    return For("c", numel, store(dst, i, load(src, i)), LoopKind.PARALLEL)


def _numel(t) -> Expr:
    return mul(*(dim_expr(d) for d in t.shape))


def _serial_nest(prefix: str, shape, make) -> For | object:
    names = [f"{prefix}{k}" for k in range(len(shape))]
    return loop_nest(names, [dim_expr(d) for d in shape], make([Var(n) for n in names]))


def lower_scatter_elements(node: Node, in_types, out_types) -> Kernel:
    data_type, idx_type, _ = in_types
    axis = node.attrs.axis % data_type.rank

    def body(ins, outs):
        data, indices, updates = ins
        def make(idx):
            target = list(idx)
            target[axis] = _wrapped_index(load(indices, linear_index(idx, idx_type.shape)),
                                          dim_expr(data_type.shape[axis]))
            at = linear_index(target, data_type.shape)
            value = _combine(node.attrs.reduction, load(outs[0], at), load(updates, linear_index(idx, idx_type.shape)))
            return store(outs[0], at, value)
        return block(_copy(data, outs[0], _numel(data_type)), _serial_nest("u", idx_type.shape, make))
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def _nd_target(indices, idx_type, prefix, data_type, first: int) -> list[Expr]:
    depth = int(idx_type.shape[-1])
    return [_wrapped_index(load(indices, linear_index(list(prefix) + [const(j)], idx_type.shape)),
                           dim_expr(data_type.shape[first + j])) for j in range(depth)]


def lower_scatter_nd(node: Node, in_types, out_types) -> Kernel:
    data_type, idx_type, upd_type = in_types
    q = idx_type.rank - 1

    def body(ins, outs):
        data, indices, updates = ins
        def make(idx):
            target = _nd_target(indices, idx_type, idx[:q], data_type, 0) + list(idx[q:])
            at = linear_index(target, data_type.shape)
            value = _combine(node.attrs.reduction, load(outs[0], at), load(updates, linear_index(idx, upd_type.shape)))
            return store(outs[0], at, value)
        return block(_copy(data, outs[0], _numel(data_type)), _serial_nest("u", upd_type.shape, make))
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_gather_nd(node: Node, in_types, out_types) -> Kernel:
    data_type, idx_type = in_types
    out_type = out_types[0]
    q, b = idx_type.rank - 1, node.attrs.batch_dims

    def body(ins, outs):
        data, indices = ins
        def make(idx):
            target = list(idx[:b]) + _nd_target(indices, idx_type, idx[:q], data_type, b) + list(idx[q:])
            return store(outs[0], linear_index(idx, out_type.shape), load(data, linear_index(target, data_type.shape)))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))


def lower_depth_space(node: Node, in_types, out_types) -> Kernel:
    x_type, out_type = in_types[0], out_types[0]
    b = node.attrs.blocksize

    def div(e, k):
        return binary("div", e, const(k))

    def mod(e, k):
        return binary("mod", e, const(k))

    def body(ins, outs):
        def make(idx):
            n, c, h, w = idx
            if node.op == "DepthToSpace":
                groups = int(out_type.shape[1])
                b1, b2 = mod(h, b), mod(w, b)
                channel = add(mul(add(mul(c, const(b * b)), mul(b1, const(b))), const(1)), b2) \
                    if node.attrs.column_row_depth else \
                    add(mul(add(mul(b1, const(b)), b2), const(groups)), c)
                src = [n, channel, div(h, b), div(w, b)]
            else:
                channels = int(x_type.shape[1])
                if node.attrs.column_row_depth:
                    cc, b1, b2 = div(c, b * b), mod(div(c, b), b), mod(c, b)
                else:
                    b1, b2, cc = div(c, b * channels), mod(div(c, channels), b), mod(c, channels)
                src = [n, cc, add(mul(h, const(b)), b1), add(mul(w, const(b)), b2)]
            return store(outs[0], linear_index(idx, out_type.shape), load(ins[0], linear_index(src, x_type.shape)))
        return parallel_nest("i", out_type.shape, make)
    return make_kernel(node.op, in_types, out_types, body, flops=SymSize(0))
