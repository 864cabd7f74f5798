"""The WebGPU backend: WGSL compute shaders, a dispatch plan and weights.bin, run in a browser
by runtime.js (index.html) or from Python by wgpu (runtime.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.ir.config import ConfigSpace, KernelConfig
from compiler.ir.loops import Kernel
from compiler.target import Target
from backends.base import Binary, GraphLayoutConstants, LoweredModel, NoKernelConfigs, Source
from backends.webgpu import gemm_space
from backends.webgpu.build import build_web
from backends.webgpu.plan import PLAN_NAME, plan


@dataclass(frozen=True)
class WebGpuBackend(NoKernelConfigs, GraphLayoutConstants):
    name: str = "webgpu"

    # Contractions carry up to three GEMM variants (gemm_space.py); loop kernels tune nothing.
    def config_space(self, kernel: Kernel, target: Target) -> ConfigSpace:
        if kernel.contraction is None:
            return ConfigSpace()
        return gemm_space.config_space(kernel.contraction, target)

    def default_config(self, kernel: Kernel, target: Target) -> KernelConfig:
        if kernel.contraction is None:
            return KernelConfig()
        return gemm_space.default_config(kernel.contraction, target)

    # ---- autotuning hooks: a contraction's first variant measured on this machine's adapter
    def fingerprint(self, target: Target) -> str:
        from backends.webgpu.benchmark import fingerprint
        return fingerprint(target)

    def benchmark(self, artifact_dir: Path, *, repeats: int, warmup: int, seed: int) -> list[float]:
        """Seconds per run of a compiled artifact through wgpu, variant slot 0 forced
        (benchmark.py); a TargetError without a WebGPU adapter."""
        from backends.webgpu.benchmark import benchmark
        return benchmark(Path(artifact_dir), repeats=repeats, warmup=warmup, seed=seed)

    def lower(self, model: LoweredModel, target: Target) -> Source:
        return Source(plan(model, target), entry=PLAN_NAME)

    def build(self, source: Source, target: Target) -> Binary:
        return build_web(source)

    def load(self, directory: Path, weights, threads: int = 1):
        from backends.webgpu.runtime import WebGpuModel
        return WebGpuModel(Path(directory), weights, threads)


__all__ = ["WebGpuBackend"]
