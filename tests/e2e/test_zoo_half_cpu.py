"""`--dtype fp16|bf16` on the CPU: the MLP, ResNet-18 (the zoo's small CNN) and BERT-small,
converted to half weights and activations (passes/convert_precision.py), against onnxruntime in
float32 on fresh random inputs: relative L2 <= 1e-2. The signature stays float32."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import compiler
from compiler.options import CompileOptions
from conftest import rel_l2, zoo_inputs

CASES = [("mlp", "fp16"), ("mlp", "bf16"), ("resnet18", "fp16"), ("bert", "fp16"), ("bert", "bf16")]


@pytest.mark.zoo
@pytest.mark.parametrize("name,dtype", CASES)
def test_half_zoo_model_matches_onnxruntime_fp32(zoo_path, tmp_path, name, dtype):
    path = zoo_path(name, "torchscript")
    artifact = compiler.compile(path, target="cpu", options=CompileOptions(build_cache=tmp_path, dtype=dtype))
    assert artifact.manifest["options"]["dtype"] == dtype
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = zoo_inputs(session, seed=23)
    expected = session.run(None, feeds)[0]
    actual = artifact.run_list(**feeds)[0]
    assert actual.dtype == np.float32 and actual.shape == expected.shape
    assert np.isfinite(actual).all()
    error = rel_l2(actual, expected)
    print(f"{name} {dtype}: rel L2 {error:.3g}")
    assert error <= 1e-2, error
