"""The CUDA backend: CUDA C kernels built by nvcc into a cubin, launched by a small C host
runtime (driver API through dlopen) built into libmodel.so with the CPU artifact's ABI."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.target import Target
from backends.base import Binary, GraphLayoutConstants, LoweredModel, NoKernelConfigs, Source
from backends.cpu.build import LIBRARY_NAME
from backends.cpu.printer import HEADER_NAME
from backends.cuda.build import KERNELS_NAME, build_cuda
from backends.cuda.host import CUBIN_NAME, CUDA_HEADER, HOST_NAME, HostPrinter
from backends.cuda.printer import print_kernels
from backends.cuda.runtime import CudaModel


@dataclass(frozen=True)
class CudaBackend(NoKernelConfigs, GraphLayoutConstants):
    name: str = "cuda"
    cache_dir: Path | None = None

    def lower(self, model: LoweredModel, target: Target) -> Source:
        kernels, launches = print_kernels(model, target)
        host = HostPrinter(model, target, launches).host_c()
        return Source({KERNELS_NAME: kernels, HOST_NAME: host, HEADER_NAME: CUDA_HEADER}, entry=KERNELS_NAME)

    def build(self, source: Source, target: Target) -> Binary:
        return build_cuda(source, target, self.cache_dir)

    def load(self, directory: Path, weights, threads: int = 1) -> CudaModel:
        return CudaModel(Path(directory) / LIBRARY_NAME, weights, threads)


__all__ = ["CUBIN_NAME", "CudaBackend", "HEADER_NAME", "LIBRARY_NAME"]
