"""Which block tile the CUDA GEMM template uses for one contraction, chosen at compile time from
its sizes and the target's multiprocessor count.

A block computes BM x BN of C from BK-deep slices of A and B staged in shared memory; each
thread owns TM x TN results, held as (TM/4) x (TN/4) sub-tiles of 4 x 4 spaced BM/(TM/4) rows
and BN/(TN/4) columns apart, so its shared-memory reads are float4s that a warp spreads over
every bank. 8 x 8 per thread does 64 FMAs per four 16-byte shared loads: the register blocking
that carries a SIMT GEMM near the FMA peak. 4 x 4 threads do half as much work per load, but
their small tiles give a small problem (a batch-1 convolution, a thin matmul) blocks enough to
spread over every multiprocessor.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.contraction import Contraction
from compiler.target import Target


@dataclass(frozen=True)
class Tiles:
    bm: int
    bn: int
    bk: int
    tm: int
    tn: int

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)

    @property
    def registers(self) -> int:
        """Per-thread register budget: 8 x 8 accumulators with their staged loads need ~128 at
        256 threads; fewer threads stage more loads each, and ptxas spills under 128."""
        return 80 if self.tm * self.tn <= 16 else (128 if self.threads >= 256 else 160)

    @property
    def shared_bytes(self) -> int:
        """Two BK-deep buffers of A and of B, rows padded by 4 floats (gemm.py)."""
        return 2 * self.bk * (self.bm + 4 + self.bn + 4) * 4

    @property
    def resident_blocks(self) -> int:
        """Blocks an SM holds at once within that budget (2048 threads, 64K registers)."""
        return min(2048 // self.threads, 65536 // (self.threads * self.registers), 32)

    @property
    def sub_m(self) -> int:
        """Rows between a thread's 4 x 4 sub-tiles."""
        return self.bm // (self.tm // 4)

    @property
    def sub_n(self) -> int:
        return self.bn // (self.tn // 4)


# Static shared memory a kernel may declare without opting in to more.
SHARED_BYTES = 48 * 1024
MAX_THREADS = 512


