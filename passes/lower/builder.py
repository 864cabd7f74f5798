"""Small helpers that build loop-IR expressions and loop nests, folding constants as they go
so the printed code stays readable (no `i*1 + 0`)."""
from __future__ import annotations

import math
from typing import Callable, Sequence

from compiler.ir.dtypes import DType
from compiler.ir.loops import (INDEX, Binary, Block, Buffer, Call, Cast, Const, Expr, For, Kernel,
                               KernelCost, Load, LoopKind, Select, Stmt, Store, Var)
from compiler.ir.types import Dim, Sym, SymSize, TensorType


def const(value, dtype: DType = INDEX) -> Const:
    if dtype is DType.bool:
        return Const(bool(value), dtype)
    return Const(float(value) if dtype.is_float else int(value), dtype)


def lowest(dtype: DType) -> Const:
    """The identity of max: -inf for floats, the most negative value for ints."""
    if dtype.is_float:
        return const(-math.inf, dtype)
    return const(-(2 ** (dtype.itemsize * 8 - 1)) if dtype.is_signed else 0, dtype)


def highest(dtype: DType) -> Const:
    """The identity of min: +inf for floats, the largest value for ints."""
    if dtype.is_float:
        return const(math.inf, dtype)
    bits = dtype.itemsize * 8 - (1 if dtype.is_signed else 0)
    return const(2 ** bits - 1, dtype)


def dim_expr(dim: Dim) -> Expr:
    return Var(dim.name) if isinstance(dim, Sym) else const(dim)


def _is(e: Expr, value) -> bool:
    return isinstance(e, Const) and e.value == value


def add(*terms: Expr) -> Expr:
    terms = tuple(t for t in terms if not _is(t, 0))
    if not terms:
        return const(0)
    consts = [t for t in terms if isinstance(t, Const) and t.dtype is INDEX]
    rest = [t for t in terms if not (isinstance(t, Const) and t.dtype is INDEX)]
    total = sum(int(c.value) for c in consts)
    out: Expr | None = None
    for t in rest + ([const(total)] if total or not rest else []):
        out = t if out is None else Binary("add", out, t)
    return out  # type: ignore[return-value]


def mul(*factors: Expr) -> Expr:
    if any(_is(f, 0) for f in factors if f.dtype is INDEX):
        return const(0)
    factors = tuple(f for f in factors if not _is(f, 1))
    if not factors:
        return const(1)
    consts = [f for f in factors if isinstance(f, Const) and f.dtype is INDEX]
    rest = [f for f in factors if not (isinstance(f, Const) and f.dtype is INDEX)]
    product = math.prod(int(c.value) for c in consts)
    out: Expr | None = None
    for f in rest + ([const(product)] if product != 1 or not rest else []):
        out = f if out is None else Binary("mul", out, f)
    return out  # type: ignore[return-value]


def sub(a: Expr, b: Expr) -> Expr:
    if _is(b, 0):
        return a
    if isinstance(a, Const) and isinstance(b, Const) and a.dtype is INDEX and b.dtype is INDEX:
        return const(int(a.value) - int(b.value))
    return Binary("sub", a, b)


def binary(op: str, a: Expr, b: Expr) -> Binary:
    return Binary(op, a, b)


def call(fn: str, *args: Expr) -> Call:
    return Call(fn, tuple(args))


def cast(dtype: DType, a: Expr) -> Expr:
    return a if a.dtype is dtype else Cast(dtype, a)


def select(cond: Expr, a: Expr, b: Expr) -> Expr:
    return Select(cond, a, b)


def land(*conds: Expr) -> Expr:
    conds = tuple(c for c in conds if not _is(c, True))
    if not conds:
        return const(True, DType.bool)
    out = conds[0]
    for c in conds[1:]:
        out = Binary("and", out, c)
    return out


