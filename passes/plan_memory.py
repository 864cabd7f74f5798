"""plan_memory: give every intermediate a static offset in the arena.

Needs: a Program (calls in execution order). Graph inputs, outputs and constants are not in the
arena (the caller and weights.bin own them). Sizes with symbolic dimensions are planned per
monomial region: a tensor of batch*4096 bytes lives in region ('batch',) at an offset that is
also scaled by batch, so one plan serves every batch size.

Greedy-by-size (largest first, lowest fitting offset among lifetime-overlapping tensors), and
always the lower bound (most bytes live at one step) so the gap is visible.

    t1 = k1(x); t2 = k2(t1); y = k3(t2)   ->   t1 @ 0, t2 @ 4096; arena 8192, lower bound 8192
"""
from __future__ import annotations

from dataclasses import dataclass

from typing import Mapping

import numpy as np

from compiler.ir.program import MemoryPlan, Placement, Program, WeightsLayout


def align(value: int, alignment: int) -> int:
    return -(-value // alignment) * alignment


def intermediates(program: Program) -> dict[str, tuple[int, list[int]]]:
    """Each arena value (not a graph input, output or constant): (the call that writes it, the
    calls that read it), in call order. A value read before any call writes it is an error."""
    graph = program.graph
    external = set(graph.input_names) | set(graph.constants) | set(graph.outputs)
    found: dict[str, tuple[int, list[int]]] = {}
    for index, call in enumerate(program.calls):
        kernel = program.kernels[call.kernel]
        for param, value in zip(kernel.params, call.args):
            if value in external:
                continue
            if param.writable and value not in found:
                found[value] = (index, [])
            elif value in found:
                found[value][1].append(index)
            else:
                raise ValueError(f"value '{value}' is read by call {index} before any call writes it")
    return found


def lifetimes(program: Program) -> dict[str, tuple[int, int, tuple[str, ...], int]]:
    """For each intermediate: (first call, last call, region monomial, bytes per unit)."""
    out = {}
    for name, (producer, consumers) in intermediates(program).items():
        size = program.graph.type_of(name).nbytes()
        out[name] = (producer, max(consumers, default=producer), size.symbols, size.coef)
    return out


def in_place(program: Program, spans) -> dict[str, str]:
    """Intermediates written over a dying input's bytes: {output: input}. Only where the kernel
    allows it (Kernel.overwritable), the input's last reader is this call, both have the same
    size in the same region, and every read of the input in the call is one of those pairs."""
    taken: dict[str, str] = {}
    for index, call in enumerate(program.calls):
        kernel = program.kernels[call.kernel]
        used: set[str] = set()
        for out, source in kernel.overwritable:
            written, read = call.args[out], call.args[source]
            if (written not in spans or read not in spans or read in used or spans[read][1] != index
                    or spans[written][2:] != spans[read][2:]):
                continue
            positions = {k for k, arg in enumerate(call.args) if arg == read}
            if not positions <= {s for o, s in kernel.overwritable if o == out}:
                continue
            taken[written] = read
            used.add(read)
    return taken


def lower_bound(items: dict[str, tuple[int, int, int]]) -> int:
    """Most bytes live at one step: no plan can use less."""
    if not items:
        return 0
    steps = max(last for _, last, _ in items.values()) + 1
    live = [0] * steps
    for first, last, size in items.values():
        for step in range(first, last + 1):
            live[step] += size
    return max(live)


def greedy_by_size(items: dict[str, tuple[int, int, int]], alignment: int) -> tuple[dict[str, int], int]:
    """Largest first; each at the lowest aligned offset free during its lifetime."""
    order = sorted(items, key=lambda n: (-items[n][2], items[n][0], n))
    placed: list[tuple[int, int, int, int]] = []     # (offset, end, first, last)
    offsets: dict[str, int] = {}
    for name in order:
        first, last, size = items[name]
        conflicts = sorted((o, e) for o, e, f, l in placed if f <= last and first <= l)
        offset = 0
        for start, end in conflicts:
            if offset + size <= start:
                break
            offset = max(offset, align(end, alignment))
        offsets[name] = offset
        placed.append((offset, offset + align(size, alignment), first, last))
    total = max((e for _, e, _, _ in placed), default=0)
    return offsets, total


@dataclass(frozen=True)
class PlanMemory:
    alignment: int = 64
    solver: str = "cpsat"              # "cpsat" (warm-started from greedy) or "greedy"
    deterministic_time: float = 2.0    # CP-SAT's limit per region, in its deterministic units

    def __call__(self, program: Program) -> MemoryPlan:
        return plan_memory(program, self.alignment, self.solver, self.deterministic_time)


def plan_memory(program: Program, alignment: int = 64, solver: str = "greedy",
                deterministic_time: float = 2.0) -> MemoryPlan:
    from passes.plan_memory_cpsat import solve_offsets
    spans = lifetimes(program)
    overwrites = in_place(program, spans)
    owner, buffers = _share_in_place(spans, overwrites)
    offsets: dict[str, int] = {}
    sizes, bounds, no_reuse, notes = {}, {}, {}, []
    planner = "greedy-by-size"
    for region in sorted({region for _, _, region, _ in spans.values()}):
        items = {n: (f, l, s) for n, (f, l, r, s) in buffers.items() if r == region}
        region_offsets, total = greedy_by_size(items, alignment)
        aligned = {n: (f, l, align(s, alignment)) for n, (f, l, s) in items.items()}
        bound = lower_bound(aligned)
        if solver == "cpsat":
            result = solve_offsets(items, alignment, region_offsets, total, bound, deterministic_time)
            region_offsets, total = result.offsets, result.total
            planner = "cp-sat"
            label = "*".join(region) or "static"
            notes.append(f"{label} region: {result.status}")   # no timing: notes are in the manifest
        offsets.update(region_offsets)
        sizes[region] = total
        bounds[region] = bound
        no_reuse[region] = sum(align(s, alignment) for _, _, r, s in spans.values() if r == region)
    placements = {name: Placement(region, offsets[owner[name]], size, first, last)
                  for name, (first, last, region, size) in spans.items()}
    return MemoryPlan(placements, sizes, bounds, no_reuse, alignment, planner, tuple(notes), overwrites)


def _share_in_place(spans, overwrites: Mapping[str, str]):
    """A chain of in-place writes is one buffer: (value -> the chain's first value, the chain's
    first value -> (first call, last call, region, bytes) of the whole chain)."""
    owner: dict[str, str] = {}
    buffers: dict[str, tuple[int, int, tuple[str, ...], int]] = {}
    for name in sorted(spans, key=lambda n: (spans[n][0], n)):
        first, last, region, size = spans[name]
        root = owner[overwrites[name]] if name in overwrites else name
        owner[name] = root
        if root in buffers:
            first, last = buffers[root][0], max(last, buffers[root][1])
        buffers[root] = (first, last, region, size)
    return owner, buffers


def layout_weights(constants: Mapping[str, np.ndarray], alignment: int = 64) -> WeightsLayout:
    """Constants in name order, each aligned, in one blob (weights.bin)."""
    offsets, sizes, cursor = {}, {}, 0
    for name in sorted(constants):
        cursor = align(cursor, alignment)
        offsets[name] = cursor
        sizes[name] = constants[name].nbytes
        cursor += sizes[name]
    return WeightsLayout(offsets, sizes, align(cursor, alignment), alignment)
