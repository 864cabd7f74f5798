"""ATen reductions. Summing integers or bools accumulates in int64 (torch's rule, visible in
the recorded result dtype), so the input is cast to the result dtype first; any/all reduce a
bool tensor through 0/1 floats, since the graph's reductions take numbers; variance and vector
norms are spelled with the graph's reductions and arithmetic."""
from __future__ import annotations

import math

from compiler.frontends.torch_export.call import Call
from compiler.ir.dtypes import DType
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.common import normalize_axes
from compiler.ir.ops.elementwise import CastAttrs
from compiler.ir.ops.reduce import ReduceAttrs


def _axes(call: Call) -> tuple[int, ...]:
    dims = call.args.get("dim")
    return () if dims is None else call.ints("dim")


def _reduce(op: str):
    def convert(call: Call) -> str:
        x = call.cast(call.tensor("self"), call.out_type().dtype)
        attrs = ReduceAttrs(axes=_axes(call), keepdims=bool(call.args.get("keepdim", False)))
        return call.emit(op, attrs, x)
    return convert


def _boolean(op: str):
    """any = max over 0/1, all = min over 0/1."""
    def convert(call: Call) -> str:
        x = call.cast(call.cast(call.tensor("self"), DType.bool), DType.float32)
        attrs = ReduceAttrs(axes=_axes(call), keepdims=bool(call.args.get("keepdim", False)))
        return call.emit("Cast", CastAttrs(DType.bool), call.emit(op, attrs, x))
    return convert


def _variance(call: Call) -> str:
    """var.correction: sum((x - mean)^2) / (N - correction) over the axes."""
    x = call.tensor("self")
    shape = call.type(x).shape
    axes = normalize_axes(_axes(call) or tuple(range(len(shape))), len(shape))
    count = math.prod(shape[a] for a in axes) if all(isinstance(shape[a], int) for a in axes) else None
    if count is None:
        raise call.unsupported(f"variance over symbolic axes of {shape} is not supported")
    correction = call.args.get("correction")
    correction = 1 if correction is None else correction
    keep = ReduceAttrs(axes=axes, keepdims=True)
    centered = call.emit("Sub", NoAttrs(), x, call.emit("ReduceMean", keep, x))
    attrs = ReduceAttrs(axes=axes, keepdims=bool(call.args.get("keepdim", False)))
    total = call.emit("ReduceSum", attrs, call.emit("Mul", NoAttrs(), centered, centered))
    return call.emit("Div", NoAttrs(), total, call.scalar(max(count - correction, 0), call.type(x).dtype))


def _vector_norm(call: Call) -> str:
    """linalg_vector_norm for ord 1, 2 and inf."""
    order = call.number("ord")
    x = call.cast(call.tensor("self"), call.out_type().dtype)
    attrs = ReduceAttrs(axes=_axes(call), keepdims=bool(call.args.get("keepdim", False)))
    if order == 2:
        return call.emit("Sqrt", NoAttrs(), call.emit("ReduceSum", attrs, call.emit("Mul", NoAttrs(), x, x)))
    if order == 1:
        return call.emit("ReduceSum", attrs, call.emit("Abs", NoAttrs(), x))
    if order == math.inf:
        return call.emit("ReduceMax", attrs, call.emit("Abs", NoAttrs(), x))
    raise call.unsupported(f"vector norm of order {order} is not supported (only 1, 2 and inf)")


CONVERTERS = {
    "aten.var.correction": _variance,
    "aten.linalg_vector_norm.default": _vector_norm,
    "aten.mean.dim": _reduce("ReduceMean"),
    "aten.sum.dim_IntList": _reduce("ReduceSum"),
    "aten.amax.default": _reduce("ReduceMax"),
    "aten.amin.default": _reduce("ReduceMin"),
    **{f"aten.any.{overload}": _boolean("ReduceMax") for overload in ("dim", "dims", "default")},
    **{f"aten.all.{overload}": _boolean("ReduceMin") for overload in ("dim", "dims", "default")},
}
