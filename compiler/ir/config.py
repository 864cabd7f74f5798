"""Kernel configurations: a tuple of small records that the tile pass replays on a kernel.

Heuristics, tuning records and the autotuner's search all produce the same data, so a stored
config is just its JSON. Loops are named by their loop variable (every loop with that variable).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from typing import Union


@dataclass(frozen=True, slots=True)
class Parallel:
    loop: str


@dataclass(frozen=True, slots=True)
class Serial:
    loop: str


@dataclass(frozen=True, slots=True)
class Vectorize:
    loop: str
    width: int = 0          # 0: the ISA's natural width


@dataclass(frozen=True, slots=True)
class Unroll:
    loop: str
    factor: int


@dataclass(frozen=True, slots=True)
class Split:
    loop: str
    factor: int


@dataclass(frozen=True, slots=True)
class Reorder:
    loops: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Bind:
    loop: str
    axis: str               # "block" | "thread"


@dataclass(frozen=True, slots=True)
class Stage:
    buffer: str
    scope: str


@dataclass(frozen=True, slots=True)
class ReuseFactor:
    factor: int


@dataclass(frozen=True, slots=True)
class Param:
    """A named template parameter (tile sizes MC/NC/KC/MR/NR, threads, stages...)."""
    name: str
    value: int


Record = Union[Parallel, Serial, Vectorize, Unroll, Split, Reorder, Bind, Stage, ReuseFactor, Param]
RECORDS = {cls.__name__: cls for cls in (Parallel, Serial, Vectorize, Unroll, Split, Reorder, Bind,
                                          Stage, ReuseFactor, Param)}


@dataclass(frozen=True, slots=True)
class KernelConfig:
    records: tuple[Record, ...] = ()

    def to_json(self) -> list:
        return [{"kind": type(r).__name__, **_plain(asdict(r))} for r in self.records]

    @staticmethod
    def from_json(data: list) -> "KernelConfig":
        records = []
        for item in data:
            item = dict(item)
            kind = item.pop("kind", None)
            if kind not in RECORDS:
                raise ValueError(f"unknown config record '{kind}'")
            cls = RECORDS[kind]
            names = {f.name for f in fields(cls)}
            if set(item) != names:
                raise ValueError(f"config record {kind} needs fields {sorted(names)}, got {sorted(item)}")
            records.append(cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in item.items()}))
        return KernelConfig(tuple(records))

    def dumps(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))

    def param(self, name: str, default: int) -> int:
        for r in self.records:
            if isinstance(r, Param) and r.name == name:
                return r.value
        return default


def _plain(data: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}


@dataclass(frozen=True, slots=True)
class ConfigSpace:
    """Choices per knob; the space is their product. Each choice list's first entry is the default."""
    knobs: tuple[tuple[str, tuple[KernelConfig, ...]], ...] = ()

    def size(self) -> int:
        total = 1
        for _, choices in self.knobs:
            total *= len(choices)
        return total

    def config_at(self, index: int) -> KernelConfig:
        records = []
        for _, choices in self.knobs:
            index, pick = divmod(index, len(choices))
            records.extend(choices[pick].records)
        return KernelConfig(tuple(records))
