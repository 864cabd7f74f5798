"""The WGSL printer: the shared C-style printer with WGSL's tables, plus what WGSL needs beyond
a table (the legalisation in legalize.py checks a kernel first):

- no 64-bit values: float64 accumulators run as f32; index arithmetic and int64 values run as
  i32 (every index fits: a binding holds at most 128 MiB); int64 tensors keep their 8-byte
  layout in memory, read as the low word and written with the sign in the high word, so inputs
  and outputs need no conversion;
- buffers are untyped: every kernel parameter is a word offset (a uniform) into a pool
  binding (`array<u32>`), read and written through `bitcast`, so one binding serves every
  tensor of a pool whatever its dtype and the storage-buffer limit holds for any model;
- explicit casts, `select` for `?:`, helper functions (mathlib.py) for NaN-propagating max/min,
  erf, fmod, C's pow;
- identifiers prefixed (`v_`), so no IR name collides with a WGSL keyword.

Printers are pure: same kernel and bindings, same text.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping

from compiler.ir.dtypes import DType
from compiler.ir.loops import (Assign, Barrier, Binary, Block, Cast, Const, Declare, Expr, For, If, Load,
                               LocalArray, Select, Stmt, Store, Var)
from backends.cstyle import INDENT, CStylePrinter

# Values of these dtypes are stored 1 byte each; WGSL reads them out of a word.
BYTE_DTYPES = (DType.bool, DType.uint8, DType.int8)
WIDE_DTYPES = (DType.int64, DType.uint64)
I32_MIN, I32_MAX = -2 ** 31, 2 ** 31 - 1


@dataclass(frozen=True)
class ParamAccess:
    """How a shader reaches one kernel parameter: its pool's binding variable and the uniform
    field holding the parameter's offset in 32-bit words from the binding's start."""
    pool: str
    field: str
    dtype: DType
    # The pool is `array<atomic<u32>>` in this shader: a kernel storing 8-bit values writes
    # them into words other invocations share, by atomic and/or.
    atomic: bool = False


def word(access: ParamAccess, index: str) -> str:
    """A read of word `index` (u32 text) of the parameter's pool."""
    cell = f"{access.pool}[{index}]"
    return f"atomicLoad(&{cell})" if access.atomic else cell


def write_word(access: ParamAccess, index: str, value: str) -> str:
    cell = f"{access.pool}[{index}]"
    return f"atomicStore(&{cell}, {value});" if access.atomic else f"{cell} = {value};"


def name(var: str) -> str:
    return f"v_{var}"


