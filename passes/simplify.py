"""simplify: local algebraic rewrites, as a table of (op, rule) pairs. A rule returns the
replacement nodes or None for "no match"; the pass applies the table until nothing changes.

Needs: a verified graph. Rules never change values, only how they are computed.

    %y = Pow(%x, %three)    (const %three = 3.0)     ->    %x2 = Mul(%x, %x); %y = Mul(%x2, %x)
    %y = Pow(%x, %half)     (const %half = 0.5)      ->    %y = Sqrt(%x)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable



from compiler.ir.graph import Graph, Node, Value
from compiler.ir.ops import NoAttrs

Rule = Callable[[Graph, Node], "list[Node] | None"]


def _scalar_constant(graph: Graph, name: str) -> float | None:
    array = graph.constants.get(name)
    if array is None or array.size != 1 or array.dtype.kind != "f":
        return None
    return float(array.reshape(()))


def _pow_by_multiplication(graph: Graph, node: Node) -> list[Node] | None:
    """x^1, x^2, x^3, x^0.5 without powf (powf is a scalar libm call per element)."""
    exponent = _scalar_constant(graph, node.inputs[1])
    x, (out,) = node.inputs[0], node.outputs
    if exponent is None or graph.type_of(x).shape != out.type.shape or not out.type.dtype.is_float:
        return None
    if exponent == 1.0:
        return [Node("Identity", node.name, (x,), (out,), NoAttrs())]
    if exponent == 2.0:
        return [Node("Mul", node.name, (x, x), (out,), NoAttrs())]
    if exponent == 3.0:
        square = Value(f"{out.name}__square", out.type)
        return [Node("Mul", f"{node.name}__square", (x, x), (square,), NoAttrs()),
                Node("Mul", node.name, (square.name, x), (out,), NoAttrs())]
    if exponent == 0.5:
        return [Node("Sqrt", node.name, (x,), (out,), NoAttrs())]
    return None


RULES: dict[str, tuple[Rule, ...]] = {
    "Pow": (_pow_by_multiplication,),
}


@dataclass(frozen=True)
class Simplify:
    max_rounds: int = 8

    def __call__(self, graph: Graph) -> Graph:
        return simplify(graph, self.max_rounds)


def simplify(graph: Graph, max_rounds: int = 8) -> Graph:
    for _ in range(max_rounds):
        changed = False
        nodes: list[Node] = []
        for node in graph.nodes:
            replacement = None
            for rule in RULES.get(node.op, ()):
                replacement = rule(graph, node)
                if replacement is not None:
                    break
            if replacement is None:
                nodes.append(node)
            else:
                nodes.extend(replacement)
                changed = True
        if not changed:
            return graph
        graph = graph.with_nodes(nodes)
    return graph



