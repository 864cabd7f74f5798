"""`aotc tune --target webgpu` (marker `webgpu`; lavapipe here): the tuner measures a
contraction's first variant on this machine's adapter (backends/webgpu/benchmark.py), records
it under the adapter's fingerprint, and a compile with the database carries the best variant
first and still matches onnxruntime."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from dataclasses import replace

import onnxruntime as ort
import pytest

import compiler
from compiler.api import default_options
from compiler.target import resolve_target
from backends.webgpu.benchmark import fingerprint
from backends.webgpu.gemm_space import SPACE, config_space, default_config
from backends.webgpu.gemm_probe import spec
from conftest import rel_l2, zoo_inputs
from webgpu_testlib import needs_adapter

pytestmark = [*needs_adapter, pytest.mark.zoo]
TARGET = resolve_target("webgpu")


def test_the_space_varies_the_first_variant_and_starts_at_the_default():
    contraction = spec(512, 512, 512)
    space = config_space(contraction, TARGET)
    assert space.config_at(0) == default_config(contraction, TARGET)
    firsts = {space.config_at(i).param("variant0", -1) for i in range(space.size())}
    assert space.size() == len(firsts) == sum(c.fits(dict(TARGET.limits)) for c in SPACE)
    assert all(space.config_at(i).param("variant2", -1) == space.config_at(0).param("variant2", -1)
               for i in range(space.size()))


def test_tune_records_on_this_adapter_and_the_tuned_build_is_correct(tmp_path, zoo_path):
    model, db = zoo_path("mlp"), tmp_path / "webgpu.db"
    argv = [sys.executable, "-m", "compiler.cli", "tune", str(model), "--target", "webgpu", "--db", str(db),
            "--trials", "5", "--strategy", "random", "--jobs", "1"]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT backend, target, seconds, kernel_hash, config FROM records").fetchall()
    measured = [(kernel, config) for *_, kernel, config in rows]
    # 5 configs, then per task whose best is not its default, those two once more side by side
    assert len(set(measured)) == 5 and all(measured.count(m) <= 2 for m in measured)
    assert (len(measured) - 5) % 2 == 0 and all(seconds and seconds > 0 for _, _, seconds, *_ in rows)
    assert {(backend, target) for backend, target, *_ in rows} == {("webgpu", fingerprint(TARGET))}

    art = compiler.compile(str(model), target="webgpu", options=replace(default_options(), tuning_db=db))
    tuned = [k for k in art.manifest["kernels"] if k.get("tuned")]
    assert tuned and all(k["tuned"]["seconds"] <= k["tuned"]["default_seconds"] for k in tuned)
    session = ort.InferenceSession(str(model))
    feeds = zoo_inputs(session, seed=3)
    want = session.run(None, feeds)
    got = art.run_list(**feeds)
    assert all(rel_l2(g, w) <= 1e-4 for g, w in zip(got, want)), json.dumps(art.manifest["kernels"])[:500]


def test_dispatch_and_run_timings_cover_every_dispatch(zoo_path):
    """The profiling hooks bench_webgpu.py and the tuner's benchmark use: one positive time per
    dispatch of the plan, and per run of the whole list."""
    art = compiler.compile(str(zoo_path("mlp")), target="webgpu")
    session = ort.InferenceSession(str(zoo_path("mlp")))
    art.run_list(**zoo_inputs(session, seed=3))
    seconds = art._model.dispatch_seconds(repeat=2)
    assert len(seconds) == len(art._model.plan["dispatches"]) and all(t > 0 for t in seconds)
    assert art._model.run_seconds(2) > 0
