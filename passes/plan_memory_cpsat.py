"""The exact memory planner: CP-SAT places each tensor at an offset so that no two tensors
live at the same step overlap, minimising the arena (OLLA-style). Deterministic: one worker, a
fixed seed and a deterministic-time limit (not wall clock), warm-started from greedy-by-size;
a plan the solver cannot improve in its limit stays greedy, with a note.

    tensors: (first step, last step, bytes)   ->   offsets, arena bytes, "optimal" | "feasible"
"""
from __future__ import annotations

from dataclasses import dataclass

from passes.cpsat import solve_deterministically


@dataclass(frozen=True)
class SolveResult:
    offsets: dict[str, int]
    total: int
    status: str            # "optimal", "feasible (gap x%)", "greedy kept: ..."
    seconds: float


# Above this many tensors, building and presolving the model alone takes tens of seconds here:
# such graphs keep the greedy plan (deterministically, by count, never by a clock).
MAX_TENSORS = 400


def solve_offsets(items: dict[str, tuple[int, int, int]], alignment: int, greedy: dict[str, int],
                  greedy_total: int, bound: int, deterministic_time: float = 2.0) -> SolveResult:
    """`items`: name -> (first, last, bytes); `bound`: the most aligned bytes live at a step."""
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        return SolveResult(greedy, greedy_total, "greedy kept: OR-Tools is not installed", 0.0)
    if not items or greedy_total <= bound:
        return SolveResult(greedy, greedy_total, "optimal (greedy meets the lower bound)", 0.0)
    if len(items) > MAX_TENSORS:
        return SolveResult(greedy, greedy_total, f"greedy kept: {len(items)} tensors is more than the exact "
                                                 f"planner takes ({MAX_TENSORS})", 0.0)
    units = {n: -(-size // alignment) for n, (_, _, size) in items.items()}
    upper = greedy_total // alignment
    model = cp_model.CpModel()
    offsets, xs, ys = {}, [], []
    peak = model.NewIntVar(bound // alignment, upper, "peak")
    for index, name in enumerate(sorted(items)):
        first, last, _ = items[name]
        offset = model.NewIntVar(0, upper - units[name], f"offset{index}")
        xs.append(model.NewFixedSizeIntervalVar(offset, units[name], f"bytes{index}"))
        ys.append(model.NewFixedSizeIntervalVar(first, last - first + 1, f"life{index}"))
        model.Add(offset + units[name] <= peak)
        model.AddHint(offset, greedy[name] // alignment)
        offsets[name] = offset
    model.AddNoOverlap2D(xs, ys)
    model.Minimize(peak)
    solved = solve_deterministically(model, deterministic_time)
    solver, seconds = solved.solver, solved.seconds
    if not solved.found:
        return SolveResult(greedy, greedy_total, "greedy kept: CP-SAT found no plan in its limit", seconds)
    total = solver.Value(peak) * alignment
    if total >= greedy_total:
        return SolveResult(greedy, greedy_total, "greedy kept: CP-SAT found nothing smaller in its limit", seconds)
    placed = {name: solver.Value(var) * alignment for name, var in offsets.items()}
    label = "optimal" if solved.optimal else f"feasible (gap to bound {total / bound - 1:.2%})"
    return SolveResult(placed, total, label, seconds)
