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
from passes.plan_memory import intermediates
from passes.schedule_search import problem_from_table, search_order


def tensor_table(program: Program) -> dict[str, tuple[int, list[int], int]]:
    """Intermediate -> (producing call, consuming calls, bytes at every symbol = 1)."""
    return {name: (producer, consumers, program.graph.type_of(name).nbytes().coef)
            for name, (producer, consumers) in intermediates(program).items()}


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


def dependences(program: Program) -> list[set[int]]:
    """For each call, the calls it must follow (it reads what they write)."""
    producer_of: dict[str, int] = {}
    for index, call in enumerate(program.calls):
        kernel = program.kernels[call.kernel]
        for param, value in zip(kernel.params, call.args):
            if param.writable:
                producer_of[value] = index
    after: list[set[int]] = [set() for _ in program.calls]
    for index, call in enumerate(program.calls):
        kernel = program.kernels[call.kernel]
        for param, value in zip(kernel.params, call.args):
            if not param.writable and value in producer_of and producer_of[value] != index:
                after[index].add(producer_of[value])
    return after


def greedy_order(program: Program, table, after: list[set[int]]) -> list[int]:
    """List scheduling: among the calls whose inputs exist, run the one that grows the live
    bytes least (allocates least minus frees most); ties keep the original order."""
    remaining_uses = {name: len(consumers) for name, (_, consumers, _) in table.items()}
    reads = [[name for name, (_, consumers, _) in table.items() if i in consumers] for i in range(len(after))]
    writes = [[name for name, (producer, _, _) in table.items() if producer == i] for i in range(len(after))]
    done: set[int] = set()
    order: list[int] = []
    waiting = set(range(len(after)))
    while waiting:
        ready = [i for i in waiting if after[i] <= done]
        def growth(i: int) -> tuple[int, int]:
            allocated = sum(table[name][2] for name in writes[i])
            freed = sum(table[name][2] for name in reads[i] if remaining_uses[name] == reads[i].count(name))
            return allocated - freed, i
        pick = min(ready, key=growth)
        for name in reads[pick]:
            remaining_uses[name] -= 1
        order.append(pick)
        done.add(pick)
        waiting.discard(pick)
    return order


def depth_first_order(program: Program, after: list[set[int]]) -> list[int]:
    """Post-order from the last call back through its inputs: each input subtree is finished
    before the next starts, so partial results do not pile up (Sethi-Ullman-like); the largest
    subtrees first."""
    n = len(after)
    size = [1] * n
    for i in range(n):                       # calls are already topologically ordered
        size[i] += sum(size[j] for j in after[i])
    order: list[int] = []
    seen: set[int] = set()
    for root in reversed(range(n)):
        if root in seen:
            continue
        stack = [(root, False)]
        while stack:
            node, expanded = stack.pop()
            if node in seen:
                continue
            if expanded:
                seen.add(node)
                order.append(node)
                continue
            stack.append((node, True))
            for pred in sorted(after[node], key=lambda j: size[j]):
                if pred not in seen:
                    stack.append((pred, False))
    return order


# Sets of finished calls the budgeted search may visit (about 2 s here at 500k).
MAX_VISITED = 500_000


def _result(program: Program, calls: list[int], best: list[int], before: int, peak: int, how: str,
            seconds: float) -> ScheduleResult:
    if best == calls:
        return ScheduleResult(program, before, before, how, seconds)
    return ScheduleResult(replace(program, calls=tuple(program.calls[i] for i in best)), before, peak, how, seconds)


def schedule(program: Program, deterministic_time: float = 2.0,
             max_visited: int = MAX_VISITED) -> ScheduleResult:
    table = tensor_table(program)
    calls = list(range(len(program.calls)))
    before = peak_of(calls, table)
    if len(calls) < 3 or not table:
        return ScheduleResult(program, before, before, "order kept: nothing to reorder", 0.0)
    after = dependences(program)
    best, best_peak, how = calls, before, "order kept: no lower peak found"
    for label, order in (("greedy list schedule", greedy_order(program, table, after)),
                         ("depth-first schedule", depth_first_order(program, after))):
        peak = peak_of(order, table)
        if peak < best_peak:
            best, best_peak, how = order, peak, label
    searched = search_order(problem_from_table(table, after), best, best_peak, max_visited)
    if searched.peak < best_peak:
        best, best_peak, how = searched.order, searched.peak, "budgeted search"
    if searched.optimal:
        return _result(program, calls, best, before, best_peak, how + " (optimal)", 0.0)
    seconds = 0.0
    if len(calls) <= MAX_CALLS:
        try:
            refined, seconds, optimal = _solve(program, table, after, best, best_peak, deterministic_time)
        except ImportError:
            refined, optimal = None, False
        refined_peak = peak_of(refined, table) if refined is not None else best_peak
        if refined_peak < best_peak:
            best, best_peak, how = refined, refined_peak, "optimal" if optimal else "CP-SAT, feasible"
        elif optimal:
            how += " (optimal)"
    return _result(program, calls, best, before, best_peak, how, seconds)


def _solve(program: Program, table, after: list[set[int]], hint: list[int], hint_peak: int,
           deterministic_time: float):
    """CP-SAT over call positions, warm-started from `hint`: (order or None, seconds, optimal)."""
    from ortools.sat.python import cp_model
    n = len(program.calls)
    model = cp_model.CpModel()
    position = [model.NewIntVar(0, n - 1, f"p{i}") for i in range(n)]
    model.AddAllDifferent(position)
    for index, predecessors in enumerate(after):
        for producer in predecessors:
            model.Add(position[producer] < position[index])
    intervals, demands = [], []
    for number, (name, (producer, consumers, size)) in enumerate(sorted(table.items())):
        end = model.NewIntVar(1, n, f"end{number}")
        model.AddMaxEquality(end, [position[c] + 1 for c in consumers] or [position[producer] + 1])
        length = model.NewIntVar(1, n, f"length{number}")
        intervals.append(model.NewIntervalVar(position[producer], length, end, f"live{number}"))
        demands.append(size)
    peak = model.NewIntVar(0, hint_peak, "peak")
    model.AddCumulative(intervals, demands, peak)
    model.Minimize(peak)
    for step, index in enumerate(hint):
        model.AddHint(position[index], step)
    solved = solve_deterministically(model, deterministic_time)
    if not solved.found:
        return None, solved.seconds, False
    order = sorted(range(n), key=lambda i: solved.solver.Value(position[i]))
    return order, solved.seconds, solved.optimal


@dataclass(frozen=True)
class Schedule:
    deterministic_time: float = 2.0
    max_visited: int = MAX_VISITED

    def __call__(self, program: Program) -> ScheduleResult:
        return schedule(program, self.deterministic_time, self.max_visited)
