"""One program kernel, bound to its pools, as WGSL compute shaders with their workgroup counts.

Loop kernels run as the CUDA backend's phases (backends/cuda/grid.py): each phase is a shader
whose leading independent loops are flattened into one index walked by a grid-stride loop, so
the dispatch never exceeds the 65,535 workgroups a dimension allows; row phases (softmax,
layernorm) take a workgroup per index instead (rows.py). Contractions use the tiled
template (gemm.py), one shader per variant the kernel's config names (gemm_space.py). Every shader declares a uniform struct (parameter word offsets, symbol
values) at binding 0 and its pools after it, in the order the dispatch lists them.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from compiler.errors import UnsupportedError
from compiler.ir.config import KernelConfig
from compiler.ir.loops import INDEX, Binary, Const, Expr, Kernel
from compiler.target import Target
from backends.cstyle import INDENT
from backends.cuda.grid import Phase, phases
from backends.webgpu import attention, gemm, gemm_space, gemm_split, rows
from backends.webgpu.legalize import legalize
from backends.webgpu.mathlib import MATHLIB_WGSL
from compiler.ir.dtypes import DType
from backends.webgpu.printer import BYTE_DTYPES, ParamAccess, WgslPrinter, name

THREADS = 256
MAX_WORKGROUPS = 65535


@dataclass(frozen=True)
class Variant:
    """One config of a contraction's template: the runtimes pick one per adapter."""
    config: gemm_space.GemmConfig
    text: str
    workgroups: tuple[Expr, Expr, Expr]


@dataclass(frozen=True)
class Shader:
    text: str
    workgroups: tuple[Expr, Expr, Expr]
    # A contraction's alternatives, the first being `text`/`workgroups` (empty for loop kernels).
    variants: tuple[Variant, ...] = ()
    # Bytes of the call's scratch arena item the shader uses (split-K, gemm_split.py); its word
    # offset is the uniform after the symbols.
    scratch_bytes: int = 0


def param_field(index: int) -> str:
    return f"p{index}"


def symbol_field(index: int) -> str:
    return f"s{index}"


def header(kernel: Kernel, pools: tuple[str, ...], writable: frozenset[str], atomic: frozenset[str],
           extra_fields: tuple[str, ...] = ()) -> str:
    fields = [f"    {param_field(i)}: u32," for i in range(len(kernel.params))]
    fields += [f"    {symbol_field(j)}: i32," for j in range(len(kernel.symbols))]
    fields += [f"    {field}: u32," for field in extra_fields]
    lines = [f"// aotc generated WGSL: {', '.join(kernel.ops)}. Do not edit.",
             "struct Uniforms {", *(fields or ["    unused: u32,"]), "}",
             "@group(0) @binding(0) var<uniform> u: Uniforms;"]
    for b, pool in enumerate(pools, start=1):
        access = "read_write" if pool in writable else "read"
        element = "atomic<u32>" if pool in atomic else "u32"
        lines.append(f"@group(0) @binding({b}) var<storage, {access}> {pool}: array<{element}>;")
    return "\n".join(lines) + "\n" + MATHLIB_WGSL


def _phase_main(printer: WgslPrinter, phase: Phase) -> str:
    if not phase.loops:
        return "\n".join(["@compute @workgroup_size(1)", "fn main() {", *printer.stmt(phase.body, 1), "}"])
    extents = [f"({printer.expr(loop.extent)})" for loop in phase.loops]
    pad = INDENT * 2
    lines = [f"@compute @workgroup_size({THREADS})",
             "fn main(@builtin(global_invocation_id) aotc_gid: vec3<u32>, "
             "@builtin(num_workgroups) aotc_groups: vec3<u32>) {",
             f"{INDENT}let aotc_total: i32 = {' * '.join(extents)};",
             f"{INDENT}let aotc_stride: i32 = i32(aotc_groups.x) * {THREADS}i;",
             f"{INDENT}for (var aotc_flat: i32 = i32(aotc_gid.x); aotc_flat < aotc_total; aotc_flat += aotc_stride) {{",
             f"{pad}var aotc_rest: i32 = aotc_flat;"]
    for loop, extent in reversed(list(zip(phase.loops[1:], extents[1:]))):
        lines.append(f"{pad}let {name(loop.var)}: i32 = aotc_rest % {extent}; aotc_rest = aotc_rest / {extent};")
    lines.append(f"{pad}let {name(phase.loops[0].var)}: i32 = aotc_rest;")
    lines += printer.stmt(phase.body, 2)
    return "\n".join(lines + [INDENT + "}", "}"])


def _grid_stride(phase: Phase) -> tuple[Expr, Expr, Expr]:
    one = Const(1, INDEX)
    if not phase.loops:
        return (one, one, one)
    total = phase.grid_size()
    groups = Binary("div", Binary("add", total, Const(THREADS - 1, INDEX)), Const(THREADS, INDEX))
    return (Binary("min", groups, Const(MAX_WORKGROUPS, INDEX)), one, one)


