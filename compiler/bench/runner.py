"""Interleaved benchmark rounds across worker processes, one per contender.

Each contender lives in its own process (so OpenMP and onnxruntime thread pools never compete
inside one process), all are warmed up, then rounds alternate between them; the result per
contender is the median over every timed iteration. Before any timing, every contender's first
output is compared with the reference's (onnxruntime's when it runs, else aotc's; relative L2,
float64): timing a wrong answer means nothing.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from compiler.errors import AotcError


@dataclass
class BenchSettings:
    threads: int = 2
    rounds: int = 10
    iterations: int = 5          # per round
    warmup: int = 3
    bindings: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    gap_seconds: float = 0.25
    tolerance: float = 1e-4      # rel. L2 of each output against the reference's, fp32
    options: dict = field(default_factory=dict)   # per-peer settings (e.g. "tvm_database")


class Worker:
    def __init__(self, contender: str, artifact: Path, models: list[Path], settings: BenchSettings, output: Path):
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(settings.threads)
        self.name = contender
        self.process = subprocess.Popen([sys.executable, "-m", "compiler.bench.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        spec = {"contender": contender, "artifact": str(artifact), "models": [str(m) for m in models],
                "threads": settings.threads, "bindings": settings.bindings, "seed": settings.seed,
                "warmup": settings.warmup, "options": settings.options, "output": str(output)}
        self.output = output
        self._send(json.dumps(spec))
        reply = self._receive()
        if "error" in reply:
            self.close()
            raise AotcError(f"bench: {contender} failed to start: {reply['error']}")

    def _send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def _receive(self) -> dict:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AotcError(f"bench: the {self.name} worker exited unexpectedly (code {self.process.wait()})")
        return json.loads(line)

    def run(self, iterations: int) -> list[float]:
        self._send(f"run {iterations}")
        return self._receive()["times_ms"]

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self._send("stop")
            except OSError:
                pass
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _rel_l2(actual: np.ndarray, expected: np.ndarray) -> float:
    if actual.shape != expected.shape:
        return float("inf")
    a, e = actual.astype(np.float64), expected.astype(np.float64)
    return float(np.linalg.norm(a - e) / (np.linalg.norm(e) or 1.0))


def check_outputs(workers: list[Worker], tolerance: float) -> tuple[str, dict[str, float]]:
    """Every contender's saved first output against the reference's: (reference, errors)."""
    outputs = {w.name: np.load(w.output) for w in workers}
    reference = "onnxruntime" if "onnxruntime" in outputs else "aotc"
    errors = {name: _rel_l2(value, outputs[reference]) for name, value in outputs.items() if name != reference}
    for name, error in errors.items():
        if not error <= tolerance:
            raise AotcError(f"bench: {name}'s output differs from {reference}'s (rel. L2 {error:.3g} > "
                            f"{tolerance:g}): not timing a wrong answer")
    return reference, errors


def run_bench(artifact: Path, peers: list[str], models: list[Path], settings: BenchSettings,
              on_round=lambda r: None) -> dict:
    workers: list[Worker] = []
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="aotc-bench-outputs-") as outputs:
        try:
            for name in ["aotc", *peers]:
                try:
                    workers.append(Worker(name, artifact, models, settings, Path(outputs) / f"{name}.npy"))
                except AotcError as error:   # a peer that cannot run this model is reported, not fatal
                    if name == "aotc":
                        raise
                    failed[name] = str(error)
            reference, errors = check_outputs(workers, settings.tolerance)
            times = _timed_rounds(workers, settings, on_round)
        finally:
            for worker in workers:
                worker.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {"threads": settings.threads, "rounds": settings.rounds, "iterations_per_round": settings.iterations,
              "bindings": settings.bindings, "reference": reference,
              "aotc": {"median_ms": medians["aotc"], "samples": len(times["aotc"]),
                       "rel_l2_vs_reference": errors.get("aotc")},
              "peers": {}}
    for peer in peers:
        result["peers"][peer] = {"error": failed[peer]} if peer in failed else {
            "median_ms": medians[peer], "samples": len(times[peer]), "ratio": medians["aotc"] / medians[peer],
            "rel_l2_vs_reference": errors.get(peer)}
    return result


def _timed_rounds(workers: list[Worker], settings: BenchSettings, on_round) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {w.name: [] for w in workers}
    for round_index in range(settings.rounds):
        for worker in workers:
            times[worker.name] += worker.run(settings.iterations)
            # Let the last contender's spin-waiting threads (OpenMP, onnxruntime's pool) go
            # to sleep before the next one starts, so no round runs against a spinning peer.
            time.sleep(settings.gap_seconds)
        on_round(round_index + 1)
    return times
