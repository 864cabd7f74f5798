"""An analytic prior on a CUDA kernel's time under one config, for the tuner's cost model
(which only ranks with it, so the constants are an H100-class GPU's, not the device's own).

- GEMM: gemm_tiles.plan_cost (waves of resident blocks, tile quantisation, each wave bound by
  the SM's FMA throughput or one thread's serial chain; split-K's extra launch and traffic) in
  seconds, never below the kernel's bytes at memory bandwidth.
- Attention: its FLOPs at the FMA peak scaled by how evenly its blocks fill the SMs, padded
  rows counted, or its bytes at memory bandwidth, whichever is slower.
- Loop kernels: bytes at memory bandwidth scaled by the fraction of the GPU's threads the
  grid occupies (few threads cannot keep enough loads in flight), plus a launch per phase.
"""
from __future__ import annotations

from compiler.ir.config import KernelConfig
from compiler.ir.loops import Const, Kernel
from compiler.target import Target
from backends.cuda import space
from backends.cuda.gemm_tiles import plan_cost
from backends.cuda.grid import phases

# plan_cost's unit: about 11 ps (gemm_tiles.py: its split launch, 2.7e5 units, is ~3 us).
COST_UNIT_SECONDS = 1.1e-11
FMA_FLOPS = 60e12           # fp32 FMA peak, H100 SXM class
BANDWIDTH = 3.0e12          # bytes/s of device memory
LAUNCH_SECONDS = 3e-6
THREADS_PER_SM = 2048
# Loop kernels with an unknown (symbolic) grid are assumed to fill the GPU.
_FULL = 1.0


def _memory_seconds(kernel: Kernel) -> float:
    return kernel.cost.bytes / BANDWIDTH


def _gemm_seconds(kernel: Kernel, config: KernelConfig, target: Target) -> float:
    plan = space.gemm_choice(kernel.contraction, config, target).plan
    launches = 2 if plan.splits > 1 else 1
    compute = plan_cost(kernel.contraction, plan, target.limit("sms")) * COST_UNIT_SECONDS
    return max(compute, _memory_seconds(kernel)) + launches * LAUNCH_SECONDS


def _attention_seconds(kernel: Kernel, config: KernelConfig, target: Target) -> float | None:
    chosen = space.attention_choice(kernel.attention, config, target)
    if chosen is None:
        return None
    tiles, _ = chosen
    spec = kernel.attention
    sms = target.limit("sms")
    blocks = tiles.blocks(spec)
    waves = -(-blocks // sms) / (blocks / sms)        # >= 1: the last wave's idle SMs
    padded = -(-spec.rows // tiles.bq) * tiles.bq / spec.rows
    compute = kernel.cost.flops * padded * waves / FMA_FLOPS
    return max(compute, _memory_seconds(kernel)) + LAUNCH_SECONDS


def _loop_seconds(kernel: Kernel, config: KernelConfig, target: Target) -> float:
    choice = space.loop_choice(kernel, config)
    sms = target.limit("sms")
    kernel_phases = phases(kernel.body, kernel.symbols)
    total = 0.0
    for phase in kernel_phases:
        extent = phase.grid_size()
        if not phase.loops:
            occupancy = 1.0 / (sms * THREADS_PER_SM)   # one thread runs it all
        elif isinstance(extent, Const):
            blocks = min(-(-extent.value // choice.threads), sms * choice.blocks_per_sm)
            occupancy = min(1.0, blocks * choice.threads / (sms * THREADS_PER_SM))
        else:
            occupancy = _FULL
        # Below a quarter of the threads, latency rather than bandwidth bounds the sweep.
        sweep = _memory_seconds(kernel) / len(kernel_phases) / min(1.0, 4 * occupancy)
        total += LAUNCH_SECONDS + sweep
    return total


def seconds(kernel: Kernel, config: KernelConfig, target: Target) -> float | None:
    if kernel.contraction is not None:
        return _gemm_seconds(kernel, config, target)
    if kernel.attention is not None:
        estimate = _attention_seconds(kernel, config, target)
        if estimate is not None:
            return estimate
    return _loop_seconds(kernel, config, target)


__all__ = ["seconds"]
