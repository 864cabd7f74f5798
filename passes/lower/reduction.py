"""Lowering of reductions: Reduce*, Softmax, LayerNormalization, GlobalAveragePool.

Each output element (or row) is one iteration of a parallel loop; the reduction runs serially
inside it over a scalar accumulator, so nothing larger than a scalar is materialised.
"""
from __future__ import annotations

import math
from typing import Sequence

from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.loops import Assign, Declare, Expr, For, Kernel, LoopKind, Stmt, Var
from compiler.ir.ops.reduce import reduced_axes
from compiler.ir.types import Dim, SymSize, TensorType
from passes.lower.builder import (binary, block, call, cast, const, dim_expr, highest, linear_index,
                                  load, loop_nest, lowest, make_kernel, mul, parallel_nest, select, store)

_INIT = {"ReduceSum": "zero", "ReduceMean": "zero", "ReduceProd": "one", "ReduceMax": "lowest",
         "ReduceMin": "highest"}
_COMBINE = {"ReduceSum": "add", "ReduceMean": "add", "ReduceProd": "mul", "ReduceMax": "max",
            "ReduceMin": "min"}


def accumulator(dtype: DType) -> DType:
    """Sums of floats accumulate in double, as the op references (and onnxruntime's
    LayerNormalization) do: a float32 running sum loses digits over long rows."""
    return DType.float64 if dtype.is_float else dtype


def _init_value(kind: str, dtype: DType) -> Expr:
    if kind == "zero":
        return const(0, dtype)
    if kind == "one":
        return const(1, dtype)
    return lowest(dtype) if kind == "lowest" else highest(dtype)


def _reduce_rows(x_shape: Sequence[Dim], axes: Sequence[int], outer_idx: list[Expr], prefix: str,
                 make_inner) -> Stmt:
    """Serial loops over `axes` of x; `make_inner(x_index)` gives the statement per element."""
    axes = list(axes)
    names = [f"{prefix}{k}" for k in range(len(axes))]
    full: list[Expr] = []
    outer = iter(outer_idx)
    for axis in range(len(x_shape)):
        full.append(Var(names[axes.index(axis)]) if axis in axes else next(outer))
    inner = make_inner(linear_index(full, x_shape))
    return loop_nest(names, [dim_expr(x_shape[a]) for a in axes], inner)


def lower_reduce(node: Node, in_types, out_types) -> Kernel:
    x_type = in_types[0]
    axes = reduced_axes(x_type.rank, node.attrs)
    kept = [a for a in range(x_type.rank) if a not in axes]
    combine = _COMBINE[node.op]
    # Max and min are exact in any dtype; sums and products are not.
    dt = x_type.dtype if combine in ("max", "min") else accumulator(x_type.dtype)

    def body(ins, outs):
        x, out = ins[0], outs[0]
        kept_shape = [x_type.shape[a] for a in kept]

        def make(idx):
            update = lambda xi: Assign("acc", binary(combine, Var("acc", dt), cast(dt, load(x, xi))))
            loops = _reduce_rows(x_type.shape, axes, idx, "r", update)
            result: Expr = Var("acc", dt)
            if node.op == "ReduceMean":
                count = mul(*(dim_expr(x_type.shape[a]) for a in axes))
                result = binary("div", result, cast(dt, count))
            return block(Declare("acc", dt, _init_value(_INIT[node.op], dt)), loops,
                         store(out, linear_index(idx, kept_shape), result))
        return parallel_nest("i", kept_shape, make) if kept_shape else make([])

    flops = x_type.numel()
    return make_kernel(node.op, in_types, out_types, body, flops=flops)


def lower_global_average_pool(node: Node, in_types, out_types) -> Kernel:
    from compiler.ir.ops.reduce import ReduceAttrs
    spatial = tuple(range(2, in_types[0].rank))
    reduce_node = Node("ReduceMean", node.name, node.inputs, node.outputs, ReduceAttrs(spatial, True))
    kernel = lower_reduce(reduce_node, in_types, out_types)
    return _renamed(kernel, node.op)


