"""QuantizeLinear, DequantizeLinear and QLinearMatMul for the integer types: per tensor, per axis (a 1-d
scale) or blocked (a scale of x's rank, one value per `block_size` elements along the axis)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.ops.common import normalize_axis, require
from compiler.ir.ops.registry import NoAttrs, OpDef, OpError, table
from compiler.ir.types import SymSize, TensorType


@dataclass(frozen=True, slots=True)
class QuantizeAttrs:
    dtype: DType            # QuantizeLinear: the quantized type; DequantizeLinear: the result type
    axis: int = 1
    block_size: int = 0


def scale_index_axes(x_rank: int, scale_rank: int, attrs: QuantizeAttrs) -> str:
    """How the scale is indexed: "tensor", "axis" or "blocked"."""
    if scale_rank == 0 or (scale_rank == 1 and x_rank == 0):
        return "tensor"
    if attrs.block_size:
        if scale_rank != x_rank:
            raise OpError("blocked quantization needs a scale of the input's rank")
        return "blocked"
    if scale_rank != 1:
        raise OpError("a per-axis scale must be 1-d")
    return "axis"


def _expanded(param: np.ndarray, x: np.ndarray, attrs: QuantizeAttrs) -> np.ndarray:
    kind = scale_index_axes(x.ndim, param.ndim, attrs)
    if kind == "tensor":
        return param.reshape(())
    axis = normalize_axis(attrs.axis, x.ndim)
    if kind == "axis":
        return param.reshape((-1,) + (1,) * (x.ndim - axis - 1))
    return np.repeat(param, attrs.block_size, axis=axis)[tuple(slice(0, d) for d in x.shape)]


def _check(name: str, types, attrs) -> None:
    require(types, 2, name, optional=1)
    x, scale = types[0], types[1]
    kind = scale_index_axes(x.rank, scale.rank, attrs)
    if kind != "tensor":
        normalize_axis(attrs.axis, x.rank)
    if not attrs.dtype.is_int and name == "QuantizeLinear":
        raise OpError(f"QuantizeLinear to {attrs.dtype.value} is not supported")


def _quantize_infer(types, values, attrs):
    _check("QuantizeLinear", types, attrs)
    return (TensorType(types[0].shape, attrs.dtype),)


def _quantize_ref(inputs, attrs):
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros((), attrs.dtype.to_numpy())
    info = np.iinfo(attrs.dtype.to_numpy())
    q = np.rint(x.astype(np.float64) / _expanded(scale, x, attrs).astype(np.float64)) + \
        _expanded(zero, x, attrs).astype(np.float64)
    return (np.clip(q, info.min, info.max).astype(attrs.dtype.to_numpy()),)


def _dequantize_infer(types, values, attrs):
    _check("DequantizeLinear", types, attrs)
    return (TensorType(types[0].shape, attrs.dtype),)


def _dequantize_ref(inputs, attrs):
    x, scale = inputs[0], inputs[1]
    zero = inputs[2] if len(inputs) > 2 and inputs[2] is not None else np.zeros((), x.dtype)
    y = (x.astype(np.float64) - _expanded(zero, x, attrs).astype(np.float64)) * _expanded(scale, x, attrs)
    return (y.astype(attrs.dtype.to_numpy()),)




def _qmatmul_infer(types, values, attrs):
    require(types, 8, "QLinearMatMul")
    a, a_scale, _, b, b_scale, _, y_scale, y_zero = types
    for scale in (a_scale, b_scale, y_scale, types[2], types[5], y_zero):
        if SymSize.of_shape(scale.shape).coef != 1 or not scale.is_static:
            raise OpError("QLinearMatMul: only per-tensor scales and zero points are supported")
    if a.rank < 2 or b.rank < 2 or a.shape[-1] != b.shape[-2] or a.rank != b.rank and b.rank != 2:
        raise OpError(f"QLinearMatMul: shapes {a.shape} and {b.shape} do not multiply")
    return (TensorType(a.shape[:-1] + b.shape[-1:], y_zero.dtype),)


def _qmatmul_ref(inputs, attrs):
    a, a_scale, a_zero, b, b_scale, b_zero, y_scale, y_zero = inputs
    c = np.matmul(a.astype(np.int32) - a_zero.astype(np.int32), b.astype(np.int32) - b_zero.astype(np.int32))
    d = c * (a_scale * b_scale / y_scale).reshape(()).astype(np.float64) + y_zero.reshape(()).astype(np.float64)
    info = np.iinfo(y_zero.dtype)
    return (np.clip(np.rint(d), info.min, info.max).astype(y_zero.dtype),)


def _matmul_integer_infer(types, values, attrs):
    require(types, 2, "MatMulInteger", optional=2)
    a, b = types[0], types[1]
    for zero in types[2:]:
        if zero is not None and SymSize.of_shape(zero.shape).coef != 1:
            raise OpError("MatMulInteger: only per-tensor zero points are supported")
    if a.rank < 2 or b.rank < 2 or a.shape[-1] != b.shape[-2] or a.rank != b.rank and b.rank != 2:
        raise OpError(f"MatMulInteger: shapes {a.shape} and {b.shape} do not multiply")
    return (TensorType(a.shape[:-1] + b.shape[-1:], DType.int32),)


def _matmul_integer_ref(inputs, attrs):
    a, b = inputs[0].astype(np.int32), inputs[1].astype(np.int32)
    if len(inputs) > 2 and inputs[2] is not None:
        a = a - inputs[2].astype(np.int32).reshape(())
    if len(inputs) > 3 and inputs[3] is not None:
        b = b - inputs[3].astype(np.int32).reshape(())
    return (np.matmul(a, b).astype(np.int32),)


OPS = table(
    OpDef("MatMulInteger", NoAttrs, _matmul_integer_infer, _matmul_integer_ref,
          doc="integer matrix product with per-tensor zero points"),
    OpDef("QuantizeLinear", QuantizeAttrs, _quantize_infer, _quantize_ref, doc="round(x / scale) + zero point, saturated"),
    OpDef("DequantizeLinear", QuantizeAttrs, _dequantize_infer, _dequantize_ref, doc="(x - zero point) * scale"),
    OpDef("QLinearMatMul", NoAttrs, _qmatmul_infer, _qmatmul_ref, doc="quantized matrix product, per-tensor scales"),
)
