"""Which loops of a loop kernel become the CUDA grid.

A kernel body runs as one or more phases: a top-level block of loops is a sequence of
independent passes over memory (a split's outputs, a GEMM's epilogue sweep), and a later one may
read what an earlier one wrote, so each becomes its own launch (launches on one stream are
ordered). In each phase the leading perfect nest of independent loops is flattened into one
index that a grid-stride loop walks; everything inside runs per thread, as printed.

A loop is independent when the IR says so (parallel or vectorized, no reductions) or, for a
serial loop the lowering left serial only because CPUs thread one axis, when every iteration
stores to locations indexed by the loop variable and reads back no element another iteration
writes.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.loops import (INDEX, Assign, Binary, Block, Call, Cast, Const, Declare, Expr, For, If, Load, LoopKind,
                               Select, Stmt, Store, Var)


@dataclass(frozen=True)
class Phase:
    loops: tuple[For, ...]      # flattened into the grid, outermost first
    body: Stmt                  # what each grid index runs

    def grid_size(self) -> Expr:
        """Grid indices: the product of the flattened loops' extents (1 without loops)."""
        if not self.loops:
            return Const(1, INDEX)
        total = self.loops[0].extent
        for loop in self.loops[1:]:
            total = Binary("mul", total, loop.extent)
        return total


def flatten(stmt: Stmt) -> list[Stmt]:
    """The statements of nested blocks, in order."""
    if isinstance(stmt, Block):
        return [s for child in stmt.stmts for s in flatten(child)]
    return [stmt]


def phases(body: Stmt, symbols: tuple[str, ...]) -> tuple[Phase, ...]:
    if isinstance(body, Block) and len(body.stmts) > 1 and all(isinstance(s, For) for s in body.stmts):
        return tuple(_phase(s, symbols) for s in body.stmts)
    return (_phase(body, symbols),)


def _phase(stmt: Stmt, symbols: tuple[str, ...]) -> Phase:
    loops: list[For] = []
    while True:
        loop = _single_loop(stmt)
        if loop is None or not _extent_is_host_computable(loop.extent, set(symbols)) or not _independent(loop):
            return Phase(tuple(loops), stmt)
        loops.append(loop)
        stmt = loop.body


def _single_loop(stmt: Stmt) -> For | None:
    while isinstance(stmt, Block) and len(stmt.stmts) == 1:
        stmt = stmt.stmts[0]
    return stmt if isinstance(stmt, For) else None


def _extent_is_host_computable(extent: Expr, symbols: set[str]) -> bool:
    return expr_vars(extent) <= symbols


def _independent(loop: For) -> bool:
    if loop.reductions:
        return False
    if loop.kind in (LoopKind.PARALLEL, LoopKind.VECTORIZED):
        return True
    stores, loads, assigns = accesses(loop.body)
    return not assigns and own_elements_only(stores, loads) and all(loop.var in expr_vars(index) for _, index in stores)


def own_elements_only(stores: list[tuple[str, Expr]], loads: list[tuple[str, Expr]]) -> bool:
    """Whether each stored buffer is stored at one index expression and loaded, if at all, only
    there: an iteration then reads back only elements it writes itself (softmax's normalising
    pass scales the exps the pass before stored)."""
    indices: dict[str, set[Expr]] = {}
    for buffer, index in stores:
        indices.setdefault(buffer, set()).add(index)
    return (all(len(each) == 1 for each in indices.values())
            and all(indices[buffer] == {index} for buffer, index in loads if buffer in indices))


def accesses(stmt: Stmt) -> tuple[list[tuple[str, Expr]], list[tuple[str, Expr]], set[str]]:
    """(stores as (buffer, index), loads as (buffer, index), scalars assigned but declared outside)."""
    stores: list[tuple[str, Expr]] = []
    loads: list[tuple[str, Expr]] = []
    assigned: set[str] = set()
    declared: set[str] = set()

    def expr(e: Expr) -> None:
        for node in expr_nodes(e):
            if isinstance(node, Load):
                loads.append((node.buffer, node.index))

    def visit(s: Stmt) -> None:
        if isinstance(s, Block):
            for child in s.stmts:
                visit(child)
        elif isinstance(s, For):
            declared.add(s.var)
            expr(s.extent)
            visit(s.body)
        elif isinstance(s, Store):
            stores.append((s.buffer, s.index))
            expr(s.index)
            expr(s.value)
        elif isinstance(s, Declare):
            declared.add(s.var)
            expr(s.init)
        elif isinstance(s, Assign):
            assigned.add(s.var)
            expr(s.value)
        elif isinstance(s, If):
            expr(s.cond)
            visit(s.then)
            if s.otherwise is not None:
                visit(s.otherwise)
        else:   # LocalArray, Barrier: a per-thread array or a barrier makes no cross-iteration flow
            declared.add(getattr(s, "name", ""))
    visit(stmt)
    return stores, [(b, i) for b, i in loads if b not in declared], assigned - declared


def expr_nodes(e: Expr):
    yield e
    if isinstance(e, Load):
        yield from expr_nodes(e.index)
    elif isinstance(e, Binary):
        yield from expr_nodes(e.a)
        yield from expr_nodes(e.b)
    elif isinstance(e, Call):
        for arg in e.args:
            yield from expr_nodes(arg)
    elif isinstance(e, Select):
        yield from expr_nodes(e.cond)
        yield from expr_nodes(e.a)
        yield from expr_nodes(e.b)
    elif isinstance(e, Cast):
        yield from expr_nodes(e.a)
    elif not isinstance(e, (Const, Var)):
        raise TypeError(f"not an expression: {e!r}")


def expr_vars(e: Expr) -> set[str]:
    return {node.name for node in expr_nodes(e) if isinstance(node, Var)}
