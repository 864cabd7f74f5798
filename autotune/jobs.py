"""A tuning job: trials spread over a model's tasks, each task searched over its config
space with measurements from a Runner, every measurement committed to the database as it
comes. Re-running the same job resumes it: records already in the database count toward
each task's trials and are never measured again.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import Callable, Sequence, TextIO

from compiler.errors import TuningError
from compiler.ir.config import KernelConfig
from autotune.database import TuningDatabase, TuningKey, TuningRecord
from autotune.measure import Measurement, Runner
from autotune.space import Task, config_index

# A search over one task: run_search's signature (autotune/search.py).
Search = Callable[..., object]


@dataclass(frozen=True)
class JobSettings:
    trials: int                          # in total over every task, records already there included
    strategy: str = "evolutionary"
    seed: int = 0
    time_budget: float | None = None     # seconds; the job stops starting measurements after it
    batch: int = 8                       # configs measured per evaluate() call


@dataclass(frozen=True)
class TaskResult:
    task: Task
    key: TuningKey
    trials: int                          # measured configs of this task (old and new)
    allotted: int
    default_seconds: float | None
    best_seconds: float | None

    @property
    def speedup(self) -> float | None:
        if self.default_seconds and self.best_seconds:
            return self.default_seconds / self.best_seconds
        return None


def estimated_seconds(task: Task, backend, target) -> float:
    """The backend's analytic estimate of the default config if it has one, else a roofline
    of the kernel's work at nominal CPU rates (only the ratios between tasks matter)."""
    estimate = getattr(backend, "estimate_seconds", None)
    if estimate is not None:
        value = estimate(task.kernel, task.space.config_at(0), target)
        if value:
            return float(value)
    return max(task.kernel.cost.flops / 50e9, task.kernel.cost.bytes / 10e9, 1e-7)


def allot_trials(sizes: Sequence[int], shares: Sequence[float], total: int) -> list[int]:
    """Trials per task: first the default config of each task (largest share first), then
    the rest in proportion to the shares (weight x estimated time), capped by space sizes."""
    order = sorted(range(len(sizes)), key=lambda i: (-shares[i], i))
    allotted = [0] * len(sizes)
    remaining = total
    for i in order:
        if remaining > 0 and sizes[i] > 0:
            allotted[i], remaining = 1, remaining - 1
    while remaining > 0:
        open_tasks = [i for i in order if allotted[i] < sizes[i]]
        if not open_tasks:
            break
        whole = sum(shares[i] for i in open_tasks) or 1.0
        given = 0
        for i in open_tasks:
            extra = min(sizes[i] - allotted[i], int(remaining * shares[i] / whole))
            allotted[i] += extra
            given += extra
        if given == 0:   # rounding left every share under one trial: one each, largest first
            for i in open_tasks[:remaining]:
                allotted[i] += 1
                given += 1
        remaining -= given
    return allotted


def measured_indices(task: Task, records: Sequence[TuningRecord]) -> dict[int, float | None]:
    """Database records as the search's `measured`: index -> best seconds, None when any
    measurement of that config failed. Configs outside the current space are left out."""
    out: dict[int, float | None] = {}
    for record in records:
        index = config_index(task.space, record.config)
        if index is None:
            continue
        if record.seconds is None or (index in out and out[index] is None):
            out[index] = None
        else:
            out[index] = min(record.seconds, out.get(index) or record.seconds)
    return out


class Progress:
    """One status line on stderr: tasks done/total, trials, best speed-up so far. Redrawn in
    place on a terminal; a plain line per update otherwise (logs, CI)."""

    def __init__(self, tasks: int, trials: int, stream: TextIO | None = None, clock=time.monotonic):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.tasks, self.trials, self.clock, self.start = tasks, trials, clock, clock()

    def update(self, tasks_done: int, trials_done: int, speedup: float | None, current: str) -> None:
        elapsed = int(self.clock() - self.start)
        gain = f"x{speedup:.3f}" if speedup else "-"
        line = (f"tune: tasks {tasks_done}/{self.tasks} | trials {trials_done}/{self.trials} | "
                f"best speed-up {gain} | {elapsed // 60:02d}:{elapsed % 60:02d} | {current}")
        if self.tty:
            self.stream.write("\r" + line[:150].ljust(150))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def model_speedup(results: Sequence[TaskResult]) -> float | None:
    """Estimated whole-model gain over the tuned tasks: sum of weight x default time over
    sum of weight x best time."""
    pairs = [(r.task.weight * r.default_seconds, r.task.weight * r.best_seconds)
             for r in results if r.default_seconds and r.best_seconds]
    if not pairs:
        return None
    return sum(d for d, _ in pairs) / sum(b for _, b in pairs)


def run_job(tasks: Sequence[Task], keys: Sequence[TuningKey], runner: Runner, db: TuningDatabase,
            settings: JobSettings, *, shares: Sequence[float] | None = None, search: Search | None = None,
            cost_model_for: Callable[[Task], object] | None = None, progress: Progress | None = None,
            clock: Callable[[], float] = time.monotonic) -> list[TaskResult]:
    """Tune `tasks` (keys[i] is tasks[i]'s database key), largest share first, until every
    task has its allotted trials or the time budget is spent. Under a time budget each task
    gets a slice of what is left in proportion to its share among the tasks still to come, so
    a budget spreads over the important tasks instead of ending inside the first ones (the
    CUDA tuner once spent 210 s on 3 of BERT-base's 9 tasks). `search` defaults to
    autotune.search.run_search; `cost_model_for(task)` gives the model strategy its prior."""
    if search is None:
        from autotune.search import run_search as search
    job = _Job(runner, db, settings, search, cost_model_for, progress or Progress(len(tasks), 0), clock)
    return job.run(tasks, keys, shares or [float(t.weight) for t in tasks])


