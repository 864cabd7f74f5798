"""The numpy reference interpreter: runs any graph, before or after any pass. It is the oracle
for pass tests and for backends' per-op tests."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from compiler.ir.graph import Graph
from compiler.ir.ops import op_def
from compiler.ir.types import bind_symbols


def interpret(graph: Graph, inputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run `graph` on named numpy inputs; returns its outputs by name."""
    env: dict[str, np.ndarray] = dict(graph.constants)
    bindings: dict[str, int] = {}
    for value in graph.inputs:
        if value.name not in inputs:
            raise ValueError(f"missing input '{value.name}'")
        array = np.asarray(inputs[value.name])
        if array.dtype != value.type.dtype.to_numpy():
            raise ValueError(f"input '{value.name}': expected dtype {value.type.dtype.to_numpy()}, "
                             f"got {array.dtype}")
        bind_symbols(value.type.shape, array.shape, bindings, f"input '{value.name}'")
        env[value.name] = array
    for node in graph.nodes:
        args = [env[name] if name else None for name in node.inputs]
        results = op_def(node.op).reference(args, node.attrs)
        for value, result in zip(node.outputs, results):
            env[value.name] = result
    return {name: env[name] for name in graph.outputs}
