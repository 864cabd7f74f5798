"""The CUDA GEMM template: which tile and operand loaders a contraction gets, every tile
candidate compiling for each architecture, and (marker `cuda`, on a GPU) each loader path and
epilogue against onnxruntime on fresh random inputs."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx.helper as oh
import pytest

from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, EpilogueClamp, Im2col
from compiler.target import resolve_target
from backends.cuda import gemm
from backends.cuda.build import nvcc_command
from backends.cuda.gemm_operands import a_loader, b_loader
from backends.cuda.gemm_tiles import CANDIDATES, GemmPlan, Tiles, choose_plan
from backends.cuda.mathlib import MATHLIB_CU
from cuda_testlib import needs_gpu, needs_nvcc
from test_cuda_run import gpu_target

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cpu"))
from cpu_testlib import check_model, make_feeds, make_model, seed_of  # noqa: E402

SM90 = resolve_target("cuda:sm_90")


def on_gpu(test):
    for mark in needs_gpu:
        test = mark(test)
    return test


def matmul(m, n, k) -> Contraction:
    return Contraction(1, 1, m, n, k, Dense("x", k, 1), Dense("w", n, 1, constant=True), "y", n, 0, 0)


def conv(channels, size, kernel, stride, out_channels) -> Contraction:
    pad = kernel // 2
    out = (size + 2 * pad - kernel) // stride + 1
    image = Im2col("x", channels, size, size, (kernel, kernel), (stride, stride), (pad, pad), (1, 1), out,
                   channels, channels * size * size)
    return Contraction(1, 1, out_channels, out * out, channels * kernel * kernel,
                       Dense("w", channels * kernel * kernel, 1, constant=True), image, "y", out * out, 0, 0,
                       epilogue=(EpilogueAdd("bias", 1, 0), EpilogueClamp(0.0, float("inf"))))


def test_a_large_gemm_gets_the_128x128_tile_of_8x8_threads_unsplit():
    assert choose_plan(matmul(4096, 4096, 4096), SM90) == GemmPlan(Tiles(128, 128, 8, 8, 8))


def test_a_small_problem_gets_blocks_enough_to_spread_over_the_sms():
    """ResNet-50's last 3x3 convolution at batch 1: 512 x 49 outputs, k = 4608; a 128 x 128
    tile would leave all but 4 of the 132 SMs idle: smaller tiles, and k split into slices."""
    plan = choose_plan(conv(512, 7, 3, 1, 512), SM90)
    blocks = -(-512 // plan.tiles.bm) * -(-49 // plan.tiles.bn) * plan.splits
    assert blocks >= 96 and plan.splits > 1 and plan.k_per_split % plan.tiles.bk == 0
    assert (plan.splits - 1) * plan.k_per_split < 4608 <= plan.splits * plan.k_per_split


def test_a_symbolic_batch_is_never_split():
    """The workspace is sized at compile time."""
    assert choose_plan(matmul("rows", 8, 8192), SM90).splits == 1


def test_dense_contiguous_operands_load_float4s_and_others_gather():
    tiles = CANDIDATES[0]
    assert "float4" in a_loader(matmul(256, 256, 256), tiles).kind
    assert "float4" in b_loader(matmul(256, 256, 256), tiles).kind
    assert a_loader(matmul(256, 256, 147), tiles).kind == "gathered"      # K % 4: a vector would straddle rows
    assert b_loader(matmul(256, 75, 256), tiles).kind == "gathered"
    assert "float4" in b_loader(conv(64, 56, 1, 1, 64), tiles).kind         # a 1x1 conv reads the image densely
    assert b_loader(conv(64, 56, 3, 1, 64), tiles).kind == "im2col gather"


def _spilled_bytes(tmp_path, arch: str, element: str) -> int:
    """Builds every tile candidate's kernels with `element` operands; their spill stores in bytes."""
    specs = {"mm": matmul("rows", 1000, 2048), "conv": conv(64, 56, 3, 2, 128),
             "t": Contraction(2, 1, 100, 36, 64, Dense("x", 1, 100, 6400), Dense("w", 1, 64, constant=True),
                              "y", 36, 3600, 0)}
    texts = []
    for name, spec in specs.items():
        plans = [GemmPlan(tiles) for tiles in CANDIDATES]
        if isinstance(spec.m, int):
            plans += [GemmPlan(tiles, 3, 2 * tiles.bk) for tiles in CANDIDATES]
        for i, plan in enumerate(plans):
            tiles = plan.tiles
            params = ", ".join(f"const {element}* __restrict__ {p}" for p in ("x", "w", "bias")) + f", {element}* y"
            params += ", int64_t rows" if isinstance(spec.m, str) else ""
            signature = (f'extern "C" __global__ void __launch_bounds__({tiles.threads}, {tiles.resident_blocks}) '
                         f"{name}{i}({params})")
            for text, _, _ in gemm.functions(spec, plan, signature, signature.replace(f"{name}{i}(", f"{name}{i}r("), 132):
                texts.append(text)
    source = tmp_path / f"g_{element}.cu"
    workspace = f"__device__ float {gemm.WORKSPACE}[1 << 20];\n"
    source.write_text("#include <stdint.h>\n#include <math.h>\n" + MATHLIB_CU + gemm.SUPPORT + workspace + "\n".join(texts))
    built = subprocess.run([nvcc_command(), "-cubin", f"-arch={arch}", "-O3", "-std=c++17", "-Xptxas", "-v",
                            "-o", str(tmp_path / f"g_{element}.cubin"), str(source)],
                           check=True, capture_output=True, text=True)
    return sum(int(m) for m in re.findall(r"(\d+) bytes spill stores", built.stderr))


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_every_tile_candidate_compiles(tmp_path, arch):
    _spilled_bytes(tmp_path, arch, "float")


