"""Lowering of a reduction with its elementwise prologue or epilogue (passes/fuse.py's groups):
the reduction's kernel, with every load of its data input replaced by the chain's expression
at the same index, so the chain's output is never written. A row that the reduction reads
twice (LayerNorm: mean, variance, normalise) recomputes the chain: cheaper than a round trip
through memory for the adds and scalings that feed normalisations.

    %s = Add(%x, %r); %y = LayerNormalization(%s, %g, %b)
    ->  one kernel: mean/var/normalise over (x[i] + r[i])
"""
from __future__ import annotations

import dataclasses
from dataclasses import replace

from compiler.ir.graph import Graph, Node
from compiler.ir.loops import Buffer, Const, Kernel, KernelCost, Load, Store
from passes.lower.builder import buffer, const, load
from passes.lower.elementwise import chain_operands, chain_value


def replace_loads(tree, name: str, value_at):
    """`tree` (a loop-IR statement or expression) with each Load of buffer `name` at index i
    replaced by value_at(i)."""
    if isinstance(tree, Load) and tree.buffer == name:
        return value_at(replace_loads(tree.index, name, value_at))
    if isinstance(tree, tuple):
        return tuple(replace_loads(item, name, value_at) for item in tree)
    if not dataclasses.is_dataclass(tree) or isinstance(tree, (Const, Buffer)):
        return tree
    changes = {f.name: replace_loads(getattr(tree, f.name), name, value_at) for f in dataclasses.fields(tree)}
    return replace(tree, **changes)


def fuse_prologue(graph: Graph, chain: list[Node], anchor: Node, kernel: Kernel) -> tuple[Kernel, tuple[str, ...]]:
    """(fused kernel, the values bound to its parameters): the chain's operands replace the
    anchor's data input, which the chain computes."""
    operands = chain_operands(chain)
    data = kernel.inputs[0]
    shape = graph.type_of(anchor.inputs[0]).shape
    chain_params = [buffer(f"pro{k}", graph.type_of(name)) for k, name in enumerate(operands)]

    def value_at(index):
        reads = {name: load(buf, index if graph.type_of(name).shape == shape else const(0))
                 for name, buf in zip(operands, chain_params)}
        return chain_value(chain, reads, graph.type_of)

    body = replace_loads(kernel.body, data.name, value_at)
    params = tuple(chain_params) + kernel.params[1:]
    args = tuple(operands) + tuple(n for n in anchor.inputs[1:] if n) + anchor.output_names
    x_type = graph.type_of(anchor.inputs[0])
    numel = x_type.numel().evaluate({symbol.name: 1 for symbol in x_type.symbols})
    cost = KernelCost(kernel.cost.flops + len(chain) * numel, kernel.cost.bytes)
    fused = replace(kernel, params=params, body=body, cost=cost, ops=tuple(n.op for n in chain) + kernel.ops,
                    nodes=tuple(n.name for n in chain) + (anchor.name,))
    return fused, args


def replace_stores(tree, name: str, value_of):
    """`tree` with each Store to buffer `name` storing value_of(index, value) instead."""
    if isinstance(tree, Store) and tree.buffer == name:
        return Store(name, tree.index, value_of(tree.index, tree.value))
    if isinstance(tree, tuple):
        return tuple(replace_stores(item, name, value_of) for item in tree)
    if not dataclasses.is_dataclass(tree) or isinstance(tree, (Const, Buffer, Load)):
        return tree
    changes = {f.name: replace_stores(getattr(tree, f.name), name, value_of) for f in dataclasses.fields(tree)}
    return replace(tree, **changes)


def fuse_reduction_epilogue(graph: Graph, anchor: Node, chain: list[Node], kernel: Kernel) -> tuple[Kernel, tuple[str, ...]]:
    """A Reduce* kernel (one store per output element) whose stored value goes through the
    chain first: (fused kernel, the values bound to its parameters)."""
    reduced = anchor.output_names[0]
    operands = [name for name in chain_operands(chain) if name != reduced]
    shape = anchor.outputs[0].type.shape
    chain_params = [buffer(f"epi{k}", graph.type_of(name)) for k, name in enumerate(operands)]
    out = buffer(kernel.outputs[0].name, chain[-1].outputs[0].type, writable=True)

    def value_of(index, value):
        reads = {name: load(buf, index if graph.type_of(name).shape == shape else const(0))
                 for name, buf in zip(operands, chain_params)}
        return chain_value(chain, {reduced: value, **reads}, graph.type_of)

    body = replace_stores(kernel.body, kernel.outputs[0].name, value_of)
    params = kernel.inputs + tuple(chain_params) + (out,)
    args = tuple(n for n in anchor.inputs if n) + tuple(operands) + (chain[-1].output_names[0],)
    numel = anchor.outputs[0].type.numel().evaluate({symbol.name: 1 for symbol in anchor.outputs[0].type.symbols})
    cost = KernelCost(kernel.cost.flops + len(chain) * numel, kernel.cost.bytes)
    fused = replace(kernel, params=params, body=body, cost=cost, ops=kernel.ops + tuple(n.op for n in chain),
                    nodes=(anchor.name,) + tuple(n.name for n in chain))
    return fused, args
