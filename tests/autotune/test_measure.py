"""LocalRunner: failures are data. A crashing, hanging or wrong candidate and a failed build
are recorded with their reason, and the candidates around them are still measured."""
from __future__ import annotations

import functools
import queue
import sys
from pathlib import Path

import pytest

from autotune.measure import LocalRunner, RunnerSettings, awake_wait
from compiler.api import default_options
from tuning_models import config_with, failing_build, lowered, matmul_model

HERE = Path(__file__).resolve().parent


def test_crash_hang_wrong_result_and_build_failure_are_recorded(tmp_path, isolated_cache):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    build = functools.partial(failing_build, target=graph.target, options=default_options())
    settings = RunnerSettings(repeats=3, warmup=1, build_workers=2, run_timeout=5.0, threads=1)
    runner = LocalRunner(build, (sys.executable, str(HERE / "faulty_measure.py")), tmp_path / "work", settings)
    space = task.space
    assert space.config_at(0).param("MR", 0) not in (6, 12, 14)   # the default (the reference) is sound
    configs = [config_with(space, MR=4, NR=16), config_with(space, MR=6), config_with(space, MR=4, NR=32),
               config_with(space, MR=14), config_with(space, MR=12), config_with(space, MR=4, KC=64)]
    seen = []
    try:
        results = runner.measure(task, configs, on_result=lambda c, m: seen.append((c, m)))
    finally:
        runner.close()
    assert [c for c, _ in seen] == configs             # reported one by one, in order
    ok, crash, ok2, hang, wrong, unbuilt = results
    assert ok.seconds and ok.error is None and len(ok.runs) == 3 and ok.seconds == sorted(ok.runs)[1]
    assert ok2.seconds and ok2.error is None
    assert crash.seconds is None and crash.error == "run crashed (SIGSEGV)"
    assert hang.seconds is None and hang.error.startswith("run timed out")
    assert wrong.seconds is None and wrong.error.startswith("wrong result: output 0 rel. L2")
    assert unbuilt.seconds is None and "injected error" in unbuilt.error
    assert not any((tmp_path / "work").rglob("*.so"))   # candidates are removed once measured


def test_a_paused_job_charges_no_timeout():
    """Waiting counts awake time only: a long gap (the job was stopped) counts as one step."""
    times = iter([0.0, 1.0, 1.0, 500.0, 500.0, 501.0])   # the clock around each of three waits
    calls = []

    def get(step):
        calls.append(step)
        raise queue.Empty
    with pytest.raises(queue.Empty):
        awake_wait(get, 4.0, queue.Empty, clock=lambda: next(times))
    assert len(calls) == 3          # 1 s + the 499 s pause counted as 2 s + 1 s: the 4 s are up
