"""Lowering of a fusion group (see passes/fuse.py): the anchor contraction's kernel, extended
by its elementwise tail. The contraction spec gets the tail as epilogue ops (templates apply
them while storing the last K block); the loop-nest body gets it as one in-place pass over
the output, so targets without a template still compute the same thing.
"""
from __future__ import annotations

import math
from dataclasses import replace

from compiler.ir.contraction import Contraction, EpilogueAdd, EpilogueClamp, EpilogueGelu
from compiler.ir.graph import Graph, Node
from compiler.ir.loops import Kernel, KernelCost
from compiler.ir.types import TensorType
from passes.lower.builder import binary, block, broadcast_index, buffer, const, load, parallel_nest, store
from passes.fuse import addend_as_anchor_shape, is_view
from passes.lower.elementwise import SCALAR
from passes.lower.window import is_window_conv, is_window_pool, lower_window


def _broadcast_strides(addend: TensorType, out: TensorType) -> list[int]:
    """Element strides of `addend` per output dimension (0 where it broadcasts)."""
    shape = (1,) * (out.rank - addend.rank) + tuple(int(d) for d in addend.shape)
    strides, running = [0] * len(shape), 1
    for axis in reversed(range(len(shape))):
        strides[axis] = 0 if shape[axis] == 1 else running
        running *= shape[axis]
    return strides


def _spec_add(anchor: Node, spec: Contraction, param: str, addend: TensorType, out: TensorType) -> EpilogueAdd | None:
    """The addend as an EpilogueAdd over the spec's (b, g, m, n) coordinates, if it can be."""
    if not out.is_static:
        return None
    s = _broadcast_strides(addend, out)
    shape = [int(d) for d in out.shape]
    if anchor.op == "Conv" and anchor.attrs.channels_last:
        # out (N, OH, OW, C): m = pixel, n = channel within the group
        if len(shape) != 4 or not (s[1] == s[2] * shape[2] or (s[1] == 0 and s[2] == 0)):
            return None
        return EpilogueAdd(param, row_stride=s[2], col_stride=s[3], batch_stride=s[0], group_stride=s[3] * spec.n)
    if anchor.op == "Conv":
        if len(shape) == 4:
            if not (s[2] == s[3] * shape[3] or (s[2] == 0 and s[3] == 0)):
                return None
            col = s[3]
        elif len(shape) == 3:
            col = s[2]
        else:
            return None
        return EpilogueAdd(param, row_stride=s[1], col_stride=col, batch_stride=s[0], group_stride=s[1] * spec.m)
    if anchor.op == "Gemm":
        return EpilogueAdd(param, row_stride=s[0], col_stride=s[1])
    if anchor.op == "MatMul" and 2 <= len(shape) <= 4:
        batch = [0] * (4 - len(shape)) + s[:-2]
        return EpilogueAdd(param, row_stride=s[-2], col_stride=s[-1], batch_stride=batch[0], group_stride=batch[1])
    return None


def _clip_bounds(graph: Graph, node: Node) -> tuple[float, float]:
    low = high = None
    if len(node.inputs) > 1 and node.inputs[1]:
        low = float(graph.constants[node.inputs[1]].reshape(()))
    if len(node.inputs) > 2 and node.inputs[2]:
        high = float(graph.constants[node.inputs[2]].reshape(()))
    return (-math.inf if low is None else low), (math.inf if high is None else high)


def fuse_epilogue(graph: Graph, anchor: Node, tail: list[Node], kernel: Kernel,
                  per_point_windows: tuple[str, ...] = ()) -> tuple[Kernel, tuple[str, ...]]:
    """(fused kernel, the graph values bound to its parameters in order)."""
    out_type = anchor.outputs[0].type
    inputs = [b for b in kernel.params if not b.writable]
    args = [n for n in anchor.inputs if n]
    steps: list[tuple] = []          # ("add", buffer, type) | ("clamp", low, high) | ("gelu", attrs)
    spec_ops = []
    spec = kernel.contraction
    current = anchor.output_names[0]       # the value the tail has computed so far
    for node in tail:
        if is_view(node):
            pass                           # same bytes, another shape: nothing to compute
        elif node.op == "Add":
            other = node.inputs[1] if node.inputs[0] == current else node.inputs[0]
            addend = addend_as_anchor_shape(graph.type_of(other), graph.type_of(current), out_type)
            buf = buffer(f"in{len(inputs)}", addend)
            inputs.append(buf)
            args.append(other)
            steps.append(("add", buf, addend))
            if spec is not None:
                op = _spec_add(anchor, spec, buf.name, addend, out_type)
                spec = None if op is None else spec
                spec_ops.append(op)
        elif node.op == "Gelu":
            steps.append(("gelu", node.attrs))
            spec_ops.append(EpilogueGelu(node.attrs.approximate))
        else:
            low, high = (0.0, math.inf) if node.op == "Relu" else _clip_bounds(graph, node)
            steps.append(("clamp", low, high))
            spec_ops.append(EpilogueClamp(low, high))
        current = node.output_names[0]
    out = replace(kernel.outputs[0], name="out0")
    dt = out_type.dtype

    def apply_tail(value, idx, ins=None):
        """The tail on one output value (`idx` indexes the output); addends by their buffers."""
        for step in steps:
            if step[0] == "add":
                value = binary("add", value, load(step[1], broadcast_index(idx, step[2].shape)))
            elif step[0] == "gelu":
                value = SCALAR["Gelu"]([value], step[1], dt)
            else:
                if step[1] != -math.inf:
                    value = binary("max", value, const(step[1], dt))
                if step[2] != math.inf:
                    value = binary("min", value, const(step[2], dt))
        return value

    anchor_types = [graph.type_of(n) if n else None for n in anchor.inputs]
    if is_window_conv(anchor, anchor_types) or is_window_pool(anchor, anchor_types):
        # Window kernels apply the tail to their accumulator before the one store.
        body = lower_window(anchor, anchor_types, [out_type], apply_tail, anchor.op in per_point_windows).body
    else:
        # Otherwise one more in-place pass over the output.
        at = lambda idx: broadcast_index(idx, out_type.shape)
        body = block(kernel.body, parallel_nest("e", out_type.shape,
                                                lambda idx: store(out, at(idx), apply_tail(load(out, at(idx)), idx))))
    if spec is not None:
        spec = replace(spec, epilogue=spec.epilogue + tuple(spec_ops))
    ones = {symbol.name: 1 for symbol in out_type.symbols}
    cost = KernelCost(kernel.cost.flops + out_type.numel().evaluate(ones) * len(steps), kernel.cost.bytes)
    fused = replace(kernel, params=tuple(inputs) + (out,), body=body, contraction=spec,
                    ops=kernel.ops + tuple(n.op for n in tail), nodes=(anchor.name,) + tuple(n.name for n in tail),
                    cost=cost)
    return fused, tuple(args) + (tail[-1].output_names[0],)