def tile_problem(tiles: Tiles) -> str | None:
    """Why the template cannot run `tiles`, or None when it can: each thread holds whole 4 x 4
    sub-tiles, every thread loads the same number of float4s of each slice (the loaders have no
    remainder loop), the block fits a multiprocessor's registers and static shared memory."""
    if tiles.tm not in (4, 8) or tiles.tn not in (4, 8):
        return f"thread tile {tiles.tm}x{tiles.tn}: TM and TN must be 4 or 8"
    if tiles.bm % tiles.tm or tiles.bn % tiles.tn or tiles.bk % 4:
        return f"block tile {tiles.bm}x{tiles.bn}x{tiles.bk}: BM, BN must be multiples of TM, TN and BK of 4"
    if tiles.threads % 32 or not 64 <= tiles.threads <= MAX_THREADS:
        return f"{tiles.threads} threads: a block needs 64 to {MAX_THREADS}, in whole warps"
    if (tiles.bm * tiles.bk // 4) % tiles.threads or (tiles.bn * tiles.bk // 4) % tiles.threads:
        return f"{tiles.threads} threads cannot share a {tiles.bm}x{tiles.bk} or {tiles.bk}x{tiles.bn} slice's float4s evenly"
    if tiles.shared_bytes > SHARED_BYTES:
        return f"{tiles.shared_bytes} bytes of shared memory (at most {SHARED_BYTES})"
    if tiles.threads * tiles.registers > 65536:
        return f"{tiles.threads} threads x {tiles.registers} registers exceed a multiprocessor's 65536"
    return None


# Largest first: among tiles that take equally long, the first does the fewest loads per FMA.
CANDIDATES = (
    Tiles(128, 128, 8, 8, 8),
    Tiles(128, 64, 8, 8, 8),
    Tiles(64, 128, 8, 8, 8),
    Tiles(64, 64, 8, 8, 8),
    Tiles(64, 64, 16, 4, 4),
    Tiles(64, 32, 16, 4, 4),
    Tiles(32, 64, 16, 4, 4),
    Tiles(32, 32, 16, 4, 4),
)
# Relative FMA throughput of a saturated SM per thread tile: a 4096^3 GEMM on an H100 ran the
# 4 x 4 tiles at 0.62-0.72 of the 128 x 128 tile's rate, the 8 x 8 ones at 0.91-1.0.
# Keyed by accumulators per thread; the 4 x 8 and 8 x 4 tiles the tuner may try (32) are
# assumed between the two measured ones.
_EFFICIENCY = {64: 1.0, 32: 0.85, 16: 0.7}
# A thread's own FMA rate, in units of a saturated SM's, is about 1 / (32 x this): with few
# blocks per SM the time is one thread's serial chain (TM x TN FMAs per k), whatever the tile.
# Fitted, with the constants above, to every tile's time on 48 GEMM and ResNet-50 convolution
# shapes (examples/bench_gemm.py --sweep): the choice came within 2% of the best in total
# (6 to 9 fit equally; 9 also puts the serial-bound times on the saturated ones' scale).
_SERIAL_WARPS = 9
# Rows assumed for a symbolic M (a batch size only known at run time).
_SYMBOLIC_ROWS = 256


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def estimated_cost(spec: Contraction, tiles: Tiles, sms: int, splits: int = 1) -> float:
    """Time of the busiest SM, per unit of k: its waves of resident blocks, each wave bound by
    the SM's throughput or by one thread's serial FMA chain, whichever is slower."""
    rows = spec.m if isinstance(spec.m, int) else _SYMBOLIC_ROWS
    batch = spec.batch if isinstance(spec.batch, int) else 1
    blocks = _ceil(rows, tiles.bm) * _ceil(spec.n, tiles.bn) * batch * spec.groups * splits
    per_sm = _ceil(blocks, sms)
    together = min(per_sm, tiles.resident_blocks)
    throughput = together * tiles.bm * tiles.bn / _EFFICIENCY[tiles.tm * tiles.tn]
    serial = tiles.tm * tiles.tn * 32 * _SERIAL_WARPS
    return _ceil(per_sm, tiles.resident_blocks) * max(throughput, serial)


@dataclass(frozen=True)
class GemmPlan:
    """Tiles, and how many slices of k run as separate blocks (split-K: each writes its partial
    sums to a workspace; a second kernel adds them in slice order and applies the epilogue)."""
    tiles: Tiles
    splits: int = 1
    k_per_split: int = 0       # a multiple of the tile's BK; the last slice may be shorter

    def workspace(self, spec: Contraction) -> int:
        """Floats of partial sums the split needs (0 without a split)."""
        return self.splits * spec.batch * spec.groups * spec.m * spec.n if self.splits > 1 else 0


SPLITS = (1, 2, 3, 4, 6, 8, 12, 16)
MIN_K_PER_SPLIT = 128
MAX_WORKSPACE = 1 << 23          # floats (32 MiB): larger problems have blocks enough anyway
# The split's second launch and its traffic in the cost's units (about 11 ps each when the
# blocks are few, as they are wherever a split pays): ~3 us, and 8 bytes per partial sum
# (written, then read back) at ~2.5 TB/s.
_SPLIT_LAUNCH = 2.7e5
_SPLIT_PER_PARTIAL = 0.3


def splittable(spec: Contraction) -> bool:
    """The workspace is sized at compile time: only static rows and batches split."""
    return isinstance(spec.m, int) and isinstance(spec.batch, int)


def split_plan(spec: Contraction, tiles: Tiles, splits: int) -> GemmPlan:
    """`tiles` with k cut into `splits` slices of whole BK steps (fewer where the rounding
    leaves the last ones empty; one slice is no split)."""
    if splits <= 1 or not splittable(spec):
        return GemmPlan(tiles)
    k_per = _ceil(_ceil(spec.k, splits), tiles.bk) * tiles.bk
    count = _ceil(spec.k, k_per)
    return GemmPlan(tiles, count, k_per) if count > 1 else GemmPlan(tiles)


def _plans(spec: Contraction):
    for tiles in CANDIDATES:
        yield GemmPlan(tiles)
        if not splittable(spec):
            continue
        for splits in SPLITS[1:]:
            plan = split_plan(spec, tiles, splits)
            if (plan.splits == splits and plan.k_per_split >= MIN_K_PER_SPLIT and plan.workspace(spec) <= MAX_WORKSPACE
                    and spec.batch * spec.groups * splits <= 65535):
                yield plan


def plan_cost(spec: Contraction, plan: GemmPlan, sms: int) -> float:
    k = plan.k_per_split if plan.splits > 1 else spec.k
    cost = estimated_cost(spec, plan.tiles, sms, plan.splits) * k
    if plan.splits > 1:
        cost += _SPLIT_LAUNCH + _SPLIT_PER_PARTIAL * plan.workspace(spec)
    return cost


def choose_plan(spec: Contraction, target: Target) -> GemmPlan:
    """The cheapest plan by the model above; ties go to the earlier (larger tile, no split)."""
    sms = target.limit("sms")
    plans = list(_plans(spec))
    costs = [plan_cost(spec, plan, sms) for plan in plans]
    return plans[costs.index(min(costs))]


def choose_tiles(spec: Contraction, target: Target) -> Tiles:
    return choose_plan(spec, target).tiles
