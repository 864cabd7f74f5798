"""schedule: order the kernel calls to minimise peak live memory (SERENITY-style), with CP-SAT.

Needs: a lowered Program. Each call gets a position; producers precede consumers; a tensor is
live from its producer's position to its last consumer's; a cumulative constraint over those
intervals bounds the peak, which is minimised. Deterministic (one worker, fixed seed,
deterministic-time limit) and warm-started from the current order, which it keeps unless the
solver finds a strictly lower peak.

    a = k1(x); b = k2(x); c = k3(a); d = k4(b); y = k5(c, d)   (a, b large; c, d small)
    -> k1, k3, k2, k4, k5: a dies before b is born
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from compiler.ir.program import Program
from passes.cpsat import solve_deterministically


def tensor_table(program: Program) -> dict[str, tuple[int, list[int], int]]:
    """Intermediate -> (producing call, consuming calls, bytes at every symbol = 1)."""
    graph = program.graph
    external = set(graph.input_names) | set(graph.constants) | set(graph.outputs)
    table: dict[str, list] = {}
    for index, call in enumerate(program.calls):
        kernel = program.kernels[call.kernel]
        for param, value in zip(kernel.params, call.args):
            if value in external:
                continue
            if param.writable:
                table.setdefault(value, [index, [], graph.type_of(value).nbytes().coef])
            else:
                table.setdefault(value, [None, [], graph.type_of(value).nbytes().coef])[1].append(index)
    return {k: (v[0], v[1], v[2]) for k, v in table.items() if v[0] is not None}


def peak_of(order: list[int], table) -> int:
    """Most intermediate bytes live at one step when calls run in `order`."""
    position = {call: step for step, call in enumerate(order)}
    live = [0] * (len(order) + 1)
    for producer, consumers, size in table.values():
        start = position[producer]
        end = max((position[c] for c in consumers), default=start)
        for step in range(start, end + 1):
            live[step] += size
    return max(live, default=0)


@dataclass(frozen=True)
class ScheduleResult:
    program: Program
    peak_before: int
    peak_after: int
    status: str
    seconds: float


# Orders of more calls than this take the solver well over 5 s here: they keep their order
# (decided by count, never by a clock, so compiles stay deterministic).
MAX_CALLS = 200


def schedule(program: Program, deterministic_time: float = 2.0) -> ScheduleResult:
    table = tensor_table(program)
    calls = list(range(len(program.calls)))
    before = peak_of(calls, table)
    if len(calls) > MAX_CALLS:
        return ScheduleResult(program, before, before, f"order kept: {len(calls)} calls is more than the "
                                                        f"scheduler takes ({MAX_CALLS})", 0.0)
    try:
        from ortools.sat.python import cp_model
    except ImportError:
        return ScheduleResult(program, before, before, "order kept: OR-Tools is not installed", 0.0)
    n = len(calls)
    if n < 3 or not table:
        return ScheduleResult(program, before, before, "order kept: nothing to reorder", 0.0)
    model = cp_model.CpModel()
    position = [model.NewIntVar(0, n - 1, f"p{i}") for i in calls]
    model.AddAllDifferent(position)
    # Every dependence between calls (through any value, intermediates or outputs) is kept.
    producer_of = {}
    for index, call in enumerate(program.calls):
        kernel = program.kernels[call.kernel]
        for param, value in zip(kernel.params, call.args):
            if param.writable:
                producer_of[value] = index
    for index, call in enumerate(program.calls):
        kernel = program.kernels[call.kernel]
        for param, value in zip(kernel.params, call.args):
            if not param.writable and value in producer_of and producer_of[value] != index:
                model.Add(position[producer_of[value]] < position[index])
    intervals, demands = [], []
    for number, (name, (producer, consumers, size)) in enumerate(sorted(table.items())):
        end = model.NewIntVar(1, n, f"end{number}")
        model.AddMaxEquality(end, [position[c] + 1 for c in consumers] or [position[producer] + 1])
        length = model.NewIntVar(1, n, f"length{number}")
        intervals.append(model.NewIntervalVar(position[producer], length, end, f"live{number}"))
        demands.append(size)
    peak = model.NewIntVar(0, before, "peak")
    model.AddCumulative(intervals, demands, peak)
    model.Minimize(peak)
    for index in calls:
        model.AddHint(position[index], index)
    solved = solve_deterministically(model, deterministic_time)
    solver, seconds = solved.solver, solved.seconds
    if not solved.found:
        return ScheduleResult(program, before, before, "order kept: CP-SAT found no order in its limit", seconds)
    order = sorted(calls, key=lambda i: solver.Value(position[i]))
    after = peak_of(order, table)
    if after >= before:
        return ScheduleResult(program, before, before, "order kept: no lower peak found", seconds)
    label = "optimal" if solved.optimal else "feasible"
    return ScheduleResult(replace(program, calls=tuple(program.calls[i] for i in order)), before, after, label, seconds)


@dataclass(frozen=True)
class Schedule:
    deterministic_time: float = 2.0

    def __call__(self, program: Program) -> ScheduleResult:
        return schedule(program, self.deterministic_time)
