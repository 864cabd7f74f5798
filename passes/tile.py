"""tile: replay each kernel's KernelConfig on its loop nest.

Needs: a lowered Program. Records name loops by their variable; a record naming no loop of the
kernel is an error (a stale tuning record must not be silently ignored).

    for i0 in 0..64 (parallel): for i1 in 0..128 (vectorized): ...
    + (Serial("i0"), Unroll("i1", 4))
    for i0 in 0..64: for i1 in 0..128 (unrolled x4): ...
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Mapping

from compiler.ir.config import KernelConfig, Parallel, Param, Serial, Unroll, Vectorize
from compiler.ir.loops import Block, For, If, Kernel, LoopKind, Stmt
from compiler.ir.program import Program


def _rewrite(stmt: Stmt, fn) -> Stmt:
    if isinstance(stmt, For):
        return fn(replace(stmt, body=_rewrite(stmt.body, fn)))
    if isinstance(stmt, Block):
        return Block(tuple(_rewrite(s, fn) for s in stmt.stmts))
    if isinstance(stmt, If):
        return replace(stmt, then=_rewrite(stmt.then, fn),
                       otherwise=None if stmt.otherwise is None else _rewrite(stmt.otherwise, fn))
    return stmt


def loop_vars(stmt: Stmt) -> set[str]:
    found: set[str] = set()

    def visit(loop: For) -> For:
        found.add(loop.var)
        return loop
    _rewrite(stmt, visit)
    return found


def apply_config(kernel: Kernel, config: KernelConfig) -> Kernel:
    body = kernel.body
    present = loop_vars(body)
    for record in config.records:
        if isinstance(record, Param):
            continue  # template parameters are read by the backend's templates
        target = getattr(record, "loop", None)
        if target is None:
            raise ValueError(f"config record {record} does not apply to loop kernels")
        if target not in present:
            raise ValueError(f"config record {record} names loop '{target}', which kernel "
                             f"{kernel.name} lacks (loops: {', '.join(sorted(present))})")
        if isinstance(record, Parallel):
            kind, factor = LoopKind.PARALLEL, 0
        elif isinstance(record, Serial):
            kind, factor = LoopKind.SERIAL, 0
        elif isinstance(record, Vectorize):
            kind, factor = LoopKind.VECTORIZED, record.width
        elif isinstance(record, Unroll):
            kind, factor = LoopKind.UNROLLED, record.factor
        else:
            raise ValueError(f"config record {type(record).__name__} is not supported on CPU loop kernels")
        body = _rewrite(body, lambda loop: replace(loop, kind=kind, factor=factor)
                        if loop.var == target else loop)
    return replace(kernel, body=body)


@dataclass(frozen=True)
class Tile:
    configs: Mapping[str, KernelConfig]

    def __call__(self, program: Program) -> Program:
        kernels = {name: apply_config(k, self.configs.get(name, KernelConfig()))
                   for name, k in program.kernels.items()}
        return replace(program, kernels=kernels)
