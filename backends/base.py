"""The backend protocol and the data that crosses it.

Backends turn a lowered Program (kernels + calls + memory plan) into source text (pure and
deterministic), build it with the target's toolchain, and load the result.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Callable, Mapping, Protocol

import numpy as np

from compiler.errors import BuildError
from compiler.ir.config import ConfigSpace, KernelConfig
from compiler.ir.dtypes import DType
from compiler.ir.loops import Kernel
from compiler.ir.program import MemoryPlan, Program, WeightsLayout
from compiler.target import Target

__all__ = ["Backend", "BuildError", "Binary", "GraphLayoutConstants", "LoweredModel", "NoKernelConfigs",
           "Source", "benchmark_inputs", "constants_used"]


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

    # ---- autotuning hooks (autotune/ calls them; see shared/DESIGN.md, Autotuning)
    def fingerprint(self, target: Target) -> str:
        """What tuning records key on besides the kernel: the target and the concrete device
        and toolchain that measured it (CPU model and C compiler; GPU name, driver, nvcc)."""
        ...

    def benchmark(self, artifact_dir: Path, *, repeats: int, warmup: int, seed: int) -> list[float]:
        """Load a compiled artifact, run it `warmup` times then `repeats` times on
        benchmark_inputs(..., seed) (device-resident for GPU backends, timed with events or a
        synchronisation) and return the seconds of each timed run. Called in a separate
        process: a crash takes down only the measurement."""
        ...

    # Optional: `estimate_seconds(kernel, config, target) -> float | None`, an analytic prior
    # for the cost model (autotune reads it with getattr).


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


def benchmark_artifact(artifact_dir: Path, kind: str) -> "tuple[dict, np.ndarray]":
    """A compiled artifact's manifest and weights.bin bytes, for a backend's benchmark; one-line
    errors for a directory that is no artifact or one built for another kind of target."""
    import json
    from compiler.errors import ArtifactError, TargetError
    manifest_path = artifact_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ArtifactError(f"{artifact_dir}: no manifest.json (not an aotc artifact)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest["target"]["kind"] != kind:
        raise TargetError(f"{artifact_dir}: built for {manifest['target']['name']}, not a {kind} target")
    return manifest, np.fromfile(artifact_dir / "weights.bin", dtype=np.uint8)


def input_types(signature: "list[dict]") -> "list[tuple[DType, tuple[int, ...]]]":
    """A manifest's input signature as (dtype, shape) pairs for benchmark_inputs (symbolic
    dimensions taken as 1, as the tuner's output check takes them)."""
    return [(DType(e["dtype"]), tuple(d if isinstance(d, int) else 1 for d in e["shape"])) for e in signature]


def benchmark_inputs(types: "list[tuple[DType, tuple[int, ...]]]", seed: int) -> list[np.ndarray]:
    """Inputs for timing and for checking a tuning candidate against the default config:
    floats uniform in ±[0.5, 1.5) (non-zero), integers and booleans zero (always a valid
    index). Symbolic dimensions are given as 1 by the caller."""
    rng = np.random.default_rng(seed)
    arrays = []
    for dtype, shape in types:
        if dtype.is_float:
            magnitude = rng.uniform(0.5, 1.5, size=shape)
            sign = np.where(rng.integers(0, 2, size=shape) == 1, 1.0, -1.0)
            arrays.append(np.ascontiguousarray((magnitude * sign).astype(dtype.to_numpy())))
        else:
            arrays.append(np.zeros(shape, dtype=dtype.to_numpy()))
    return arrays
