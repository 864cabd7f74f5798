"""An analytic estimate of a CPU kernel's seconds under a config: the tuner's prior (its
cost model ranks candidates with it before it has learned from measurements). Only the order
between configs of one kernel matters, so the machine's rates are nominal.
"""
from __future__ import annotations

from compiler.ir.config import KernelConfig
from compiler.ir.contraction import Contraction, Dense
from compiler.ir.loops import Kernel
from compiler.target import Target
from backends.cpu import winograd
from backends.cpu.contraction import params_of

CLOCK = 3e9                 # cycles per second, nominal
FMA_PORTS = 2               # vector FMAs issued per cycle
LOAD_PORTS = 2              # vector loads (or broadcasts) per cycle
MEMORY_BYTES_PER_SECOND = 20e9


def estimate_seconds(kernel: Kernel, config: KernelConfig, target: Target) -> float | None:
    spec = kernel.contraction
    if spec is None:
        return max(kernel.cost.flops / (CLOCK * 8), kernel.cost.bytes / MEMORY_BYTES_PER_SECOND) or None
    return _gemm_seconds(spec, config, target)


def _gemm_seconds(spec: Contraction, config: KernelConfig, target: Target) -> float:
    """The direct GEMM's estimate, or the Winograd form's."""
    p = params_of(config, spec, target)
    if p.winograd:
        return _winograd_seconds(spec, p, target)
    return _blocked_seconds(spec, p, target)


def _winograd_seconds(spec: Contraction, p, target: Target) -> float:
    """The a^2 GEMMs over the tiles, plus the transforms' traffic: V and M written and read
    once each (a^2 x tiles x channels), the input read and the output written."""
    shape = winograd.shape_of(spec, p.winograd)
    rows = shape.padded_tiles(p.mr)
    gemms = _blocked_seconds(winograd.gemm_spec(spec, p.winograd, rows), p, target)
    patches = shape.alpha ** 2 * rows * (shape.channels + shape.out_channels)
    traffic = 4 * (2 * patches + shape.tiles * shape.m ** 2 * (shape.channels + shape.out_channels))
    return gemms + traffic / MEMORY_BYTES_PER_SECOND / max(target.cores, 1)


def _blocked_seconds(spec: Contraction, p, target: Target) -> float:
    """Microkernel cycles (FMA- or load-bound per K step, edge tiles padded), the accumulators' loads
    and stores once per K block, a penalty when the A and B micro-panels overflow L1 or the
    A block L2, over the threads that get work; plus packing traffic (B per KC x NC block,
    A per MC x KC block unless pre-packed or read in place)."""
    m = spec.m if isinstance(spec.m, int) else 1
    g = (spec.batch if isinstance(spec.batch, int) else 1) * spec.groups
    nv = p.nr // p.vec
    m_tiles, n_tiles = -(-m // p.mr), -(-spec.n // p.nr)
    wide = 1 if p.vec <= 8 else 2       # 512-bit FMAs and loads issue at half the 256-bit rate (Zen 4)
    step = max(p.mr * nv * wide / FMA_PORTS, (p.mr + nv) * wide / LOAD_PORTS)   # cycles per K step of a tile
    k_blocks = -(-spec.k // p.kc)
    cycles = g * m_tiles * n_tiles * (spec.k * step + k_blocks * 2 * p.mr * nv)
    l1, l2, _ = target.cache_bytes
    panels = 4 * min(p.kc, spec.k) * (p.mr + p.nr)                      # A and B micro-panels
    penalty = 1.0 + 0.3 * min(1.0, max(0.0, panels - l1) / l1)
    penalty *= 1.0 if 4 * p.mc * min(p.kc, spec.k) <= l2 // 2 else 1.15   # A block in L2
    # Threads share the split side's tiles; the busiest thread decides.
    split_panels = n_tiles if p.split_n else m_tiles
    cores = max(target.cores, 1)
    busiest = -(-split_panels // cores) / max(split_panels / cores, 1e-9)
    compute = cycles * penalty * busiest / cores / CLOCK
    packed_b = 0 if isinstance(spec.b, Dense) and spec.b.constant else g * spec.k * spec.n * 4
    packed_a = 0 if isinstance(spec.a, Dense) and spec.a.constant else g * m * spec.k * 4 * -(-spec.n // p.nc)
    calls = g * k_blocks * -(-m // p.mc) * -(-spec.n // p.nc)        # driver overhead per block
    return compute + (packed_a + packed_b) / MEMORY_BYTES_PER_SECOND / cores + calls * 2e-7
