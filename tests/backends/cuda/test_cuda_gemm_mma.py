"""The tensor-core GEMM template for half operands (gemm_mma.py): which contractions it takes and
with which loaders, every tile candidate compiling for sm_80 and sm_90 in fp16 and bf16 (the
cp.async kernels without spills), float32 models untouched, and (marker `cuda`, on a GPU) MatMul,
Gemm and Conv with fused epilogues against numpy on the half-rounded operands, for aligned and
edge shapes."""
from __future__ import annotations

import ctypes
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx.helper as oh
import pytest

import compiler
from compiler.api import compile_to_directory
from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, EpilogueClamp, Im2col, Im2colRows
from compiler.ir.dtypes import DType
from compiler.options import CompileOptions
from compiler.target import resolve_target
from backends.cuda import gemm, gemm_mma
from backends.cuda.build import nvcc_command
from backends.cuda.mathlib import MATHLIB_CU
from cuda_testlib import needs_nvcc, on_gpu
from conftest import rel_l2
from test_cuda_run import gpu_target

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontends"))
from onnx_testlib import make_model  # noqa: E402

SM90 = resolve_target("cuda:sm_90")
F16, BF16 = DType.float16, DType.bfloat16


def matmul(m, n, k, batch=1) -> Contraction:
    return Contraction(batch, 1, m, n, k, Dense("x", k, 1, m * k), Dense("w", n, 1, constant=True), "y", n, m * n, 0,
                       epilogue=(EpilogueAdd("bias", 0, 1),))


def conv(channels, size, kernel, stride, out_channels, batch=2) -> Contraction:
    pad = kernel // 2
    out = (size + 2 * pad - kernel) // stride + 1
    image = Im2col("x", channels, size, size, (kernel, kernel), (stride, stride), (pad, pad), (1, 1), out,
                   channels, channels * size * size)
    return Contraction(batch, 1, out_channels, out * out, channels * kernel * kernel,
                       Dense("w", channels * kernel * kernel, 1, constant=True), image, "y", out * out,
                       out_channels * out * out, 0, epilogue=(EpilogueAdd("bias", 1, 0), EpilogueClamp(0.0, float("inf"))))


SPECS = {
    "bert": matmul(1024, 768, 768),
    "symbolic_rows": replace(matmul(8, 1000, 2048), m="rows", out_batch_stride=0),
    "transposed": Contraction(2, 1, 100, 36, 64, Dense("x", 1, 100, 6400), Dense("w", 1, 64, constant=True),
                              "y", 36, 3600, 0),
    "odd_edges": matmul(130, 75, 147),
    "conv3x3": conv(64, 28, 3, 1, 64),
    "conv1x1_plane49": conv(256, 7, 1, 1, 512),
    "conv7x7_stem": conv(3, 32, 7, 2, 16),
    "window_rows": Contraction(1, 1, 196, 64, 288, Im2colRows("x", 32, 32, 14, 14, (3, 3), (1, 1), (1, 1), (1, 1),
                                                             14, 14 * 14 * 32), Dense("w", 64, 1, constant=True),
                               "y", 64, 0, 0),
    "window_rows_stem": Contraction(1, 1, 100, 16, 27, Im2colRows("x", 3, 3, 20, 20, (3, 3), (2, 2), (1, 1), (1, 1),
                                                                  10, 20 * 20 * 3), Dense("w", 16, 1, constant=True),
                                    "y", 16, 0, 0),
}


def _types(dtype):
    return {"x": dtype, "w": dtype, "bias": dtype, "y": dtype}


def test_float32_and_mixed_operands_and_tiny_k_stay_on_the_cuda_core_template():
    assert gemm_mma.choose(SPECS["bert"], _types(DType.float32), SM90) is None
    assert gemm_mma.choose(SPECS["bert"], {"x": F16, "w": BF16}, SM90) is None
    depthwise = conv(1, 28, 3, 1, 1)     # k = 9 per group: most of an m16n8k16 would be padding
    assert gemm_mma.choose(depthwise, _types(F16), SM90) is None
    assert gemm_mma.choose(SPECS["bert"], _types(F16), replace(SM90, name="cuda:sm_75")) is None   # no m16n8k16
    plan = gemm_mma.choose(SPECS["bert"], _types(BF16), resolve_target("cuda:sm_80"))
    assert plan is not None and plan.mma_type == "bf16" and not plan.gathered


