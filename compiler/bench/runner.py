"""Interleaved benchmark rounds across worker processes, one per contender.

Each contender lives in its own process (so OpenMP and onnxruntime thread pools never compete
inside one process), all are warmed up, then rounds alternate between them; the result per
contender is the median over every timed iteration.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

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


class Worker:
    def __init__(self, contender: str, artifact: Path, model: Path | None, settings: BenchSettings):
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(settings.threads)
        self.name = contender
        self.process = subprocess.Popen([sys.executable, "-m", "compiler.bench.worker"], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, env=env)
        spec = {"contender": contender, "artifact": str(artifact), "model": str(model) if model else None,
                "threads": settings.threads, "bindings": settings.bindings, "seed": settings.seed,
                "warmup": settings.warmup}
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


def run_bench(artifact: Path, peers: list[str], model: Path | None, settings: BenchSettings,
              on_round=lambda r: None) -> dict:
    workers: list[Worker] = []
    try:
        for name in ["aotc", *peers]:
            workers.append(Worker(name, artifact, model, settings))
        times: dict[str, list[float]] = {w.name: [] for w in workers}
        for round_index in range(settings.rounds):
            for worker in workers:
                times[worker.name] += worker.run(settings.iterations)
                # Let the last contender's spin-waiting threads (OpenMP, onnxruntime's pool) go
                # to sleep before the next one starts, so no round runs against a spinning peer.
                time.sleep(settings.gap_seconds)
            on_round(round_index + 1)
    finally:
        for worker in workers:
            worker.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    result = {"threads": settings.threads, "rounds": settings.rounds, "iterations_per_round": settings.iterations,
              "bindings": settings.bindings, "aotc": {"median_ms": medians["aotc"], "samples": len(times["aotc"])},
              "peers": {}}
    for peer in peers:
        result["peers"][peer] = {"median_ms": medians[peer], "samples": len(times[peer]),
                                 "ratio": medians["aotc"] / medians[peer]}
    return result