class WgslPrinter(CStylePrinter):
    # float64 appears only in registers (the lowering's accumulators for long sums): WGSL has
    # no f64, so those run in f32 (legalize.py refuses float64 tensors).
    types: Mapping[DType, str] = {
        DType.float32: "f32", DType.float64: "f32", DType.int8: "i32", DType.int16: "i32", DType.int32: "i32", DType.int64: "i32",
        DType.uint8: "u32", DType.uint16: "u32", DType.uint32: "u32", DType.uint64: "u32", DType.bool: "bool",
    }
    infix = {**CStylePrinter.infix, "xor": "!="}
    float_functions = {
        **{fn: (f"{fn}({{0}})",) * 2 for fn in ("exp", "log", "sqrt", "abs", "floor", "ceil", "sin", "cos", "tan",
                                               "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh",
                                               "round")},
        "tanh": ("aotc_tanh({0})",) * 2, "erf": ("aotc_erf({0})",) * 2,
        "sigmoid": ("(1.0f / (1.0f + exp(-({0}))))",) * 2, "recip": ("(1.0f / ({0}))",) * 2,
        "pow": ("aotc_powf({0}, {1})",) * 2, "mod": ("aotc_fmod({0}, {1})",) * 2,
        "isnan": ("aotc_isnan({0})",) * 2, "max": ("aotc_maxf({0}, {1})",) * 2,
        "min": ("aotc_minf({0}, {1})",) * 2, "sign": ("aotc_signf({0})",) * 2,
    }
    generic_functions = {
        "neg": "(-({0}))", "not": "(!({0}))", "abs": "abs({0})", "sign": "sign({0})", "isnan": "false",
        "min": "min({0}, {1})", "max": "max({0}, {1})", "mod": "(({0}) % ({1}))", "bitnot": "(~({0}))",
    }

    def __init__(self, params: Mapping[str, ParamAccess], symbols: Mapping[str, str]):
        self.params = params          # kernel parameter name -> access
        self.symbols = symbols        # symbol name -> uniform field

    # ------------------------------------------------------------ expressions
    def const(self, c: Const) -> str:
        if c.dtype is DType.bool:
            return "true" if c.value else "false"
        if c.dtype.is_float:
            value = float(c.value)
            # Through private variables: Tint rejects a constant expression that is not finite.
            if math.isnan(value):
                return "bitcast<f32>(aotc_nan_bits)"
            if math.isinf(value):
                return "bitcast<f32>(aotc_inf_bits)" if value > 0 else "(-bitcast<f32>(aotc_inf_bits))"
            return super().const(Const(value, DType.float32))   # C's float literal is WGSL's
        value = int(c.value)
        if self.type_name(c.dtype) == "u32":
            return f"{min(max(value, 0), 2 ** 32 - 1)}u"
        # int64 sentinels (a Slice's INT64_MAX end) saturate: every real index fits in i32.
        value = min(max(value, I32_MIN + 1), I32_MAX)
        return f"{value}i" if value >= 0 else f"({value}i)"

    def load(self, buffer: str, index: str, dtype: DType) -> str:
        """Element `index` (WGSL i32 text) of a parameter or a thread-private array."""
        access = self.params.get(buffer)
        if access is None:
            return f"{name(buffer)}[{index}]"
        base = f"u.{access.field}"
        if dtype in WIDE_DTYPES:
            return f"bitcast<{self.type_name(dtype)}>({word(access, f'{base} + 2u * u32({index})')})"
        if dtype in BYTE_DTYPES:
            byte = f"(({word(access, f'{base} + u32({index}) / 4u')} >> ((u32({index}) % 4u) * 8u)) & 0xffu)"
            if dtype is DType.bool:
                return f"({byte} != 0u)"
            return f"(bitcast<i32>({byte} << 24u) >> 24u)" if dtype is DType.int8 else byte
        return f"bitcast<{self.type_name(dtype)}>({word(access, f'{base} + u32({index})')})"

    def call(self, fn: str, args: list[str], dtype: DType) -> str:
        if not dtype.is_float and fn == "abs" and self.type_name(dtype) == "u32":
            return args[0]
        return super().call(fn, args, dtype)

    def expr(self, e: Expr) -> str:
        if isinstance(e, Var):
            field = self.symbols.get(e.name)
            return f"u.{field}" if field else name(e.name)
        if isinstance(e, Load):
            return self.load(e.buffer, self.expr(e.index), e.dtype)
        if isinstance(e, Binary):
            a, b = self.expr(e.a), self.expr(e.b)
            if e.op in ("min", "max", "mod", "pow"):
                return self.call(e.op, [a, b], e.a.dtype)
            if e.op in ("shl", "shr"):
                return f"({a} {self.infix[e.op]} u32({b}))"
            if e.op == "ne" and e.a.dtype.is_float:
                # NaN != x is true; SPIR-V's ordered not-equal (what naga emits) says false.
                return f"(!({a} == {b}))"
            return f"({a} {self.infix[e.op]} {b})"
        if isinstance(e, Select):
            return f"select({self.expr(e.b)}, {self.expr(e.a)}, {self.expr(e.cond)})"
        if isinstance(e, Cast) and e.bits:
            return f"bitcast<{self.type_name(e.dtype)}>({self.expr(e.a)})"
        if isinstance(e, Cast):
            return self.cast(e.dtype, e.a.dtype, self.expr(e.a))
        return super().expr(e)

    def cast(self, to: DType, source: DType, text: str) -> str:
        """C's conversion: narrow integer results wrap to their width (WGSL's i32/u32 would not)."""
        if to is DType.bool and source.is_float:
            return f"(!({text} == 0.0f))"   # NaN is true, as in C (see "ne" above)
        out = f"{self.type_name(to)}({text})"
        if source.is_float and not to.is_float and to is not DType.bool:
            # f32 -> int converts through i32 (WGSL saturates; C leaves out of range undefined).
            out = f"{self.type_name(to)}(i32({text}))"
        if to in (DType.uint8, DType.uint16):
            return f"({out} & {0xff if to is DType.uint8 else 0xffff}u)"
        if to in (DType.int8, DType.int16):
            shift = 24 if to is DType.int8 else 16
            return f"(({out} << {shift}u) >> {shift}u)"
        return out

    # ------------------------------------------------------------ statements
    def loop_header(self, loop: For) -> str:
        var = name(loop.var)
        return f"for (var {var}: i32 = 0i; {var} < {self.expr(loop.extent)}; {var}++)"

    def barrier(self) -> str:
        return "workgroupBarrier()"

    def store(self, buffer: str, index: str, value: str, dtype: DType, pad: str) -> list[str]:
        access = self.params.get(buffer)
        if access is None:
            return [f"{pad}{name(buffer)}[{index}] = {value};"]
        base = f"u.{access.field}"
        if dtype in WIDE_DTYPES:
            high = "select(0u, 0xffffffffu, aotc_v < 0i)" if dtype is DType.int64 else "0u"
            return [f"{pad}{{",
                    f"{pad}{INDENT}let aotc_v = {value};",
                    f"{pad}{INDENT}let aotc_w = {base} + 2u * u32({index});",
                    f"{pad}{INDENT}{write_word(access, 'aotc_w', 'bitcast<u32>(aotc_v)')}",
                    f"{pad}{INDENT}{write_word(access, 'aotc_w + 1u', high)}",
                    f"{pad}}}"]
        if dtype in BYTE_DTYPES:
            # Clear the byte, then set it: and/or on disjoint bits commute, so invocations
            # writing the other bytes of the word at the same time keep theirs.
            byte = {DType.bool: "select(0u, 1u, aotc_v)", DType.int8: "bitcast<u32>(aotc_v)"}.get(dtype, "aotc_v")
            cell = f"&{access.pool}[aotc_w]"
            return [f"{pad}{{",
                    f"{pad}{INDENT}let aotc_v = {value};",
                    f"{pad}{INDENT}let aotc_i = u32({index});",
                    f"{pad}{INDENT}let aotc_w = {base} + aotc_i / 4u;",
                    f"{pad}{INDENT}let aotc_s = (aotc_i % 4u) * 8u;",
                    f"{pad}{INDENT}atomicAnd({cell}, ~(0xffu << aotc_s));",
                    f"{pad}{INDENT}atomicOr({cell}, ({byte} & 0xffu) << aotc_s);",
                    f"{pad}}}"]
        return [f"{pad}{write_word(access, f'{base} + u32({index})', f'bitcast<u32>({value})')}"]

    def stmt(self, s: Stmt, depth: int) -> list[str]:
        pad = INDENT * depth
        if isinstance(s, Store):
            dtype = self.params[s.buffer].dtype if s.buffer in self.params else s.value.dtype
            return self.store(s.buffer, self.expr(s.index), self.expr(s.value), dtype, pad)
        if isinstance(s, Declare):
            return [f"{pad}var {name(s.var)}: {self.type_name(s.dtype)} = {self.expr(s.init)};"]
        if isinstance(s, Assign):
            return [f"{pad}{name(s.var)} = {self.expr(s.value)};"]
        if isinstance(s, LocalArray):
            return [f"{pad}var {name(s.name)}: array<{self.type_name(s.dtype)}, {s.size}>;"]
        if isinstance(s, (Block, For, If, Barrier)):
            return super().stmt(s, depth)
        raise TypeError(f"not a statement: {s!r}")


__all__ = ["BYTE_DTYPES", "ParamAccess", "WIDE_DTYPES", "WgslPrinter", "name"]
