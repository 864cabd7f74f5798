"""The CPU GEMM template's config space: over a thousand configs per GEMM/conv kernel, the
default first, and every config builds and computes the right result (a seeded random
sample, compiled through a tuning database and compared with onnxruntime)."""
from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest

from autotune.database import TuningDatabase, TuningRecord
from autotune.space import tuning_key
from compiler.api import compile_to_directory, default_options
from compiler.runtime import Artifact
from conftest import rel_l2
from tuning_models import conv_model, lowered, matmul_model

SAMPLE = 4


@pytest.mark.parametrize("make, shape", [(matmul_model, (16, 40)), (conv_model, (1, 8, 10, 10))], ids=["gemm", "conv"])
def test_random_configs_build_and_match_onnxruntime(make, shape, tmp_path, isolated_cache):
    model = make(tmp_path / "m.onnx")
    graph, tasks = lowered(model)
    (task,) = [t for t in tasks if t.kernel.contraction is not None]
    space = task.space
    assert space.size() >= 1000
    assert space.config_at(0) == graph.backend.default_config(task.kernel, graph.target)
    x = (np.random.default_rng(1).standard_normal(shape) + 0.1).astype(np.float32)
    want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)
    # The analytic prior ranks every config (positive, finite); more cores never estimate slower.
    one_core = replace(graph.target, cores=1)
    for index in random.Random(3).sample(range(space.size()), 50):
        config = space.config_at(index)
        estimate = graph.backend.estimate_seconds(task.kernel, config, graph.target)
        assert 0 < estimate < 1 and estimate <= graph.backend.estimate_seconds(task.kernel, config, one_core)
    for n, index in enumerate(random.Random(7).sample(range(1, space.size()), SAMPLE)):
        config = space.config_at(index)
        db = tmp_path / f"{n}.db"
        with TuningDatabase.open(db) as records:
            records.add(TuningRecord(key, config, 1e-6, None, (1e-6,), 1.0))
        out = compile_to_directory(str(model), "cpu", tmp_path / f"a{n}", options=replace(default_options(), tuning_db=db))
        artifact = Artifact(out)
        kernel = next(k for k in artifact.manifest["kernels"] if k["name"] == task.name)
        assert kernel["config"] == config.to_json() and "tuned" in kernel
        assert rel_l2(artifact(x), want) <= 1e-5, config
