"""The CUDA backend's tuning knobs: what each template honours, as KernelConfig Param records.

- GEMM / implicit GEMM (gemm.py): block tile BM x BN x BK and thread tile TM x TN (one knob,
  the valid combinations only: gemm_tiles.tile_problem), SPLITS (split-K slices) and REGCAP
  (1: __launch_bounds__ asks for the tile's resident blocks, capping registers; 0: ptxas
  chooses freely).
- Attention (attention.py): BQ x BKV (queries per block, keys per shared tile) and
  MIN_BLOCKS (the launch bound's blocks per SM, which caps registers).
- Loop kernels (printer.py): THREADS per block, BLOCKS_PER_SM (the grid-stride cap) and
  VECTOR (1: float4 phases where vectorize.py allows them, 0: one element per thread).

The first choice of every knob is the heuristic's own, so a config space's index 0 and
`default_config` give exactly the artifact an untuned compile gives. A config read back from a
tuning record is checked where it is applied (a stale or edited record gets a one-line error).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

from compiler.errors import UnsupportedError
from compiler.ir.attention_spec import AttentionSpec
from compiler.ir.config import ConfigSpace, KernelConfig, Param
from compiler.ir.contraction import Contraction
from compiler.ir.loops import Kernel
from compiler.target import Target
from backends.cuda import attention, vectorize, warp_rows
from backends.cuda.gemm_tiles import (MAX_WORKSPACE, MIN_K_PER_SPLIT, SPLITS, GemmPlan, Tiles, choose_plan,
                                      split_plan, splittable, tile_problem)
from backends.cuda.grid import phases

# Loop kernels' defaults and the alternatives tried. Grid-stride kernels launch at most
# BLOCKS_PER_SM blocks per SM: enough to fill it, few enough that each thread keeps several
# elements of a large tensor.
THREADS = 256
BLOCKS_PER_SM = 8
THREAD_CHOICES = (THREADS, 128, 512, 64, 1024)
BLOCKS_PER_SM_CHOICES = (BLOCKS_PER_SM, 4, 16, 32, 2)
ATTENTION_MIN_BLOCKS = (attention.MIN_BLOCKS_PER_SM, 2, 1)

# Every block and thread tile the GEMM space draws from (filtered by tile_problem).
_TILE_SIZES = (32, 64, 128, 256)
_DEPTHS = (8, 16, 32)
_THREAD_TILES = (4, 8)
TILE_SHAPES = tuple(t for t in (Tiles(bm, bn, bk, tm, tn) for bm, bn, bk, tm, tn in itertools.product(
    _TILE_SIZES, _TILE_SIZES, _DEPTHS, _THREAD_TILES, _THREAD_TILES)) if tile_problem(t) is None)
# Slices shorter than this are not worth a second launch: the space stops there.
_MIN_SPLIT_DEPTH = MIN_K_PER_SPLIT // 2


def _params(**values: int) -> KernelConfig:
    return KernelConfig(tuple(Param(name, value) for name, value in values.items()))


def _tile_config(tiles: Tiles) -> KernelConfig:
    return _params(BM=tiles.bm, BN=tiles.bn, BK=tiles.bk, TM=tiles.tm, TN=tiles.tn)


def _first(default: KernelConfig, choices) -> tuple[KernelConfig, ...]:
    """`default` first, then the other choices in their order, each once."""
    return tuple(dict.fromkeys((default, *choices)))


# --- GEMM ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GemmChoice:
    plan: GemmPlan
    register_cap: bool = True     # launch bounds ask for the tile's resident blocks

    def launch_bounds(self) -> str:
        tiles = self.plan.tiles
        if self.register_cap:
            return f"__launch_bounds__({tiles.threads}, {tiles.resident_blocks})"
        return f"__launch_bounds__({tiles.threads})"


def _split_choices(spec: Contraction) -> tuple[int, ...]:
    if not splittable(spec):
        return (1,)
    workspace = spec.batch * spec.groups * spec.m * spec.n
    return tuple(s for s in SPLITS if s == 1 or (-(-spec.k // s) >= _MIN_SPLIT_DEPTH and s * workspace <= MAX_WORKSPACE))


def gemm_space(spec: Contraction, target: Target) -> ConfigSpace:
    plan = choose_plan(spec, target)
    return ConfigSpace((
        ("tile", _first(_tile_config(plan.tiles), map(_tile_config, TILE_SHAPES))),
        ("split", _first(_params(SPLITS=plan.splits), (_params(SPLITS=s) for s in _split_choices(spec)))),
        ("regcap", (_params(REGCAP=1), _params(REGCAP=0))),
    ))


def gemm_choice(spec: Contraction, config: KernelConfig, target: Target) -> GemmChoice:
    """The plan `config` names (the heuristic's for what it leaves out), checked."""
    default = choose_plan(spec, target)
    d = default.tiles
    tiles = Tiles(config.param("BM", d.bm), config.param("BN", d.bn), config.param("BK", d.bk),
                  config.param("TM", d.tm), config.param("TN", d.tn))
    problem = tile_problem(tiles)
    splits = config.param("SPLITS", default.splits)
    plan = split_plan(spec, tiles, splits)     # the heuristic's own plan for its own choices
    if problem is None and splits < 1:
        problem = f"SPLITS={splits} (at least 1)"
    if problem is None and plan.workspace(spec) > MAX_WORKSPACE:
        problem = f"{splits} k slices need {plan.workspace(spec) * 4} bytes of workspace (at most {MAX_WORKSPACE * 4})"
    if problem is not None:
        raise UnsupportedError(f"CUDA GEMM (m={spec.m} n={spec.n} k={spec.k}): config {config.dumps()}: {problem}")
    return GemmChoice(plan, bool(config.param("REGCAP", 1)))


# --- Attention ----------------------------------------------------------------------------------

def attention_space(spec: AttentionSpec, target: Target) -> ConfigSpace | None:
    """None where no tiling fits (the kernel prints as a loop nest)."""
    tiles = attention.choose_tiles(spec, target.limit("sms"))
    if tiles is None:
        return None
    fitting = [t for t in attention.TUNABLE if attention.tiles_problem(spec, t) is None]
    return ConfigSpace((
        ("tiles", _first(_params(BQ=tiles.bq, BKV=tiles.bk), (_params(BQ=t.bq, BKV=t.bk) for t in fitting))),
        ("min_blocks", tuple(_params(MIN_BLOCKS=b) for b in ATTENTION_MIN_BLOCKS)),
    ))


def attention_choice(spec: AttentionSpec, config: KernelConfig, target: Target
                     ) -> tuple[attention.AttentionTiles, int] | None:
    """(tiles, min blocks per SM) for `config`, or None where the template does not apply."""
    default = attention.choose_tiles(spec, target.limit("sms"))
    if default is None:
        return None
    tiles = attention.AttentionTiles(config.param("BQ", default.bq), config.param("BKV", default.bk))
    blocks = config.param("MIN_BLOCKS", attention.MIN_BLOCKS_PER_SM)
    problem = attention.tiles_problem(spec, tiles) if tiles != default else None
    if problem is None and not 1 <= blocks <= 16:
        problem = f"MIN_BLOCKS={blocks} (1 to 16)"
    if problem is not None:
        raise UnsupportedError(f"CUDA attention (rows={spec.rows} keys={spec.keys}): config {config.dumps()}: {problem}")
    return tiles, blocks


# --- Loop kernels -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoopChoice:
    threads: int = THREADS
    blocks_per_sm: int = BLOCKS_PER_SM
    vector: bool = True


def _loop_knobs(kernel: Kernel) -> tuple[bool, bool]:
    """(whether some phase has grid loops, whether some phase vectorises)."""
    params = {buffer.name: buffer for buffer in kernel.params}
    looped = vectors = False
    for phase in phases(kernel.body, kernel.symbols):
        if phase.loops:
            looped = True
            if warp_rows.warp_rows(phase) is None and vectorize.vector_plan(phase, params) is not None:
                vectors = True
    return looped, vectors


def loop_space(kernel: Kernel) -> ConfigSpace:
    looped, vectors = _loop_knobs(kernel)
    if not looped:
        return ConfigSpace()
    knobs = [("threads", tuple(_params(THREADS=t) for t in THREAD_CHOICES)),
             ("blocks_per_sm", tuple(_params(BLOCKS_PER_SM=b) for b in BLOCKS_PER_SM_CHOICES))]
    if vectors:
        knobs.append(("vector", (_params(VECTOR=1), _params(VECTOR=0))))
    return ConfigSpace(tuple(knobs))


def loop_choice(kernel: Kernel, config: KernelConfig) -> LoopChoice:
    choice = LoopChoice(config.param("THREADS", THREADS), config.param("BLOCKS_PER_SM", BLOCKS_PER_SM),
                        bool(config.param("VECTOR", 1)))
    if choice.threads % warp_rows.WARP or not warp_rows.WARP <= choice.threads <= 1024 or choice.blocks_per_sm < 1:
        raise UnsupportedError(f"CUDA kernel {kernel.name}: config {config.dumps()}: THREADS must be whole warps "
                               f"up to 1024 and BLOCKS_PER_SM at least 1")
    return choice


# --- The backend's hooks ------------------------------------------------------------------------

def config_space(kernel: Kernel, target: Target) -> ConfigSpace:
    if kernel.contraction is not None:
        return gemm_space(kernel.contraction, target)
    if kernel.attention is not None:
        space = attention_space(kernel.attention, target)
        if space is not None:
            return space
    return loop_space(kernel)


def default_config(kernel: Kernel, target: Target) -> KernelConfig:
    return config_space(kernel, target).config_at(0)


__all__ = ["GemmChoice", "LoopChoice", "TILE_SHAPES", "attention_choice", "config_space", "default_config",
           "gemm_choice", "gemm_space", "loop_choice", "loop_space"]
