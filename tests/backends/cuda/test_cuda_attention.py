"""The CUDA flash-attention template (backends/cuda/attention.py).

Everywhere: the template is chosen for Attention kernels (the loop nest where its tiles do not
fit), prints deterministically, builds with nvcc without spills, and — run on the CPU through
emulate_cuda.h — computes the reference's values for every layout, mask and tail. On the GPU
(`cuda` marker): the exporters' head-split attention against onnxruntime, and the causal
attribute against the numpy reference, on fresh random inputs.
"""
from __future__ import annotations

import ctypes
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.interpreter import interpret
from compiler.ir.ops.attention import AttentionAttrs
from compiler.ir.types import Sym, TensorType
from compiler.target import resolve_target
from conftest import rel_l2
from cuda_testlib import needs_nvcc, on_gpu
from backends.cuda.printer import kernel_functions
from passes.lower import lower_node

SM90 = resolve_target("cuda:sm_90")
HEAD_SPLIT = (0, 2, 1, 3)      # stored [B, S, H, D], read as [B, H, S, D]
KEYS_SPLIT = (0, 2, 3, 1)      # stored [B, T, H, D], read as k^T [B, H, D, T]


def attention_graph(b: int, h: int, s: int, t: int, d: int, causal: bool = False, mask: tuple | None = None,
                    split: bool = True, w: int | None = None) -> Graph:
    """One Attention node; `split` stores q, k, v and the output as the exporters do ([B, S, H, D],
    the head Transposes folded into the op), else plain [B, H, S, D] with k^T stored [B, H, D, T]."""
    w = w or d
    f32 = DType.float32
    if split:
        attrs = AttentionAttrs(scale=d ** -0.5, causal=causal, keys_transposed=True, zero_nan_rows=True,
                               q_perm=HEAD_SPLIT, k_perm=KEYS_SPLIT, v_perm=HEAD_SPLIT, out_perm=HEAD_SPLIT)
        shapes = ((b, s, h, d), (b, t, h, d), (b, t, h, w), (b, s, h, w))
    else:
        attrs = AttentionAttrs(scale=d ** -0.5, causal=causal, keys_transposed=True, zero_nan_rows=True)
        shapes = ((b, h, s, d), (b, h, d, t), (b, h, t, w), (b, h, s, w))
    inputs = [Value(n, TensorType(shape, f32)) for n, shape in zip("qkv", shapes)]
    if mask is not None:
        inputs.append(Value("mask", TensorType(mask, f32)))
    out = Value("y", TensorType(shapes[3], f32))
    names = tuple(v.name for v in inputs)
    return Graph("attention", tuple(inputs), ("y",), (Node("Attention", "attn", names, (out,), attrs),))


def printed(graph: Graph):
    kernel = lower_node(graph, graph.nodes[0])
    return kernel, kernel_functions(kernel, SM90)


def feeds_for(graph: Graph, rng) -> dict:
    feeds = {v.name: rng.standard_normal(v.type.static_shape()).astype(np.float32) for v in graph.inputs}
    if "mask" in feeds:
        # Additive masks as the exporters build them: large negatives, a few -inf, one row all
        # -inf. Each row's diagonal key stays visible: a row of only -1e9 + s is uniform in
        # float32 (the s are below -1e9's ulp) but not in the float64 reference.
        mask = feeds["mask"]
        mask[...] = np.where(rng.random(mask.shape) < 0.3, np.float32(-1e9), mask)
        mask[...] = np.where(rng.random(mask.shape) < 0.05, -np.inf, mask)
        diagonal = np.arange(min(mask.shape[-2:]))
        mask[..., diagonal, diagonal] = 0.0
        if mask.ndim >= 2 and mask.shape[-2] > 1:
            mask[..., 1, :] = -np.inf
    return feeds


# -------------------------------------------------------------------- printing and building

