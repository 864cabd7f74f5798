"""The tuning job: trials spread over tasks, records committed one by one, resumable after
SIGKILL with nothing lost and nothing measured twice (but the default and the best, once more
side by side at a task's end, so a default timed slow by chance cannot pass a slower config as
tuned); `aotc tune` end to end."""
from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from compiler.errors import TuningError
from autotune.database import TuningDatabase
from autotune.jobs import JobSettings, Progress, allot_trials, run_job
from autotune.measure import Measurement
from autotune.search import run_search
from autotune.space import tuning_key
from tuning_models import lowered, matmul_model


def test_allot_trials_defaults_first_then_by_share():
    assert allot_trials([100, 100, 100], [1.0, 3.0, 0.0], 2) == [1, 1, 0]        # largest shares get a default
    assert allot_trials([100, 100, 100], [1.0, 3.0, 0.0], 43) == [11, 31, 1]
    assert allot_trials([5, 100], [10.0, 1.0], 50) == [5, 45]                    # capped by the space
    assert allot_trials([5, 2], [1.0, 1.0], 50) == [5, 2]
    assert sum(allot_trials([1000] * 7, [1.0, 2, 3, 4, 5, 6, 7], 500)) == 500


class FakeRunner:
    """Seconds from the config's knobs; counts what it measured; fails after `budget`."""

    def __init__(self, budget=10 ** 9):
        self.measured, self.budget = [], budget

    def measure(self, task, configs, on_result=lambda c, m: None):
        out = []
        for config in configs:
            if len(self.measured) >= self.budget:
                raise KeyboardInterrupt     # the job dies mid-batch
            self.measured.append(config)
            m = Measurement(1e-3 * (1 + config.param("MR", 0) % 5) / config.param("KC", 1) ** 0.1, None, (1e-3,))
            on_result(config, m)
            out.append(m)
        return out

    def close(self):
        pass


def test_job_resumes_without_remeasuring(tmp_path):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)
    settings = JobSettings(trials=20, strategy="evolutionary", seed=3, batch=4)
    with TuningDatabase.open(tmp_path / "t.db") as db:
        first = FakeRunner(budget=7)
        try:
            run_job([task], [key], first, db, settings, progress=Progress(1, 0, open(os.devnull, "w")))
        except KeyboardInterrupt:
            pass
        assert db.count() == 7 and first.measured[0] == task.space.config_at(0)
        second = FakeRunner()
        (result,) = run_job([task], [key], second, db, settings, progress=Progress(1, 0, open(os.devnull, "w")))
        texts = [r.config_text for r in db.records(key)]
        # 20 configs once each, then the default and the best again, side by side
        assert len(set(texts)) == 20 and len(texts) == 22 and len(second.measured) == 13 + 2
        assert second.measured[-2:] == [task.space.config_at(0), db.best(key).config]
        assert result.trials == 20 and result.best_seconds <= result.default_seconds
        third = FakeRunner()
        run_job([task], [key], third, db, settings, progress=Progress(1, 0, open(os.devnull, "w")))
        assert third.measured == [] and db.count() == 22      # done: a rerun measures nothing


def test_the_real_search_strategies_plug_in(tmp_path):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)
    for strategy in ("random", "evolutionary", "model"):
        with TuningDatabase.open(tmp_path / f"{strategy}.db") as db:
            (result,) = run_job([task], [key], FakeRunner(), db, JobSettings(24, strategy, 1), search=run_search,
                                progress=Progress(1, 0, open(os.devnull, "w")))
            assert result.trials == 24 == len({r.config_text for r in db.records(key)})
            assert db.count() == 26 and result.default_seconds is not None      # + default and best again


def records(path):
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT config, seconds, time FROM records ORDER BY id").fetchall()


def test_sigkill_mid_job_then_rerun_loses_nothing_and_repeats_nothing(tmp_path, isolated_cache):
    model = matmul_model(tmp_path / "m.onnx")
    db = tmp_path / "t.db"
    argv = [sys.executable, "-m", "compiler.cli", "tune", str(model), "--db", str(db), "--trials", "14",
            "--strategy", "random", "--jobs", "1"]
    job = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not db.exists() or len(records(db)) < 4):
        time.sleep(0.2)
    os.killpg(job.pid, signal.SIGKILL)     # the job, its build workers and its measuring process
    job.wait()
    before = records(db)
    assert 4 <= len(before) < 14
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    after = records(db)
    assert after[:len(before)] == before                          # nothing lost
    configs = [c for c, _, _ in after]
    again = [c for c in set(configs) if configs.count(c) > 1]
    assert len(set(configs)) == 14 and len(configs) == 14 + len(again)   # nothing measured twice but
    assert len(again) in (0, 2) and (not again or set(configs[-2:]) == set(again))   # the default and the
    # best, again side by side at the end (not when the default is the best)
    assert "tasks 1/1" in done.stderr and "trials 14/14" in done.stderr     # plain progress lines (no TTY)
    export = tmp_path / "t.jsonl"
    subprocess.run([*argv[:4], "--db", str(db), "--export", str(export)], check=True, capture_output=True)
    lines = [json.loads(line) for line in export.read_text().splitlines()]
    assert len(lines) == len(after) and all(line["seconds"] for line in lines)


