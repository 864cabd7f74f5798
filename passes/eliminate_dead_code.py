"""eliminate_dead_code: drop nodes and constants that no graph output depends on.

    %t = Relu(%x); %u = Exp(%x); return %t     ->     %t = Relu(%x); return %t
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.graph import Graph


@dataclass(frozen=True)
class EliminateDeadCode:
    def __call__(self, graph: Graph) -> Graph:
        return eliminate_dead_code(graph)


def eliminate_dead_code(graph: Graph) -> Graph:
    live = set(graph.outputs)
    kept = []
    for node in reversed(graph.nodes):
        if any(name in live for name in node.output_names):
            kept.append(node)
            live.update(n for n in node.inputs if n)
    constants = {k: v for k, v in graph.constants.items() if k in live}
    return graph.with_nodes(reversed(kept), constants)
