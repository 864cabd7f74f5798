"""Row phases (softmax, layernorm, a reduction over the last axis) printed with one warp per
grid index instead of one thread.

A phase qualifies when its per-index body is a sequence of declarations, assignments, stores
and loops, at least one loop reduces (sum, max or min of a float accumulator declared in the
body) over at least a warp's width of contiguous elements, and every loop is lane-parallel:
its iterations write distinct elements, read back only their own, and carry nothing but those
reductions. The 32 lanes then split each loop's iterations (lane, lane + 32, ...; adjacent
lanes read adjacent elements), each reduction starts from its identity in every lane and is
combined with warp shuffles (__shfl_xor_sync, so every lane holds the total) and then with the
value it had before the loop. Statements outside loops run in every lane on identical values;
stores outside loops run in lane 0 only. __syncwarp() after each loop and store orders what
one lane wrote before another reads it.
"""
from __future__ import annotations

from typing import Protocol

from compiler.ir.loops import Assign, Barrier, Binary, Block, Const, Declare, For, If, LocalArray, Stmt, Store, Var
from backends.cuda.grid import Phase, accesses, expr_nodes, expr_vars, flatten, own_elements_only

WARP = 32
# Each reduction's starting value in every lane (also the WebGPU rows template's).
REDUCTION_IDENTITY = {"add": 0.0, "max": float("-inf"), "min": float("inf")}


def _walk(stmt: Stmt):
    yield stmt
    if isinstance(stmt, Block):
        for child in stmt.stmts:
            yield from _walk(child)
    elif isinstance(stmt, For):
        yield from _walk(stmt.body)
    elif isinstance(stmt, If):
        yield from _walk(stmt.then)
        if stmt.otherwise is not None:
            yield from _walk(stmt.otherwise)


def _exprs(stmt: Stmt):
    for s in _walk(stmt):
        if isinstance(s, For):
            yield s.extent
        elif isinstance(s, Store):
            yield s.index
            yield s.value
        elif isinstance(s, Declare):
            yield s.init
        elif isinstance(s, Assign):
            yield s.value
        elif isinstance(s, If):
            yield s.cond


def _var_uses(stmt: Stmt, name: str) -> int:
    return sum(isinstance(node, Var) and node.name == name for e in _exprs(stmt) for node in expr_nodes(e))


def _reductions(loop: For, declared: dict) -> dict[str, str] | None:
    """{accumulator: op} of a lane-parallel loop, or None if the loop is not lane-parallel."""
    if any(isinstance(s, (Barrier, LocalArray)) for s in _walk(loop.body)):
        return None
    stores, loads, assigned = accesses(loop.body)
    if not own_elements_only(stores, loads) or not all(loop.var in expr_vars(i) for _, i in stores):
        return None
    out: dict[str, str] = {}
    for var in assigned:
        if var not in declared or not declared[var].is_float:
            return None
        updates = [s.value for s in _walk(loop.body) if isinstance(s, Assign) and s.var == var]
        if not all(isinstance(u, Binary) and u.a == Var(var, declared[var]) and var not in expr_vars(u.b)
                   for u in updates):
            return None
        ops = {u.op for u in updates}
        if len(ops) != 1 or next(iter(ops)) not in REDUCTION_IDENTITY or _var_uses(loop.body, var) != len(updates):
            return None
        out[var] = next(iter(ops))
    return out


def _contiguous(loop: For) -> bool:
    """Whether every load that depends on the loop variable adds it with stride 1, so adjacent
    lanes read adjacent elements (a column reduction would not coalesce across lanes)."""
    def unit(index, var: str) -> bool:
        if index == Var(var):
            return True
        return (isinstance(index, Binary) and index.op == "add"
                and ((unit(index.a, var) and var not in expr_vars(index.b))
                     or (unit(index.b, var) and var not in expr_vars(index.a))))
    _, loads, _ = accesses(loop.body)
    return all(unit(index, loop.var) for _, index in loads if loop.var in expr_vars(index))


