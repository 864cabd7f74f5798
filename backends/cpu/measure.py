"""What the autotuner asks of the CPU backend: the host's fingerprint, and timing a built
artifact's library (in the separate process the tuning job starts for each candidate)."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.target import Target
from backends.base import benchmark_inputs
from backends.cpu.build import LIBRARY_NAME, compiler_command
from backends.cpu.runtime import CpuModel

WEIGHTS_NAME = "weights.bin"
MIN_SAMPLE = 2e-3    # seconds
WARMUP = 0.05        # seconds


def cpu_model_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    except OSError:
        pass
    return "unknown cpu"


def c_compiler_version() -> str:
    cc = compiler_command()
    result = subprocess.run([cc, "--version"], capture_output=True, text=True, check=False)
    lines = result.stdout.splitlines()
    return lines[0].strip() if lines else os.path.basename(cc)


def host_fingerprint(target: Target) -> str:
    """Target name and -march, the CPU model and core count, and the C compiler's version:
    a record measured on another CPU or with another compiler is not this target's."""
    march = target.isa.march if target.isa else "x86-64"
    return f"{target.name}|march={march}|{cpu_model_name()}|cores={os.cpu_count() or 1}|{c_compiler_version()}"


def timed_samples(run: Callable[[], object], clock: Callable[[], float], repeats: int, once: float,
                  evict: Callable[[], None] | None = None) -> list[float]:
    """`repeats` samples of `run`'s seconds. Warm (no `evict`): a short kernel's sample averages
    enough back-to-back runs to last MIN_SAMPLE seconds, so the timer's resolution and one-off
    scheduling hiccups weigh less (`once`: its fastest single run). Cold: each sample is one run
    right after `evict`, which is not timed."""
    if evict is not None:
        seconds = []
        for _ in range(repeats):
            evict()
            start = clock()
            run()
            seconds.append(clock() - start)
        return seconds
    inner = max(1, min(1000, int(MIN_SAMPLE / max(once, 1e-9))))
    seconds = []
    for _ in range(repeats):
        start = clock()
        for _ in range(inner):
            run()
        seconds.append((clock() - start) / inner)
    return seconds


def benchmark_library(directory: Path, *, repeats: int, warmup: int, seed: int, threads: int | None = None,
                      flush_bytes: int = 0) -> list[float]:
    """Per-sample seconds. On one thread the clock is that thread's CPU time (OpenMP runs a
    one-thread region on the caller): on a shared machine, time the scheduler gives to other
    processes is not charged to the candidate. On several threads, wall time.

    flush_bytes > 0: each sample is one run after writing that many bytes of other memory, so
    the kernel finds its weights and inputs evicted from the caches, as it does inside a model
    whose weights outgrow the last-level cache (ResNet-50's 100 MB): timed warm, a config whose
    threads each re-read the whole weight matrix looks fastest and is the slowest in the model."""
    weights = np.fromfile(directory / WEIGHTS_NAME, dtype=np.uint8)
    model = CpuModel(directory / LIBRARY_NAME, weights, threads or os.cpu_count() or 1)
    clock = time.thread_time if threads == 1 else time.perf_counter
    try:
        shapes = model.input_shapes()
        inputs = benchmark_inputs(list(zip(model.input_dtypes, shapes)), seed)
        # Warm up for `warmup` runs and at least WARMUP seconds: the first runs of a process
        # wait for OpenMP's threads to start and settle, milliseconds on a busy machine.
        once, began, count = float("inf"), time.perf_counter(), 0
        while count < max(warmup, 1) or (time.perf_counter() - began < WARMUP and count < 10_000):
            start = clock()
            model.run(inputs)
            once = min(once, clock() - start)
            count += 1
        evict = None
        if flush_bytes > 0:
            buffer = np.zeros(flush_bytes // 8, dtype=np.float64)

            def evict() -> None:
                np.add(buffer, 1.0, out=buffer)     # read and write every line: the caches hold it now
        return timed_samples(lambda: model.run(inputs), clock, repeats, once, evict)
    finally:
        model.close()
