"""Configs of the CUDA config space compute the right values: each kernel (and split-K's
reduction) built with g++ against emulate_cuda.h and run on the CPU. GEMM: a seeded draw plus
the corners of the tile space (4 x 8 and 8 x 4 thread tiles, BK = 32, 512 threads, split-K with
any tile) against numpy in float64; attention: every tiling of the space against the reference
interpreter. This checks the templates' indexing where no GPU is; the GPU test in
test_cuda_space.py checks the same on the device."""
from __future__ import annotations

import ctypes
import random
import subprocess
import tempfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from compiler.ir.config import KernelConfig, Param
from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, Im2col
from compiler.ir.loops import Const
from compiler.target import resolve_target
from conftest import rel_l2
from backends.cuda import gemm, space
from backends.cuda.mathlib import MATHLIB_CU
from backends.cuda.printer import kernel_functions

SM90 = resolve_target("cuda:sm_90")
EMULATOR = Path(__file__).with_name("emulate_cuda.h")
# Declarations enough for gemm.SUPPORT's half overloads, which the float kernels never call.
HALF_STUBS = """\
struct __half { unsigned short x; }; struct __half2 { __half x, y; };
struct __nv_bfloat16 { unsigned short x; }; struct __nv_bfloat162 { __nv_bfloat16 x, y; };
float __half2float(__half); __half __float2half_rn(float); float2 __half22float2(__half2);
__half2 __floats2half2_rn(float, float); float __bfloat162float(__nv_bfloat16);
__nv_bfloat16 __float2bfloat16_rn(float); float2 __bfloat1622float2(__nv_bfloat162);
__nv_bfloat162 __floats2bfloat162_rn(float, float);
"""
WORKSPACE_FLOATS = 1 << 18


def dense_case():
    """Batched, float4 loads on both sides, k deep enough for 8 slices."""
    m, n, k = 40, 48, 512
    spec = Contraction(2, 1, m, n, k, Dense("x", k, 1, m * k), Dense("w", n, 1, constant=True), "y", n, m * n, 0,
                       epilogue=(EpilogueAdd("bias", 0, 1),))

    def reference(x, w, bias):
        return x.reshape(2, m, k) @ w.reshape(k, n) + bias
    return spec, {"x": 2 * m * k, "w": k * n, "bias": n}, 2 * m * n, reference


def gathered_case():
    """A transposed (column-major) A and edges everywhere: k, n not multiples of 4."""
    m, n, k = 50, 70, 262
    spec = Contraction(1, 1, m, n, k, Dense("x", 1, m), Dense("w", n, 1, constant=True), "y", n, 0, 0,
                       epilogue=(EpilogueAdd("bias", 0, 1),))

    def reference(x, w, bias):
        return x.reshape(k, m).T @ w.reshape(k, n) + bias
    return spec, {"x": m * k, "w": k * n, "bias": n}, m * n, reference


def conv_case():
    """A strided, padded 3 x 3 convolution: the im2col gather of B."""
    c, size, out_c, stride = 6, 11, 20, 2
    out = (size + 2 - 3) // stride + 1
    image = Im2col("x", c, size, size, (3, 3), (stride, stride), (1, 1), (1, 1), out, c, c * size * size)
    spec = Contraction(1, 1, out_c, out * out, c * 9, Dense("w", c * 9, 1, constant=True), image, "y", out * out, 0, 0,
                       epilogue=(EpilogueAdd("bias", 1, 0),))

    def reference(x, w, bias):
        padded = np.pad(x.reshape(c, size, size), ((0, 0), (1, 1), (1, 1)))
        windows = sliding_window_view(padded, (3, 3), axis=(1, 2))[:, ::stride, ::stride]   # c, oy, ox, ky, kx
        columns = windows.transpose(0, 3, 4, 1, 2).reshape(c * 9, out * out)
        return w.reshape(out_c, c * 9) @ columns + bias[:, None]
    return spec, {"x": c * size * size, "w": out_c * c * 9, "bias": out_c}, out_c * out * out, reference


CASES = {"dense": dense_case, "gathered": gathered_case, "conv": conv_case}
# Corners of the tile space a random draw may miss: the most threads, the deepest slices, the
# tallest tile, the lopsided thread tiles.
CORNERS = ((128, 128, 16, 4, 8), (128, 128, 16, 8, 4), (32, 128, 32, 8, 8), (256, 64, 16, 8, 8), (64, 32, 32, 4, 8))


