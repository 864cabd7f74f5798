"""Memory-bound CUDA kernels: float4 elementwise phases (one loop or a broadcast over a 4-d
grid, with the tail a vector leaves) and warp-per-row reductions (rows longer and shorter than
a warp, not multiples of it), compiled for sm_80 and sm_90 and (marker `cuda`, on a GPU)
against onnxruntime on fresh random inputs."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx.helper as oh
import pytest

from compiler.api import compile_to_directory
from cuda_testlib import needs_gpu, needs_nvcc
from test_cuda_run import gpu_target

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cpu"))
from cpu_testlib import check_model, make_feeds, make_model, seed_of  # noqa: E402


def _unary(op: str, shape, **attrs):
    return make_model([oh.make_node(op, ["x"], ["y"], **attrs)], {"x": (np.float32, shape)}, ["y"])


def _layernorm(shape):
    rng = np.random.default_rng(seed_of("layernorm" + str(shape)))
    scale, bias = (rng.standard_normal(shape[-1]).astype(np.float32) for _ in range(2))
    return make_model([oh.make_node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1)],
                      {"x": (np.float32, shape)}, ["y"], {"g": scale, "b": bias})


def _broadcast(shape, other):
    return make_model([oh.make_node("Mul", ["x", "s"], ["m"]), oh.make_node("Add", ["m", "x"], ["y"])],
                      {"x": (np.float32, shape), "s": (np.float32, other)}, ["y"])


MODELS = {
    "relu_with_a_tail": lambda: _unary("Relu", (1001, 3)),                 # 3003 elements: 3 after the vectors
    "tanh_4d": lambda: _unary("Tanh", (2, 3, 5, 8)),
    "broadcast_rows_of_8": lambda: _broadcast((2, 6, 5, 8), (1, 6, 1, 1)),
    "broadcast_rows_of_7": lambda: _broadcast((2, 6, 7, 7), (6, 1, 1)),
    "softmax_rows_of_1000": lambda: _unary("Softmax", (37, 1000), axis=-1),
    "softmax_rows_of_20": lambda: _unary("Softmax", (4, 9, 20), axis=-1),
    "layernorm_rows_of_777": lambda: _layernorm((3, 11, 777)),
    "reduce_max_last_axis": lambda: _unary("ReduceMax", (6, 50, 129), axes=[-1], keepdims=1),
    "reduce_mean_middle_axis": lambda: _unary("ReduceMean", (6, 50, 129), axes=[1], keepdims=0),
    "reduce_sum_all": lambda: make_model([oh.make_node("ReduceSum", ["x"], ["y"], keepdims=0)],
                                         {"x": (np.float32, (33, 65))}, ["y"]),
}


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_the_kernels_compile(tmp_path, arch):
    for name, make in MODELS.items():
        compile_to_directory(make(), f"cuda:{arch}", tmp_path / name)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_kernel_matches_onnxruntime_on_gpu(name):
    model = MODELS[name]()
    check_model(model, [make_feeds(model, seed_of(name + str(k))) for k in range(2)], target=gpu_target())


for _mark in needs_gpu:
    test_kernel_matches_onnxruntime_on_gpu = _mark(test_kernel_matches_onnxruntime_on_gpu)