@pytest.mark.parametrize("d", [32, 64, 80, 128])
def test_attention_kernels_print_the_template_deterministically(d):
    graph = attention_graph(2, 3, 77, 77, d, causal=True)
    _, functions = printed(graph)
    assert len(functions) == 1 and "online softmax" in functions[0][1]
    assert functions == printed(graph)[1]


def test_shapes_the_template_cannot_hold_print_the_loop_nest():
    too_deep = attention_graph(1, 2, 16, 16, 512)
    assert "online softmax" not in printed(too_deep)[1][0][1]
    symbolic = Graph("a", tuple(Value(n, TensorType((Sym("n"), 2, 8, 8), DType.float32)) for n in "qkv"), ("y",),
                     (Node("Attention", "attn", ("q", "k", "v"), (Value("y", TensorType((Sym("n"), 2, 8, 8), DType.float32)),),
                           AttentionAttrs()),))
    assert lower_node(symbolic, symbolic.nodes[0]).attention is None


@needs_nvcc
@pytest.mark.parametrize("d,causal,mask", [(64, False, (8, 1, 1, 128)), (64, True, None), (80, False, (128,)),
                                           (128, True, None), (32, False, None)])
def test_template_builds_for_sm90_without_spills(d, causal, mask):
    _, [(name, text, _)] = printed(attention_graph(8, 12, 128, 128, d, causal, mask))
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "attention.cu"
        source.write_text("#include <stdint.h>\n#include <math.h>\n" + text)
        result = subprocess.run(["nvcc", "-arch=sm_90", "-cubin", "-Xptxas", "-v", "-o", str(Path(tmp) / "a.cubin"),
                                 str(source)], capture_output=True, text=True, check=True)
    assert "0 bytes spill stores" in result.stderr and "0 bytes stack frame" in result.stderr


# -------------------------------------------------------------------- logic, emulated on the CPU

EMULATOR = Path(__file__).with_name("emulate_cuda.h")


def emulate(graph: Graph, feeds: dict) -> np.ndarray:
    """The template's kernel for graph's Attention, built with g++ against emulate_cuda.h and run
    on the CPU; its output buffer is poisoned with NaN first."""
    kernel, [(name, text, launch)] = printed(graph)
    out = np.full(graph.nodes[0].outputs[0].type.static_shape(), np.nan, np.float32)
    arrays = [np.ascontiguousarray(feeds[n]) for n in graph.nodes[0].inputs] + [out]
    casts = ", ".join(f"(float*)args[{k}]" for k in range(len(arrays)))
    runner = (f'#include "{EMULATOR}"\n{text}\nextern "C" void run(void** args) {{\n'
              f"    aotc_emulate_launch([&] {{ {name}({casts}); }}, {int(launch.grid[0].value)}, {launch.block});\n}}\n")
    with tempfile.TemporaryDirectory() as tmp:
        source, library = Path(tmp) / "emulated.cpp", Path(tmp) / "emulated.so"
        source.write_text(runner)
        subprocess.run(["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-w", "-o", str(library),
                        str(source)], check=True)
        args = (ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays))
        ctypes.CDLL(str(library)).run(args)
    return out


def check(actual: np.ndarray, expected: np.ndarray) -> None:
    assert np.array_equal(np.isnan(actual), np.isnan(expected))
    assert rel_l2(np.nan_to_num(actual), np.nan_to_num(expected)) <= 1e-5


@pytest.mark.parametrize("b,h,s,t,d,causal,mask,split", [
    (1, 2, 70, 70, 64, True, None, True),            # GPT-2's form; query and key tails
    (2, 2, 40, 40, 64, False, (2, 1, 1, 40), True),  # BERT's padding mask
    (1, 2, 33, 45, 80, False, (33, 45), False),      # plain layout, S != T, padded depth and width
    (1, 1, 20, 37, 32, True, (1, 1, 20, 37), True),  # causal and masked: rows wholly masked
    (1, 1, 24, 24, 128, False, None, True),          # 16-key tiles
])
def test_emulated_template_matches_the_reference(b, h, s, t, d, causal, mask, split):
    graph = attention_graph(b, h, s, t, d, causal, mask, split)
    feeds = feeds_for(graph, np.random.default_rng(s * 1000 + d))
    check(emulate(graph, feeds), interpret(graph, feeds)["y"])