def warp_rows(phase: Phase) -> dict[int, dict[str, str]] | None:
    """{position of each top-level loop in the body: its reductions} when the phase runs one
    warp per grid index; None when it stays one thread per index."""
    if not phase.loops:
        return None
    declared: dict = {}
    loops: dict[int, dict[str, str]] = {}
    wide_reduction = False
    for k, stmt in enumerate(flatten(phase.body)):
        if isinstance(stmt, Declare):
            declared[stmt.var] = stmt.dtype
        elif isinstance(stmt, For):
            reductions = _reductions(stmt, declared)
            if reductions is None or not _contiguous(stmt):
                return None
            loops[k] = reductions
            wide = not isinstance(stmt.extent, Const) or stmt.extent.value >= WARP
            wide_reduction = wide_reduction or (bool(reductions) and wide)
        elif not isinstance(stmt, (Assign, Store)):
            return None
    return loops if wide_reduction else None


class RowDialect(Protocol):
    """What differs between the row templates that print a lane-split body (this CUDA warp
    form, and backends/webgpu/rows.py's workgroup form): each returns lines or a text."""
    lane_zero: str          # the condition true in exactly one lane
    barrier: str            # after each loop and lane-0 store

    def save(self, printer, var: str, op: str, dtype) -> str: ...

    def loop_header(self, printer, loop: For) -> list[str]: ...

    def combine(self, printer, var: str, op: str, dtype, pad: str) -> list[str]: ...


class _WarpDialect:
    lane_zero = "aotc_lane == 0"
    barrier = "__syncwarp();"

    def save(self, printer, var: str, op: str, dtype) -> str:
        identity = printer.expr(Const(REDUCTION_IDENTITY[op], dtype))
        return f"const {printer.type_name(dtype)} aotc_before_{var} = {var}; {var} = {identity};"

    def loop_header(self, printer, loop: For) -> list[str]:
        return ["#pragma unroll 4",
                f"for (int64_t {loop.var} = aotc_lane; {loop.var} < {printer.expr(loop.extent)}; {loop.var} += {WARP}) {{"]

    def combine(self, printer, var: str, op: str, dtype, pad: str) -> list[str]:
        other = Var(f"__shfl_xor_sync(0xffffffffu, {var}, aotc_offset)", dtype)
        combined = printer.expr(Binary(op, Var(var, dtype), other))
        before = printer.expr(Binary(op, Var(f"aotc_before_{var}", dtype), Var(var, dtype)))
        return [f"{pad}for (int aotc_offset = {WARP // 2}; aotc_offset > 0; aotc_offset /= 2) {var} = {combined};",
                f"{pad}{var} = {before};"]


WARP_DIALECT = _WarpDialect()


def print_body(printer, phase: Phase, loops: dict[int, dict[str, str]], declared_types, depth: int,
               dialect: RowDialect = WARP_DIALECT) -> list[str]:
    """The body's lines with lane-strided loops and their reductions combined across lanes
    (see the module doc), in `dialect`'s words."""
    pad, inner = "    " * depth, "    " * (depth + 1)
    lines: list[str] = []
    for k, stmt in enumerate(flatten(phase.body)):
        if isinstance(stmt, Store):
            lines += [f"{pad}if ({dialect.lane_zero}) {{", *printer.stmt(stmt, depth + 1), f"{pad}}}",
                      f"{pad}{dialect.barrier}"]
        elif isinstance(stmt, For):
            reductions = sorted(loops[k].items())
            lines.append(f"{pad}{{")
            lines += [inner + dialect.save(printer, var, op, declared_types[var]) for var, op in reductions]
            lines += [inner + line for line in dialect.loop_header(printer, stmt)]
            lines += printer.stmt(stmt.body, depth + 2)
            lines.append(f"{inner}}}")
            for var, op in reductions:
                lines += dialect.combine(printer, var, op, declared_types[var], inner)
            lines += [f"{pad}}}", f"{pad}{dialect.barrier}"]
        else:
            lines += printer.stmt(stmt, depth)
    return lines


def declared_types(phase: Phase) -> dict:
    return {s.var: s.dtype for s in flatten(phase.body) if isinstance(s, Declare)}

