"""The CUDA backend: CUDA C kernels built by nvcc into a cubin, launched by a small C host
runtime (driver API through dlopen) built into libmodel.so with the CPU artifact's ABI."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.ir.config import ConfigSpace, KernelConfig
from compiler.ir.loops import Kernel
from compiler.target import Target
from backends.base import Binary, GraphLayoutConstants, LoweredModel, Source
from backends.cuda import estimate, space
from backends.cpu.build import LIBRARY_NAME
from backends.cpu.printer import HEADER_NAME
from backends.cuda.build import KERNELS_NAME, build_cuda
from backends.cuda.host import CUBIN_NAME, CUDA_HEADER, HOST_NAME, HostPrinter
from backends.cuda.printer import print_kernels
from backends.cuda.runtime import CudaModel


@dataclass(frozen=True)
class CudaBackend(GraphLayoutConstants):
    name: str = "cuda"
    cache_dir: Path | None = None

    def config_space(self, kernel: Kernel, target: Target) -> ConfigSpace:
        """GEMM tiles, split-K and register cap; attention tiles; loop kernels' threads, grid
        cap and float4 vectors (space.py). Index 0 is the heuristic's choice."""
        return space.config_space(kernel, target)

    def default_config(self, kernel: Kernel, target: Target) -> KernelConfig:
        return space.default_config(kernel, target)

    def fingerprint(self, target: Target) -> str:
        """Target, GPU name, driver and nvcc versions: what tuning records key on."""
        from backends.cuda.device_info import fingerprint
        return fingerprint(target)

    def estimate_seconds(self, kernel: Kernel, config: KernelConfig, target: Target) -> float | None:
        """An analytic prior for the tuner's cost model (estimate.py)."""
        return estimate.seconds(kernel, config, target)

    def benchmark(self, artifact_dir: Path, *, repeats: int, warmup: int, seed: int) -> list[float]:
        """Seconds per run of a compiled artifact on device-resident random inputs, timed with
        CUDA events (benchmark.py); a TargetError where no GPU can run it."""
        from backends.cuda.benchmark import benchmark
        return benchmark(Path(artifact_dir), repeats=repeats, warmup=warmup, seed=seed)

    def lower(self, model: LoweredModel, target: Target) -> Source:
        kernels, launches = print_kernels(model, target)
        host = HostPrinter(model, target, launches).host_c()
        return Source({KERNELS_NAME: kernels, HOST_NAME: host, HEADER_NAME: CUDA_HEADER}, entry=KERNELS_NAME)

    def build(self, source: Source, target: Target) -> Binary:
        return build_cuda(source, target, self.cache_dir)

    def load(self, directory: Path, weights, threads: int = 1) -> CudaModel:
        return CudaModel(Path(directory) / LIBRARY_NAME, weights, threads)


__all__ = ["CUBIN_NAME", "CudaBackend", "HEADER_NAME", "LIBRARY_NAME"]
