"""Every zoo model, from both torch exporters, compiled for the CPU and compared with
onnxruntime on fresh random inputs: relative L2 error <= 1e-5 (fp32)."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import compiler
from conftest import rel_l2, zoo_inputs

MODELS = ["mlp", "resnet18", "resnet50", "mobilenet_v2", "bert", "gpt2"]


@pytest.mark.zoo
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_matches_onnxruntime(zoo_path, name, exporter):
    path = zoo_path(name, exporter)
    artifact = compiler.compile(path, target="cpu")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = zoo_inputs(session, seed=7)
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    actual = artifact.run(**feeds)
    assert set(actual) == set(expected)
    for key, value in actual.items():
        assert value.shape == expected[key].shape and value.dtype == expected[key].dtype
        assert np.isfinite(value).all()
        assert rel_l2(value, expected[key]) <= 1e-5, key


@pytest.mark.zoo
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_symbolic_batch_mlp_compiled_once_runs_at_batch_1_and_8(zoo_path, exporter):
    path = zoo_path("mlp", exporter)
    artifact = compiler.compile(path, target="cpu")
    (name, ttype), = artifact.inputs
    assert not ttype.is_static, "the MLP's batch dimension must stay symbolic"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for batch in (1, 8):
        feeds = zoo_inputs(session, seed=batch, batch=batch)
        expected = session.run(None, feeds)[0]
        actual = artifact(**feeds)
        assert actual.shape == (batch, 10)
        assert rel_l2(actual, expected) <= 1e-5
