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
import onnxruntime as ort
import pytest

import compiler
from compiler.ir.dtypes import DType
from compiler.ir.graph import Graph, Node, Value
from compiler.ir.interpreter import interpret
from compiler.ir.ops.attention import AttentionAttrs
from compiler.ir.types import Sym, TensorType
from compiler.target import resolve_target
from attention_models import attention_graph, feeds_for, head_split_feeds, head_split_model
from conftest import rel_l2
from cuda_testlib import needs_nvcc, on_gpu
from backends.cuda.printer import kernel_functions
from passes.lower import lower_node

SM90 = resolve_target("cuda:sm_90")
def printed(graph: Graph):
    kernel = lower_node(graph, graph.nodes[0])
    return kernel, kernel_functions(kernel, SM90)


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

@on_gpu
@pytest.mark.parametrize("b,h,s,d,mask", [(2, 3, 77, 64, "padding"), (1, 4, 130, 64, "causal"), (2, 2, 50, 32, ""),
                                          (1, 2, 67, 80, "padding"), (8, 12, 128, 64, "padding"),
                                          (1, 12, 512, 64, "causal")])
def test_head_split_attention_matches_onnxruntime(b, h, s, d, mask):
    from test_cuda_run import gpu_target
    model = head_split_model(b, h, s, d, mask)
    feeds = head_split_feeds(b, h, s, d, mask, np.random.default_rng())
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
