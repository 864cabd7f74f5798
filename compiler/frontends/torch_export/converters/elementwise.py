"""Elementwise ATen ops: unary math, arithmetic and comparisons with torch's type promotion,
Where, clamps, activations, casts and the no-op copies (clone, alias, same-dtype _to_copy).

Python scalars take part in promotion the torch way (a float scalar makes an int tensor
float32; an int scalar leaves a float16 tensor float16); the converter casts every operand to
the computation dtype, so the graph ops see one dtype.
"""
from __future__ import annotations

from compiler.frontends.torch_export.call import Call, Ref
from compiler.frontends.torch_export.tensors import to_dtype, to_torch_dtype
from compiler.ir.dtypes import DType
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.elementwise import AlphaAttrs, GeluAttrs

UNARY = {
    "relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "log": "Log", "sqrt": "Sqrt",
    "erf": "Erf", "reciprocal": "Reciprocal", "sin": "Sin", "cos": "Cos", "floor": "Floor",
    "ceil": "Ceil", "neg": "Neg", "abs": "Abs", "sign": "Sign",
}
# name -> (graph op, overloads); pow names its second operand "exponent", not "other"
ARITHMETIC = {
    "add": ("Add", ("Tensor", "Scalar")), "sub": ("Sub", ("Tensor", "Scalar")),
    "mul": ("Mul", ("Tensor", "Scalar")), "div": ("Div", ("Tensor", "Scalar", "Tensor_mode", "Scalar_mode")),
    "pow": ("Pow", ("Tensor_Scalar", "Tensor_Tensor", "Scalar")),
    "maximum": ("Max", ("default",)), "minimum": ("Min", ("default",)),
}
COMPARISON = {"eq": "Equal", "lt": "Less", "gt": "Greater", "le": "LessOrEqual", "ge": "GreaterOrEqual"}
LOGICAL = {"logical_and": "And", "logical_or": "Or", "logical_xor": "Xor",
           "bitwise_and": "And", "bitwise_or": "Or", "bitwise_xor": "Xor"}


def promoted_dtype(call: Call, *keys: str) -> DType:
    """torch.result_type over the arguments, from stand-ins of the right dtype and rank class."""
    import torch

    def stand_in(value):
        if isinstance(value, Ref):
            t = call.type(value.name)
            return torch.empty((1,) * min(t.rank, 1), dtype=to_torch_dtype(t.dtype))
        return value

    values = [stand_in(call.arg(k)) for k in keys]
    dtype = torch.result_type(values[0], values[1])
    for value in values[2:]:
        dtype = torch.result_type(torch.empty((1,), dtype=dtype), value)
    return to_dtype(dtype, call.where)


def operand(call: Call, key: str, dtype: DType) -> str:
    """A tensor or Python-scalar argument as a graph value of `dtype`."""
    value = call.arg(key)
    if isinstance(value, Ref):
        return call.cast(value.name, dtype)
    return call.scalar(call.number(key), dtype)


def _unary(op: str):
    def convert(call: Call) -> str:
        return call.emit(op, NoAttrs(), call.cast(call.tensor("self"), call.out_type().dtype))
    return convert


def _rsqrt(call: Call) -> str:
    x = call.cast(call.tensor("self"), call.out_type().dtype)
    return call.emit("Reciprocal", NoAttrs(), call.emit("Sqrt", NoAttrs(), x))


def _logical_not(call: Call) -> str:
    x = call.tensor("self")
    if call.type(x).dtype is not DType.bool:
        x = call.cast(x, DType.bool)
    return call.emit("Not", NoAttrs(), x)


def _isnan(call: Call) -> str:
    return call.emit("IsNaN", NoAttrs(), call.tensor("self"))


def _bitwise_not(call: Call) -> str:
    if call.type(call.tensor("self")).dtype is not DType.bool:
        raise call.unsupported("bitwise_not of integers is not supported (only of bool)")
    return call.emit("Not", NoAttrs(), call.tensor("self"))


def _arithmetic(op: str):
    def convert(call: Call) -> str:
        dtype = call.out_type().dtype
        a, b = operand(call, "self", dtype), operand(call, "exponent" if op == "Pow" else "other", dtype)
        alpha = call.args.get("alpha", 1)
        if alpha != 1:       # add/sub: self + alpha * other
            b = call.emit("Mul", NoAttrs(), b, call.scalar(alpha, dtype))
        mode = call.args.get("rounding_mode")
        if op == "Div" and mode is not None:
            if dtype.is_float and mode == "floor":
                return call.emit("Floor", NoAttrs(), call.emit("Div", NoAttrs(), a, b))
            if not dtype.is_float and mode == "trunc":
                return call.emit("Div", NoAttrs(), a, b)   # the graph op truncates integers
            if not dtype.is_float and mode == "floor":
                return _floor_divide_ints(call, a, b)
            raise call.unsupported(f"division with rounding_mode '{mode}' on {dtype.value} is not supported")
        return call.emit(op, NoAttrs(), a, b)
    return convert


