"""Helpers the rewrite rules share: constants, consumers, fresh names, and a rule's answer."""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.graph import Graph, Node


@dataclass(frozen=True)
class Rewrite:
    """A rule's answer when it also creates constants (folded weights)."""
    nodes: list
    constants: dict


def scalar_constant(graph: Graph, name: str) -> float | None:
    array = graph.constants.get(name)
    if array is None or array.size != 1 or array.dtype.kind != "f":
        return None
    return float(array.reshape(()))


def only_consumers(graph: Graph, value: str, allowed: set[str]) -> bool:
    """`value` is read by nodes in `allowed` only (and is not a graph output)."""
    return value not in graph.outputs and {n.name for n in graph.consumers.get(value, ())} <= allowed


def produced_by(graph: Graph, value: str, op: str) -> Node | None:
    """The node writing `value` when it is an `op`, else None."""
    producer = graph.producers.get(value)
    return producer if producer is not None and producer.op == op else None


class FreshNames:
    """Names not yet used by a graph's values or nodes, each handed out once (for rewriters
    that add many values in one walk, where `fresh` alone would hand out a name twice)."""

    def __init__(self, graph: Graph):
        self.taken = set(graph.types) | {node.name for node in graph.nodes}

    def __call__(self, base: str) -> str:
        name = base
        while name in self.taken:
            name += "_"
        self.taken.add(name)
        return name


def fresh(graph: Graph, base: str) -> str:
    name = base
    while name in graph.types:
        name += "_"
    return name
