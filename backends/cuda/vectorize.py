"""Elementwise phases printed four elements per thread with float4 loads and stores.

A phase qualifies when its body is straight-line (declarations, assignments, stores), every
store writes a float32 buffer at the flat grid position (the row-major index of the grid
loops), and nothing is read back from a buffer the phase writes. Its float32 loads at that
position become one float4 load per buffer and its stores one float4 store per buffer; loads
at other indices (a broadcast bias) stay scalar. Kernel parameters start on the arena's alignment (at least 64 bytes, host.py), so
vector k of a buffer is 16-byte aligned; the last total % 4 elements run one per thread.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from compiler.ir.dtypes import DType
from compiler.ir.loops import Assign, Binary, Block, Buffer, Call, Cast, Const, Declare, Expr, Load, Select, Stmt, Store, Var
from backends.cuda.grid import Phase, flatten

WIDTH = 4
LANES = "xyzw"


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


def _terms(e: Expr) -> list[Expr]:
    if isinstance(e, Binary) and e.op == "add":
        return _terms(e.a) + _terms(e.b)
    return [e]


def _row_major(index: Expr, loops) -> bool:
    """Whether `index` is sum(var * stride) over the loops with row-major strides (the inner
    extents static): element [index] is then the flat grid position."""
    coefficients: dict[str, int] = {}
    for term in _terms(index):
        if isinstance(term, Var):
            name, value = term.name, 1
        elif (isinstance(term, Binary) and term.op == "mul" and isinstance(term.a, Var)
              and isinstance(term.b, Const)):
            name, value = term.a.name, term.b.value
        else:
            return False
        if name in coefficients:
            return False
        coefficients[name] = value
    stride, expected = 1, {}
    for loop in reversed(loops):
        expected[loop.var] = stride
        if loop is not loops[0]:
            if not isinstance(loop.extent, Const):
                return False
            stride *= loop.extent.value
    extent_one = {loop.var for loop in loops if isinstance(loop.extent, Const) and loop.extent.value == 1}
    return all(coefficients.get(v) == c for v, c in expected.items() if v not in extent_one) and set(coefficients) <= set(expected)


@dataclass(frozen=True)
class VectorPlan:
    index: Expr                 # the flat position as the body writes it
    loaded: tuple[str, ...]     # buffers read there (as float4s)
    stored: tuple[str, ...]


def vector_plan(phase: Phase, params: dict[str, Buffer]) -> VectorPlan | None:
    """How the phase runs as float4s, or None."""
    if not phase.loops:
        return None
    stmts = flatten(phase.body)
    if not all(isinstance(s, (Declare, Assign, Store)) for s in stmts):
        return None
    stores = [s for s in stmts if isinstance(s, Store)]
    stored = [s.buffer for s in stores]
    if not stores or len(set(stored)) != len(stored) or any(params[b].dtype != DType.float32 for b in stored):
        return None
    index = stores[0].index
    if any(s.index != index for s in stores) or not _row_major(index, phase.loops):
        return None
    exprs = [s.value if isinstance(s, (Store, Assign)) else s.init for s in stmts]
    loads = [load for e in exprs for load in _loads(e)]
    if any(load.buffer in stored for load in loads):
        return None
    loaded = sorted({load.buffer for load in loads if load.index == index and load.dtype == DType.float32})
    return VectorPlan(index, tuple(loaded), tuple(stored))


def lane_body(phase: Phase, plan: VectorPlan, lane: int) -> Stmt:
    """The phase's body for lane `lane` of a vector: loads and stores at the flat position
    become the vector registers' components (aotc_in_<buffer>.x, aotc_out_<buffer>.x, ...)."""
    component = LANES[lane]

    def load(e: Load) -> Expr:
        return Var(f"aotc_in_{e.buffer}.{component}", e.dtype) if e.buffer in plan.loaded and e.index == plan.index else e

    def stmt(s: Stmt) -> Stmt:
        if isinstance(s, Store):
            return Assign(f"aotc_out_{s.buffer}.{component}", map_expr(s.value, load))
        if isinstance(s, Assign):
            return replace(s, value=map_expr(s.value, load))
        if isinstance(s, Declare):
            return replace(s, init=map_expr(s.init, load))
        return s
    return Block(tuple(stmt(s) for s in flatten(phase.body)))


def _uses(lines: list[str], name: str) -> bool:
    return any(re.search(rf"\b{name}\b", line) for line in lines)


def print_phase(printer, phase: Phase, plan: VectorPlan, extents: list[str], start: str, stride: str,
                indices) -> list[str]:
    """The grid-stride loop over vectors, then the tail one element per thread. `indices(flat,
    inner, depth)` prints the loop variables of a flat position (the innermost named `inner`).
    When the innermost extent is a multiple of 4 a vector never crosses a row, so the other
    variables are computed once per vector and each lane adds its offset to the innermost."""
    pad, inner_pad = "    " * 2, "    " * 3
    innermost = phase.loops[-1]
    per_vector = len(phase.loops) > 1 and isinstance(innermost.extent, Const) and innermost.extent.value % WIDTH == 0
    lines = [f"    const int64_t aotc_vectors = aotc_total / {WIDTH};",
             f"    for (int64_t aotc_vec = {start}; aotc_vec < aotc_vectors; aotc_vec += {stride}) {{"]
    lines += [f"{pad}const float4 aotc_in_{b} = ((const float4*){b})[aotc_vec];" for b in plan.loaded]
    lines += [f"{pad}float4 aotc_out_{b};" for b in plan.stored]
    if per_vector:
        lines += indices(f"aotc_vec * {WIDTH}", "aotc_inner", 2)
    for lane in range(WIDTH):
        body = printer.stmt(lane_body(phase, plan, lane), 3)
        if len(phase.loops) == 1:
            index = [f"{inner_pad}const int64_t {innermost.var} = aotc_vec * {WIDTH} + {lane};"]
        elif per_vector:
            index = [f"{inner_pad}const int64_t {innermost.var} = aotc_inner + {lane};"]
        else:
            index = indices(f"aotc_vec * {WIDTH} + {lane}", None, 3)
        used = [line for line in index if _uses(body, line.split("=")[0].split()[-1])] if len(index) == 1 else index
        lines += [f"{pad}{{", *used, *body, f"{pad}}}"]
    lines += [f"{pad}((float4*){b})[aotc_vec] = aotc_out_{b};" for b in plan.stored]
    lines += ["    }", f"    /* the last aotc_total % {WIDTH} elements */",
              f"    for (int64_t aotc_flat = aotc_vectors * {WIDTH} + {start}; aotc_flat < aotc_total; aotc_flat += {stride}) {{"]
    lines += indices("aotc_flat", None, 2)
    return lines + printer.stmt(phase.body, 2)
