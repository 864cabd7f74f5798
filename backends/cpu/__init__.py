"""The CPU backend: C99 + OpenMP, built by the system C compiler into a shared library."""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

import numpy as np

from compiler.ir.config import ConfigSpace, KernelConfig, Serial
from compiler.ir.contraction import Dense
from compiler.ir.loops import Block, For, Kernel, LoopKind
from compiler.ir.program import Program
from compiler.target import Target
from backends.base import Binary, LoweredModel, Source, constants_used
from backends.cpu import contraction
from backends.cpu.build import LIBRARY_NAME, build_library
from backends.cpu.estimate import estimate_seconds
from backends.cpu.printer import HEADER_NAME, SOURCE_NAME, print_model
from backends.cpu.measure import benchmark_library, host_fingerprint
from backends.cpu.runtime import CpuModel


def _outer_loop(kernel: Kernel) -> For | None:
    body = kernel.body
    while isinstance(body, Block) and body.stmts:
        body = body.stmts[0]
    return body if isinstance(body, For) else None


@dataclass(frozen=True)
class CpuBackend:
    name: str = "cpu"
    cache_dir: Path | None = None
    profile: bool = False
    opt_level: int = 3
    bench_threads: int | None = None     # benchmark(): threads to time with (None: every core)
    bench_flush_bytes: int = 0           # benchmark(): evict the caches before each run (measure.py)

    def config_space(self, kernel: Kernel, target: Target) -> ConfigSpace:
        """Contractions: the template's blocking (MR/NR/MC/NC), KC and thread split. Loop
        kernels: whether the outer loop is threaded."""
        if kernel.contraction is not None:
            return contraction.config_space(kernel.contraction, target)
        outer = _outer_loop(kernel)
        if outer is None or outer.kind is not LoopKind.PARALLEL:
            return ConfigSpace()
        return ConfigSpace((("outer", (KernelConfig(), KernelConfig((Serial(outer.var),)))),))

    def default_config(self, kernel: Kernel, target: Target) -> KernelConfig:
        if kernel.contraction is not None:
            return contraction.params_config(contraction.default_params(kernel.contraction, target))
        return KernelConfig()

    def prepare(self, program: Program, configs: Mapping[str, KernelConfig],
                target: Target) -> tuple[Program, dict[str, np.ndarray]]:
        """Pack every constant GEMM operand into its kernel's panel layout."""
        graph = program.graph
        constants: dict[str, np.ndarray] = {}
        calls = []
        for call in program.calls:
            kernel = program.kernels[call.kernel]
            spec = kernel.contraction
            args = list(call.args)
            if spec is not None:
                params = contraction.params_of(configs[call.kernel], spec, target)
                names = [b.name for b in kernel.params]
                for side, operand in (("a", spec.a), ("b", spec.b)):
                    if isinstance(operand, Dense) and operand.constant:
                        index = names.index(operand.param)
                        width = params.mr if side == "a" else params.nr
                        transform = f".winograd{params.winograd}" if params.winograd and side == "b" else ""
                        packed = f"{args[index]}{transform}.pack{side}{width}"
                        if packed not in constants:
                            constants[packed] = contraction.pack_constant(spec, side, graph.constants[args[index]], params)
                        args[index] = packed
            calls.append(replace(call, args=tuple(args)))
        program = replace(program, calls=tuple(calls))
        constants.update(constants_used(program))
        return program, constants

    def lower(self, model: LoweredModel, target: Target) -> Source:
        return print_model(model, target, self.profile)

    def build(self, source: Source, target: Target) -> Binary:
        return build_library(source, target, self.cache_dir, self.opt_level)

    def load(self, directory: Path, weights, threads: int = 1) -> CpuModel:
        return CpuModel(Path(directory) / LIBRARY_NAME, weights, threads)

    def estimate_seconds(self, kernel: Kernel, config: KernelConfig, target: Target) -> float | None:
        """The analytic prior of the tuner's cost model (only the order of configs matters)."""
        return estimate_seconds(kernel, config, target)

    def fingerprint(self, target: Target) -> str:
        return host_fingerprint(target)

    def benchmark(self, artifact_dir: Path, *, repeats: int, warmup: int, seed: int) -> list[float]:
        """Seconds per run of the artifact's library (on every core unless bench_threads)."""
        return benchmark_library(Path(artifact_dir), repeats=repeats, warmup=warmup, seed=seed,
                                 threads=self.bench_threads, flush_bytes=self.bench_flush_bytes)


__all__ = ["CpuBackend", "HEADER_NAME", "LIBRARY_NAME", "SOURCE_NAME"]