def kernel_shaders(kernel: Kernel, pools_of: Mapping[str, str], target: Target,
                   config: KernelConfig | None = None) -> tuple[Shader, ...]:
    """The shaders one call of `kernel` runs, in order; `pools_of` maps each parameter to the
    pool (binding variable) holding the tensor this call passes; `config` names a
    contraction's variants (gemm_space.variants)."""
    legalize(kernel)
    # A kernel storing 8-bit values reaches its output pool through atomics only.
    atomic = frozenset(pools_of[b.name] for b in kernel.params if b.writable and b.dtype in BYTE_DTYPES)
    access = {b.name: ParamAccess(pools_of[b.name], param_field(i), b.dtype, pools_of[b.name] in atomic)
              for i, b in enumerate(kernel.params)}
    symbols = {s: symbol_field(j) for j, s in enumerate(kernel.symbols)}
    printer = WgslPrinter(access, symbols)
    pools = tuple(sorted(set(pools_of.values()), key=pool_order))
    writable = frozenset(pools_of[b.name] for b in kernel.params if b.writable)
    limit = target.limit("storage_buffers_per_stage")
    if len(pools) > limit:
        node = kernel.nodes[0] if kernel.nodes else "?"
        raise UnsupportedError(f"op {kernel.ops[0] if kernel.ops else '?'} (node '{node}') reads {len(pools)} "
                               f"storage pools, over target webgpu's {limit} storage buffers per stage")
    top = header(kernel, pools, writable, atomic)
    if kernel.contraction is not None:
        parts = gemm_split.split_factor(kernel.contraction)
        if parts > 1:
            return _split_shaders(kernel, parts, access, symbols, pools, writable, atomic, target, config)
        variants = _variants(kernel.contraction, kernel.contraction, printer, top, target, config)
        return (Shader(variants[0].text, variants[0].workgroups, variants),)
    if kernel.attention is not None:
        rendered = attention.render(kernel.attention, printer, target)
        if rendered is not None:
            return (Shader(top + "\n" + rendered[0], rendered[1]),)
    return tuple(_phase_shader(printer, top, phase) for phase in phases(kernel.body, kernel.symbols))


def _variants(spec, printed, printer: WgslPrinter, top: str, target: Target,
              config: KernelConfig | None) -> tuple[Variant, ...]:
    """The GEMM template's variants of contraction `spec` (its config, else the defaults),
    each printing contraction `printed` (spec itself, or its split-K partial GEMM)."""
    variants = []
    for cfg in gemm_space.variants(config or KernelConfig(), spec, target):
        text, workgroups = gemm.render(printed, printer, target, cfg)
        variants.append(Variant(cfg, top + "\n" + text, workgroups))
    return tuple(variants)


def _split_shaders(kernel: Kernel, parts: int, access: dict, symbols: dict, pools: tuple[str, ...],
                   writable: frozenset[str], atomic: frozenset[str], target: Target,
                   config: KernelConfig | None) -> tuple[Shader, ...]:
    """A split-K contraction in `parts` (gemm_split.py): the partial GEMM, every variant of it,
    then the reduce pass with the epilogue; both reach the scratch item through one more uniform."""
    spec = kernel.contraction
    access = {**access, gemm_split.SCRATCH_PARAM: ParamAccess("arena", gemm_split.SCRATCH_FIELD, DType.float32)}
    printer = WgslPrinter(access, symbols)
    pools = tuple(sorted(set(pools) | {"arena"}, key=pool_order))
    top = header(kernel, pools, writable | {"arena"}, atomic, (gemm_split.SCRATCH_FIELD,))
    nbytes = gemm_split.scratch_bytes(spec, parts)
    variants = _variants(spec, gemm_split.split_spec(spec, parts), printer, top, target, config)
    reduce_text, reduce_groups = gemm_split.reduce_main(spec, printer, parts)
    return (Shader(variants[0].text, variants[0].workgroups, variants, nbytes),
            Shader(top + "\n" + reduce_text, reduce_groups, (), nbytes))


def _phase_shader(printer: WgslPrinter, top: str, phase: Phase) -> Shader:
    """A row phase (softmax, layernorm) as one workgroup per grid index (rows.py), else one
    invocation per grid index."""
    loops = rows.row_loops(phase)
    if loops is None:
        return Shader(top + "\n" + _phase_main(printer, phase) + "\n", _grid_stride(phase))
    one = Const(1, INDEX)
    groups = Binary("min", phase.grid_size(), Const(rows.MAX_WORKGROUPS, INDEX))
    return Shader(top + "\n" + rows.render(printer, phase, loops) + "\n", (groups, one, one))


def pool_order(pool: str) -> tuple[int, int]:
    """Weight pools (w0, w1, ...) by number, then the arena."""
    return (1, 0) if pool == "arena" else (0, int(pool[1:]))


__all__ = ["Shader", "Variant", "THREADS", "kernel_shaders", "param_field", "pool_order", "symbol_field"]