# -------------------------------------------------------------------- on the GPU

def head_split_model(b: int, h: int, s: int, d: int, mask: str) -> onnx.ModelProto:
    """Attention over [B, S, H*D] activations as the torch exporters write it: Reshape and
    Transpose per operand, k transposed for the MatMul, scale, additive mask, softmax."""
    node = helper.make_node
    nodes = [node("Reshape", [x, "split"], [f"{x}4"]) for x in "qkv"]
    nodes += [node("Transpose", ["q4"], ["qh"], perm=[0, 2, 1, 3]), node("Transpose", ["k4"], ["kt"], perm=[0, 2, 3, 1]),
              node("Transpose", ["v4"], ["vh"], perm=[0, 2, 1, 3]), node("MatMul", ["qh", "kt"], ["raw"]),
              node("Div", ["raw", "root"], ["scores"])]
    last = "scores"
    inits = [numpy_helper.from_array(np.array([b, s, h, d], np.int64), "split"),
             numpy_helper.from_array(np.array([b, s, h * d], np.int64), "merge"),
             numpy_helper.from_array(np.array(d ** 0.5, np.float32), "root")]
    inputs = [helper.make_tensor_value_info(x, TensorProto.FLOAT, [b, s, h * d]) for x in "qkv"]
    if mask == "padding":
        inputs.append(helper.make_tensor_value_info("mask", TensorProto.FLOAT, [b, 1, 1, s]))
    elif mask == "causal":
        causal = np.triu(np.full((s, s), -np.inf, np.float32), 1)[None, None]
        inits.append(numpy_helper.from_array(causal, "mask"))
    if mask:
        nodes.append(node("Add", ["scores", "mask"], ["masked"]))
        last = "masked"
    nodes += [node("Softmax", [last], ["p"], axis=-1), node("MatMul", ["p", "vh"], ["a"]),
              node("Transpose", ["a"], ["at"], perm=[0, 2, 1, 3]), node("Reshape", ["at", "merge"], ["y"])]
    graph = helper.make_graph(nodes, "attention", inputs,
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [b, s, h * d])], initializer=inits)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


@on_gpu
@pytest.mark.parametrize("b,h,s,d,mask", [(2, 3, 77, 64, "padding"), (1, 4, 130, 64, "causal"), (2, 2, 50, 32, ""),
                                          (1, 2, 67, 80, "padding"), (8, 12, 128, 64, "padding"),
                                          (1, 12, 512, 64, "causal")])
def test_head_split_attention_matches_onnxruntime(b, h, s, d, mask):
    from test_cuda_run import gpu_target
    model = head_split_model(b, h, s, d, mask)
    rng = np.random.default_rng()
    feeds = {x: rng.standard_normal((b, s, h * d)).astype(np.float32) for x in "qkv"}
    if mask == "padding":
        feeds["mask"] = np.where(rng.random((b, 1, 1, s)) < 0.3, np.float32(-1e4), np.float32(0.0))
    artifact = compiler.compile(model, target=gpu_target())
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert rel_l2(artifact(**feeds), expected) <= 1e-5


@on_gpu
@pytest.mark.parametrize("b,h,s,t,d,causal,mask,split", [
    (1, 3, 100, 100, 64, True, None, True), (2, 2, 45, 61, 80, False, (2, 1, 45, 61), False),
    (1, 2, 33, 33, 32, True, (1, 1, 33, 33), True), (1, 2, 40, 40, 128, False, None, True)])
def test_attention_attributes_match_the_reference_on_gpu(b, h, s, t, d, causal, mask, split):
    from test_cuda_run import gpu_target
    graph = attention_graph(b, h, s, t, d, causal, mask, split)
    feeds = feeds_for(graph, np.random.default_rng())
    check(compiler.compile(graph, target=gpu_target())(**feeds), interpret(graph, feeds)["y"])