def _renamed(kernel: Kernel, op: str) -> Kernel:
    from dataclasses import replace
    return replace(kernel, name=op.lower(), ops=(op,))


def lower_softmax(node: Node, in_types, out_types) -> Kernel:
    """Three passes over each row: max, sum of exp(x - max), normalise."""
    x_type = in_types[0]
    axis = node.attrs.axis % x_type.rank
    dt = x_type.dtype
    outer_shape = [d for a, d in enumerate(x_type.shape) if a != axis]

    def body(ins, outs):
        x, out = ins[0], outs[0]

        def make(idx):
            def element(j: Expr) -> Expr:
                full = list(idx[:axis]) + [j] + list(idx[axis:])
                return linear_index(full, x_type.shape)
            n = dim_expr(x_type.shape[axis])
            j = Var("j")
            return block(
                Declare("row_max", dt, const(-math.inf, dt)),
                For("j", n, Assign("row_max", binary("max", Var("row_max", dt), load(x, element(j)))),
                    reductions=(("row_max", "max"),)),
                Declare("row_sum", dt, const(0, dt)),
                For("j", n, block(
                    Declare("e", dt, call("exp", binary("sub", load(x, element(j)), Var("row_max", dt)))),
                    store(out, element(j), Var("e", dt)),
                    Assign("row_sum", binary("add", Var("row_sum", dt), Var("e", dt)))),
                    reductions=(("row_sum", "add"),)),
                Declare("inv_sum", dt, binary("div", const(1, dt), Var("row_sum", dt))),
                For("j", n, store(out, element(j), binary("mul", load(out, element(j)), Var("inv_sum", dt))),
                    LoopKind.VECTORIZED),
            )
        return parallel_nest("i", outer_shape, make) if outer_shape else make([])

    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel().scaled(5))


def lower_layernorm(node: Node, in_types, out_types) -> Kernel:
    """Mean and variance (two passes, for accuracy) over the trailing axes, then scale/shift."""
    x_type = in_types[0]
    axis = node.attrs.axis % x_type.rank
    dt = accumulator(x_type.dtype)   # statistics and the normalised value; stored as x's dtype
    outer_shape = list(x_type.shape[:axis])
    inner_shape = list(x_type.shape[axis:])
    inner_size = SymSize.of_shape(tuple(inner_shape))
    if not inner_size.is_static:
        from compiler.errors import UnsupportedError
        raise UnsupportedError(f"LayerNormalization (node '{node.name}') over symbolic axes")
    n = inner_size.coef

    def body(ins, outs):
        x, scale, bias, out = ins[0], ins[1], ins[2] if len(ins) > 2 else None, outs[0]

        def make(idx):
            base = mul(linear_index(list(idx) + [const(0)] * len(inner_shape), x_type.shape), const(1))
            j = Var("j")
            xj = cast(dt, load(x, binary("add", base, j)))
            centered = binary("sub", xj, Var("mean", dt))
            scale_j = cast(dt, load(scale, _param_index(j, in_types[1], inner_shape)))
            y = binary("mul", binary("mul", centered, Var("rstd", dt)), scale_j)
            if bias is not None:
                y = binary("add", y, cast(dt, load(bias, _param_index(j, in_types[2], inner_shape))))
            return block(
                Declare("sum", dt, const(0, dt)),
                For("j", const(n), Assign("sum", binary("add", Var("sum", dt), xj)), reductions=(("sum", "add"),)),
                Declare("mean", dt, binary("div", Var("sum", dt), const(n, dt))),
                Declare("sq", dt, const(0, dt)),
                For("j", const(n), Assign("sq", binary("add", Var("sq", dt), binary("mul", centered, centered))),
                    reductions=(("sq", "add"),)),
                Declare("rstd", dt, binary("div", const(1, dt), call("sqrt", binary(
                    "add", binary("div", Var("sq", dt), const(n, dt)), const(node.attrs.epsilon, dt))))),
                loop_nest(["j"], [const(n)], store(out, binary("add", base, j), y), [LoopKind.VECTORIZED]),
            )
        return parallel_nest("i", outer_shape, make) if outer_shape else make([])

    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel().scaled(8))


