"""The TVM peer (marker `peers`: needs `pip install aotc[peers]`, so never part of `make test`;
skipped where TVM is not importable): Relax on the MLP's ONNX matches onnxruntime untuned and
with a MetaSchedule database tuned for a few trials, in the bench and out of it."""
from __future__ import annotations

import importlib.util

import numpy as np
import onnxruntime as ort
import pytest

from conftest import rel_l2

pytestmark = [pytest.mark.peers,
              pytest.mark.skipif(importlib.util.find_spec("tvm") is None, reason="TVM not installed (aotc[peers])")]


@pytest.fixture(scope="module")
def mlp_onnx():
    import zoo
    return zoo.export("mlp", "torchscript")


def _expected(model, x):
    return ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


def test_untuned_tvm_matches_onnxruntime(mlp_onnx):
    from compiler.bench.contenders import first_output
    from compiler.bench.tvm_peer import tvm_contender
    x = (np.random.default_rng(3).standard_normal((5, 784)) + 0.1).astype(np.float32)
    assert rel_l2(first_output(tvm_contender(mlp_onnx, 2, {"x": x})()), _expected(mlp_onnx, x)) <= 1e-5


def test_a_tuned_database_builds_and_matches(mlp_onnx, tmp_path):
    from compiler.bench.contenders import first_output
    from compiler.bench.tvm_peer import tune, tvm_contender
    tune(mlp_onnx, 2, tmp_path, trials=4, trials_per_iter=4, seed=0, shapes={"x": (2, 784)})
    assert (tmp_path / "database_tuning_record.json").stat().st_size > 0
    x = (np.random.default_rng(4).standard_normal((2, 784)) + 0.1).astype(np.float32)
    run = tvm_contender(mlp_onnx, 2, {"x": x}, str(tmp_path))
    assert rel_l2(first_output(run()), _expected(mlp_onnx, x)) <= 1e-5


def test_a_missing_database_is_one_line(mlp_onnx, tmp_path):
    from compiler.bench.tvm_peer import tvm_contender
    from compiler.errors import AotcError
    with pytest.raises(AotcError, match="--tvm-database .*: no MetaSchedule database there"):
        tvm_contender(mlp_onnx, 2, {"x": np.ones((1, 784), np.float32)}, str(tmp_path))
