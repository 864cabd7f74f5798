"""Elementwise ops: unary math, broadcasting binary ops, comparisons, Where, Clip, Cast."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import NARROW_FLOAT_MAX, DType
from compiler.ir.ops.common import broadcast_shapes, require, same_dtype
from compiler.ir.ops.registry import NoAttrs, OpDef, OpError, table
from compiler.ir.types import TensorType

_erf = np.vectorize(math.erf, otypes=[np.float64])


def _erf_ref(x: np.ndarray) -> np.ndarray:
    return _erf(x.astype(np.float64)).astype(x.dtype)


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    x64 = x.astype(np.float64)
    return (0.5 * x64 * (1 + np.tanh(math.sqrt(2 / math.pi) * (x64 + 0.044715 * x64 ** 3)))).astype(x.dtype)


# name -> (numpy function, dtype class it accepts: "float", "num", "bool", "any")
UNARY = {
    "Relu": (lambda x: np.maximum(x, np.zeros((), x.dtype)), "num"),
    "Sigmoid": (lambda x: (1 / (1 + np.exp(-x.astype(np.float64)))).astype(x.dtype), "float"),
    "Tanh": (np.tanh, "float"),
    "Exp": (np.exp, "float"),
    "Log": (np.log, "float"),
    "Sqrt": (np.sqrt, "float"),
    "Erf": (_erf_ref, "float"),
    "Reciprocal": (lambda x: (1 / x).astype(x.dtype), "float"),
    "Sin": (np.sin, "float"),
    "Cos": (np.cos, "float"),
    "Floor": (np.floor, "float"),
    "Ceil": (np.ceil, "float"),
    "Neg": (np.negative, "num"),
    "Abs": (np.abs, "num"),
    "Sign": (np.sign, "num"),
    "Identity": (lambda x: x.copy(), "any"),
    "Not": (np.logical_not, "bool"),
}

ARITHMETIC = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply,
    "Div": None,  # integer division truncates toward zero in ONNX; see _div
    "Pow": None,
    "Max": np.maximum, "Min": np.minimum,
}
COMPARISON = {
    "Equal": np.equal, "Less": np.less, "Greater": np.greater,
    "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal,
}
LOGICAL = {"And": np.logical_and, "Or": np.logical_or, "Xor": np.logical_xor}


def _div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if np.issubdtype(a.dtype, np.integer):
        return np.trunc(a / b).astype(a.dtype)
    return np.divide(a, b)


def _pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.power(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype)


def _check_class(dtype: DType, kind: str, op: str) -> None:
    ok = {"float": dtype.is_float, "num": dtype is not DType.bool, "bool": dtype is DType.bool,
          "any": True}[kind]
    if not ok:
        raise OpError(f"{op} does not accept dtype {dtype.value}")


def _unary(name: str, fn, kind: str) -> OpDef:
    def infer(types, values, attrs):
        require(types, 1, name)
        _check_class(types[0].dtype, kind, name)
        return (types[0],)

    def reference(inputs, attrs):
        return (np.asarray(fn(inputs[0])).astype(inputs[0].dtype, copy=False),)

    return OpDef(name, NoAttrs, infer, reference, doc=f"elementwise {name}")


def _binary(name: str, fn, result: str) -> OpDef:
    def infer(types, values, attrs):
        if name == "Pow":
            require(types, 2, name)
            dtype = types[0].dtype
        elif name in ("Max", "Min"):
            require(types, 1, name, optional=8)
            dtype = same_dtype(types, name)
        else:
            require(types, 2, name)
            dtype = same_dtype(types, name)
        if result == "logical" and dtype is not DType.bool:
            raise OpError(f"{name} takes bool inputs, got {dtype.value}")
        shape = broadcast_shapes(*(t.shape for t in types))
        return (TensorType(shape, DType.bool if result != "same" else dtype),)

    def reference(inputs, attrs):
        out = inputs[0]
        for other in inputs[1:]:
            out = fn(out, other)
        return (np.asarray(out),)

    return OpDef(name, NoAttrs, infer, reference, doc=f"broadcasting {name}")


def _where_infer(types, values, attrs):
    require(types, 3, "Where")
    if types[0].dtype is not DType.bool:
        raise OpError(f"Where: condition must be bool, got {types[0].dtype.value}")
    dtype = same_dtype(types[1:], "Where")
    return (TensorType(broadcast_shapes(*(t.shape for t in types)), dtype),)


def _where_ref(inputs, attrs):
    return (np.where(inputs[0], inputs[1], inputs[2]),)


def _clip_infer(types, values, attrs):
    require(types, 1, "Clip", optional=2)
    for bound in types[1:]:
        if bound is not None and (bound.rank != 0 or bound.dtype != types[0].dtype):
            raise OpError("Clip: min and max must be scalars of the input's dtype")
    return (types[0],)


def _clip_ref(inputs, attrs):
    x = inputs[0]
    low = inputs[1] if len(inputs) > 1 and inputs[1] is not None else None
    high = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    if low is not None:
        x = np.maximum(x, low)
    if high is not None:
        x = np.minimum(x, high)
    return (np.asarray(x, dtype=inputs[0].dtype),)


@dataclass(frozen=True, slots=True)
class CastAttrs:
    to: DType
    saturate: bool = True      # to a float8 type: clamp out-of-range values to the largest finite


def _cast_infer(types, values, attrs):
    require(types, 1, "Cast")
    return (TensorType(types[0].shape, attrs.to),)


def _cast_ref(inputs, attrs):
    x = inputs[0]
    if attrs.saturate and attrs.to in NARROW_FLOAT_MAX:
        largest = NARROW_FLOAT_MAX[attrs.to]
        x = np.clip(x.astype(np.float32), -largest, largest)
    return (x.astype(attrs.to.to_numpy()),)


def _bitcast_infer(types, values, attrs):
    require(types, 1, "BitCast")
    if types[0].dtype.itemsize != attrs.to.itemsize or types[0].dtype.is_narrow or attrs.to.is_narrow:
        raise OpError(f"BitCast from {types[0].dtype.value} to {attrs.to.value} changes the element size")
    return (TensorType(types[0].shape, attrs.to),)


@dataclass(frozen=True, slots=True)
class AlphaAttrs:
    alpha: float


def _alpha_op(name: str, fn) -> OpDef:
    def infer(types, values, attrs):
        require(types, 1, name)
        _check_class(types[0].dtype, "float", name)
        return (types[0],)

    def reference(inputs, attrs):
        return (fn(inputs[0], attrs.alpha).astype(inputs[0].dtype),)

    return OpDef(name, AlphaAttrs, infer, reference, doc=f"elementwise {name}(alpha)")


@dataclass(frozen=True, slots=True)
class GeluAttrs:
    approximate: str = "none"   # "none" (erf) or "tanh"

    def __post_init__(self) -> None:
        if self.approximate not in ("none", "tanh"):
            raise OpError(f"Gelu: approximate must be 'none' or 'tanh', got '{self.approximate}'")


def _gelu_infer(types, values, attrs):
    require(types, 1, "Gelu")
    _check_class(types[0].dtype, "float", "Gelu")
    return (types[0],)


def _gelu_ref(inputs, attrs):
    x = inputs[0]
    if attrs.approximate == "tanh":
        return (_gelu_tanh(x),)
    return ((0.5 * x.astype(np.float64) * (1 + _erf(x.astype(np.float64) / math.sqrt(2)))).astype(x.dtype),)


def _isnan_infer(types, values, attrs):
    require(types, 1, "IsNaN")
    _check_class(types[0].dtype, "float", "IsNaN")
    return (TensorType(types[0].shape, DType.bool),)


OPS = table(
    *(_unary(name, fn, kind) for name, (fn, kind) in UNARY.items()),
    *(_binary(name, fn or {"Div": _div, "Pow": _pow}[name], "same") for name, fn in ARITHMETIC.items()),
    *(_binary(name, fn, "bool") for name, fn in COMPARISON.items()),
    *(_binary(name, fn, "logical") for name, fn in LOGICAL.items()),
    OpDef("Where", NoAttrs, _where_infer, _where_ref, doc="select by a bool condition"),
    OpDef("Clip", NoAttrs, _clip_infer, _clip_ref, doc="clamp to optional scalar min/max inputs"),
    OpDef("Cast", CastAttrs, _cast_infer, _cast_ref, doc="convert dtype"),
    OpDef("BitCast", CastAttrs, _bitcast_infer, lambda i, a: (i[0].view(a.to.to_numpy()).copy(),),
          doc="reinterpret the bits as another dtype of one size"),
    OpDef("IsNaN", NoAttrs, _isnan_infer, lambda i, a: (np.isnan(i[0]),), doc="NaN test"),
    _alpha_op("LeakyRelu", lambda x, a: np.where(x >= 0, x, x * np.asarray(a, x.dtype))),
    _alpha_op("Elu", lambda x, a: np.where(x > 0, x, np.asarray(a, x.dtype) * (np.exp(x) - 1))),
    OpDef("Gelu", GeluAttrs, _gelu_infer, _gelu_ref, doc="GELU, erf or tanh form"),
)