def _value(expr) -> int:
    if isinstance(expr, Const):
        return expr.value
    a, b = _value(expr.a), _value(expr.b)
    return {"add": a + b, "mul": a * b, "div": a // b, "min": min(a, b)}[expr.op]


def _configs(spec: Contraction, seed: int, draws: int) -> list[KernelConfig]:
    gemm_space = space.gemm_space(spec, SM90)
    rng = random.Random(seed)
    picks = [0] + rng.sample(range(1, gemm_space.size()), draws)
    configs = [gemm_space.config_at(i) for i in picks]
    splits = space.gemm_choice(spec, configs[-1], SM90).plan.splits
    for bm, bn, bk, tm, tn in CORNERS:
        values = dict(BM=bm, BN=bn, BK=bk, TM=tm, TN=tn, SPLITS=rng.choice((1, splits)))
        configs.append(KernelConfig(tuple(Param(k, v) for k, v in values.items())))
    return configs


def emulate(spec: Contraction, configs: list[KernelConfig], sizes: dict, out_size: int, rng) -> tuple[dict, list]:
    """Every config's kernels in one library; returns the inputs and each config's output."""
    params = ", ".join(f"const float* __restrict__ {p}" for p in sizes) + ", float* y"
    texts, launches = [], []
    for i, config in enumerate(configs):
        choice = space.gemm_choice(spec, config, SM90)
        functions = gemm.functions(spec, choice.plan, f'extern "C" __global__ void {choice.launch_bounds()} g{i}({params})',
                                   f'extern "C" __global__ void __launch_bounds__(256) g{i}r({params})', SM90.limit("sms"))
        steps = []
        for j, (text, grid, threads) in enumerate(functions):
            texts.append(text)
            dims = ", ".join(str(_value(d)) for d in grid)
            steps.append(f"aotc_emulate_launch3([&] {{ g{i}{'r' if j else ''}({', '.join(f'(const float*)a[{k}]' for k in range(len(sizes)))}, "
                         f"(float*)a[{len(sizes)}]); }}, {dims}, {threads});")
        launches.append(f"extern \"C\" void run{i}(void** a) {{ {' '.join(steps)} }}")
    support = gemm.SUPPORT.replace("#include <cuda_fp16.h>\n", "").replace("#include <cuda_bf16.h>\n", "")
    source = (f'#include "{EMULATOR}"\n#include <stdint.h>\n{HALF_STUBS}{MATHLIB_CU}{support}'
              f"__device__ float {gemm.WORKSPACE}[{WORKSPACE_FLOATS}];\n" + "\n".join(texts) + "\n" + "\n".join(launches))
    inputs = {name: rng.standard_normal(size).astype(np.float32) for name, size in sizes.items()}
    lib = emulated_library(source)
    outputs = []
    for i in range(len(configs)):
        out = np.full(out_size, np.nan, np.float32)
        arrays = [*inputs.values(), out]
        getattr(lib, f"run{i}")((ctypes.c_void_p * len(arrays))(*(a.ctypes.data for a in arrays)))
        outputs.append(out)
    return inputs, outputs


def emulated_library(source: str) -> ctypes.CDLL:
    """`source` (C++ against emulate_cuda.h) built by g++ and loaded (it stays loaded once its
    temporary file is gone)."""
    with tempfile.TemporaryDirectory() as tmp:
        path, library = Path(tmp) / "emulated.cpp", Path(tmp) / "emulated.so"
        path.write_text(source)
        subprocess.run(["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-w", "-o", str(library), str(path)],
                       check=True)
        return ctypes.CDLL(str(library))


@pytest.mark.parametrize("case", sorted(CASES))
def test_drawn_gemm_configs_compute_the_product(case):
    spec, sizes, out_size, reference = CASES[case]()
    seed = zlib.crc32(case.encode())
    configs = _configs(spec, seed, draws=5)
    assert max(space.gemm_choice(spec, c, SM90).plan.workspace(spec) for c in configs) <= WORKSPACE_FLOATS
    inputs, outputs = emulate(spec, configs, sizes, out_size, np.random.default_rng(seed))
    expected = reference(*(inputs[name].astype(np.float64) for name in sizes)).reshape(-1)
    for config, out in zip(configs, outputs):
        assert rel_l2(out.astype(np.float64), expected) <= 1e-5, config.dumps()


# -------------------------------------------------------------------- attention tilings

@pytest.mark.parametrize("b,h,s,t,d,causal,mask", [
    (1, 2, 70, 70, 64, True, None),              # GPT-2's form: query and key tails
    (2, 2, 40, 40, 32, False, (2, 1, 1, 40)),    # BERT's padding mask
])
def test_every_attention_tiling_in_the_space_computes_the_reference(b, h, s, t, d, causal, mask):
    from compiler.ir.interpreter import interpret
    from passes.lower import lower_node
    from test_cuda_attention import attention_graph, feeds_for
    graph = attention_graph(b, h, s, t, d, causal, mask)
    kernel = lower_node(graph, graph.nodes[0])
    attention_space = space.config_space(kernel, SM90)
    tilings = list(dict.fromkeys(attention_space.knobs[0][1]))
    assert len(tilings) >= 6
    printed = [kernel_functions(kernel, SM90, config)[0] for config in tilings]
    feeds = feeds_for(graph, np.random.default_rng(s * 100 + d))
    arrays = [np.ascontiguousarray(feeds[n]) for n in graph.nodes[0].inputs]
    casts = ", ".join(f"(float*)a[{k}]" for k in range(len(arrays) + 1))
    runners = [f'extern "C" void run{i}(void** a) {{ aotc_emulate_launch([&] {{ {name}({casts}); }}, '
               f"{_value(launch.grid[0])}, {launch.block}); }}" for i, (name, _, launch) in enumerate(printed)]
    source = f'#include "{EMULATOR}"\n' + "\n".join(text for _, text, _ in printed) + "\n" + "\n".join(runners)
    expected = interpret(graph, feeds)["y"]
    lib = emulated_library(source)
    for i, config in enumerate(tilings):
        out = np.full(expected.shape, np.nan, np.float32)
        pointers = [x.ctypes.data for x in (*arrays, out)]
        getattr(lib, f"run{i}")((ctypes.c_void_p * len(pointers))(*pointers))
        assert np.array_equal(np.isnan(out), np.isnan(expected)), config.dumps()
        assert rel_l2(np.nan_to_num(out), np.nan_to_num(expected)) <= 1e-5, config.dumps()
