"""Rule for simplify: a chain of Transposes and Reshapes that only add or drop size-1 axes is
one Transpose (or none, when the axes come back in order):

    %t = Transpose(%x){0,2,1,3}; %y = Transpose(%t){0,2,1,3}   ->   %y = Identity(%x)

torch.export's GPT-2 turns k into keys-last as

    %t = Transpose(%k){0,2,1,3}      [1,128,6,64] -> [1,6,128,64]
    %r = Reshape(%t){-1,128,64}      -> [6,128,64]          (drops the unit batch)
    %u = Transpose(%r){0,2,1}        -> [6,64,128]
    %y = Reshape(%u){1,6,64,128}     -> [1,6,64,128]        (puts it back)
        ->  %y = Transpose(%k){0,2,3,1}

which the Attention then reads in place (simplify_attention.py): two copies a layer fewer.
Each value on the way must be read by the chain alone; the chain's ends must have the same
rank (unit axes pair up in order; their order is immaterial).
"""
from __future__ import annotations

from compiler.ir.graph import Graph, Node
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.shape import PermAttrs
from passes.pattern import only_consumers


def _non_unit(shape) -> list:
    return [d for d in shape if d != 1]


def _is_unit_reshape(graph: Graph, node: Node) -> bool:
    before, after = graph.type_of(node.inputs[0]).shape, node.outputs[0].type.shape
    return _non_unit(before) == _non_unit(after) and all(isinstance(d, int) for d in before + after)


def _in_chain(graph: Graph, node: Node | None) -> bool:
    return node is not None and (node.op == "Transpose" or (node.op == "Reshape" and _is_unit_reshape(graph, node)))


def _chain(graph: Graph, node: Node) -> list[Node]:
    """The Transposes and unit-axis Reshapes ending at `node`, first first."""
    chain = [node]
    while True:
        value, reader = chain[-1].inputs[0], chain[-1].name
        producer = graph.producers.get(value)
        if not _in_chain(graph, producer) or not only_consumers(graph, value, {reader}):
            return chain[::-1]
        chain.append(producer)


def _labels_after(graph: Graph, chain: list[Node]) -> list:
    """For each axis of the chain's output: the axis of the chain's input it holds (None for a
    unit axis)."""
    shape = graph.type_of(chain[0].inputs[0]).shape
    labels = [axis if shape[axis] != 1 else None for axis in range(len(shape))]
    for node in chain:
        if node.op == "Transpose":
            labels = [labels[p] for p in node.attrs.perm]
        else:
            carried = iter(label for label in labels if label is not None)
            labels = [None if d == 1 else next(carried) for d in node.outputs[0].type.shape]
    return labels


def transposes_through_unit_reshapes(graph: Graph, node: Node) -> list[Node] | None:
    if not _in_chain(graph, node):
        return None
    chain = _chain(graph, node)
    if len(chain) < 2 or all(n.op == "Reshape" for n in chain):
        return None
    source = chain[0].inputs[0]
    rank = len(graph.type_of(source).shape)
    labels = _labels_after(graph, chain)
    if len(labels) != rank:
        return None
    shape = graph.type_of(source).shape
    units = iter(axis for axis in range(rank) if shape[axis] == 1)
    perm = tuple(next(units) if label is None else label for label in labels)
    if perm == tuple(range(rank)):
        return [Node("Identity", node.name, (source,), node.outputs, NoAttrs())]
    return [Node("Transpose", node.name, (source,), node.outputs, PermAttrs(perm))]
