"""The shared C-like printer for the loop IR. C, CUDA and HLS C++ differ by the tables of a
subclass (type map, function table, loop pragmas, kernel prefix); WGSL overrides a little more.

Printing is pure: the same kernel gives the same text, and the printer holds no state.
"""
from __future__ import annotations

import math
from typing import Mapping

from compiler.ir.dtypes import DType
from compiler.ir.loops import (Assign, Barrier, LocalArray, Binary, Block, Buffer, Call, Cast, Const, Declare,
                               Expr, For, If, Kernel, Load, Select, Stmt, Store, Var)

INDENT = "    "


class CStylePrinter:
    types: Mapping[DType, str] = {
        DType.float32: "float", DType.float64: "double", DType.float16: "_Float16",
        DType.int8: "int8_t", DType.int16: "int16_t", DType.int32: "int32_t", DType.int64: "int64_t",
        DType.uint8: "uint8_t", DType.uint16: "uint16_t", DType.uint32: "uint32_t",
        DType.uint64: "uint64_t", DType.bool: "bool",
    }
    infix = {"add": "+", "sub": "-", "mul": "*", "div": "/", "lt": "<", "le": "<=", "gt": ">",
             "ge": ">=", "eq": "==", "ne": "!=", "and": "&&", "or": "||", "xor": "!=",
             "shl": "<<", "shr": ">>", "bitand": "&", "bitor": "|", "bitxor": "^"}
    # (function, is_float32) -> format; "{0}" is the argument.
    float_functions = {
        "exp": ("expf({0})", "exp({0})"), "log": ("logf({0})", "log({0})"),
        "sqrt": ("sqrtf({0})", "sqrt({0})"), "tanh": ("tanhf({0})", "tanh({0})"),
        "erf": ("erff({0})", "erf({0})"), "abs": ("fabsf({0})", "fabs({0})"),
        "floor": ("floorf({0})", "floor({0})"), "ceil": ("ceilf({0})", "ceil({0})"),
        "sin": ("sinf({0})", "sin({0})"), "cos": ("cosf({0})", "cos({0})"),
        **{fn: (f"{fn}f({{0}})", f"{fn}({{0}})")
           for fn in ("tan", "asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh")},
        "round": ("nearbyintf({0})", "nearbyint({0})"),
        "sigmoid": ("(1.0f / (1.0f + expf(-({0}))))", "(1.0 / (1.0 + exp(-({0}))))"),
        "recip": ("(1.0f / ({0}))", "(1.0 / ({0}))"),
        "pow": ("powf({0}, {1})", "pow({0}, {1})"), "mod": ("fmodf({0}, {1})", "fmod({0}, {1})"),
        "isnan": ("isnan({0})", "isnan({0})"),
        # NaN propagates (as numpy and onnxruntime do): the generic ternaries would drop a NaN
        # on one side, and fmaxf/fminf drop it on both.
        "max": ("((({0}) > ({1}) || isnan({0})) ? ({0}) : ({1}))",) * 2,
        "min": ("((({0}) < ({1}) || isnan({0})) ? ({0}) : ({1}))",) * 2,
        "sign": ("((({0}) > 0) ? 1.0f : ((({0}) < 0) ? -1.0f : ({0})))",
                 "((({0}) > 0) ? 1.0 : ((({0}) < 0) ? -1.0 : ({0})))"),
    }
    generic_functions = {
        "neg": "(-({0}))", "not": "(!({0}))", "abs": "(({0}) < 0 ? -({0}) : ({0}))",
        "sign": "((({0}) > 0) - (({0}) < 0))", "isnan": "false",
        "min": "(({0}) < ({1}) ? ({0}) : ({1}))", "max": "(({0}) > ({1}) ? ({0}) : ({1}))",
        "mod": "(({0}) % ({1}))", "bitnot": "(~({0}))",
    }
    restrict = "restrict"
    local_array_suffix = ""
    kernel_prefix = "static void"

    # ------------------------------------------------------------ expressions
    def type_name(self, dtype: DType) -> str:
        try:
            return self.types[dtype]
        except KeyError:
            raise NotImplementedError(f"{type(self).__name__} has no type for {dtype.value}") from None

    def const(self, c: Const) -> str:
        if c.dtype is DType.bool:
            return "true" if c.value else "false"
        if c.dtype.is_float:
            value = float(c.value)
            suffix = "f" if c.dtype is DType.float32 else ""
            if math.isnan(value):
                return "NAN"
            if math.isinf(value):
                return "INFINITY" if value > 0 else "(-INFINITY)"
            text = repr(value)
            if "e" not in text and "." not in text:
                text += ".0"
            return f"{text}{suffix}" if value >= 0 else f"({text}{suffix})"
        value = int(c.value)
        if c.dtype is DType.int64 and value == -2 ** 63:
            return "INT64_MIN"  # INT64_C(-9223372036854775808) negates a too-large constant
        if c.dtype in (DType.int64,) and not -2 ** 31 < value < 2 ** 31:
            return f"INT64_C({value})"
        if c.dtype is DType.uint64 or c.dtype is DType.uint32:
            return f"{value}u"
        return str(value) if value >= 0 else f"({value})"

    def call(self, fn: str, args: list[str], dtype: DType) -> str:
        if dtype.is_float and fn in self.float_functions:
            pattern = self.float_functions[fn][0 if dtype is DType.float32 else 1]
        elif fn in self.generic_functions:
            pattern = self.generic_functions[fn]
        else:
            raise NotImplementedError(f"{type(self).__name__}: no {fn} for {dtype.value}")
        return pattern.format(*args)

    def expr(self, e: Expr) -> str:
        if isinstance(e, Const):
            return self.const(e)
        if isinstance(e, Var):
            return e.name
        if isinstance(e, Load):
            return f"{e.buffer}[{self.expr(e.index)}]"
        if isinstance(e, Binary):
            a, b = self.expr(e.a), self.expr(e.b)
            if e.op in ("min", "max", "mod", "pow"):
                return self.call(e.op, [a, b], e.a.dtype)
            return f"({a} {self.infix[e.op]} {b})"
        if isinstance(e, Call):
            return self.call(e.fn, [self.expr(a) for a in e.args], e.args[0].dtype)
        if isinstance(e, Select):
            return f"({self.expr(e.cond)} ? {self.expr(e.a)} : {self.expr(e.b)})"
        if isinstance(e, Cast) and e.bits:
            out, src = self.type_name(e.dtype), self.type_name(e.a.dtype)
            return f"({{ {src} aotc_in_ = ({self.expr(e.a)}); {out} aotc_out_; memcpy(&aotc_out_, &aotc_in_, sizeof aotc_out_); aotc_out_; }})"
        if isinstance(e, Cast):
            return f"(({self.type_name(e.dtype)})({self.expr(e.a)}))"
        raise TypeError(f"not an expression: {e!r}")

    # ------------------------------------------------------------ statements
    def loop_pragmas(self, loop: For) -> list[str]:
        return []

    def loop_header(self, loop: For) -> str:
        return f"for (int64_t {loop.var} = 0; {loop.var} < {self.expr(loop.extent)}; ++{loop.var})"

    def barrier(self) -> str:
        raise NotImplementedError(f"{type(self).__name__} has no barrier")

    def stmt(self, s: Stmt, depth: int) -> list[str]:
        pad = INDENT * depth
        if isinstance(s, Block):
            return [line for child in s.stmts for line in self.stmt(child, depth)]
        if isinstance(s, For):
            lines = [pad + p for p in self.loop_pragmas(s)]
            lines.append(f"{pad}{self.loop_header(s)} {{")
            lines += self.stmt(s.body, depth + 1)
            return lines + [pad + "}"]
        if isinstance(s, Store):
            return [f"{pad}{s.buffer}[{self.expr(s.index)}] = {self.expr(s.value)};"]
        if isinstance(s, Declare):
            return [f"{pad}{self.type_name(s.dtype)} {s.var} = {self.expr(s.init)};"]
        if isinstance(s, Assign):
            return [f"{pad}{s.var} = {self.expr(s.value)};"]
        if isinstance(s, If):
            lines = [f"{pad}if ({self.expr(s.cond)}) {{"] + self.stmt(s.then, depth + 1)
            if s.otherwise is not None:
                lines += [f"{pad}}} else {{"] + self.stmt(s.otherwise, depth + 1)
            return lines + [pad + "}"]
        if isinstance(s, LocalArray):
            return [f"{pad}{self.type_name(s.dtype)} {s.name}[{s.size}]{self.local_array_suffix};"]
        if isinstance(s, Barrier):
            return [pad + self.barrier() + ";"]
        raise TypeError(f"not a statement: {s!r}")

    # ------------------------------------------------------------ kernels
    def param(self, buf: Buffer, may_alias: bool = False) -> str:
        const = "" if buf.writable else "const "
        restrict = "" if may_alias else f" {self.restrict}"
        return f"{const}{self.type_name(buf.dtype)}*{restrict} {buf.name}"

    def signature(self, kernel: Kernel) -> str:
        # Buffers a call may pass twice (in-place) must not be declared restrict.
        aliased = {index for pair in kernel.overwritable for index in pair}
        params = [self.param(b, k in aliased) for k, b in enumerate(kernel.params)]
        params += [f"int64_t {s}" for s in kernel.symbols]
        params += self.extra_params(kernel)
        return f"{self.kernel_prefix} {kernel.name}({', '.join(params) or 'void'})"

    def extra_params(self, kernel: Kernel) -> list[str]:
        return []

    def kernel(self, kernel: Kernel) -> str:
        lines = [f"/* {', '.join(kernel.ops)}: {', '.join(kernel.nodes[:4])}"
                 f"{' ...' if len(kernel.nodes) > 4 else ''} */",
                 self.signature(kernel) + " {"]
        lines += self.stmt(kernel.body, 1)
        lines.append("}")
        return "\n".join(lines) + "\n"
