"""materialize_outputs: make every graph output a distinct value written by a node.

Outputs live in caller-provided buffers, so an output that is a graph input, a constant, or a
value listed twice gets an Identity copy.

    graph(%x) -> (%x, %w)       ->     %x_out0 = Identity(%x); %w_out1 = Identity(%w)
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import NoAttrs


@dataclass(frozen=True)
class MaterializeOutputs:
    def __call__(self, graph: Graph) -> Graph:
        return materialize_outputs(graph)


def materialize_outputs(graph: Graph) -> Graph:
    produced = set(graph.producers)
    seen: set[str] = set()
    nodes = list(graph.nodes)
    outputs = []
    taken = set(graph.types) | {n.name for n in graph.nodes}
    for index, name in enumerate(graph.outputs):
        if name in produced and name not in seen:
            outputs.append(name)
        else:
            fresh = f"{name}_out{index}"
            while fresh in taken:
                fresh += "_"
            taken.add(fresh)
            nodes.append(Node("Identity", f"materialize_{fresh}", (name,),
                              (Value(fresh, graph.type_of(name)),), NoAttrs()))
            outputs.append(fresh)
        seen.add(name)
    if outputs == list(graph.outputs):
        return graph
    return graph.replace(nodes=tuple(nodes), outputs=tuple(outputs))