def test_time_budget_stops_the_job(tmp_path):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)
    runner = FakeRunner()
    clock = lambda: len(runner.measured) * 10.0      # every measurement "takes" ten seconds
    with TuningDatabase.open(tmp_path / "t.db") as db:
        (result,) = run_job([task], [key], runner, db, JobSettings(100, "random", 0, time_budget=35.0, batch=2),
                            search=run_search, progress=Progress(1, 0, open(os.devnull, "w")), clock=clock)
        assert 4 <= result.trials <= 6 < result.allotted and db.count() == result.trials


class TaskRecordingRunner(FakeRunner):
    def __init__(self):
        super().__init__()
        self.tasks = []

    def measure(self, task, configs, on_result=lambda c, m: None):
        self.tasks += [task.name] * len(configs)
        return super().measure(task, configs, on_result)


def test_a_time_budget_is_sliced_by_share_largest_first(tmp_path):
    small_graph, (small,) = lowered(matmul_model(tmp_path / "a.onnx"))
    big_graph, (big,) = lowered(matmul_model(tmp_path / "b.onnx", m=32, k=24, n=64))
    keys = [tuning_key(g.backend, g.target, t.kernel_hash) for g, t in ((small_graph, small), (big_graph, big))]
    runner = TaskRecordingRunner()
    clock = lambda: float(len(runner.measured))          # every measurement "takes" a second
    with TuningDatabase.open(tmp_path / "t.db") as db:
        run_job([small, big], keys, runner, db, JobSettings(1000, "random", 0, time_budget=100.0, batch=1),
                shares=[1.0, 3.0], search=run_search, progress=Progress(2, 0, open(os.devnull, "w")), clock=clock)
    first = runner.tasks.index(small.name)
    assert set(runner.tasks[:first]) == {big.name}                # the larger share first ...
    assert 70 <= first <= 80                                      # ... for about 3/4 of the budget
    assert 95 <= len(runner.tasks) <= 105 and runner.tasks.count(small.name) >= 20


class BrokenDefaultRunner(FakeRunner):
    """Every measurement fails, as on a machine without the target's device."""

    def measure(self, task, configs, on_result=lambda c, m: None):
        out = []
        for config in configs:
            self.measured.append(config)
            m = Measurement(None, "run failed (exit 1): TargetError: no CUDA driver\nmore detail")
            on_result(config, m)
            out.append(m)
        return out


class NoisyDefaultRunner(FakeRunner):
    """The default's first run is caught at a busy moment (5x its time); a candidate is 10% slower
    than the default really is; every other config far slower."""

    def measure(self, task, configs, on_result=lambda c, m: None):
        out = []
        for config in configs:
            default = config == task.space.config_at(0)
            seconds = 1e-3 * (5.0 if default and config not in self.measured else 1.0) if default else \
                (1.1e-3 if config == task.space.config_at(1) else 9e-3)
            self.measured.append(config)
            m = Measurement(seconds, None, (seconds,))
            on_result(config, m)
            out.append(m)
        return out


def test_a_default_timed_slow_by_chance_is_measured_again_and_kept(tmp_path):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)

    def ordered(strategy, space, evaluate, budget, on_batch, **options):      # configs 1, 2, ... in turn
        indices = range(1, budget)
        on_batch([SimpleNamespace(index=i, seconds=s) for i, s in zip(indices, evaluate([space.config_at(i) for i in indices]))])
    with TuningDatabase.open(tmp_path / "t.db") as db:
        runner = NoisyDefaultRunner()
        (result,) = run_job([task], [key], runner, db, JobSettings(6, "random", 0, batch=8), search=ordered,
                            progress=Progress(1, 0, open(os.devnull, "w")))
        assert runner.measured[-2:] == [task.space.config_at(0), task.space.config_at(1)]
        assert db.best(key).config == task.space.config_at(0)           # compile keeps the default
        assert result.default_seconds == result.best_seconds == 1e-3    # and no speed-up is claimed


def test_a_default_that_cannot_be_measured_stops_the_job_in_one_line(tmp_path):
    graph, (task,) = lowered(matmul_model(tmp_path / "m.onnx"))
    key = tuning_key(graph.backend, graph.target, task.kernel_hash)
    with TuningDatabase.open(tmp_path / "t.db") as db:
        for attempt in range(2):    # the second run finds the failed default in the database
            runner = BrokenDefaultRunner()
            with pytest.raises(TuningError, match="default config cannot be measured") as error:
                run_job([task], [key], runner, db, JobSettings(20, "random", 0),
                        progress=Progress(1, 0, open(os.devnull, "w")))
            assert "\n" not in str(error.value)
            assert runner.measured == ([task.space.config_at(0)] if attempt == 0 else [])
            assert db.count() == 1          # the default's failure is kept; nothing else was measured
