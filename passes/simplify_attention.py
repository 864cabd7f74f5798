"""Rules for simplify: Transposes around an Attention fold into it. The exporters split heads
with Reshape + Transpose(0, 2, 1, 3) on q and v and merge them back with the same Transpose on
the output; the attention kernel can read and write those layouts in place, so the copies go
(BERT/GPT-2: three fewer kernels a layer). Only orders that keep the last axis last fold: the
kernel's inner loops run along it and stay contiguous. k's Transpose(0, 2, 3, 1) puts the key
axis last, but the MatMul it feeds wants k transposed anyway: the keys_transposed k it makes is,
read the other way, the plain k of the head-split layout (logical k = x.transpose(0, 2, 1, 3)),
which keeps the depth axis last; the CPU template packs K^T per head either way.

    %kt = Transpose(%x){0,2,3,1}; Attention(%q, %kt, %v){keys_transposed}
        ->  Attention(%q, %x, %v){keys_transposed=false, k_perm=[0,2,1,3]}

    %q = Transpose(%x){0,2,1,3}; %a = Attention(%q, %k, %v); %y = Transpose(%a){0,2,1,3}
        ->  %y = Attention(%x, %k, %v) {q_perm=[0,2,1,3], out_perm=[0,2,1,3]}

A constant additive mask that is exactly 0 on and below the diagonal and -inf above it (GPT-2's
export folds its causal Where to one) is the `causal` attribute: the same values, and a kernel
may then skip the masked key blocks instead of reading the mask.

    %y = Attention(%q, %k, %v, %tril_0_else_minus_inf)  ->  %y = Attention(%q, %k, %v) {causal=true}
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

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


def _swap_last_two(perm: tuple[int, ...]) -> tuple[int, ...]:
    return perm[:-2] + (perm[-1], perm[-2])


def fold_operand_transposes(graph: Graph, node: Node) -> list[Node] | None:
    """Attention(Transpose(x), ...) reads x in place."""
    inputs, attrs, changed = list(node.inputs), node.attrs, False
    for slot, field in enumerate(("q_perm", "k_perm", "v_perm")):
        transpose = produced_by(graph, inputs[slot], "Transpose")
        if transpose is None or not only_consumers(graph, inputs[slot], {node.name}):
            continue
        # logical = input.transpose(old) = x.transpose(t).transpose(old)
        old = getattr(attrs, field) or tuple(range(len(transpose.attrs.perm)))
        perm = _compose(old, transpose.attrs.perm)
        flip_keys = field == "k_perm" and attrs.keys_transposed and len(perm) >= 2 and \
            not _keeps_last_axis(perm) and _keeps_last_axis(_swap_last_two(perm))
        if flip_keys:
            perm = _swap_last_two(perm)     # the same keys, read as plain [..., T, D]
        perm = _identity_to_empty(perm)
        if not _keeps_last_axis(perm):
            continue
        inputs[slot] = transpose.inputs[0]
        attrs = replace(attrs, **{field: perm}, **({"keys_transposed": False} if flip_keys else {}))
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


def causal_mask_as_attribute(graph: Graph, node: Node) -> list[Node] | None:
    """Attention(q, k, v, causal additive mask constant) is Attention(q, k, v) {causal}."""
    if len(node.inputs) < 4 or not node.inputs[3] or node.attrs.causal:
        return None
    mask = graph.constants.get(node.inputs[3])
    if mask is None or mask.ndim < 2 or any(d != 1 for d in mask.shape[:-2]):
        return None
    rows, keys = mask.shape[-2:]
    # The scores' rows: the output's, in logical order (out_perm keeps the last two axes' roles).
    out = node.outputs[0].type.shape
    logical_rows = out[node.attrs.out_perm.index(len(out) - 2)] if node.attrs.out_perm else out[-2]
    if logical_rows != rows:
        return None
    causal = np.where(np.tril(np.ones((rows, keys), bool)), np.float32(0), np.float32(-np.inf))
    if not np.array_equal(np.asarray(mask).reshape(rows, keys), causal):
        return None
    return [Node(node.op, node.name, node.inputs[:3], node.outputs, replace(node.attrs, causal=True))]
