"""Measuring candidates: the Runner interface, and LocalRunner on this machine.

LocalRunner builds a batch of candidates in a process pool (spawned workers, a timeout per
candidate), then runs them one at a time, each in its own process: a crash, a hang or a
wrong answer is recorded as that candidate's failure and the job goes on. Each candidate's
outputs are checked against the default config's (relative L2), and its time is the median
of repeated runs. A pool of remote devices can replace it behind the same `measure`.
"""
from __future__ import annotations

import hashlib
import json
import queue
import shutil
import signal
import statistics
import subprocess
import threading
import time
from concurrent.futures import Future, ProcessPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Callable, Iterator, Protocol, Sequence

import numpy as np

from compiler.ir.config import KernelConfig
from autotune.space import Task

# What a candidate build is: (task, config, out_dir) -> writes an artifact directory.
BuildFn = Callable[[Task, KernelConfig, Path], None]


@dataclass(frozen=True)
class Measurement:
    seconds: float | None          # median of runs; None: the candidate failed
    error: str | None
    runs: tuple[float, ...] = ()


class Runner(Protocol):
    def measure(self, task: Task, configs: Sequence[KernelConfig],
                on_result: Callable[[KernelConfig, Measurement], None] = lambda c, m: None) -> list[Measurement]:
        """One Measurement per config, in order; `on_result` is called as each one is known
        (the job commits it to the database there)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class RunnerSettings:
    repeats: int = 7
    warmup: int = 2
    seed: int = 0
    build_workers: int = 2
    build_timeout: float = 300.0        # seconds per candidate build
    run_timeout: float = 60.0           # seconds per candidate run (all its repeats)
    tolerance: float = 1e-4             # rel. L2 against the default config's outputs (float32)
    half_tolerance: float = 2e-2        # ... when an output is float16/bfloat16
    threads: int | None = None          # CPU timing threads (None: every core)
    flush_bytes: int = 0                # CPU: evict the caches before each timed run (0: time warm)


def rel_l2(got: np.ndarray, want: np.ndarray) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if got.shape != want.shape:
        return float("inf")
    if not (np.isfinite(got).all() and np.isfinite(want).all()):
        return 0.0 if np.array_equal(got, want, equal_nan=True) else float("inf")
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


def config_digest(config: KernelConfig) -> str:
    return hashlib.sha256(config.dumps().encode()).hexdigest()[:16]


class LocalRunner:
    """`build`: a picklable function (it runs in the pool's spawned processes).
    `measure_command`: the measuring process's argv before the artifact path and options
    (compiler/tuning.py's `python -m compiler.tuning`; tests substitute a faulty one)."""

    def __init__(self, build: BuildFn, measure_command: Sequence[str], work_dir: Path,
                 settings: RunnerSettings = RunnerSettings()):
        self.build, self.command, self.settings = build, tuple(measure_command), settings
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._pool: ProcessPoolExecutor | None = None
        self._references: dict[str, list[np.ndarray] | None] = {}

    # ------------------------------------------------------------------ pool
    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=max(1, self.settings.build_workers),
                                             mp_context=get_context("spawn"))
        return self._pool

    def _kill_pool(self) -> None:
        """After a build timed out: its worker may hang for good, so the pool goes."""
        if self._pool is None:
            return
        processes = list(getattr(self._pool, "_processes", {}).values())
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.kill()
        self._pool = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    # ------------------------------------------------------------------ measuring
    def measure(self, task: Task, configs: Sequence[KernelConfig],
                on_result: Callable[[KernelConfig, Measurement], None] = lambda c, m: None) -> list[Measurement]:
        task_dir = self.work_dir / task.kernel_hash[:16]
        reference = self._reference(task, task_dir)
        builds = self._build_all(task, configs, task_dir)
        # Runs come back one by one, in order: each result is handed on as soon as it is known.
        runs = self._run_batch([d for d, error in builds if error is None], self.settings.repeats)
        results = []
        for config, (directory, error) in zip(configs, builds):
            result = Measurement(None, error) if error else self._judge(*next(runs), reference)
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
            on_result(config, result)
            results.append(result)
        return results

    def _build_all(self, task: Task, configs: Sequence[KernelConfig], task_dir: Path) -> list[tuple[Path | None, str | None]]:
        futures: list[tuple[Path, Future]] = []
        pool = self._executor()
        for config in configs:
            directory = task_dir / config_digest(config)
            futures.append((directory, pool.submit(self.build, task, config, directory)))
        out, timed_out = [], False
        for directory, future in futures:
            try:
                awake_wait(lambda step: future.result(timeout=step), self.settings.build_timeout, FutureTimeout)
                out.append((directory, None))
            except FutureTimeout:
                timed_out = True
                out.append((None, f"build timed out after {self.settings.build_timeout:g} s"))
            except Exception as error:   # a build error is data: the candidate failed
                message = str(error).splitlines()[0] if str(error) else ""
                out.append((None, f"build failed: {type(error).__name__}: {message}"))
        if timed_out:
            self._kill_pool()
        return out

    def _reference(self, task: Task, task_dir: Path) -> list[np.ndarray] | None:
        """The default config's outputs (index 0 of the space), computed once per task;
        None when the default itself fails (candidates are then timed unchecked)."""
        if task.kernel_hash not in self._references:
            scratch = task_dir / "reference"
            (built, error), = self._build_all(task, [task.space.config_at(0)], scratch)
            outputs = next(self._run_batch([built], repeats=0))[1] if error is None else None
            shutil.rmtree(scratch, ignore_errors=True)
            self._references[task.kernel_hash] = outputs
        return self._references[task.kernel_hash]

    def _run_batch(self, directories: Sequence[Path], repeats: int) -> Iterator[tuple[tuple[float, ...], list | None, str | None]]:
        """(runs, outputs, error) per artifact, in order, each as soon as known: measured one
        after the other by one process; when it crashes or hangs on one, that one is charged
        and a new process takes the rest."""
        pending = list(directories)
        while pending:
            s = self.settings
            argv = [*self.command, *map(str, pending), "--repeats", str(repeats), "--warmup", str(s.warmup),
                    "--seed", str(s.seed), "--save-outputs", *(("--threads", str(s.threads)) if s.threads else ()),
                    *(("--flush-bytes", str(s.flush_bytes)) if s.flush_bytes else ())]
            process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            lines: queue.Queue = queue.Queue()
            errors: list[str] = []
            readers = [threading.Thread(target=_pump, args=(process.stdout, lines.put), daemon=True),
                       threading.Thread(target=_pump, args=(process.stderr, errors.append), daemon=True)]
            for reader in readers:
                reader.start()
            try:
                while pending:
                    directory = pending[0]
                    line = _next_result(lines, s.run_timeout)
                    if line is _TIMEOUT:
                        process.kill()
                        pending.pop(0)
                        yield (), None, f"run timed out after {s.run_timeout:g} s"
                        break
                    if line is None:    # the process ended before this candidate's line
                        code = process.wait()
                        for reader in readers:
                            reader.join()
                        pending.pop(0)
                        yield (), None, _death(code, errors)
                        break
                    pending.pop(0)
                    yield self._parse(directory, line)
            finally:
                if pending and process.poll() is None:    # abandoned mid-batch: stop measuring
                    process.kill()
                process.wait()
                for reader in readers:      # they end at the pipes' EOF, now that it exited
                    reader.join(timeout=10)
                for stream in (process.stdout, process.stderr):
                    stream.close()

    @staticmethod
    def _parse(directory: Path, line: str) -> tuple[tuple[float, ...], list | None, str | None]:
        outputs_path = Path(f"{directory}.outputs.npz")
        try:
            runs = tuple(float(r) for r in json.loads(line)["runs"])
            with np.load(outputs_path, allow_pickle=False) as saved:
                outputs = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        except (ValueError, KeyError, TypeError, OSError) as error:
            return (), None, f"run gave no timings or outputs ({error})"
        finally:
            outputs_path.unlink(missing_ok=True)
        return runs, outputs, None

    def _judge(self, runs: tuple[float, ...], outputs: list | None, error: str | None,
               reference: list[np.ndarray] | None) -> Measurement:
        if error:
            return Measurement(None, error, runs)
        if not runs or outputs is None:
            return Measurement(None, "run gave no timings or outputs", runs)
        if reference is not None:
            wrong = self._mismatch(outputs, reference)
            if wrong:
                return Measurement(None, wrong, runs)
        return Measurement(statistics.median(runs), None, runs)

    def _mismatch(self, outputs: list[np.ndarray], reference: list[np.ndarray]) -> str | None:
        if len(outputs) != len(reference):
            return f"wrong result: {len(outputs)} outputs, the default config gives {len(reference)}"
        for index, (got, want) in enumerate(zip(outputs, reference)):
            half = got.dtype.itemsize == 2 and got.dtype.kind in "fV"
            tolerance = self.settings.half_tolerance if half else self.settings.tolerance
            error = rel_l2(got, want) if got.dtype.kind in "fcV" else (0.0 if np.array_equal(got, want) else float("inf"))
            if not error <= tolerance:
                return f"wrong result: output {index} rel. L2 {error:.3g} from the default config's (tolerance {tolerance:g})"
        return None


_TIMEOUT = object()


def _pump(stream, put) -> None:
    """Forward a process's lines (stdout: results; stderr: its last words); None at the end."""
    for line in stream:
        put(line)
    put(None)


def awake_wait(get: Callable[[float], object], timeout: float, timed_out: type[Exception], step: float = 1.0,
               clock: Callable[[], float] = time.monotonic):
    """`get(step)` until it returns, raising `timed_out` after `timeout` seconds of waiting
    while awake: a gap far longer than a step (the job was stopped, e.g. SIGSTOP/SIGCONT by
    whoever shares the machine) counts as one step, so a paused job charges no candidate."""
    waited = 0.0
    while True:
        started = clock()
        try:
            return get(step)
        except timed_out:
            waited += min(clock() - started, 2 * step)
            if waited >= timeout:
                raise


def _next_result(lines: queue.Queue, timeout: float):
    """The next JSON line of the measuring process (other output skipped), None at its end,
    _TIMEOUT when none came in `timeout` seconds (awake)."""
    while True:
        try:
            line = awake_wait(lambda step: lines.get(timeout=step), timeout, queue.Empty)
        except queue.Empty:
            return _TIMEOUT
        if line is None or line.lstrip().startswith("{"):
            return line


def _death(code: int, errors: list) -> str:
    if code < 0:
        try:
            return f"run crashed ({signal.Signals(-code).name})"
        except ValueError:
            return f"run crashed (signal {-code})"
    last = next((e.strip() for e in reversed(errors) if e and e.strip()), "no message")
    return f"run failed (exit {code}): {last[:300]}"
