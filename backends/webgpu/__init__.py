"""The WebGPU backend: WGSL compute shaders, a dispatch plan and weights.bin, run in a browser
by runtime.js (index.html) or from Python by wgpu (runtime.py)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from compiler.ir.config import ConfigSpace, KernelConfig
from compiler.ir.loops import Kernel
from compiler.ir.program import Program
from compiler.target import Target
from backends.base import Binary, LoweredModel, Source, constants_used
from backends.webgpu.build import build_web
from backends.webgpu.plan import PLAN_NAME, plan


@dataclass(frozen=True)
class WebGpuBackend:
    name: str = "webgpu"

    def config_space(self, kernel: Kernel, target: Target) -> ConfigSpace:
        """Nothing to tune in this first slice: fixed GEMM tiles, grid-stride loop kernels."""
        return ConfigSpace()

    def default_config(self, kernel: Kernel, target: Target) -> KernelConfig:
        return KernelConfig()

    def prepare(self, program: Program, configs: Mapping[str, KernelConfig],
                target: Target) -> tuple[Program, dict[str, np.ndarray]]:
        """Constants stay in their graph layout: the GEMM template reads them through strides."""
        return program, constants_used(program)

    def lower(self, model: LoweredModel, target: Target) -> Source:
        return Source(plan(model, target), entry=PLAN_NAME)

    def build(self, source: Source, target: Target) -> Binary:
        return build_web(source)

    def load(self, directory: Path, weights, threads: int = 1):
        from backends.webgpu.runtime import WebGpuModel
        return WebGpuModel(Path(directory), weights, threads)


__all__ = ["WebGpuBackend"]
