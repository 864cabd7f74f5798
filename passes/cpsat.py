"""The one way aotc's passes run CP-SAT: a single worker, a fixed seed and a deterministic-time
limit (not wall clock), so a compile's result never depends on how busy the machine was."""
from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Solved:
    solver: object          # ortools CpSolver, for Value()
    found: bool             # a feasible (or optimal) solution exists
    optimal: bool
    seconds: float


def solve_deterministically(model, deterministic_time: float) -> Solved:
    from ortools.sat.python import cp_model
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_deterministic_time = deterministic_time
    start = time.perf_counter()
    status = solver.Solve(model)
    seconds = time.perf_counter() - start
    return Solved(solver, status in (cp_model.OPTIMAL, cp_model.FEASIBLE), status == cp_model.OPTIMAL, seconds)
