"""The CPU backend: C99 + OpenMP, built by the system C compiler into a shared library."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from compiler.ir.config import ConfigSpace, KernelConfig, Parallel, Serial, Unroll
from compiler.ir.loops import For, Kernel, LoopKind
from compiler.target import Target
from backends.base import Binary, LoweredModel, Source
from backends.cpu.build import LIBRARY_NAME, build_library
from backends.cpu.printer import HEADER_NAME, SOURCE_NAME, print_model
from backends.cpu.runtime import CpuModel


def _outer_loop(kernel: Kernel) -> For | None:
    body = kernel.body
    from compiler.ir.loops import Block
    while isinstance(body, Block) and body.stmts:
        body = body.stmts[0]
    return body if isinstance(body, For) else None


@dataclass(frozen=True)
class CpuBackend:
    name: str = "cpu"
    cache_dir: Path | None = None

    def config_space(self, kernel: Kernel, target: Target) -> ConfigSpace:
        """Loop kernels: whether the outer loop is threaded. Templates add their own knobs."""
        outer = _outer_loop(kernel)
        if outer is None or outer.kind is not LoopKind.PARALLEL:
            return ConfigSpace()
        return ConfigSpace((("outer", (KernelConfig(), KernelConfig((Serial(outer.var),)))),))

    def default_config(self, kernel: Kernel, target: Target) -> KernelConfig:
        return KernelConfig()

    def lower(self, model: LoweredModel, target: Target) -> Source:
        return print_model(model, target)

    def build(self, source: Source, target: Target) -> Binary:
        return build_library(source, target, self.cache_dir)

    def load(self, directory: Path, weights, threads: int = 1) -> CpuModel:
        return CpuModel(Path(directory) / LIBRARY_NAME, weights, threads)


__all__ = ["CpuBackend", "HEADER_NAME", "LIBRARY_NAME", "SOURCE_NAME"]
