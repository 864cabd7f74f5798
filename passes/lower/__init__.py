"""lower: graph -> Program. Each node becomes one kernel call; identical kernels are shared.

Needs: a verified graph whose outputs are produced by nodes (see materialize_outputs).

    %y: f32[4,8] = Relu(%x)        ->   kernel relu_3f2a…(in0: f32[32], out0: f32[32])
                                        call relu_3f2a…(x, y)
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from compiler.errors import UnsupportedError
from compiler.ir.graph import Graph, Node
from compiler.ir.loops import Kernel
from compiler.ir.program import KernelCall, Program, kernel_hash
from passes.lower.contraction import lower_conv, lower_gemm, lower_matmul
from passes.fuse import FusionPlan
from passes.lower.attention import attention_spec, lower_attention
from passes.lower.contraction_spec import contraction_spec
from passes.lower.epilogue import fuse_epilogue
from passes.lower.elementwise import SCALAR, lower_batchnorm, lower_elementwise, lower_elementwise_chain
from passes.lower.movement import (lower_concat, lower_copy, lower_expand, lower_gather,
                                   lower_gather_elements, lower_pad, lower_range, lower_slice,
                                   lower_split, lower_tile, lower_transpose)
from passes.lower.pool import lower_pool
from passes.lower.conv_transpose import lower_col2im, lower_conv_transpose
from passes.lower.cumulative import lower_cumulative
from passes.lower.einsum import lower_einsum
from passes.lower.index import (lower_depth_space, lower_eyelike, lower_gather_nd, lower_onehot,
                                lower_scatter_elements, lower_scatter_nd, lower_topk)
from passes.lower.quantize import lower_matmul_integer, lower_qlinear_matmul, lower_quantize
from passes.lower.prologue import fuse_prologue, fuse_reduction_epilogue
from passes.lower.resize import lower_resize
from passes.lower.select import lower_arg, lower_dropout, lower_hardmax, lower_reverse_sequence, lower_trilu
from passes.lower.window import is_window_conv, is_window_pool, lower_window
from passes.lower.reduction import (lower_global_average_pool, lower_instance_norm, lower_layernorm,
                                    lower_lp_normalization, lower_reduce,
                                    lower_softmax)

LOWERINGS = {
    **{op: lower_elementwise for op in SCALAR},
    "BatchNormalization": lower_batchnorm,
    "Conv": lower_conv, "Gemm": lower_gemm, "MatMul": lower_matmul,
    "MaxPool": lower_pool, "AveragePool": lower_pool, "LpPool": lower_pool,
    "GlobalAveragePool": lower_global_average_pool,
    "ReduceSum": lower_reduce, "ReduceMean": lower_reduce, "ReduceMax": lower_reduce,
    "ReduceMin": lower_reduce, "ReduceProd": lower_reduce,
    "Softmax": lower_softmax, "LpNormalization": lower_lp_normalization,
    "InstanceNormalization": lower_instance_norm, "LayerNormalization": lower_layernorm,
    "Reshape": lower_copy, "Flatten": lower_copy, "Squeeze": lower_copy, "Unsqueeze": lower_copy,
    "Transpose": lower_transpose, "Concat": lower_concat, "Split": lower_split, "Slice": lower_slice,
    "Gather": lower_gather, "GatherElements": lower_gather_elements, "Expand": lower_expand,
    "Tile": lower_tile, "Pad": lower_pad, "Range": lower_range,
    "Attention": lower_attention,
    "ReverseSequence": lower_reverse_sequence, "Dropout": lower_dropout, "Trilu": lower_trilu, "ArgMax": lower_arg, "ArgMin": lower_arg,
    "ConvTranspose": lower_conv_transpose, "Col2Im": lower_col2im, "Einsum": lower_einsum, "CumSum": lower_cumulative, "CumProd": lower_cumulative, "Hardmax": lower_hardmax,
    "OneHot": lower_onehot, "EyeLike": lower_eyelike, "TopK": lower_topk, "GatherND": lower_gather_nd,
    "ScatterElements": lower_scatter_elements, "ScatterND": lower_scatter_nd,
    "Resize": lower_resize, "QuantizeLinear": lower_quantize, "QLinearMatMul": lower_qlinear_matmul,
    "MatMulInteger": lower_matmul_integer, "DequantizeLinear": lower_quantize,
    "DepthToSpace": lower_depth_space, "SpaceToDepth": lower_depth_space,
}


VIEW_OPS = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Identity")


def lower_node(graph: Graph, node: Node, per_point_windows: tuple[str, ...] = (),
               half_contractions: bool = False) -> Kernel:
    try:
        lowering = LOWERINGS[node.op]
    except KeyError:
        raise UnsupportedError(f"op {node.op} (node '{node.name}') has no kernel lowering") from None
    in_types = [graph.type_of(n) if n else None for n in node.inputs]
    if is_window_conv(node, in_types) or is_window_pool(node, in_types):
        lowering = lower_window
    out_types = [v.type for v in node.outputs]
    kernel = (lower_window(node, in_types, out_types, per_point=node.op in per_point_windows)
              if lowering is lower_window else lowering(node, in_types, out_types))
    constant = [bool(n) and n in graph.constants for n in node.inputs]
    spec = contraction_spec(node, in_types, out_types, constant, half_contractions)
    attention = attention_spec(node, in_types, out_types) if node.op == "Attention" else None
    return replace(kernel, nodes=(node.name,), contraction=spec, attention=attention)


@dataclass(frozen=True)
class Lower:
    fusion: FusionPlan = FusionPlan()
    per_point_windows: tuple[str, ...] = ()     # Target.per_point_windows
    half_contractions: bool = False      # Target.half_contractions

    def __call__(self, graph: Graph) -> Program:
        return lower_graph(graph, self.fusion, self.per_point_windows, self.half_contractions)


def lower_graph(graph: Graph, fusion: FusionPlan = FusionPlan(), per_point_windows: tuple[str, ...] = (),
                half_contractions: bool = False) -> Program:
    kernels: dict[str, Kernel] = {}
    by_hash: dict[str, str] = {}
    calls = []
    # A group runs where its last node stood: by then every operand of the tail (a residual
    # computed after the anchor, say) exists.
    group_at = {g.last: g for g in fusion.groups}
    anchors = {g.anchor for g in fusion.groups} - set(group_at)
    fused_away = fusion.fused_nodes - set(group_at)
    by_name = {node.name: node for node in graph.nodes}
    # Reshapes do not move bytes: their output is another name for their input's buffer (a
    # copy only where the result is a graph output, which lives in the caller's buffer).
    alias: dict[str, str] = {}
    for position in graph.nodes:
        if position.name in anchors or position.name in fused_away:
            continue
        if (position.op in VIEW_OPS and position.name not in group_at
                and position.output_names[0] not in graph.outputs):
            alias[position.output_names[0]] = alias.get(position.inputs[0], position.inputs[0])
            continue
        group = group_at.get(position.name)
        node = by_name[group.anchor] if group is not None else position
        if group is not None and group.kind == "elementwise":
            kernel, args = lower_elementwise_chain(graph, [node] + [by_name[n] for n in group.epilogue])
            kernels, calls = _add_call(kernels, by_hash, calls, kernel, tuple(alias.get(a, a) for a in args))
            continue
        kernel = lower_node(graph, node, per_point_windows, half_contractions)
        args = tuple(n for n in node.inputs if n) + node.output_names
        if group is not None and group.kind == "prologue":
            kernel, args = fuse_prologue(graph, [by_name[n] for n in group.prologue], node, kernel)
        elif group is not None and group.kind == "reduction":
            kernel, args = fuse_reduction_epilogue(graph, node, [by_name[n] for n in group.epilogue], kernel)
        elif group is not None:
            kernel, args = fuse_epilogue(graph, node, [by_name[n] for n in group.epilogue], kernel, per_point_windows)
        kernels, calls = _add_call(kernels, by_hash, calls, kernel, tuple(alias.get(a, a) for a in args))
    return Program(graph, kernels, tuple(calls))


def _add_call(kernels: dict, by_hash: dict, calls: list, kernel: Kernel, args) -> tuple[dict, list]:
    """Record a call of `kernel`, sharing an identical kernel already lowered."""
    digest = kernel_hash(kernel)
    name = by_hash.get(digest)
    if name is None:
        name = f"{kernel.name}_{digest[:10]}"
        by_hash[digest] = name
        kernels[name] = replace(kernel, name=name)
    else:
        kernels[name] = replace(kernels[name], nodes=kernels[name].nodes + kernel.nodes)
    calls.append(KernelCall(name, tuple(args), kernel.nodes))
    return kernels, calls
