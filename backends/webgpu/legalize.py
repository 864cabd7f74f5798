"""What WGSL cannot express, refused before printing with one line naming the op and node.

WGSL has 32-bit scalars only (f16 is an optional extension; no f64, no 64-bit integers) and no
byte-addressable storage. The printer runs int64 arithmetic as i32, float64 accumulators as f32,
reads 8-bit tensors out of words and stores them by atomic and/or; what remains unsupported
is checked here so that no half-printed shader is written: float64/float16 tensors, float16
arithmetic, 16-bit integer tensors and bit casts of 64-bit values.
"""
from __future__ import annotations

from compiler.errors import UnsupportedError
from compiler.ir.dtypes import DType
from compiler.ir.loops import (Assign, Binary, Block, Call, Cast, Const, Declare, Expr, For, If, Kernel, Load,
                               LocalArray, Select, Stmt, Store, Var)
from backends.webgpu.printer import WIDE_DTYPES, WgslPrinter

READABLE = frozenset(WgslPrinter.types) - {DType.int16, DType.uint16, DType.float64}
WRITABLE = READABLE


def _refuse(kernel: Kernel, what: str) -> UnsupportedError:
    op = kernel.ops[0] if kernel.ops else "?"
    node = kernel.nodes[0] if kernel.nodes else "?"
    return UnsupportedError(f"op {op} (node '{node}') is not supported by target webgpu: {what}")


def _exprs(e: Expr):
    yield e
    children = {Load: lambda: (e.index,), Binary: lambda: (e.a, e.b), Call: lambda: e.args,
                Select: lambda: (e.cond, e.a, e.b), Cast: lambda: (e.a,)}.get(type(e), lambda: ())()
    for child in children:
        yield from _exprs(child)


def _stmt_exprs(s: Stmt):
    if isinstance(s, Block):
        for child in s.stmts:
            yield from _stmt_exprs(child)
    elif isinstance(s, For):
        yield from _exprs(s.extent)
        yield from _stmt_exprs(s.body)
    elif isinstance(s, Store):
        yield from _exprs(s.index)
        yield from _exprs(s.value)
    elif isinstance(s, Declare):
        yield Var(s.var, s.dtype)
        yield from _exprs(s.init)
    elif isinstance(s, Assign):
        yield from _exprs(s.value)
    elif isinstance(s, If):
        yield from _exprs(s.cond)
        yield from _stmt_exprs(s.then)
        if s.otherwise is not None:
            yield from _stmt_exprs(s.otherwise)
    elif isinstance(s, LocalArray):
        yield Const(0, s.dtype)


def legalize(kernel: Kernel) -> Kernel:
    """The kernel itself when WGSL can run it; otherwise UnsupportedError naming op and node."""
    for buffer in kernel.params:
        allowed = WRITABLE if buffer.writable else READABLE
        if buffer.dtype not in allowed:
            role = "output" if buffer.writable else "input"
            raise _refuse(kernel, f"{buffer.dtype.value} {role} '{buffer.name}' (WGSL has 32-bit words: "
                                  f"float16, float64 and 16-bit integer tensors cannot be stored)")
    for e in _stmt_exprs(kernel.body):
        dtype = e.dtype
        if dtype not in WgslPrinter.types:
            raise _refuse(kernel, f"{dtype.value} arithmetic (WGSL has f32, i32, u32 and bool)")
        if isinstance(e, Cast) and e.bits and (e.dtype in WIDE_DTYPES or e.a.dtype in WIDE_DTYPES):
            raise _refuse(kernel, "a bit cast of a 64-bit value (WGSL has no 64-bit integers)")
    return kernel


__all__ = ["legalize"]
