"""More elementwise math: trigonometric and hyperbolic functions, Round, IsInf, Mod, bit
operations, and the variadic Sum and Mean."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.ops.common import broadcast_shapes, require, same_dtype
from compiler.ir.ops.registry import NoAttrs, OpDef, OpError, table
from compiler.ir.types import TensorType

# name -> numpy function on floats
FLOAT_UNARY = {
    "Tan": np.tan, "Asin": np.arcsin, "Acos": np.arccos, "Atan": np.arctan,
    "Sinh": np.sinh, "Cosh": np.cosh, "Asinh": np.arcsinh, "Acosh": np.arccosh, "Atanh": np.arctanh,
    "Round": np.round,   # halves to even, as ONNX specifies
}


def _float_unary(name: str, fn) -> OpDef:
    def infer(types, values, attrs):
        require(types, 1, name)
        if not types[0].dtype.is_float:
            raise OpError(f"{name} does not accept dtype {types[0].dtype.value}")
        return (types[0],)

    def reference(inputs, attrs):
        with np.errstate(all="ignore"):
            return (np.asarray(fn(inputs[0])).astype(inputs[0].dtype),)

    return OpDef(name, NoAttrs, infer, reference, doc=f"elementwise {name}")


@dataclass(frozen=True, slots=True)
class IsInfAttrs:
    detect_negative: bool = True
    detect_positive: bool = True


def _isinf_infer(types, values, attrs):
    require(types, 1, "IsInf")
    if not types[0].dtype.is_float:
        raise OpError(f"IsInf does not accept dtype {types[0].dtype.value}")
    return (TensorType(types[0].shape, DType.bool),)


def _isinf_ref(inputs, attrs):
    x = inputs[0]
    return ((np.isposinf(x) & attrs.detect_positive) | (np.isneginf(x) & attrs.detect_negative),)


@dataclass(frozen=True, slots=True)
class ModAttrs:
    fmod: bool = False      # False: the remainder takes the divisor's sign (Python's %)


def _mod_ref(inputs, attrs):
    a, b = inputs
    with np.errstate(all="ignore"):
        if attrs.fmod:
            return (np.fmod(a, b).astype(a.dtype),)
        return (np.mod(a, b).astype(a.dtype),)


@dataclass(frozen=True, slots=True)
class BitShiftAttrs:
    left: bool


def _bitshift_ref(inputs, attrs):
    """Shifting by a negative count or by the width or more gives 0 (-1 for an arithmetic right
    shift of a negative number)."""
    a, b = inputs
    width = a.dtype.itemsize * 8
    in_range = (b >= 0) & (b < width)
    safe = np.where(in_range, b, 0).astype(a.dtype)
    shifted = np.left_shift(a, safe) if attrs.left else np.right_shift(a, safe)
    fill = np.where(a < 0, -1, 0).astype(a.dtype) if not attrs.left and a.dtype.kind == "i" else np.zeros((), a.dtype)
    return (np.where(in_range, shifted, fill).astype(a.dtype),)


def _broadcasting(name: str, reference, attrs_type=NoAttrs, ints_only: bool = False,
                  variadic: bool = False) -> OpDef:
    def infer(types, values, attrs):
        require(types, 1 if variadic else 2, name, optional=10_000 if variadic else 0)
        dtype = same_dtype(types, name)
        if ints_only and not dtype.is_int:
            raise OpError(f"{name} takes integer inputs, got {dtype.value}")
        return (TensorType(broadcast_shapes(*(t.shape for t in types)), dtype),)

    return OpDef(name, attrs_type, infer, reference, doc=f"broadcasting {name}")


def _fold(fn):
    def reference(inputs, attrs):
        out = inputs[0]
        for other in inputs[1:]:
            out = fn(out, other)
        return (np.asarray(out).astype(inputs[0].dtype),)
    return reference


def _mean_ref(inputs, attrs):
    total = _fold(np.add)(inputs, attrs)[0]
    return ((total / np.asarray(len(inputs), total.dtype)).astype(inputs[0].dtype),)


def _bitwise_not_infer(types, values, attrs):
    require(types, 1, "BitwiseNot")
    if not types[0].dtype.is_int:
        raise OpError(f"BitwiseNot takes integers, got {types[0].dtype.value}")
    return (types[0],)


BITWISE = {"BitwiseAnd": np.bitwise_and, "BitwiseOr": np.bitwise_or, "BitwiseXor": np.bitwise_xor}

OPS = table(
    *(_float_unary(name, fn) for name, fn in FLOAT_UNARY.items()),
    OpDef("IsInf", IsInfAttrs, _isinf_infer, _isinf_ref, doc="infinity test"),
    _broadcasting("Mod", _mod_ref, ModAttrs),
    _broadcasting("BitShift", _bitshift_ref, BitShiftAttrs, ints_only=True),
    *(_broadcasting(name, _fold(fn), ints_only=True) for name, fn in BITWISE.items()),
    OpDef("BitwiseNot", NoAttrs, _bitwise_not_infer, lambda i, a: (np.invert(i[0]),), doc="bitwise not"),
    _broadcasting("Sum", _fold(np.add), variadic=True),
    _broadcasting("Mean", _mean_ref, variadic=True),
)
