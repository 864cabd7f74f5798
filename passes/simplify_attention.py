"""Rules for simplify: Transposes around an Attention fold into it. The exporters split heads
with Reshape + Transpose(0, 2, 1, 3) on q and v and merge them back with the same Transpose on
the output; the attention kernel can read and write those layouts in place, so the copies go
(BERT/GPT-2: three fewer kernels a layer). Only orders that keep the last axis last fold: the
kernel's inner loops run along it and stay contiguous (k's Transpose(0, 2, 3, 1), which puts
the key axis last, stays a kernel of its own).

    %q = Transpose(%x){0,2,1,3}; %a = Attention(%q, %k, %v); %y = Transpose(%a){0,2,1,3}
        ->  %y = Attention(%x, %k, %v) {q_perm=[0,2,1,3], out_perm=[0,2,1,3]}
"""
from __future__ import annotations

from dataclasses import replace

from compiler.ir.graph import Graph, Node
from passes.pattern import only_consumers, produced_by


def _compose(outer: tuple[int, ...], inner: tuple[int, ...]) -> tuple[int, ...]:
    """Transposing by `inner`, then by `outer`, is transposing by this."""
    inner = inner or tuple(range(len(outer)))
    return tuple(inner[axis] for axis in outer)


def _keeps_last_axis(perm: tuple[int, ...]) -> bool:
    return not perm or perm[-1] == len(perm) - 1


def _identity_to_empty(perm: tuple[int, ...]) -> tuple[int, ...]:
    return () if perm == tuple(range(len(perm))) else perm


def fold_operand_transposes(graph: Graph, node: Node) -> list[Node] | None:
    """Attention(Transpose(x), ...) reads x in place."""
    inputs, attrs, changed = list(node.inputs), node.attrs, False
    for slot, field in enumerate(("q_perm", "k_perm", "v_perm")):
        transpose = produced_by(graph, inputs[slot], "Transpose")
        if transpose is None or not only_consumers(graph, inputs[slot], {node.name}):
            continue
        # logical = input.transpose(old) = x.transpose(t).transpose(old)
        old = getattr(attrs, field) or tuple(range(len(transpose.attrs.perm)))
        perm = _identity_to_empty(_compose(old, transpose.attrs.perm))
        if not _keeps_last_axis(perm):
            continue
        inputs[slot] = transpose.inputs[0]
        attrs = replace(attrs, **{field: perm})
        changed = True
    return [Node(node.op, node.name, tuple(inputs), node.outputs, attrs)] if changed else None


def fold_output_transpose(graph: Graph, node: Node) -> list[Node] | None:
    """Transpose(Attention(...)) is the Attention writing its output in that order."""
    value, reader = node.inputs[0], node.name
    # Look through no-op reshapes (the TorchScript export reshapes to the same shape first).
    while (view := produced_by(graph, value, "Reshape")) is not None and \
            graph.type_of(view.inputs[0]).shape == graph.type_of(value).shape and only_consumers(graph, value, {reader}):
        value, reader = view.inputs[0], view.name
    attention = produced_by(graph, value, "Attention")
    if attention is None or not only_consumers(graph, value, {reader}):
        return None
    # stored = logical.transpose(old); the Transpose makes stored.transpose(t)
    old = attention.attrs.out_perm or tuple(range(len(node.attrs.perm)))
    perm = _identity_to_empty(_compose(node.attrs.perm, old))
    if not _keeps_last_axis(perm):
        return None
    return [Node("Attention", node.name, attention.inputs, node.outputs, replace(attention.attrs, out_perm=perm))]
