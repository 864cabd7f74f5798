"""Every zoo model through torch.export (not ONNX), compiled for the CPU and compared with
torch eager on fresh random inputs: relative L2 error <= 1e-5 (fp32)."""
from __future__ import annotations

import numpy as np
import pytest

import compiler
from conftest import rel_l2

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.zoo, pytest.mark.filterwarnings("ignore::FutureWarning")]

MODELS = ["mlp", "resnet18", "resnet50", "mobilenet_v2", "bert", "gpt2"]


def fresh_input(example, seed: int, batch: int | None = None):
    """Like the example input (token ids stay ids), with other values and maybe another batch."""
    shape = (batch or example.shape[0],) + tuple(example.shape[1:])
    generator = torch.Generator().manual_seed(seed)
    if example.dtype == torch.int64:
        return torch.randint(1, 1000, shape, generator=generator)
    return torch.randn(shape, generator=generator) + 0.1


@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_matches_torch_eager(name):
    import zoo
    model = zoo.build(name)
    artifact = compiler.compile(zoo.exported_program(name, model), target="cpu")
    x = fresh_input(model.example_inputs[0], seed=7)
    with torch.no_grad():
        expected = model.module(x).numpy()
    actual = artifact(x.numpy())
    assert actual.shape == expected.shape and actual.dtype == expected.dtype
    assert np.isfinite(actual).all()
    assert rel_l2(actual, expected) <= 1e-5


def test_symbolic_batch_mlp_compiled_once_runs_at_batch_1_and_8():
    import zoo
    model = zoo.build("mlp")
    artifact = compiler.compile(model.module, example_inputs=model.example_inputs, dynamic_batch=True)
    ((_, ttype),) = artifact.inputs
    assert not ttype.is_static, "the MLP's batch dimension must stay symbolic"
    for batch in (1, 8):
        x = fresh_input(model.example_inputs[0], seed=batch, batch=batch)
        with torch.no_grad():
            expected = model.module(x).numpy()
        actual = artifact(x.numpy())
        assert actual.shape == (batch, 10)
        assert rel_l2(actual, expected) <= 1e-5
