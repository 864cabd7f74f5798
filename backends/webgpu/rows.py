"""Row phases (softmax, layernorm, a reduction over the last axis) printed with one workgroup
per grid index instead of one invocation.

The phases that qualify are the CUDA backend's warp rows (backends/cuda/warp_rows.py decides:
a body of declarations, assignments, stores and lane-parallel loops, at least one of them a
float sum/max/min over a wide contiguous extent). WGSL has no warp shuffles without the
optional subgroups feature, so LANES invocations split each loop's iterations (lane, lane +
LANES, ...; adjacent lanes read adjacent elements) and each reduction is combined by a tree in
workgroup memory, after which every lane holds the total. A row of 256 elements then takes four
steps per lane instead of 256 in one invocation: on an H100 a BERT-small LayerNorm went from one
workgroup of 128 busy invocations to 128 workgroups.

Statements outside loops run in every lane on identical values; stores outside loops run in
lane 0 only. A storageBarrier() after each loop and store orders what one lane wrote before
another reads it. Every barrier sits in the grid-stride loop's body, whose trip count depends
only on the workgroup id and uniforms, so barriers stay in uniform control flow.
"""
from __future__ import annotations

from compiler.ir.dtypes import DType
from compiler.ir.loops import Const, For
from backends.cstyle import INDENT
from backends.cuda.grid import Phase
from backends.cuda.warp_rows import REDUCTION_IDENTITY, declared_types, print_body, warp_rows
from backends.webgpu.printer import WgslPrinter, name

LANES = 64
MAX_WORKGROUPS = 65535
REDUCE = "aotc_red"


def row_loops(phase: Phase) -> dict[int, dict[str, str]] | None:
    """{position of each top-level loop: its reductions} when the phase runs one workgroup per
    grid index (float reductions only: the combine array is f32, and WGSL runs the lowering's
    float64 accumulators in f32 anyway), else None."""
    loops = warp_rows(phase)
    if loops is None:
        return None
    declared = declared_types(phase)
    reduced = {var for reductions in loops.values() for var in reductions}
    return loops if all(declared[var] in (DType.float32, DType.float64) for var in reduced) else None


def _combine(printer: WgslPrinter, op: str, a: str, b: str) -> str:
    return f"({a} + {b})" if op == "add" else printer.call(op, [a, b], DType.float32)


class _WorkgroupDialect:
    """warp_rows.print_body's pieces for a workgroup of LANES: storage barriers, and each
    reduction combined by a tree in workgroup memory (every lane then holds the total)."""
    lane_zero = "aotc_lane == 0i"
    barrier = "storageBarrier();"

    def save(self, printer: WgslPrinter, var: str, op: str, dtype) -> str:
        identity = printer.expr(Const(REDUCTION_IDENTITY[op], DType.float32))
        return f"let aotc_before_{var} = {name(var)}; {name(var)} = {identity};"

    def loop_header(self, printer: WgslPrinter, loop: For) -> list[str]:
        var = name(loop.var)
        return [f"for (var {var}: i32 = aotc_lane; {var} < {printer.expr(loop.extent)}; {var} += {LANES}i) {{"]

    def combine(self, printer: WgslPrinter, var: str, op: str, dtype, pad: str) -> list[str]:
        mine, other = f"{REDUCE}[aotc_lane]", f"{REDUCE}[aotc_lane + aotc_s]"
        v = name(var)
        return [f"{pad}{REDUCE}[aotc_lane] = {v};",
                f"{pad}workgroupBarrier();",
                f"{pad}for (var aotc_s: i32 = {LANES // 2}i; aotc_s > 0i; aotc_s = aotc_s / 2i) {{",
                f"{pad}{INDENT}if (aotc_lane < aotc_s) {{ {mine} = {_combine(printer, op, mine, other)}; }}",
                f"{pad}{INDENT}workgroupBarrier();",
                f"{pad}}}",
                f"{pad}{v} = {_combine(printer, op, f'aotc_before_{var}', f'{REDUCE}[0]')};",
                f"{pad}workgroupBarrier();"]


def render(printer: WgslPrinter, phase: Phase, loops: dict[int, dict[str, str]]) -> str:
    """The phase's entry point: workgroup w walks grid indices w, w + groups, ..."""
    extents = [f"({printer.expr(loop.extent)})" for loop in phase.loops]
    pad = INDENT * 2
    lines = [f"var<workgroup> {REDUCE}: array<f32, {LANES}>;",
             "",
             f"@compute @workgroup_size({LANES})",
             "fn main(@builtin(local_invocation_index) aotc_lid: u32, @builtin(workgroup_id) aotc_wid: vec3<u32>, "
             "@builtin(num_workgroups) aotc_groups: vec3<u32>) {",
             f"{INDENT}let aotc_lane: i32 = i32(aotc_lid);",
             f"{INDENT}let aotc_total: i32 = {' * '.join(extents)};",
             f"{INDENT}for (var aotc_flat: i32 = i32(aotc_wid.x); aotc_flat < aotc_total; "
             f"aotc_flat += i32(aotc_groups.x)) {{",
             f"{pad}var aotc_rest: i32 = aotc_flat;"]
    for loop, extent in reversed(list(zip(phase.loops[1:], extents[1:]))):
        lines.append(f"{pad}let {name(loop.var)}: i32 = aotc_rest % {extent}; aotc_rest = aotc_rest / {extent};")
    lines.append(f"{pad}let {name(phase.loops[0].var)}: i32 = aotc_rest;")
    lines += print_body(printer, phase, loops, declared_types(phase), 2, _WorkgroupDialect())
    return "\n".join(lines + [INDENT + "}", "}"])


__all__ = ["LANES", "MAX_WORKGROUPS", "render", "row_loops"]
