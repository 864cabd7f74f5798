"""Budgeted depth-first search for a low-peak kernel order (SERENITY-style, Ahn et al. 2020).

A partial schedule is the set S of calls already run; the bytes live after S depend on S alone
(tensors whose producer ran and some consumer has not), so a set that failed to finish within a
peak budget fails again however it is reached, and at every lower budget: failures are memoised
across budgets. The search asks "is there an order with peak <= B?" for B just below the best
order found so far, trying the calls that grow the live bytes least first, until it proves no
order beats the best (optimal) or spends its budget of visited sets (counted, never timed, so
the result is deterministic).

    live after {k1}: a;  k3 frees a;  k2 then k4: a and b are never live together
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SearchProblem:
    """Calls 0..n-1 with dependences, bytes each call allocates, and what each call reads."""
    after: list[set[int]]                        # calls each call must follow
    allocates: list[int]                         # bytes of the intermediates each call writes
    reads: list[list[tuple[int, int]]]           # per call: (bytes, bitmask of all its consumers)


@dataclass(frozen=True)
class SearchResult:
    order: list[int]
    peak: int
    optimal: bool
    visited: int


def problem_from_table(table, after: list[set[int]]) -> SearchProblem:
    """From schedule.tensor_table's {name: (producer, consumers, bytes)}."""
    n = len(after)
    allocates = [0] * n
    reads: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for _, (producer, consumers, size) in sorted(table.items()):
        consumers = consumers or [producer]      # never read: live at its producer's step only
        mask = 0
        for consumer in consumers:
            mask |= 1 << consumer
        allocates[producer] += size
        for consumer in sorted(set(consumers)):
            reads[consumer].append((size, mask))
    return SearchProblem(after, allocates, reads)


def search_order(problem: SearchProblem, start: list[int], start_peak: int,
                 max_visited: int) -> SearchResult:
    """The lowest-peak order found from `start` (an order with peak `start_peak`)."""
    failed: set[int] = set()
    best, best_peak, visited = list(start), start_peak, 0
    while best_peak > floor(problem):
        found, visited = _order_within(problem, best_peak - 1, failed, visited, max_visited)
        if found is None:
            return SearchResult(best, best_peak, visited <= max_visited, min(visited, max_visited))
        best, best_peak = found, _peak(problem, found)
    return SearchResult(best, best_peak, True, visited)


def floor(problem: SearchProblem) -> int:
    """No order goes below this: while a call runs, its inputs and outputs are all live."""
    return max((problem.allocates[call] + sum(size for size, mask in problem.reads[call] if mask != 1 << call)
                for call in range(len(problem.after))), default=0)


def _peak(problem: SearchProblem, order: list[int]) -> int:
    done, live, peak = 0, 0, 0
    for call in order:
        done |= 1 << call
        peak = max(peak, live + problem.allocates[call])
        live += problem.allocates[call] - sum(size for size, mask in problem.reads[call] if not mask & ~done)
    return peak


def _order_within(problem: SearchProblem, budget: int, failed: set[int], visited: int,
                  max_visited: int) -> tuple[list[int] | None, int]:
    """An order whose peak is at most `budget`, or None (exhausted, or over `max_visited`)."""
    n = len(problem.after)
    full = (1 << n) - 1
    successors: list[list[int]] = [[] for _ in range(n)]
    for call, predecessors in enumerate(problem.after):
        for predecessor in predecessors:
            successors[predecessor].append(call)
    waiting = [len(p) for p in problem.after]
    # Each frame: (done set, live bytes, ready calls, candidate moves left to try).
    path: list[int] = []
    stack = [(0, 0, [c for c in range(n) if not problem.after[c]], None)]
    while stack:
        done, live, ready, moves = stack[-1]
        if done == full:
            return path, visited
        if moves is None:
            if done in failed:
                moves = []
            else:
                visited += 1
                if visited > max_visited:
                    return None, visited
                moves = _moves(problem, done, live, ready, budget)
            stack[-1] = (done, live, ready, moves)
        if not moves:
            failed.add(done)
            stack.pop()
            if path:
                undone = path.pop()
                for successor in successors[undone]:
                    waiting[successor] += 1
            continue
        growth, call = moves.pop()
        next_ready = [c for c in ready if c != call]
        for successor in successors[call]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                next_ready.append(successor)
        path.append(call)
        stack.append((done | 1 << call, live + growth, next_ready, None))
    return None, visited


def _moves(problem: SearchProblem, done: int, live: int, ready: list[int], budget: int):
    """Ready calls that fit the budget, as (growth of live bytes, call); the least growth last,
    so it is popped first (ties: the lower call number, i.e. the original order)."""
    moves = []
    for call in ready:
        if live + problem.allocates[call] > budget:
            continue
        after = done | 1 << call
        freed = sum(size for size, mask in problem.reads[call] if not mask & ~after)
        moves.append((problem.allocates[call] - freed, call))
    moves.sort(reverse=True)
    return moves
