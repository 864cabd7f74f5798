"""CPU choices for contraction kernels: default template parameters, their config space,
and packing constant operands into the panels the microkernel reads (at compile time)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
from numpy.lib.stride_tricks import as_strided

from compiler.ir.config import ConfigSpace, KernelConfig, Param
from compiler.ir.contraction import Contraction, Dense, Im2colRows
from compiler.target import Target
from backends.cpu import winograd
from backends.cpu.templates.gemm import GemmParams, pack_a_panels, pack_b_panels, page_aliased, window_run


def vector_width(target: Target) -> int:
    return max((target.isa.vector_bits if target.isa else 128) // 32, 4)


def vector_registers(target: Target) -> int:
    """Vector registers the ISA has: 32 with AVX-512 (at any vector width), else 16."""
    return 32 if vector_width(target) == 16 else 16


def vector_widths(target: Target) -> tuple[int, ...]:
    """Vector widths (floats) a contraction may use: the ISA's, and half of it on AVX-512."""
    native = vector_width(target)
    return (8, 16) if native == 16 else (native,)


def _waste(size: int, block: int) -> float:
    return (-(-size // block) * block - size) / max(size, 1)


def default_params(spec: Contraction, target: Target) -> GemmParams:
    """A 3x3 convolution Winograd's way where that pays (default_winograd), with the blocking of
    its a^2 GEMMs; else the direct GEMM's blocking (direct_params)."""
    m = default_winograd(spec)
    if m:
        rows = winograd.shape_of(spec, m).tiles
        return replace(direct_params(winograd.gemm_spec(spec, m, rows), target), winograd=m)
    return direct_params(spec, target)


def default_winograd(spec: Contraction) -> int:
    """The Winograd tile side a convolution gets by default (0: none): F(4x4) where the image
    has at least 4 x 4 tiles of 4, F(2x2) on smaller images (ResNet's 7 x 7 layers: fewer wasted
    edge pixels, a smaller transformed filter); the direct GEMM where the transformed filters
    (36 or 16 x C x K) would outgrow the caches that F(m) needs them in. Measured on ResNet-18
    (README "How the CPU gets there"): F(4x4) at 56 x 56 and 28 x 28, F(2x2) or F(4x4) at 14 x 14
    and F(2x2) at 7 x 7 all beat the direct GEMM, 1.5-2.4x per layer."""
    if not winograd.eligible(spec):
        return 0
    shape = winograd.shape_of(spec, 4)
    filters = shape.channels * shape.out_channels * 4
    if shape.tiles >= 16 and 36 * filters <= 16 << 20:
        return 4
    return 2 if 16 * filters <= 32 << 20 else 0


def direct_params(spec: Contraction, target: Target) -> GemmParams:
    """Register blocking from the ISA (accumulators that fit the register file), then the
    candidate wasting the least on edge tiles; threads split whichever side has more panels.
    AVX-512 tiles stop at 8 x 32 (16 accumulators): on Zen 4, whose 512-bit FMAs issue one a
    cycle, that is already FMA-bound, and ResNet-50's tuning records favoured MR 4-8 and NR
    16-32 over the 14 x 32 the register file allows (whole models, alternating runs: ResNet-50
    -4%, BERT-small -1%, GPT-2 and MobileNetV2 unchanged). Output rows a whole number of
    4 KiB pages apart take MR <= 6, so the tile's rows do not crowd one L1 set (page_aliased).
    On AVX-512 an 8-wide tile is a candidate too (below)."""
    candidates = [(*_register_tile(spec, target, vec), vec) for vec in vector_widths(target)]
    native = vector_width(target)
    # Half-width vectors only where they save a tenth of the work edge tiles waste:
    # MobileNetV2's N = 24 projections lose 25% of the lanes at NR 32 and none at an 8-wide
    # NR 24 (0.150 -> 0.114 ms, free on Zen 4's double-pumped 512-bit FMAs); a classifier's
    # N = 1000 loses 2%, not worth halving the FMA width on cores with two 512-bit pipes.
    _, mr, nr, vec = min(candidates, key=lambda c: (c[0] + (0.0 if c[3] == native else 0.1), -c[3]))
    # The KC x NR micro-panel of B is reused across a whole MC block of A: keep it in L1.
    kc = _whole_runs(spec, min(spec.k, max(32, target.cache_bytes[0] // (4 * nr))))
    mc = mr * max(1, min(-(-(spec.m if isinstance(spec.m, int) else 64) // mr), 96 // mr))
    nc = nr * max(1, min(-(-spec.n // nr), max(1, 2048 // nr)))
    m_panels = -(-spec.m // mr) if isinstance(spec.m, int) else 64
    n_panels = -(-spec.n // nr)
    split_n = n_panels >= m_panels or n_panels >= 2 * max(target.cores, 1)
    return GemmParams(mr, nr, mc, kc, nc, split_n, vec)


def _register_tile(spec: Contraction, target: Target, vec: int) -> tuple[float, int, int]:
    """(waste, MR, NR): the register tile of `vec`-float vectors wasting the least on
    edge tiles, then the larger tile (more reuse per load), then the wider NR."""
    registers = vector_registers(target)
    max_mr, max_nv = (8, 2) if vec == 16 else ((8, 4) if registers == 32 else (16, 4))
    if page_aliased(spec.out_row_stride):
        max_mr = min(max_mr, 6)
    m = spec.m if isinstance(spec.m, int) else 64
    candidates = []
    for nv in range(1, max_nv + 1):
        for mr in range(2, max_mr + 1):
            if mr * nv + nv + 1 > registers or mr * nv < 8:
                continue
            nr = nv * vec
            candidates.append((round(_waste(m, mr) + _waste(spec.n, nr), 2), -mr * nr, -nr, mr, nr))
    waste, _, _, mr, nr = min(candidates)
    return waste, mr, nr


def _whole_runs(spec: Contraction, kc: int) -> int:
    """KC rounded so that K blocks of channels-last windows split into whole tap runs (a
    multiple of the channels, or a divisor of them), which lets the microkernel read the
    image in place (templates/gemm.py, reads_a_in_place)."""
    a = spec.a
    if not isinstance(a, Im2colRows) or kc >= spec.k or window_run(a) is None:
        return kc
    unit = window_run(a)
    if kc >= unit:
        return kc // unit * unit
    if unit > a.channels_per_group:       # whole kernel rows only
        return unit
    return max(d for d in range(1, kc + 1) if unit % d == 0)


def params_config(p: GemmParams) -> KernelConfig:
    return KernelConfig((Param("MR", p.mr), Param("NR", p.nr), Param("MC", p.mc), Param("KC", p.kc),
                         Param("NC", p.nc), Param("SPLIT_N", int(p.split_n)))
                        + ((Param("WINOGRAD", p.winograd),) if p.winograd else ()))


def params_of(config: KernelConfig, spec: Contraction, target: Target) -> GemmParams:
    return GemmParams.from_config(config, default_params(spec, target))


def register_blocks(vec: int, registers: int) -> tuple[tuple[int, int], ...]:
    """(MR, NR) register tiles whose accumulators, B vectors and A broadcast fit the file."""
    return tuple((mr, nv * vec) for nv in (1, 2, 3) for mr in (4, 6, 8, 12, 14) if mr * nv + nv + 1 <= registers)


def config_space(spec: Contraction, target: Target) -> ConfigSpace:
    """The template's knobs, each choice list led by the default (config_at(0) is
    default_config, record for record): register tile, MC (rows of A per block), KC, NC,
    thread split, the microkernel's K unroll and B prefetch distance. MC/NC are rounded up
    to whole tiles (GemmParams.from_config), so every combination builds."""
    base = default_params(spec, target)
    blocks = tuple(dict.fromkeys(((base.mr, base.nr),) + register_blocks(base.vec, vector_registers(target))))
    return ConfigSpace((
        ("block", tuple(KernelConfig((Param("MR", mr), Param("NR", nr))) for mr, nr in blocks)),
        ("mc", tuple(KernelConfig((Param("MC", mc),)) for mc in dict.fromkeys((base.mc, 48, 192)))),
        ("kc", tuple(KernelConfig((Param("KC", kc),)) for kc in dict.fromkeys((base.kc, 64, 128, 256, 384, 512)))),
        ("nc", tuple(KernelConfig((Param("NC", nc),)) for nc in dict.fromkeys((base.nc, 512, 4096)))),
        ("split", (KernelConfig((Param("SPLIT_N", int(base.split_n)),)), KernelConfig((Param("SPLIT_N", int(not base.split_n)),)))),
        ("unroll", (KernelConfig(), KernelConfig((Param("UNROLL", 2),)), KernelConfig((Param("UNROLL", 4),)))),
        ("prefetch", (KernelConfig(), KernelConfig((Param("PREFETCH", 8),)))),
    ) + ((("winograd", tuple(KernelConfig((Param("WINOGRAD", m),))
                              for m in dict.fromkeys((base.winograd, 0) + winograd.TILE_SIZES))),)
         if winograd.eligible(spec) else ()))


def operand_groups(spec: Contraction, op: Dense) -> int:
    return spec.groups if op.group_stride else 1


def logical_matrix(array: np.ndarray, op: Dense, groups: int, rows: int, cols: int) -> np.ndarray:
    """The [G][rows][cols] matrix a Dense operand describes, read through its strides."""
    flat = np.ascontiguousarray(array).reshape(-1)
    item = flat.itemsize
    return np.array(as_strided(flat, shape=(groups, rows, cols),
                               strides=(op.group_stride * item, op.row_stride * item, op.col_stride * item)),
                    dtype=np.float32)


def pack_constant(spec: Contraction, side: str, array: np.ndarray, params: GemmParams) -> np.ndarray:
    """A constant operand in the panel layout the driver indexes:
    A -> [G][ceil(M/MR)][K][MR], B -> [G][ceil(N/NR)][K][NR]."""
    if side == "a":
        op = spec.a
        matrix = logical_matrix(array, op, operand_groups(spec, op), int(spec.m), spec.k)
        return pack_a_panels(matrix, params.mr)
    if params.winograd:
        return pack_b_panels(winograd.transformed_filters(array, params.winograd), params.nr)
    op = spec.b
    matrix = logical_matrix(array, op, operand_groups(spec, op), spec.k, spec.n)
    return pack_b_panels(matrix, params.nr)
