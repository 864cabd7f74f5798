"""ATen reductions. Summing integers or bools accumulates in int64 (torch's rule, visible in
the recorded result dtype), so the input is cast to the result dtype first; any/all reduce a
bool tensor through 0/1 floats, since the graph's reductions take numbers."""
from __future__ import annotations

from compiler.frontends.torch_export.call import Call
from compiler.ir.dtypes import DType
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


CONVERTERS = {
    "aten.mean.dim": _reduce("ReduceMean"),
    "aten.sum.dim_IntList": _reduce("ReduceSum"),
    "aten.amax.default": _reduce("ReduceMax"),
    "aten.amin.default": _reduce("ReduceMin"),
    **{f"aten.any.{overload}": _boolean("ReduceMax") for overload in ("dim", "dims", "default")},
    **{f"aten.all.{overload}": _boolean("ReduceMin") for overload in ("dim", "dims", "default")},
}
