"""Time a compiled CUDA artifact on the GPU: the tuner's measurement (CudaBackend.benchmark).

The artifact's own runtime runs it (run_device: DLPack device tensors in and out, no host
copies); torch (or else cupy) on the GPU host provides the device buffers and CUDA events, as
the artifact's C runtime exposes no allocator. Inputs are fresh seeded random non-zero values
(floats ~ N(0.1, 1), integers in [1, 100) as for index inputs, booleans), made once.

With torch, one run is captured into a CUDA graph and its replays are timed, so the host's
launch overhead (Python, ctypes, one cuLaunchKernel per kernel) stays out of the numbers, as
in `aotc bench`; and before the timed runs a GPU sleep is enqueued so the host has queued every
run before the GPU reaches the first one: each pair of events then brackets the device's own
time for that run. With cupy the runs are timed as enqueued (events only).
"""
from __future__ import annotations

import ctypes
import json
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import ArtifactError, TargetError
from compiler.ir.dtypes import DType
from backends.cpu.build import LIBRARY_NAME
from backends.cuda.runtime import CudaModel

# About a millisecond of GPU sleep (cycles at ~1.8 GHz) per 50 timed runs queued behind it.
_SLEEP_CYCLES_PER_RUN = 40_000


def require_driver() -> None:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        raise TargetError("benchmark: no CUDA driver (libcuda.so.1) on this machine; run it on the GPU host") from None


def random_inputs(signature: list[dict], seed: int) -> list[np.ndarray]:
    """Seeded random non-zero inputs for the manifest's input signature (symbols taken as 1)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for entry in signature:
        dtype = DType(entry["dtype"])
        shape = tuple(d if isinstance(d, int) else 1 for d in entry["shape"])
        if dtype.is_float:
            arrays.append((rng.standard_normal(shape) + 0.1).astype(dtype.to_numpy()))
        elif dtype is DType.bool:
            arrays.append(rng.integers(0, 2, shape).astype(bool))
        else:
            arrays.append(rng.integers(1, 100, shape).astype(dtype.to_numpy()))
    return arrays


def load(artifact_dir: Path) -> tuple[CudaModel, dict]:
    manifest_path = artifact_dir / "manifest.json"
    if not manifest_path.is_file():
        raise ArtifactError(f"{artifact_dir}: no manifest.json (not an aotc artifact)")
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    if manifest["target"]["kind"] != "cuda":
        raise TargetError(f"{artifact_dir}: built for {manifest['target']['name']}, not a CUDA target")
    weights = np.fromfile(artifact_dir / "weights.bin", dtype=np.uint8)
    return CudaModel(artifact_dir / LIBRARY_NAME, weights), manifest


def benchmark(artifact_dir: Path, *, repeats: int, warmup: int, seed: int) -> list[float]:
    """Seconds of each of `repeats` runs after `warmup` untimed ones."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"benchmark: repeats must be >= 1 and warmup >= 0 (got {repeats}, {warmup})")
    require_driver()
    model, manifest = load(Path(artifact_dir))
    host = random_inputs(manifest["signature"]["inputs"], seed)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and torch.cuda.is_available():
        return _with_torch(torch, model, host, repeats, warmup)
    try:
        import cupy
    except ImportError:
        raise TargetError("benchmark: needs torch (with CUDA) or cupy on the GPU host for device buffers "
                          "and CUDA events") from None
    return _with_cupy(cupy, model, host, repeats, warmup)


def captured(torch, run: Callable[[], object], warmup: int) -> Callable[[], object]:
    """`run` captured into a CUDA graph (warmed up first on a side stream, as capture needs)."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(max(warmup, 3)):
            run()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        run()
    return graph.replay


def _with_torch(torch, model: CudaModel, host: list[np.ndarray], repeats: int, warmup: int) -> list[float]:
    inputs = [torch.from_numpy(a).cuda() for a in host]
    outputs = model.run_device(inputs)
    run = lambda: model.run_device(inputs, outputs)  # noqa: E731
    try:
        timed = captured(torch, run, warmup)
    except RuntimeError:       # a runtime that cannot be captured: time the plain calls
        torch.cuda.synchronize()
        timed = run
    timed()
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(repeats)]
    torch.cuda._sleep(_SLEEP_CYCLES_PER_RUN * repeats)
    for start, end in events:
        start.record()
        timed()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) / 1e3 for start, end in events]


def _with_cupy(cupy, model: CudaModel, host: list[np.ndarray], repeats: int, warmup: int) -> list[float]:
    inputs = [cupy.asarray(a) for a in host]
    outputs = model.run_device(inputs)
    for _ in range(warmup):
        model.run_device(inputs, outputs)
    events = [(cupy.cuda.Event(), cupy.cuda.Event()) for _ in range(repeats)]
    for start, end in events:
        start.record()
        model.run_device(inputs, outputs)
        end.record()
    events[-1][1].synchronize()
    return [cupy.cuda.get_elapsed_time(start, end) / 1e3 for start, end in events]


__all__ = ["benchmark", "captured", "random_inputs", "require_driver"]