class _Job:
    def __init__(self, runner: Runner, db: TuningDatabase, settings: JobSettings, search: Search,
                 cost_model_for, progress: Progress, clock):
        self.runner, self.db, self.settings, self.search = runner, db, settings, search
        self.cost_model_for, self.progress, self.clock = cost_model_for, progress, clock
        self.deadline = None if settings.time_budget is None else clock() + settings.time_budget
        self.task_deadline: float | None = None      # the current task's slice of the budget
        self.results: list[TaskResult] = []
        self.trials = 0

    def should_stop(self) -> bool:
        return self.deadline is not None and self.clock() >= self.deadline

    def task_should_stop(self) -> bool:
        return self.should_stop() or (self.task_deadline is not None and self.clock() >= self.task_deadline)

    def _slice(self, share: float, shares_left: float) -> float | None:
        """The current task's deadline: its share of the budget that is left."""
        if self.deadline is None:
            return None
        now = self.clock()
        return now + max(self.deadline - now, 0.0) * share / (shares_left or 1.0)

    def run(self, tasks: Sequence[Task], keys: Sequence[TuningKey], shares: Sequence[float]) -> list[TaskResult]:
        allotted = allot_trials([t.space.size() for t in tasks], shares, self.settings.trials)
        measured = [measured_indices(t, self.db.records(k)) for t, k in zip(tasks, keys)]
        self.progress.tasks, self.progress.trials = len(tasks), sum(allotted)
        self.trials = sum(min(len(m), a) for m, a in zip(measured, allotted))
        order = [i for i in sorted(range(len(tasks)), key=lambda i: (-shares[i], i)) if allotted[i] > 0]
        shares_left = sum(shares[i] for i in order)
        for i in order:
            task, key, budget, known = tasks[i], keys[i], allotted[i], measured[i]
            if self.should_stop():
                break
            self.task_deadline = self._slice(shares[i], shares_left)
            shares_left -= shares[i]
            if budget > 0:
                self._tune(task, key, budget, known)
                self.results.append(_result(task, key, budget, known))
                self._report(task)
        self.progress.finish()
        return self.results

    def _tune(self, task: Task, key: TuningKey, budget: int, measured: dict[int, float | None]) -> None:
        """Measure up to `budget` configs of `task` in all, adding them to `measured`."""
        errors: list[str] = []

        def evaluate(configs: Sequence[KernelConfig]) -> list[float | None]:
            def record(config: KernelConfig, m: Measurement) -> None:
                self.db.add(TuningRecord(key, config, m.seconds, m.error, m.runs, time.time()))
                if m.error:
                    errors.append(m.error)
            return [m.seconds for m in self.runner.measure(task, list(configs), on_result=record)]

        def on_batch(trials) -> None:
            for trial in trials:
                if trial.index not in measured:
                    measured[trial.index] = trial.seconds
                    self.trials += 1
            self._report(task, _result(task, key, budget, measured))

        if len(measured) >= budget:
            self._confirm(task, key, measured, evaluate)
            return
        if 0 not in measured:   # the default first: tuned is never slower than untuned
            (measured[0],) = evaluate([task.space.config_at(0)])
            self.trials += 1
            self._report(task, _result(task, key, budget, measured))
        if measured[0] is None:
            # Every candidate's output is checked against the default's, and its time compared
            # with it: without a working default nothing can be measured (e.g. no GPU driver here).
            self.progress.finish()
            reason = errors[-1].splitlines()[0] if errors else "it failed in an earlier run of this job (see the database)"
            raise TuningError(f"kernel {task.name}: its default config cannot be measured ({reason}); "
                              f"tuning stops (the record is kept)")
        if len(measured) < budget and not self.task_should_stop():
            self.search(self.settings.strategy, task.space, evaluate, budget, seed=_task_seed(self.settings.seed, task),
                        batch=self.settings.batch, cost_model=self.cost_model_for(task) if self.cost_model_for else None,
                        measured=dict(measured), on_batch=on_batch, should_stop=self.task_should_stop)
        self._confirm(task, key, measured, evaluate)

    def _confirm(self, task: Task, key: TuningKey, measured: dict[int, float | None], evaluate) -> None:
        """The default and the best config measured again, side by side, once per task. A
        default timed slow by chance (a busy moment; the first run in a fresh process) would
        otherwise let a config slower than it pass as the tuned one, and inflate the speed-up
        shown; each keeps the fastest of its measurements, as `compile` reads the database."""
        good = {index: seconds for index, seconds in measured.items() if seconds is not None}
        best = min(good, key=lambda index: (good[index], index), default=0)
        default = task.space.config_at(0)
        if best == 0 or self.should_stop() or sum(r.config == default for r in self.db.records(key)) > 1:
            return
        for index, seconds in zip((0, best), evaluate([default, task.space.config_at(best)])):
            if seconds is not None and measured.get(index) is not None:
                measured[index] = min(measured[index], seconds)

    def _report(self, task: Task, current: TaskResult | None = None) -> None:
        results = self.results + ([current] if current else [])
        self.progress.update(len(self.results), self.trials, model_speedup(results), task.name)


def _task_seed(seed: int, task: Task) -> int:
    """Per-task seed: the job's seed mixed with the kernel hash (deterministic)."""
    return (seed * 1_000_003 + int(task.kernel_hash[:8], 16)) % (2 ** 31)


def _result(task: Task, key: TuningKey, allotted: int, measured: dict[int, float | None]) -> TaskResult:
    good = [s for s in measured.values() if s is not None]
    return TaskResult(task, key, len(measured), allotted, measured.get(0), min(good) if good else None)
