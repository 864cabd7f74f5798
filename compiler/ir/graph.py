"""The graph IR: frozen nodes in topological order, typed values, constants."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Iterable, Mapping

import numpy as np

from compiler.ir.dtypes import DType
from compiler.ir.types import TensorType


@dataclass(frozen=True, slots=True)
class Value:
    name: str
    type: TensorType


@dataclass(frozen=True, slots=True)
class Node:
    """One operation. `inputs` names values ("" marks an absent optional input);
    `attrs` is the frozen attribute dataclass registered for `op`."""

    op: str
    name: str
    inputs: tuple[str, ...]
    outputs: tuple[Value, ...]
    attrs: object

    @property
    def output_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.outputs)


def constant_type(array: np.ndarray) -> TensorType:
    return TensorType(tuple(int(d) for d in array.shape), DType.from_numpy(array.dtype))


def freeze_array(array: np.ndarray) -> np.ndarray:
    frozen = np.array(array, order="C")  # a copy; np.ascontiguousarray turns 0-d arrays into 1-d
    frozen.flags.writeable = False
    return frozen


@dataclass(frozen=True)
class Graph:
    name: str
    inputs: tuple[Value, ...]
    outputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    constants: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frozen = {k: (v if not v.flags.writeable and v.flags.c_contiguous else freeze_array(v))
                  for k, v in self.constants.items()}
        object.__setattr__(self, "constants", MappingProxyType(frozen))

    @cached_property
    def types(self) -> Mapping[str, TensorType]:
        table: dict[str, TensorType] = {v.name: v.type for v in self.inputs}
        table.update((name, constant_type(array)) for name, array in self.constants.items())
        for node in self.nodes:
            table.update((v.name, v.type) for v in node.outputs)
        return MappingProxyType(table)

    @cached_property
    def producers(self) -> Mapping[str, Node]:
        return MappingProxyType({v.name: node for node in self.nodes for v in node.outputs})

    @cached_property
    def consumers(self) -> Mapping[str, tuple[Node, ...]]:
        table: dict[str, list[Node]] = {}
        for node in self.nodes:
            for name in node.inputs:
                if name:
                    table.setdefault(name, []).append(node)
        return MappingProxyType({k: tuple(v) for k, v in table.items()})

    def type_of(self, name: str) -> TensorType:
        try:
            return self.types[name]
        except KeyError:
            raise KeyError(f"value '{name}' is not defined in graph '{self.name}'") from None

    @property
    def input_names(self) -> tuple[str, ...]:
        return tuple(v.name for v in self.inputs)

    def output_values(self) -> tuple[Value, ...]:
        return tuple(Value(name, self.type_of(name)) for name in self.outputs)

    def replace(self, **changes) -> "Graph":
        return dataclasses.replace(self, **changes)

    def with_nodes(self, nodes: Iterable[Node], constants: Mapping[str, np.ndarray] | None = None) -> "Graph":
        return dataclasses.replace(self, nodes=tuple(nodes),
                                   constants=self.constants if constants is None else constants)
