"""Cache-cold timing for CPU tuning: `aotc tune --cache-flush auto` evicts the caches before
each timed run when the model's contraction weights outgrow the last-level cache (a kernel in
such a model finds its weights in memory every call; timed warm, the configs that win are
others); the measuring process times one run per sample then, and the policy is checked."""
from __future__ import annotations

import functools
from dataclasses import replace

import pytest

from autotune.measure import LocalRunner, RunnerSettings
from compiler.api import default_options
from compiler.tuning import build_candidate, flush_bytes, measure_command, weight_bytes
from tuning_models import lowered, matmul_model


def test_the_policy_follows_the_weights_against_the_last_level_cache(tmp_path):
    graph, _ = lowered(matmul_model(tmp_path / "m.onnx", k=40, n=48))
    assert weight_bytes(graph) == 40 * 48 * 4
    assert flush_bytes("auto", graph) == 0 and flush_bytes("off", graph) == 0        # fits: time warm
    llc = graph.target.cache_bytes[-1]
    assert flush_bytes("on", graph) == 2 * llc
    small_cache = replace(graph, target=replace(graph.target, cache_bytes=(1024, 2048, 4096)))
    assert flush_bytes("auto", small_cache) == 2 * 4096                               # outgrows it: cold
    assert flush_bytes("auto", replace(graph, target=replace(graph.target, kind="cuda"))) == 0
    with pytest.raises(ValueError, match="auto, on or off"):
        flush_bytes("sometimes", graph)


def test_cache_cold_candidates_are_timed_run_by_run(tmp_path, isolated_cache):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    build = functools.partial(build_candidate, target=graph.target, options=default_options())
    results = {}
    for flush in (0, 4 << 20):
        settings = RunnerSettings(repeats=5, warmup=1, build_workers=1, threads=1, flush_bytes=flush)
        runner = LocalRunner(build, measure_command(), tmp_path / f"work{flush}", settings)
        try:
            (results[flush],) = runner.measure(task, [task.space.config_at(0)])
        finally:
            runner.close()
    cold, warm = results[4 << 20], results[0]
    assert cold.error is None and warm.error is None, (cold.error, warm.error)
    assert len(cold.runs) == len(warm.runs) == 5 and min(cold.runs) > 0
    # A cold run of this 16 x 40 x 48 matmul re-reads its weights and inputs from memory: it
    # takes longer than the warm runs' average (warm samples average many back-to-back runs).
    assert sorted(cold.runs)[2] > sorted(warm.runs)[2]