def strides(shape: Sequence[Dim]) -> list[Expr]:
    """Row-major strides of `shape` as index expressions."""
    out: list[Expr] = []
    acc: Expr = const(1)
    for dim in reversed(shape):
        out.append(acc)
        acc = mul(acc, dim_expr(dim))
    return out[::-1]


def linear_index(indices: Sequence[Expr], shape: Sequence[Dim]) -> Expr:
    return add(*(mul(i, s) for i, s in zip(indices, strides(shape))))


def broadcast_index(out_indices: Sequence[Expr], in_shape: Sequence[Dim]) -> Expr:
    """Index into an input broadcast (numpy rules) against an output indexed by `out_indices`."""
    offset = len(out_indices) - len(in_shape)
    idx = [const(0) if d == 1 else out_indices[offset + k] for k, d in enumerate(in_shape)]
    return linear_index(idx, in_shape)


def loop_nest(vars_: Sequence[str], extents: Sequence[Expr], body: Stmt,
              kinds: Sequence[LoopKind] | None = None) -> Stmt:
    kinds = kinds or [LoopKind.SERIAL] * len(vars_)
    for var, extent, kind in reversed(list(zip(vars_, extents, kinds))):
        body = For(var, extent, body, kind)
    return body


def parallel_nest(prefix: str, shape: Sequence[Dim], make_body: Callable[[list[Expr]], Stmt]) -> Stmt:
    """Loops over `shape`: the outermost is parallel (threads), the innermost vectorized when
    there are two or more. Rank 0 gives the body alone."""
    names = [f"{prefix}{k}" for k in range(len(shape))]
    body = make_body([Var(n) for n in names])
    kinds = [LoopKind.SERIAL] * len(shape)
    if kinds:
        kinds[0] = LoopKind.PARALLEL
    if len(kinds) >= 2:
        kinds[-1] = LoopKind.VECTORIZED
    return loop_nest(names, [dim_expr(d) for d in shape], body, kinds)


def buffer(name: str, ttype: TensorType, writable: bool = False) -> Buffer:
    return Buffer(name, ttype.dtype, ttype.numel(), writable=writable)


def load(buf: Buffer, index: Expr) -> Load:
    return Load(buf.name, index, buf.dtype)


def store(buf: Buffer, index: Expr, value: Expr) -> Store:
    return Store(buf.name, index, cast(buf.dtype, value))


def symbols_of(*types: TensorType) -> tuple[str, ...]:
    return tuple(sorted({d.name for t in types for d in t.shape if isinstance(d, Sym)}))


def make_kernel(op: str, in_types: Sequence[TensorType | None], out_types: Sequence[TensorType],
                body_fn: Callable[[list[Buffer | None], list[Buffer]], Stmt],
                flops: SymSize | None = None) -> Kernel:
    """A kernel whose parameters are `in0..inN` (absent optional inputs skipped) and `out0..`."""
    ins = [buffer(f"in{k}", t) if t is not None else None for k, t in enumerate(in_types)]
    outs = [buffer(f"out{k}", t, writable=True) for k, t in enumerate(out_types)]
    body = body_fn(ins, outs)
    present = [b for b in ins if b is not None]
    ones = _all_ones(in_types, out_types)
    moved = sum(b.size.evaluate(ones) * b.dtype.itemsize for b in present + outs)
    flops_at_one = sum(o.size.evaluate(ones) for o in outs) if flops is None else flops.evaluate(ones)
    return Kernel(name=op.lower(), params=tuple(present + outs),
                  symbols=symbols_of(*[t for t in in_types if t is not None], *out_types),
                  body=body, ops=(op,), cost=KernelCost(flops_at_one, moved))


def _all_ones(in_types, out_types) -> dict[str, int]:
    return {s: 1 for s in symbols_of(*[t for t in in_types if t is not None], *out_types)}


def block(*stmts: Stmt) -> Block:
    flat: list[Stmt] = []
    for s in stmts:
        flat.extend(s.stmts if isinstance(s, Block) else (s,))
    return Block(tuple(flat))
