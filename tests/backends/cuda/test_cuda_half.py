"""`--dtype fp16|bf16` for CUDA: the zoo's MLP, ResNet-18 and BERT-small build with nvcc for
sm_90 (half buffers, widened loads, GEMMs reading half operands, float32 attention and norms),
and (marker `cuda`, on a GPU) match onnxruntime in float32 within relative L2 1e-2, as do the
bar's ResNet-50 b32 and BERT-base (slow)."""
from __future__ import annotations

import onnxruntime as ort
import pytest

import compiler
from compiler.api import compile_to_directory
from compiler.options import CompileOptions
from conftest import rel_l2, zoo_inputs
from cuda_testlib import needs_gpu, needs_nvcc
from test_cuda_run import gpu_target


@needs_nvcc
@pytest.mark.zoo
@pytest.mark.parametrize("name,dtype", [("mlp", "fp16"), ("mlp", "bf16"), ("resnet18", "fp16"),
                                        ("bert", "fp16"), ("bert", "bf16")])
def test_half_zoo_model_builds_for_sm_90(zoo_path, tmp_path, name, dtype):
    out = compile_to_directory(zoo_path(name, "torchscript"), "cuda:sm_90", tmp_path / "a",
                               options=CompileOptions(build_cache=None, dtype=dtype))
    source = (out / "kernels" / "model.cu").read_text()
    storage = "__half" if dtype == "fp16" else "__nv_bfloat16"
    assert f"const {storage}*" in source
    if name != "mlp":   # the MLP's Gemms have symbolic rows; the others run in the GEMM template
        assert "contraction:" in source


HALF_GPU = [pytest.param(name, dtype, marks=[pytest.mark.slow] if name.endswith(("_b32", "_base")) else [])
            for name, dtype in [("mlp", "fp16"), ("resnet18", "fp16"), ("bert", "fp16"), ("bert", "bf16"),
                                ("resnet50_b32", "fp16"), ("bert_base", "fp16")]]


@pytest.mark.parametrize("name,dtype", HALF_GPU)
def test_half_model_on_gpu_matches_onnxruntime_fp32(zoo_path, tmp_path, name, dtype):
    path = zoo_path(name, "torchscript")
    artifact = compiler.compile(path, target=gpu_target(), options=CompileOptions(build_cache=tmp_path, dtype=dtype))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = zoo_inputs(session, seed=29)
    expected = session.run(None, feeds)[0]
    actual = artifact.run_list(**feeds)[0]
    error = rel_l2(actual, expected)
    print(f"{name} {dtype}: rel L2 {error:.3g}")
    assert error <= 1e-2, error


for _mark in needs_gpu:
    test_half_model_on_gpu_matches_onnxruntime_fp32 = _mark(test_half_model_on_gpu_matches_onnxruntime_fp32)
