"""Cache-cold timing for CPU tuning: `aotc tune --cache-flush auto` evicts the caches before
each timed run when the model's contraction weights outgrow the last-level cache (a kernel in
such a model finds its weights in memory every call; timed warm, the configs that win are
others). The policy, the sampling (checked with a counting clock, not timed), and the
measuring process taking the option end to end."""
from __future__ import annotations

import functools
from dataclasses import replace

import pytest

from autotune.measure import LocalRunner, RunnerSettings
from backends.cpu.measure import MIN_SAMPLE, timed_samples
from compiler.api import default_options
from compiler.tuning import build_candidate, flush_bytes, measure_command, weight_bytes
from tuning_models import lowered, matmul_model


def test_the_policy_follows_the_weights_against_the_last_level_cache(tmp_path):
    graph, _ = lowered(matmul_model(tmp_path / "m.onnx", k=40, n=48))
    weights, target = weight_bytes(graph), graph.target
    assert weights == 40 * 48 * 4
    assert flush_bytes("auto", target, weights) == 0 and flush_bytes("off", target, weights) == 0   # fits: warm
    llc = target.cache_bytes[-1]
    assert flush_bytes("on", target, weights) == 2 * llc
    assert flush_bytes("auto", target, llc + 1) == 2 * llc                                    # outgrows it: cold
    small_cache = replace(target, cache_bytes=(1024, 2048, 4096))
    assert flush_bytes("auto", small_cache, weights) == 2 * 4096
    assert flush_bytes("on", replace(target, kind="cuda"), weights) == 0
    with pytest.raises(ValueError, match="auto, on or off"):
        flush_bytes("sometimes", target, weights)


class Trace:
    """A clock that advances 1 µs per run and records the order of runs and evictions."""

    def __init__(self):
        self.now, self.events = 0.0, []

    def clock(self) -> float:
        return self.now

    def run(self) -> None:
        self.now += 1e-6
        self.events.append("run")

    def evict(self) -> None:
        self.now += 1.0                 # eviction is slow, and must not be charged to the run
        self.events.append("evict")


def test_cold_samples_are_one_run_each_after_an_untimed_eviction():
    trace = Trace()
    samples = timed_samples(trace.run, trace.clock, 3, once=1e-6, evict=trace.evict)
    assert trace.events == ["evict", "run"] * 3
    assert samples == pytest.approx([1e-6] * 3)


def test_warm_samples_average_back_to_back_runs():
    trace = Trace()
    samples = timed_samples(trace.run, trace.clock, 2, once=MIN_SAMPLE / 10)
    assert trace.events == ["run"] * 20 and samples == pytest.approx([1e-6] * 2)


def test_the_measuring_process_evicts_only_when_asked(tmp_path, isolated_cache, monkeypatch):
    import backends.cpu.measure as cpu_measure
    from compiler.tuning import measure_main
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    artifact = tmp_path / "candidate"
    build_candidate(task, task.space.config_at(0), artifact, target=graph.target, options=default_options())
    evicting = []
    real = cpu_measure.timed_samples
    monkeypatch.setattr(cpu_measure, "timed_samples",
                        lambda run, clock, repeats, once, evict=None: evicting.append(evict is not None)
                        or real(run, clock, repeats, once, evict))
    for extra in ([], ["--flush-bytes", str(1 << 20)]):
        assert measure_main([str(artifact), "--repeats", "2", "--warmup", "1", "--threads", "1", *extra]) == 0
    assert evicting == [False, True]


def test_the_runner_passes_the_option_to_its_measuring_process(tmp_path, isolated_cache):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    build = functools.partial(build_candidate, target=graph.target, options=default_options())
    settings = RunnerSettings(repeats=5, warmup=1, build_workers=1, threads=1, flush_bytes=4 << 20)
    runner = LocalRunner(build, measure_command(), tmp_path / "work", settings)
    try:
        (cold,) = runner.measure(task, [task.space.config_at(0)])
    finally:
        runner.close()
    assert cold.error is None, cold.error
    assert len(cold.runs) == 5 and min(cold.runs) > 0
