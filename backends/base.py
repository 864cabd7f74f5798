"""The backend protocol and the data that crosses it.

Backends turn a lowered Program (kernels + calls + memory plan) into source text (pure and
deterministic), build it with the target's toolchain, and load the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Callable, Mapping, Protocol

import numpy as np

from compiler.errors import BuildError
from compiler.ir.config import ConfigSpace, KernelConfig
from compiler.ir.loops import Kernel
from compiler.ir.program import MemoryPlan, Program, WeightsLayout
from compiler.target import Target

__all__ = ["Backend", "BuildError", "Binary", "GraphLayoutConstants", "LoweredModel", "NoKernelConfigs",
           "Source", "constants_used"]


@dataclass(frozen=True)
class LoweredModel:
    """Everything a backend needs to print a whole model."""
    program: Program
    memory: MemoryPlan
    weights: WeightsLayout
    configs: Mapping[str, KernelConfig]
    constants: Mapping[str, "np.ndarray"]   # what weights.bin holds (packed where kernels want it)
    output_names: tuple[str, ...]           # the model's own output names (graph passes may rename values)


@dataclass(frozen=True)
class Source:
    """Generated text files by relative path (always shipped in the artifact)."""
    files: Mapping[str, str]
    entry: str                                  # the main translation unit

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))


@dataclass(frozen=True)
class Binary:
    """Built files by relative path (shared library, cubin...), plus the build command line."""
    files: Mapping[str, bytes]
    command: tuple[str, ...] = ()
    metadata: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "files", MappingProxyType(dict(self.files)))


class Backend(Protocol):
    name: str

    def config_space(self, kernel: Kernel, target: Target) -> ConfigSpace: ...

    def default_config(self, kernel: Kernel, target: Target) -> KernelConfig: ...

    def prepare(self, program: Program, configs: Mapping[str, KernelConfig],
                target: Target) -> tuple[Program, Mapping[str, np.ndarray]]:
        """Re-lay out constants for the kernels that read them (packing); returns the program
        with calls pointing at the packed constants, and the constants weights.bin holds."""
        ...

    def lower(self, model: LoweredModel, target: Target) -> Source: ...

    def build(self, source: Source, target: Target) -> Binary: ...

    def load(self, directory: str, manifest: Mapping) -> Callable: ...


class NoKernelConfigs:
    """For backends that tune nothing per kernel: an empty space, the empty config. (The CUDA
    GEMM's tile choice is a cost model inside its template; FPGA parallelism is searched for
    the whole design.)"""

    def config_space(self, kernel: Kernel, target: Target) -> ConfigSpace:
        return ConfigSpace()

    def default_config(self, kernel: Kernel, target: Target) -> KernelConfig:
        return KernelConfig()


class GraphLayoutConstants:
    """prepare for backends whose templates read constants through strides, in their graph
    layout: nothing packed, weights.bin holds the constants some call reads."""

    def prepare(self, program: Program, configs: Mapping[str, KernelConfig],
                target: Target) -> tuple[Program, dict[str, np.ndarray]]:
        return program, constants_used(program)


def constants_used(program: Program) -> dict[str, np.ndarray]:
    """The graph constants some call reads: what weights.bin holds when nothing is packed."""
    used = {a for call in program.calls for a in call.args}
    return {name: program.graph.constants[name] for name in program.graph.constants if name in used}
