"""The CUDA backend's config spaces (backends/cuda/space.py), its analytic estimate and its
benchmark hook.

Everywhere: index 0 of every space is the heuristic's choice and prints the same text as no
config at all; every config of the BERT-base and ResNet-50 GEMM spaces passes the template's
checks; an invalid config gets a one-line error; a seeded sample of configs of every template
compiles with nvcc for sm_90; benchmark() says clearly that there is no GPU. On the GPU
(`cuda` marker): models compiled with randomly drawn configs for every kernel match
onnxruntime, and benchmark() returns sane timings.
"""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx.helper as oh
import pytest

from compiler.errors import TargetError, UnsupportedError
from compiler.ir.config import KernelConfig, Param
from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, EpilogueGelu
from compiler.target import resolve_target
from backends.cuda import CudaBackend, gemm, space
from backends.base import benchmark_inputs, input_types
from backends.cuda.build import nvcc_command
from backends.cuda.gemm_tiles import choose_plan
from backends.cuda.mathlib import MATHLIB_CU
from backends.cuda.printer import kernel_functions
from cuda_testlib import has_driver, needs_nvcc, on_gpu
from test_cuda_attention import attention_graph, head_split_model
from test_cuda_gemm import conv
from test_cuda_printer import elementwise, row_sum
from passes.lower import lower_node

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cpu"))
from cpu_testlib import check_model, make_feeds, make_model, seed_of  # noqa: E402

SM90 = resolve_target("cuda:sm_90")
BACKEND = CudaBackend()


def bert_linear(n: int, k: int, gelu: bool) -> Contraction:
    """BERT-base's projections at batch 8, sequence 128: [8, 128, k] @ [k, n] + bias (+ GELU)."""
    epilogue = (EpilogueAdd("bias", 0, 1),) + ((EpilogueGelu(),) if gelu else ())
    return Contraction(8, 1, 128, n, k, Dense("x", k, 1, 128 * k), Dense("w", n, 1, constant=True), "y",
                       n, 128 * n, 0, epilogue=epilogue)


GEMMS = {
    "bert_qkv": bert_linear(768, 768, False),
    "bert_ffn1": bert_linear(3072, 768, True),
    "bert_ffn2": bert_linear(768, 3072, False),
    "resnet_3x3": conv(128, 28, 3, 1, 128),
    "resnet_1x1": conv(1024, 14, 1, 1, 256),
    "resnet_fc": Contraction(1, 1, 1, 1000, 2048, Dense("x", 2048, 1), Dense("w", 1, 2048, constant=True), "y",
                             1000, 0, 0),
}


def _attention_kernel():
    graph = attention_graph(2, 12, 128, 128, 64, mask=(2, 1, 1, 128))
    return lower_node(graph, graph.nodes[0])


def _loop_kernels():
    return [elementwise(), row_sum()]


@pytest.mark.parametrize("name", sorted(GEMMS))
def test_gemm_space_starts_with_the_heuristic_and_every_config_passes_the_checks(name):
    spec = GEMMS[name]
    gemm_space = space.gemm_space(spec, SM90)
    assert 100 <= gemm_space.size() <= 5000
    assert space.gemm_choice(spec, gemm_space.config_at(0), SM90) == space.GemmChoice(choose_plan(spec, SM90))
    plans = {space.gemm_choice(spec, gemm_space.config_at(i), SM90) for i in range(gemm_space.size())}
    assert len(plans) >= gemm_space.size() // 2      # knobs that change the kernel, not just its name


def test_index_zero_prints_what_no_config_prints():
    """An artifact compiled without a tuning database is byte-identical to one before tuning
    existed: the default config changes no kernel text."""
    kernels = [_attention_kernel(), *_loop_kernels()]
    for kernel in kernels:
        default = BACKEND.default_config(kernel, SM90)
        assert BACKEND.config_space(kernel, SM90).config_at(0) == default
        assert kernel_functions(kernel, SM90, default) == kernel_functions(kernel, SM90)


def test_spaces_cover_each_template():
    assert BACKEND.config_space(_attention_kernel(), SM90).size() >= 6
    assert BACKEND.config_space(elementwise(), SM90).size() == 5 * 5 * 2     # threads, grid cap, float4
    assert BACKEND.config_space(row_sum(), SM90).size() == 5 * 5             # warp rows: no float4