def _floor_divide_ints(call: Call, a: str, b: str) -> str:
    """a // b from the graph's truncating division: one less where the remainder is non-zero
    and its sign differs from the divisor's."""
    quotient = call.emit("Div", NoAttrs(), a, b)
    remainder = call.emit("Sub", NoAttrs(), a, call.emit("Mul", NoAttrs(), quotient, b))
    zero = call.scalar(0, call.type(a).dtype)
    inexact = call.emit("Not", NoAttrs(), call.emit("Equal", NoAttrs(), remainder, zero))
    signs_differ = call.emit("Xor", NoAttrs(), call.emit("Less", NoAttrs(), remainder, zero),
                             call.emit("Less", NoAttrs(), b, zero))
    adjust = call.cast(call.emit("And", NoAttrs(), inexact, signs_differ), call.type(a).dtype)
    return call.emit("Sub", NoAttrs(), quotient, adjust)


def _comparison(op: str, negate: bool = False):
    def convert(call: Call) -> str:
        dtype = promoted_dtype(call, "self", "other")
        out = call.emit(op, NoAttrs(), operand(call, "self", dtype), operand(call, "other", dtype))
        return call.emit("Not", NoAttrs(), out) if negate else out
    return convert


def _logical(op: str):
    def convert(call: Call) -> str:
        if call.out_type().dtype is not DType.bool:
            raise call.unsupported("bitwise ops on integers are not supported (only on bool)")
        return call.emit(op, NoAttrs(), operand(call, "self", DType.bool), operand(call, "other", DType.bool))
    return convert


def _where(call: Call) -> str:
    dtype = call.out_type().dtype
    condition = call.cast(call.tensor("condition"), DType.bool)
    return call.emit("Where", NoAttrs(), condition, operand(call, "self", dtype), operand(call, "other", dtype))


def _clip(call: Call, low_key: str, high_key: str) -> str:
    dtype = call.out_type().dtype
    x = call.cast(call.tensor("self"), dtype)
    low, high = call.args.get(low_key), call.args.get(high_key)
    bounds = ["" if v is None else operand(call, k, dtype) for k, v in ((low_key, low), (high_key, high))]
    return call.emit("Clip", NoAttrs(), x, *bounds)


def _clamp(call: Call) -> str:
    if isinstance(call.args.get("min"), Ref) or isinstance(call.args.get("max"), Ref):
        raise call.unsupported("clamp with tensor bounds is not supported (only scalars)")
    return _clip(call, "min", "max")


def _hardtanh(call: Call) -> str:
    return _clip(call, "min_val", "max_val")


def _leaky_relu(call: Call) -> str:
    return call.emit("LeakyRelu", AlphaAttrs(float(call.number("negative_slope"))), call.tensor("self"))


def _elu(call: Call) -> str:
    """scale * elu(input_scale * x) (SELU sets both scales)."""
    x = call.tensor("self")
    dtype = call.type(x).dtype
    scale, input_scale = call.number("scale"), call.number("input_scale")
    if input_scale != 1:
        x = call.emit("Mul", NoAttrs(), x, call.scalar(input_scale, dtype))
    y = call.emit("Elu", AlphaAttrs(float(call.number("alpha"))), x)
    return y if scale == 1 else call.emit("Mul", NoAttrs(), y, call.scalar(scale, dtype))


def _log1p(call: Call) -> str:
    # log(1 + x): loses the relative precision log1p keeps for |x| < ~1e-4, where the result
    # is tiny; what softplus, mish and log-sigmoid feed it is not.
    x = call.cast(call.tensor("self"), call.out_type().dtype)
    return call.emit("Log", NoAttrs(), call.emit("Add", NoAttrs(), x, call.scalar(1, call.out_type().dtype)))


def _gelu(call: Call) -> str:
    return call.emit("Gelu", GeluAttrs(str(call.arg("approximate"))), call.tensor("self"))


def _to_copy(call: Call) -> str:
    # Device, layout and memory format do not exist in the graph IR; only the dtype matters.
    return call.cast(call.tensor("self"), call.out_type().dtype)


def _same(call: Call) -> str:
    """clone, alias, detach...: a copy or view that computes nothing."""
    return call.tensor("self")


CONVERTERS = {
    **{f"aten.{name}.default": _unary(op) for name, op in UNARY.items()},
    "aten.rsqrt.default": _rsqrt,
    "aten.log1p.default": _log1p,
    "aten.logical_not.default": _logical_not,
    "aten.bitwise_not.default": _bitwise_not,
    "aten.isnan.default": _isnan,
    **{f"aten.{name}.{overload}": _arithmetic(op) for name, (op, overloads) in ARITHMETIC.items()
       for overload in overloads},
    **{f"aten.{name}.{overload}": _comparison(op) for name, op in COMPARISON.items()
       for overload in ("Tensor", "Scalar")},
    **{f"aten.ne.{overload}": _comparison("Equal", negate=True) for overload in ("Tensor", "Scalar")},
    **{f"aten.{name}.{overload}": _logical(op) for name, op in LOGICAL.items()
       for overload in (("default",) if name.startswith("logical") else ("Tensor",))},
    "aten.where.self": _where,
    "aten.clamp.default": _clamp,
    "aten.hardtanh.default": _hardtanh,
    "aten.leaky_relu.default": _leaky_relu,
    "aten.elu.default": _elu,
    "aten.gelu.default": _gelu,
    "aten._to_copy.default": _to_copy,
    **{f"aten.{name}.default": _same for name in ("clone", "alias", "detach", "lift_fresh_copy")},
}
