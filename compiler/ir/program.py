"""A lowered model: unique kernels, the calls that run them in order, and the memory plan."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Mapping

from compiler.ir.graph import Graph
from compiler.ir.loops import Kernel


@dataclass(frozen=True, slots=True)
class KernelCall:
    kernel: str                 # name of a kernel in Program.kernels
    args: tuple[str, ...]       # graph value bound to each kernel parameter, in parameter order
    nodes: tuple[str, ...]      # graph nodes this call implements


@dataclass(frozen=True)
class Program:
    graph: Graph
    kernels: Mapping[str, Kernel]
    calls: tuple[KernelCall, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "kernels", MappingProxyType(dict(self.kernels)))


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an intermediate lives: `offset` bytes into `region`, in units of the region's
    symbolic monomial (e.g. offset 4096 in region ('batch',) means 4096 * batch bytes)."""
    region: tuple[str, ...]
    offset: int
    size: int
    first: int                  # index of the call that writes it
    last: int                   # index of the last call that reads it


@dataclass(frozen=True)
class MemoryPlan:
    placements: Mapping[str, Placement]
    region_sizes: Mapping[tuple[str, ...], int]   # bytes per unit of the region's monomial
    lower_bounds: Mapping[tuple[str, ...], int]   # most bytes live at one step, per region
    no_reuse: Mapping[tuple[str, ...], int]       # bytes if nothing were shared, per region
    alignment: int
    planner: str
    notes: tuple[str, ...] = ()
    # Values written over a dying input's bytes (same offset, lifetimes meeting at one call).
    in_place: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("placements", "region_sizes", "lower_bounds", "no_reuse", "in_place"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))

    @property
    def regions(self) -> tuple[tuple[str, ...], ...]:
        return tuple(sorted(self.region_sizes))


@dataclass(frozen=True)
class WeightsLayout:
    offsets: Mapping[str, int]
    sizes: Mapping[str, int]
    total: int
    alignment: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "offsets", MappingProxyType(dict(self.offsets)))
        object.__setattr__(self, "sizes", MappingProxyType(dict(self.sizes)))


def kernel_hash(kernel: Kernel) -> str:
    """Structural hash of a kernel's code (its name excluded): the dedup and tuning key."""
    anonymous = replace(kernel, name="", nodes=())
    return hashlib.sha256(repr((anonymous.params, anonymous.symbols, anonymous.body,
                                anonymous.locals, anonymous.contraction, anonymous.attention,
                                anonymous.overwritable)).encode()).hexdigest()