def test_aligned_operands_stream_through_cp_async_and_the_rest_gather():
    def kinds(name):
        spec = SPECS[name]
        tiles = gemm_mma.CANDIDATES[0]
        return (gemm_mma.a_loader(spec, tiles.bm, gemm_mma.BK, tiles.threads).kind,
                gemm_mma.b_loader(spec, tiles.bn, gemm_mma.BK, tiles.threads).kind)
    assert kinds("bert") == ("cp.async 16 B along k", "cp.async 16 B along n")
    assert kinds("transposed") == ("cp.async 8 B along m", "cp.async 16 B along k")
    assert kinds("odd_edges") == ("gathered", "gathered")          # k = 147, n = 75: no chunk divides them
    assert kinds("conv1x1_plane49")[1] == "gathered"                # a 49-pixel plane: rows misaligned
    assert kinds("conv3x3")[1] == "im2col gather"
    assert kinds("window_rows")[0] == "cp.async 16 B window rows"      # NHWC: channels of one tap
    assert kinds("window_rows_stem")[0] == "window gather"                # 3 channels: no chunk divides them
    assert gemm_mma.choose(conv(64, 28, 1, 1, 64), _types(F16), SM90).gathered is False   # 784 pixels


def _build(tmp_path, arch: str, element: str) -> dict[str, int]:
    """Every spec with its chosen tile, and the streamed BERT GEMM with every tile candidate, in one
    .cu; spill-store bytes per kernel."""
    dtype = F16 if element == "__half" else BF16
    texts = []
    for name, spec in SPECS.items():
        chosen = gemm_mma.choose(spec, _types(dtype), SM90)
        for tiles in gemm_mma.CANDIDATES if name == "bert" else (chosen.tiles,):
            plan = replace(chosen, tiles=tiles)
            params = ", ".join(f"const {element}* __restrict__ {p}" for p in ("x", "w", "bias")) + f", {element}* y"
            params += ", int64_t rows" if isinstance(spec.m, str) else ""
            signature = (f'extern "C" __global__ void __launch_bounds__({tiles.threads}, {plan.min_blocks}) '
                         f"{name}_{tiles.bm}x{tiles.bn}({params})")
            texts.append(gemm_mma.render(spec, plan, signature))
    source = tmp_path / "mma.cu"
    source.write_text("#include <stdint.h>\n#include <math.h>\n" + MATHLIB_CU + gemm.SUPPORT + gemm_mma.SUPPORT
                      + "\n".join(texts))
    built = subprocess.run([nvcc_command(), "-cubin", f"-arch={arch}", "-O3", "-std=c++17", "-Xptxas", "-v",
                            "-o", str(tmp_path / "mma.cubin"), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-3000:]
    spills = re.findall(r"Compiling entry function '(\w+)'.*?(\d+) bytes spill stores", built.stderr, re.S)
    return {name: int(count) for name, count in spills}


@needs_nvcc
@pytest.mark.parametrize("arch,element", [("sm_90", "__half"), ("sm_80", "__nv_bfloat16")])
def test_every_mma_tile_compiles_and_the_cp_async_kernels_do_not_spill(tmp_path, arch, element):
    spills = _build(tmp_path, arch, element)
    assert len(spills) == len(SPECS) - 1 + len(gemm_mma.CANDIDATES)
    streamed = [name for name in spills if name.startswith(("bert", "symbolic_rows", "transposed", "window_rows_"))
                and not name.startswith("window_rows_stem")]
    assert streamed and all(spills[name] == 0 for name in streamed), spills


@needs_nvcc
def test_float32_models_print_no_mma_and_half_ones_do(tmp_path):
    nodes = [oh.make_node("MatMul", ["x", "w"], ["y"])]
    model = make_model(nodes, {"x": (np.float32, (64, 128))}, ["y"],
                       {"w": np.ones((128, 96), np.float32)})
    sources = {}
    for dtype in ("fp32", "fp16"):
        out = compile_to_directory(model, "cuda:sm_90", tmp_path / dtype, options=CompileOptions(build_cache=tmp_path / "c", dtype=dtype))
        sources[dtype] = (out / "kernels" / "model.cu").read_text()
    assert "mma.sync" not in sources["fp32"] and gemm_mma.MARK not in sources["fp32"]
    assert "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32" in sources["fp16"]


# --- on a GPU: against numpy on the operands as the half type rounds them -------------------

TOLERANCE = {"fp16": 2e-3, "bf16": 1e-2}


def _rounded(array: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "fp16":
        return array.astype(np.float16).astype(np.float64)
    bits = array.astype(np.float32).view(np.uint32)
    bits = (bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000      # round to nearest even
    return bits.view(np.float32).astype(np.float64)


def _run_half(model, feeds, dtype, tmp_path, layout=None):
    options = CompileOptions(build_cache=tmp_path / "c", dtype=dtype, activation_layout=layout)
    out = compile_to_directory(model, gpu_target(), tmp_path / "a", options=options)
    assert "mma.sync" in (out / "kernels" / "model.cu").read_text()
    return compiler.load(out).run_list(**feeds)[0]


GEMMS = [("aligned", 256, 256, 384), ("edges", 130, 152, 75), ("odd_k", 100, 147, 64), ("thin", 1, 512, 1000)]


@pytest.mark.parametrize("dtype", ["fp16", "bf16"])
@pytest.mark.parametrize("name,m,k,n", GEMMS, ids=[g[0] for g in GEMMS])
@on_gpu
def test_mma_gemm_with_bias_and_relu_matches_numpy_on_gpu(tmp_path, dtype, name, m, k, n):
    rng = np.random.default_rng(len(name) * 7 + m)
    w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    c = rng.standard_normal(n).astype(np.float32)
    x = rng.standard_normal((m, k)).astype(np.float32)
    nodes = [oh.make_node("Gemm", ["x", "w", "c"], ["g"]), oh.make_node("Relu", ["g"], ["y"])]
    model = make_model(nodes, {"x": (np.float32, (m, k))}, ["y"], {"w": w, "c": c})
    actual = _run_half(model, {"x": x}, dtype, tmp_path)
    expected = np.maximum(_rounded(x, dtype) @ _rounded(w, dtype) + _rounded(c, dtype), 0.0)
    error = rel_l2(actual, expected)
    print(f"{name} {dtype}: rel L2 {error:.3g}")
    assert error <= TOLERANCE[dtype], error


CONV_RUNS = [(dtype, shape, None) for dtype in ("fp16", "bf16") for shape in ((32, 14, 3, 1), (64, 7, 1, 1), (3, 20, 7, 2))]
CONV_RUNS += [("fp16", (32, 14, 3, 1), "NHWC"), ("bf16", (24, 9, 3, 2), "NHWC"), ("fp16", (64, 7, 1, 1), "NHWC")]


@pytest.mark.parametrize("dtype,shape,layout", CONV_RUNS, ids=[f"{d}-{c}x{s}-k{k}s{t}-{l or 'NCHW'}"
                                                               for d, (c, s, k, t), l in CONV_RUNS])
@on_gpu
def test_mma_conv_with_bias_residual_and_relu_matches_numpy_on_gpu(tmp_path, dtype, shape, layout):
    channels, size, kernel, stride = shape
    rng = np.random.default_rng(channels + size + kernel)
    out_channels, pad = 48, kernel // 2
    out = (size + 2 * pad - kernel) // stride + 1
    w = (rng.standard_normal((out_channels, channels, kernel, kernel)) / np.sqrt(channels * kernel * kernel)).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32)
    x = rng.standard_normal((2, channels, size, size)).astype(np.float32)
    r = rng.standard_normal((2, out_channels, out, out)).astype(np.float32)
    nodes = [oh.make_node("Conv", ["x", "w", "b"], ["c"], pads=[pad] * 4, strides=[stride] * 2),
             oh.make_node("Add", ["c", "r"], ["s"]), oh.make_node("Relu", ["s"], ["y"])]
    model = make_model(nodes, {"x": (np.float32, x.shape), "r": (np.float32, r.shape)}, ["y"], {"w": w, "b": b})
    actual = _run_half(model, {"x": x, "r": r}, dtype, tmp_path, layout)
    xp = np.pad(_rounded(x, dtype), ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    windows = np.lib.stride_tricks.sliding_window_view(xp, (kernel, kernel), axis=(2, 3))[:, :, ::stride, ::stride]
    conv_out = np.einsum("bchwij,ocij->bohw", windows, _rounded(w, dtype))
    expected = np.maximum(conv_out + _rounded(b, dtype)[None, :, None, None] + _rounded(r, dtype), 0.0)
    error = rel_l2(actual, expected)
    print(f"conv {kernel}x{kernel} {dtype} {layout or 'NCHW'}: rel L2 {error:.3g}")
    assert error <= TOLERANCE[dtype], error


# --- the template's logic emulated on the CPU (emulate_mma.h): fragments, loaders, edges ---------

EMULATOR = Path(__file__).with_name("emulate_mma.h")
EMULATED = {
    "streamed": matmul(96, 80, 64, batch=2),
    "transposed": SPECS["transposed"],
    "odd_edges": matmul(70, 75, 147),
    "symbolic_rows": replace(matmul(8, 40, 48), m="rows", out_batch_stride=0),
    "conv3x3": conv(16, 10, 3, 1, 24),
    "conv1x1_plane49": conv(32, 7, 1, 1, 40),
    "conv3x3_stride2": conv(8, 9, 3, 2, 16),
    "window_rows": Contraction(2, 1, 36, 24, 144, Im2colRows("x", 16, 16, 6, 6, (3, 3), (1, 1), (1, 1), (1, 1), 6,
                                                            6 * 6 * 16), Dense("w", 24, 1, constant=True), "y", 24, 36 * 24, 0),
    "window_rows_12ch_stride2": Contraction(2, 1, 25, 16, 108, Im2colRows("x", 12, 12, 9, 9, (3, 3), (2, 2), (1, 1),
                                                                         (1, 1), 5, 9 * 9 * 12),
                                            Dense("w", 16, 1, constant=True), "y", 16, 25 * 16, 0),
    "window_rows_stem": SPECS["window_rows_stem"],
    # Two groups of 8 channels: NCHW (weights and image offset per group) and NHWC.
    "grouped_conv": Contraction(2, 2, 12, 64, 72, Dense("w", 72, 1, 0, 12 * 72, constant=True),
                                Im2col("x", 8, 8, 8, (3, 3), (1, 1), (1, 1), (1, 1), 8, 8, 16 * 64), "y", 64,
                                24 * 64, 12 * 64),
    "grouped_window_rows": Contraction(2, 2, 64, 12, 72, Im2colRows("x", 16, 8, 8, 8, (3, 3), (1, 1), (1, 1), (1, 1),
                                                                   8, 8 * 8 * 16),
                                       Dense("w", 12, 1, 0, 72 * 12, constant=True), "y", 24, 64 * 24, 12),
}
# (case, element, tiles): every case with its chosen tile in fp16, the streamed GEMM with every
# candidate, and two cases in bf16.
EMULATED_RUNS = ([(name, "f16", None) for name in EMULATED] + [("streamed", "f16", t) for t in gemm_mma.CANDIDATES]
                 + [("conv3x3", "bf16", None), ("transposed", "bf16", None)])
SYMBOLIC_ROWS = 50


def _extent(operand, spec, rows: int) -> int:
    """Elements an operand's buffer spans."""
    batch = spec.batch if isinstance(spec.batch, int) else 1
    if isinstance(operand, (Im2col, Im2colRows)):
        return batch * operand.image_stride
    m = spec.m if isinstance(spec.m, int) else rows
    inner = (m if operand is spec.a else spec.k, spec.k if operand is spec.a else spec.n)
    return ((batch - 1) * operand.batch_stride + (spec.groups - 1) * operand.group_stride
            + (inner[0] - 1) * operand.row_stride + (inner[1] - 1) * operand.col_stride + 1)


def _matrix(operand, spec, values: np.ndarray, gb: int, gg: int, rows: int) -> np.ndarray:
    """Operand A[m, k] or B[k, n] of (batch gb, group gg) as float64, by the spec's addressing."""
    m = spec.m if isinstance(spec.m, int) else rows
    if isinstance(operand, Dense):
        r, c = (m, spec.k) if operand is spec.a else (spec.k, spec.n)
        index = (gb * operand.batch_stride + gg * operand.group_stride + np.arange(r)[:, None] * operand.row_stride
                 + np.arange(c)[None, :] * operand.col_stride)
        return values[index]
    kh, kw = operand.kernel
    (sh, sw), (ph, pw), (dh, dw) = operand.stride, operand.pad, operand.dilation
    pixels = np.arange(m if isinstance(operand, Im2colRows) else spec.n)
    oy, ox = pixels // operand.out_width, pixels % operand.out_width
    k = np.arange(spec.k)
    if isinstance(operand, Im2col):     # k = (ci, ky, kx)
        ci, ky, kx = k // (kh * kw), k % (kh * kw) // kw, k % kw
    else:                               # k = (ky, kx, ci)
        ci, ky, kx = k % operand.channels_per_group, k // operand.channels_per_group // kw, k // operand.channels_per_group % kw
    iy = oy[None, :] * sh - ph + ky[:, None] * dh
    ix = ox[None, :] * sw - pw + kx[:, None] * dw
    inside = (iy >= 0) & (iy < operand.height) & (ix >= 0) & (ix < operand.width)
    iy, ix = np.clip(iy, 0, operand.height - 1), np.clip(ix, 0, operand.width - 1)
    if isinstance(operand, Im2col):
        plane = operand.height * operand.width
        index = (gb * operand.image_stride + gg * operand.channel_offset_per_group * plane
                 + (ci[:, None] * operand.height + iy) * operand.width + ix)
        return np.where(inside, values[index], 0.0)
    index = gb * operand.image_stride + gg * operand.channels_per_group + (iy * operand.width + ix) * operand.channels + ci[:, None]
    return np.where(inside, values[index], 0.0).T


def _bits(rng, count: int, element: str) -> tuple[np.ndarray, np.ndarray]:
    """Random half values: their 16-bit patterns and float64 values."""
    values = rng.standard_normal(count).astype(np.float32)
    if element == "f16":
        half = values.astype(np.float16)
        return half.view(np.uint16), half.astype(np.float64)
    bits = values.view(np.uint32)
    bits = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)
    return bits, (bits.astype(np.uint32) << 16).view(np.float32).astype(np.float64)


@pytest.fixture(scope="module")
def emulated_library(tmp_path_factory):
    """Every run's kernel and a launcher per run, built once with g++ against emulate_mma.h."""
    texts = []
    for index, (name, element, tiles) in enumerate(EMULATED_RUNS):
        spec = EMULATED[name]
        dtype = F16 if element == "f16" else BF16
        plan = gemm_mma.choose(spec, _types(dtype), SM90)
        plan = replace(plan, tiles=tiles or plan.tiles)
        storage = "__half" if element == "f16" else "__nv_bfloat16"
        params = ", ".join(f"const {storage}* __restrict__ {p}" for p in ("x", "w", "bias")) + f", {storage}* y"
        params += ", int64_t rows" if isinstance(spec.m, str) else ""
        texts.append(gemm_mma.render(spec, plan, f'extern "C" __global__ void kernel{index}({params})'))
        m = spec.m if isinstance(spec.m, int) else SYMBOLIC_ROWS
        batch = spec.batch if isinstance(spec.batch, int) else 1
        grid = (-(-spec.n // plan.tiles.bn), -(-m // plan.tiles.bm), batch * spec.groups)
        rows = f", {SYMBOLIC_ROWS}" if isinstance(spec.m, str) else ""
        texts.append(f'extern "C" void run{index}(void** a) {{ aotc_emulate_launch3([&] {{ kernel{index}('
                     f"({storage}*)a[0], ({storage}*)a[1], ({storage}*)a[2], ({storage}*)a[3]{rows}); }}, "
                     f"{{{grid[0]}u, {grid[1]}u, {grid[2]}u}}, {plan.tiles.threads}); }}")
    folder = tmp_path_factory.mktemp("mma")
    source, library = folder / "emulated.cpp", folder / "emulated.so"
    source.write_text(f'#include "{EMULATOR}"\n' + "\n".join(texts))
    subprocess.run(["g++", "-std=c++20", "-O1", "-shared", "-fPIC", "-pthread", "-w", "-o", str(library), str(source)],
                   check=True)
    return ctypes.CDLL(str(library))


@pytest.mark.parametrize("index", range(len(EMULATED_RUNS)),
                         ids=[f"{n}-{e}-{t.bm}x{t.bn}" if t else f"{n}-{e}" for n, e, t in EMULATED_RUNS])
def test_emulated_mma_template_matches_numpy(emulated_library, index):
    name, element, _ = EMULATED_RUNS[index]
    spec = EMULATED[name]
    rng = np.random.default_rng(index)
    m = spec.m if isinstance(spec.m, int) else SYMBOLIC_ROWS
    batch = spec.batch if isinstance(spec.batch, int) else 1
    x_bits, x = _bits(rng, _extent(spec.a if spec.a.param == "x" else spec.b, spec, m), element)
    w_bits, w = _bits(rng, _extent(spec.b if spec.b.param == "w" else spec.a, spec, m), element)
    bias_size = max(m, spec.n)
    bias_bits, bias = _bits(rng, bias_size, element)
    out_size = ((batch - 1) * spec.out_batch_stride + (spec.groups - 1) * spec.out_group_stride
                + (m - 1) * spec.out_row_stride + spec.n)
    y = np.full(out_size, 0x7E00 if element == "f16" else 0x7FC0, np.uint16)     # NaN: unwritten shows
    arrays = [x_bits, w_bits, bias_bits, y]
    args = (ctypes.c_void_p * 4)(*(a.ctypes.data for a in arrays))
    getattr(emulated_library, f"run{index}")(args)
    values = {"x": x, "w": w}
    actual = (y.view(np.float16).astype(np.float64) if element == "f16"
              else (y.astype(np.uint32) << 16).view(np.float32).astype(np.float64))
    for gb, gg in np.ndindex(batch, spec.groups):
        product = (_matrix(spec.a, spec, values[spec.a.param], gb, gg, m)
                   @ _matrix(spec.b, spec, values[spec.b.param], gb, gg, m))
        for op in spec.epilogue:
            if isinstance(op, EpilogueAdd):
                product = product + bias[np.arange(m)[:, None] * op.row_stride + np.arange(spec.n)[None, :] * op.col_stride]
            elif isinstance(op, EpilogueClamp):
                product = np.clip(product, op.low, op.high)
        got = actual[gb * spec.out_batch_stride + gg * spec.out_group_stride + np.arange(m)[:, None] * spec.out_row_stride
                     + np.arange(spec.n)[None, :]]
        assert np.isfinite(got).all(), f"batch {gb}, group {gg}: elements left unwritten"
        assert rel_l2(got, product) <= TOLERANCE["fp16" if element == "f16" else "bf16"], rel_l2(got, product)
