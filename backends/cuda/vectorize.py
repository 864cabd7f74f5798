"""Elementwise phases printed four elements per thread with float4 loads and stores.

A phase qualifies when its grid is one loop over i, its body is straight-line (declarations,
assignments, stores), every store writes a float32 buffer at exactly [i], and nothing is read
back from a buffer the phase writes. Its float32 loads at [i] become one float4 load per
buffer and its stores one float4 store per buffer; loads at other indices (a broadcast bias)
stay scalar. Kernel parameters start on the arena's alignment (at least 64 bytes, host.py), so
vector k of a buffer is 16-byte aligned; the last total % 4 elements run one per thread.
"""
from __future__ import annotations

from dataclasses import replace

from compiler.ir.dtypes import DType
from compiler.ir.loops import Assign, Binary, Block, Buffer, Call, Cast, Declare, Expr, Load, Select, Stmt, Store, Var
from backends.cuda.grid import Phase

WIDTH = 4
LANES = "xyzw"


def _flatten(stmt: Stmt) -> list[Stmt]:
    if isinstance(stmt, Block):
        return [s for child in stmt.stmts for s in _flatten(child)]
    return [stmt]


def map_expr(e: Expr, fn) -> Expr:
    """`e` with every Load replaced by fn(load) (children first)."""
    if isinstance(e, Load):
        return fn(replace(e, index=map_expr(e.index, fn)))
    if isinstance(e, Binary):
        return replace(e, a=map_expr(e.a, fn), b=map_expr(e.b, fn))
    if isinstance(e, Call):
        return replace(e, args=tuple(map_expr(a, fn) for a in e.args))
    if isinstance(e, Select):
        return replace(e, cond=map_expr(e.cond, fn), a=map_expr(e.a, fn), b=map_expr(e.b, fn))
    if isinstance(e, Cast):
        return replace(e, a=map_expr(e.a, fn))
    return e


def _loads(e: Expr) -> list[Load]:
    found: list[Load] = []

    def visit(load: Load) -> Load:
        found.append(load)
        return load
    map_expr(e, visit)
    return found


def vector_buffers(phase: Phase, params: dict[str, Buffer]) -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """(buffers loaded at [i], buffers stored at [i]) when the phase runs as float4s; else None."""
    if len(phase.loops) != 1:
        return None
    index = Var(phase.loops[0].var)
    stmts = _flatten(phase.body)
    if not all(isinstance(s, (Declare, Assign, Store)) for s in stmts):
        return None
    stores = [s for s in stmts if isinstance(s, Store)]
    stored = [s.buffer for s in stores]
    if (not stores or len(set(stored)) != len(stored)
            or any(s.index != index or params[s.buffer].dtype != DType.float32 for s in stores)):
        return None
    exprs = [s.value if isinstance(s, (Store, Assign)) else s.init for s in stmts]
    loads = [load for e in exprs for load in _loads(e)]
    if any(load.buffer in stored for load in loads):
        return None
    loaded = sorted({load.buffer for load in loads if load.index == index and load.dtype == DType.float32})
    return tuple(loaded), tuple(stored)


def lane_body(phase: Phase, loaded: tuple[str, ...], lane: int) -> Stmt:
    """The phase's body for lane `lane` of a vector: [i] loads and stores become the vector
    registers' components (aotc_in_<buffer>.x, aotc_out_<buffer>.x, ...)."""
    index = Var(phase.loops[0].var)
    component = LANES[lane]

    def load(e: Load) -> Expr:
        return Var(f"aotc_in_{e.buffer}.{component}", e.dtype) if e.buffer in loaded and e.index == index else e

    def stmt(s: Stmt) -> Stmt:
        if isinstance(s, Store):
            return Assign(f"aotc_out_{s.buffer}.{component}", map_expr(s.value, load))
        if isinstance(s, Assign):
            return replace(s, value=map_expr(s.value, load))
        if isinstance(s, Declare):
            return replace(s, init=map_expr(s.init, load))
        return s
    return Block(tuple(stmt(s) for s in _flatten(phase.body)))
