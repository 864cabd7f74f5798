"""The CUDA bar's five configurations on a GPU (marker `cuda`): ResNet-50 at batch 1 and 32,
MobileNetV2, BERT-base (batch 8, sequence 128) and GPT-2 124M (batch 1, sequence 512), exported
from code with random weights, compiled for the GPU's architecture and compared with
onnxruntime (CPU) on fresh random inputs: relative L2 <= 1e-5 in fp32. The full-size ones export
hundreds of MB and run onnxruntime for seconds, so they are also marked `slow`."""
from __future__ import annotations

import onnxruntime as ort
import pytest

import compiler
from conftest import rel_l2, zoo_inputs
from cuda_testlib import needs_gpu
from test_cuda_run import gpu_target

pytestmark = needs_gpu

BAR = [pytest.param(name, marks=[pytest.mark.slow] if name in ("resnet50_b32", "bert_base", "gpt2_124m") else [])
       for name in ("resnet50", "resnet50_b32", "mobilenet_v2", "bert_base", "gpt2_124m")]


@pytest.mark.parametrize("name", BAR)
def test_bar_model_matches_onnxruntime(zoo_path, name):
    path = zoo_path(name, "torchscript")
    artifact = compiler.compile(path, target=gpu_target())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = zoo_inputs(session, seed=11)
    expected = session.run(None, feeds)[0]
    actual = artifact.run_list(**feeds)[0]
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    error = rel_l2(actual, expected)
    print(f"{name}: rel L2 {error:.3g}")
    assert error <= 1e-5, error
