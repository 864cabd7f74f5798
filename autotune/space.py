"""Tuning tasks: the unique kernels of a lowered model, weighted by how often the schedule
calls them, each with its backend's config space; and the keys records are stored under.

A task carries the one-kernel program a candidate is measured with: the kernel, the graph
values it reads and writes (the model's real constants included) and nothing else. Tasks
are plain picklable data, so build workers in other processes receive them whole.
"""
from __future__ import annotations

import hashlib
import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import numpy as np

from compiler.ir.config import ConfigSpace, KernelConfig
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.loops import Kernel
from compiler.ir.program import KernelCall, Program, kernel_hash
from compiler.target import Target
from autotune.database import TuningDatabase, TuningKey


@dataclass(frozen=True)
class Task:
    kernel_hash: str
    kernel: Kernel
    weight: int                                  # calls of this kernel in the model's schedule
    space: ConfigSpace
    # The one-kernel program, as picklable parts (Graph holds mapping proxies).
    graph_name: str
    inputs: tuple[Value, ...]
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]                      # the graph nodes the kernel implements (output types)
    constants: tuple[tuple[str, np.ndarray], ...]
    args: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.kernel.name

    def program(self) -> Program:
        """The kernel alone: its reads are graph inputs or constants, its writes graph outputs."""
        graph = Graph(self.graph_name, self.inputs, self.outputs, self.nodes, dict(self.constants))
        return Program(graph, {self.kernel.name: self.kernel}, (KernelCall(self.kernel.name, self.args, ()),))


def extract_tasks(program: Program, backend, target: Target) -> list[Task]:
    """Unique kernels by structural hash (the first call of each names it), weighted by their
    calls, with a config space of more than one config; most work (weight x flops) first."""
    first: dict[str, KernelCall] = {}
    weights: dict[str, int] = {}
    for call in program.calls:
        digest = kernel_hash(program.kernels[call.kernel])
        first.setdefault(digest, call)
        weights[digest] = weights.get(digest, 0) + 1
    tasks = []
    for digest, call in first.items():
        kernel = program.kernels[call.kernel]
        space = backend.config_space(kernel, target)
        if space.size() <= 1:
            continue
        tasks.append(_task(program, call, kernel, digest, weights[digest], space))
    return sorted(tasks, key=lambda t: (-t.weight * max(t.kernel.cost.flops, 1), t.kernel_hash))


def _task(program: Program, call: KernelCall, kernel: Kernel, digest: str, weight: int, space: ConfigSpace) -> Task:
    graph = program.graph
    reads, writes, constants = [], [], {}
    for param, arg in zip(kernel.params, call.args):
        if param.writable:
            writes.append(arg)
        elif arg in graph.constants:
            constants[arg] = graph.constants[arg]
        elif arg not in reads:
            reads.append(arg)
    producers = graph.producers
    nodes = tuple(dict.fromkeys(producers[name] for name in writes if name in producers))
    inputs = tuple(Value(name, graph.type_of(name)) for name in reads)
    return Task(digest, kernel, weight, space, f"task_{digest[:12]}", inputs, tuple(dict.fromkeys(writes)), nodes,
                tuple(sorted(constants.items())), call.args)


def config_index(space: ConfigSpace, config: KernelConfig) -> int | None:
    """The index of `config` in `space` (config_at's inverse), or None if it is not in it."""
    records = config.records

    def search(knob: int, at: int, index: int, scale: int) -> int | None:
        if knob == len(space.knobs):
            return index if at == len(records) else None
        choices = space.knobs[knob][1]
        for pick, choice in enumerate(choices):
            n = len(choice.records)
            if records[at:at + n] == choice.records:
                found = search(knob + 1, at + n, index + pick * scale, scale * len(choices))
                if found is not None:
                    return found
        return None
    return search(0, 0, 0, 1)


# Modules that load, run or time artifacts, or define the protocol: no effect on what a
# backend prints. A backend may list more in a `codegen_exclude` attribute.
NOT_CODEGEN = ("runtime.py", "measure.py", "base.py", "buildcache.py")


def codegen_version(backend) -> str:
    """sha256 of the backend package's Python sources and of the shared printers beside it
    (backends/*.py), sorted by path, less NOT_CODEGEN: records of an unchanged code
    generator stay valid across releases; a change to what it prints invalidates them."""
    package = Path(importlib.import_module(type(backend).__module__).__file__).parent
    shared = package.parent
    skip = set(NOT_CODEGEN) | set(getattr(backend, "codegen_exclude", ()))
    digest = hashlib.sha256()
    for path in sorted(p for p in [*package.rglob("*.py"), *shared.glob("*.py")] if p.name not in skip):
        digest.update(str(path.relative_to(shared)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def tunable(backend) -> bool:
    """Whether the backend has the tuning hooks (fingerprint and benchmark)."""
    return callable(getattr(backend, "fingerprint", None)) and callable(getattr(backend, "benchmark", None))


def tuning_key(backend, target: Target, digest: str, fingerprint: str | None = None,
               codegen: str | None = None) -> TuningKey:
    return TuningKey(digest, backend.name, fingerprint or backend.fingerprint(target), codegen or codegen_version(backend))


def tuned_configs(program: Program, backend, target: Target,
                  db: TuningDatabase) -> tuple[dict[str, KernelConfig], dict[str, dict]]:
    """Each kernel's config: the best record under its key (this backend, this target's
    fingerprint, this codegen version) if the config is in its space, else default_config.
    Also what the manifest records for the tuned kernels."""
    configs: dict[str, KernelConfig] = {name: backend.default_config(k, target) for name, k in program.kernels.items()}
    tuned: dict[str, dict] = {}
    if not tunable(backend):
        return configs, tuned
    fingerprint, codegen = backend.fingerprint(target), codegen_version(backend)
    for name, kernel in program.kernels.items():
        default = configs[name]
        key = tuning_key(backend, target, kernel_hash(kernel), fingerprint, codegen)
        best = db.best(key)
        if best is None or config_index(backend.config_space(kernel, target), best.config) is None:
            continue
        configs[name] = best.config
        tuned[name] = {"target": key.target, "codegen": key.codegen, "seconds": best.seconds,
                       **_default_seconds(db, key, default)}
    return configs, tuned


def _default_seconds(db: TuningDatabase, key: TuningKey, default: KernelConfig) -> Mapping[str, float]:
    times = [r.seconds for r in db.records(key) if r.config == default and r.seconds is not None]
    return {"default_seconds": min(times)} if times else {}