@pytest.mark.parametrize("config,problem", [
    ({"BM": 128, "BN": 128, "BK": 32}, "shared memory"),
    ({"TM": 2}, "TM and TN"),
    ({"BM": 256, "BN": 256, "TM": 4, "TN": 4}, "threads"),
    ({"SPLITS": 0}, "SPLITS"),
])
def test_an_invalid_gemm_config_gets_a_one_line_error(config, problem):
    bad = KernelConfig(tuple(Param(k, v) for k, v in config.items()))
    with pytest.raises(UnsupportedError, match=problem) as error:
        space.gemm_choice(GEMMS["bert_qkv"], bad, SM90)
    assert "\n" not in str(error.value)


def test_estimates_rank_the_bad_tiles_of_a_small_problem_last():
    """The roofline prior is finite and positive for every config, and for ResNet-50's final
    layer (one row) an unsplit 128 x 128 tile is estimated slower than the heuristic's plan."""
    spec = GEMMS["resnet_fc"]
    kernel = _kernel_of(spec)
    gemm_space = BACKEND.config_space(kernel, SM90)
    estimates = [BACKEND.estimate_seconds(kernel, gemm_space.config_at(i), SM90) for i in range(gemm_space.size())]
    assert all(0 < e < 1 for e in estimates)
    big = KernelConfig(tuple(Param(k, v) for k, v in dict(BM=128, BN=128, BK=8, TM=8, TN=8, SPLITS=1).items()))
    assert BACKEND.estimate_seconds(kernel, big, SM90) > estimates[0]
    for kernel in [_attention_kernel(), *_loop_kernels()]:
        assert 0 < BACKEND.estimate_seconds(kernel, BACKEND.default_config(kernel, SM90), SM90) < 1


def _kernel_of(spec: Contraction):
    """A Kernel carrying `spec` (the estimate reads the contraction and the kernel's cost)."""
    from compiler.ir.loops import Block, Kernel, KernelCost
    return Kernel("k", (), (), Block(()), cost=KernelCost(spec.flops(), 4 * (spec.m * spec.k + spec.k * spec.n)),
                  contraction=spec)


def test_benchmark_says_there_is_no_gpu_here(tmp_path):
    if has_driver():
        pytest.skip("a CUDA driver is present")
    with pytest.raises(TargetError, match="no CUDA driver"):
        BACKEND.benchmark(tmp_path, repeats=3, warmup=1, seed=0)


def test_benchmark_inputs_are_seeded_and_non_zero():
    signature = [{"dtype": "f32", "shape": ["batch", 16]}, {"dtype": "i64", "shape": [8]}]
    a, ids = benchmark_inputs(input_types(signature), 3)
    assert a.shape == (1, 16) and a.dtype == np.float32 and np.all(a != 0)
    assert ids.shape == (8,) and ids.dtype == np.int64 and np.all(ids == 0)    # always a valid index
    assert np.array_equal(benchmark_inputs(input_types(signature), 3)[0], a)


# -------------------------------------------------------------------- nvcc, a seeded sample

def _sample(config_space, count: int, rng: random.Random) -> list[KernelConfig]:
    picks = sorted(rng.sample(range(1, config_space.size()), min(count, config_space.size() - 1)))
    return [config_space.config_at(i) for i in picks]


def sample_source(per_kernel: int, seed: int) -> str:
    """model.cu-like text: `per_kernel` random configs of each GEMM above, of the attention
    kernel and of the loop kernels, each function named by its text."""
    rng = random.Random(seed)
    functions: dict[str, str] = {}
    for name, spec in sorted(GEMMS.items()):
        for i, config in enumerate(_sample(space.gemm_space(spec, SM90), per_kernel, rng)):
            choice = space.gemm_choice(spec, config, SM90)
            params = ", ".join(f"const float* __restrict__ {p}" for p in ("x", "w", "bias")) + ", float* y"
            signature = f'extern "C" __global__ void {choice.launch_bounds()} {name}{i}({params})'
            plain = f'extern "C" __global__ void __launch_bounds__(256) {name}{i}r({params})'
            for j, (text, _, _) in enumerate(gemm.functions(spec, choice.plan, signature, plain, SM90.limit("sms"))):
                functions[f"{name}{i}.{j}"] = text
    for kernel in [_attention_kernel(), *_loop_kernels()]:
        for config in _sample(BACKEND.config_space(kernel, SM90), per_kernel, rng):
            functions.update((function, text) for function, text, _ in kernel_functions(kernel, SM90, config))
    workspace = f"__device__ float {gemm.WORKSPACE}[1 << 23];\n"
    return ("#include <stdint.h>\n#include <math.h>\n" + MATHLIB_CU + gemm.SUPPORT + workspace
            + "\n".join(functions[f] for f in sorted(functions)))