def _param_index(j: Expr, param_type: TensorType, inner_shape) -> Expr:
    """Index of a scale/bias broadcast over the normalised block, from the block's flat index."""
    if SymSize.of_shape(param_type.shape) == SymSize.of_shape(tuple(inner_shape)):
        return j
    # Unflatten j over the normalised shape, then broadcast.
    from passes.lower.builder import broadcast_index
    idx, rest = [], j
    for k, dim in enumerate(inner_shape):
        stride = math.prod(int(d) for d in inner_shape[k + 1:])
        idx.append(binary("mod", binary("div", rest, const(stride)), const(int(dim))))
    return broadcast_index(idx, param_type.shape)


def lower_lp_normalization(node: Node, in_types, out_types) -> Kernel:
    """Per line along the axis: the norm (in double), then every element divided by it (0 where
    the norm is 0)."""
    x_type = in_types[0]
    axis = node.attrs.axis % x_type.rank
    kept = [d for a, d in enumerate(x_type.shape) if a != axis]
    dt = accumulator(x_type.dtype)

    def body(ins, outs):
        def make(idx):
            def at(r):
                return linear_index(list(idx[:axis]) + [r] + list(idx[axis:]), x_type.shape)
            r = Var("r")
            xr = cast(dt, load(ins[0], at(r)))
            term = call("abs", xr) if node.attrs.p == 1 else binary("mul", xr, xr)
            norm = Var("norm", dt)
            total = Var("total", dt)
            y = binary("div", xr, norm)
            return block(
                Declare("total", dt, const(0, dt)),
                For("r", dim_expr(x_type.shape[axis]), Assign("total", binary("add", total, term))),
                Declare("norm", dt, total if node.attrs.p == 1 else call("sqrt", total)),
                For("r", dim_expr(x_type.shape[axis]), store(
                    outs[0], at(r), select(binary("eq", norm, const(0, dt)), const(0, dt), y))))
        return parallel_nest("i", kept, make) if kept else make([])
    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel().scaled(3))


def lower_instance_norm(node: Node, in_types, out_types) -> Kernel:
    """Per (batch, channel) plane: mean, then variance (two passes), then scale and shift."""
    x_type = in_types[0]
    plane = x_type.static_shape()[2:]
    n = math.prod(plane)
    dt = accumulator(x_type.dtype)

    def body(ins, outs):
        x, scale, bias = ins

        def make(idx):
            base = linear_index(list(idx) + [const(0)] * len(plane), x_type.shape)
            j = Var("j")
            xj = cast(dt, load(x, binary("add", base, j)))
            centered = binary("sub", xj, Var("mean", dt))
            y = binary("add", binary("mul", binary("mul", centered, Var("rstd", dt)), cast(dt, load(scale, idx[1]))),
                       cast(dt, load(bias, idx[1])))
            return block(
                Declare("sum", dt, const(0, dt)),
                For("j", const(n), Assign("sum", binary("add", Var("sum", dt), xj))),
                Declare("mean", dt, binary("div", Var("sum", dt), const(n, dt))),
                Declare("sq", dt, const(0, dt)),
                For("j", const(n), Assign("sq", binary("add", Var("sq", dt), binary("mul", centered, centered)))),
                Declare("rstd", dt, binary("div", const(1, dt), call("sqrt", binary(
                    "add", binary("div", Var("sq", dt), const(n, dt)), const(node.attrs.epsilon, dt))))),
                For("j", const(n), store(outs[0], binary("add", base, j), y)))
        return parallel_nest("i", x_type.shape[:2], make)
    return make_kernel(node.op, in_types, out_types, body, flops=x_type.numel().scaled(8))