@needs_nvcc
@pytest.mark.parametrize("element", ["__half", "__nv_bfloat16"])
def test_half_operands_compile_without_more_spills_than_float(tmp_path, element):
    """Half operands widen as they load and C rounds as it stores: no register costs more than
    float32's (a few tiles of this synthetic set spill a few bytes in float32 too)."""
    assert _spilled_bytes(tmp_path, "sm_90", element) <= _spilled_bytes(tmp_path, "sm_90", "float")


def _check(nodes, inputs, initializers, name):
    model = make_model(nodes, inputs, ["y"], initializers)
    check_model(model, [make_feeds(model, seed_of(name + str(k))) for k in range(2)], target=gpu_target())


def _weights(rng, *shape):
    return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]) or 1)).astype(np.float32)


# MatMul/Gemm cases: (name, M, K, N, transA, transB); each picks a different loader or tile.
GEMMS = [
    ("float4_both", 300, 256, 196, 0, 0),
    ("gathered_both", 130, 147, 75, 0, 0),
    ("transposed_both", 100, 64, 36, 1, 1),
    ("large_128x128", 1000, 512, 2048, 0, 0),
    ("thin_row_split_k", 1, 2048, 1000, 0, 1),
    ("split_k", 64, 4096, 64, 0, 0),
]


@pytest.mark.parametrize("name,m,k,n,trans_a,trans_b", GEMMS, ids=[g[0] for g in GEMMS])
@on_gpu
def test_gemm_loaders_and_epilogue_on_gpu(name, m, k, n, trans_a, trans_b):
    rng = np.random.default_rng(seed_of(name))
    w = _weights(rng, *((n, k) if trans_b else (k, n)))
    nodes = [oh.make_node("Gemm", ["x", "w", "c"], ["g"], transA=trans_a, transB=trans_b),
             oh.make_node("Relu", ["g"], ["y"])]
    _check(nodes, {"x": (np.float32, (k, m) if trans_a else (m, k))},
           {"w": w, "c": rng.standard_normal(n).astype(np.float32)}, name)


@on_gpu
def test_batched_matmul_of_two_activations_on_gpu():
    nodes = [oh.make_node("MatMul", ["a", "b"], ["y"])]
    _check(nodes, {"a": (np.float32, (4, 96, 64)), "b": (np.float32, (4, 64, 80))}, {}, "bmm")


# Conv cases: (name, channels, size, kernel, stride, out channels, groups, dilation)
CONVS = [
    ("pointwise_dense", 64, 28, 1, 1, 96, 1, 1),
    ("pointwise_odd_plane", 128, 7, 1, 1, 64, 1, 1),
    ("pointwise_strided", 64, 14, 1, 2, 128, 1, 1),
    ("3x3_stride2", 32, 29, 3, 2, 48, 1, 1),
    ("7x7_stem", 3, 64, 7, 2, 16, 1, 1),
    ("grouped", 32, 16, 3, 1, 32, 4, 1),
    ("dilated", 16, 20, 3, 1, 24, 1, 2),
    ("split_k_3x3", 256, 7, 3, 1, 128, 1, 1),
]


@pytest.mark.parametrize("name,channels,size,kernel,stride,out_channels,groups,dilation", CONVS,
                         ids=[c[0] for c in CONVS])
@on_gpu
def test_conv_with_bias_relu_and_residual_on_gpu(name, channels, size, kernel, stride, out_channels, groups, dilation):
    rng = np.random.default_rng(seed_of(name))
    pad = dilation * (kernel // 2)
    out = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    nodes = [oh.make_node("Conv", ["x", "w", "b"], ["c"], pads=[pad] * 4, strides=[stride] * 2,
                          dilations=[dilation] * 2, group=groups),
             oh.make_node("Add", ["c", "r"], ["s"]),
             oh.make_node("Relu", ["s"], ["y"])]
    _check(nodes, {"x": (np.float32, (2, channels, size, size)), "r": (np.float32, (2, out_channels, out, out))},
           {"w": _weights(rng, out_channels, channels // groups, kernel, kernel),
            "b": rng.standard_normal(out_channels).astype(np.float32)}, name)