@needs_nvcc
def test_a_sample_of_every_space_compiles_for_sm_90(tmp_path):
    source = tmp_path / "sample.cu"
    source.write_text(sample_source(per_kernel=2, seed=seed_of("sm_90 sample")))
    subprocess.run([nvcc_command(), "-cubin", "-arch=sm_90", "-O3", "-std=c++17", "-o", str(tmp_path / "s.cubin"),
                    str(source)], check=True, capture_output=True, text=True)


# -------------------------------------------------------------------- on the GPU

def _models():
    """A projection with bias and ReLU, a transposed-weight Gemm, LayerNorm and Softmax rows;
    a 3x3 convolution with bias and ReLU; BERT-style attention with a padding mask."""
    rng = np.random.default_rng(0)
    n = oh.make_node
    mlp = make_model(
        [n("MatMul", ["x", "w1"], ["h"]), n("Add", ["h", "b1"], ["hb"]), n("Relu", ["hb"], ["g"]),
         n("Reshape", ["g", "flat"], ["g2"]), n("Gemm", ["g2", "w2", "b2"], ["o"], transB=1),
         n("LayerNormalization", ["o", "gamma", "beta"], ["ln"], axis=-1), n("Softmax", ["ln"], ["y"], axis=-1)],
        {"x": (np.float32, [2, 64, 96])}, ["y"],
        {"w1": rng.standard_normal((96, 200)).astype(np.float32) / 10, "b1": rng.standard_normal(200).astype(np.float32),
         "w2": rng.standard_normal((72, 200)).astype(np.float32) / 14, "b2": rng.standard_normal(72).astype(np.float32),
         "gamma": rng.standard_normal(72).astype(np.float32), "beta": rng.standard_normal(72).astype(np.float32),
         "flat": np.array([128, 200], np.int64)})
    conv = make_model(
        [n("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]), n("Relu", ["c"], ["y"])],
        {"x": (np.float32, [1, 16, 20, 20])}, ["y"],
        {"w": rng.standard_normal((24, 16, 3, 3)).astype(np.float32) / 12, "b": rng.standard_normal(24).astype(np.float32)})
    return {"mlp": mlp, "conv": conv, "attention": head_split_model(2, 2, 40, 32, "padding")}


@on_gpu
@pytest.mark.parametrize("draw", range(3))
@pytest.mark.parametrize("model_name", ["mlp", "conv", "attention"])
def test_random_configs_match_onnxruntime_on_gpu(monkeypatch, model_name, draw):
    """Every kernel of the model compiled with a config drawn at random from its space."""
    from test_cuda_run import gpu_target
    rng = random.Random(seed_of(f"{model_name} {draw}"))

    def drawn(self, kernel, target):
        config_space = space.config_space(kernel, target)
        return config_space.config_at(rng.randrange(config_space.size()))
    monkeypatch.setattr(CudaBackend, "default_config", drawn)
    model = _models()[model_name]
    check_model(model, [make_feeds(model, seed_of(f"{model_name} feeds {draw}"))], target=gpu_target())


@on_gpu
def test_benchmark_returns_sane_timings_on_gpu(tmp_path):
    """Through CuPy and through torch (graph replays, CUDA events): positive, steady, and the
    two libraries agree on the same artifact within a factor of two."""
    import compiler
    from backends.cuda.benchmark import benchmark
    from test_cuda_run import gpu_target
    compiler.compile(_models()["mlp"], target=gpu_target()).save(tmp_path / "mlp")
    medians = []
    for library in ("cupy", "torch"):
        runs = benchmark(tmp_path / "mlp", repeats=20, warmup=3, seed=0, library=library)
        assert len(runs) == 20 and all(1e-7 < r < 0.1 for r in runs), (library, runs)
        medians.append(float(np.median(runs)))
        assert max(runs) < 20 * medians[-1], (library, runs)
    assert 0.5 < medians[0] / medians[1] < 2.0, medians
    assert len(BACKEND.benchmark(tmp_path / "mlp", repeats=3, warmup=1, seed=1)) == 3
