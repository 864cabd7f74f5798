"""Time a compiled CUDA artifact on the GPU: the tuner's measurement (CudaBackend.benchmark).

The artifact's own runtime runs it (run_device: DLPack device tensors in and out, no host
copies); torch (or else cupy) on the GPU host provides the device buffers and CUDA events, as
the artifact's C runtime exposes no allocator. Inputs are fresh seeded random non-zero values
(floats ~ N(0.1, 1), integers in [1, 100) as for index inputs, booleans), made once.

One run is captured into a CUDA graph and its replays are timed, so the host's launch overhead
(Python, ctypes, one cuLaunchKernel per kernel) stays out of the numbers, as in `aotc bench`.
With torch, a GPU sleep enqueued before the timed runs lets the host queue every run before the
GPU reaches the first one, so each pair of events brackets the device's own time for its run;
with CuPy (no sleep kernel) a graph replay costs the host a few microseconds, less than the
kernels it replays.
"""
from __future__ import annotations

import ctypes
import importlib
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import TargetError
from backends.base import benchmark_artifact, benchmark_inputs, input_types
from backends.cpu.build import LIBRARY_NAME
from backends.cuda import device_io
from backends.cuda.runtime import CudaModel

# About a millisecond of GPU sleep (cycles at ~1.8 GHz) per 50 timed runs queued behind it.
_SLEEP_CYCLES_PER_RUN = 40_000


def require_driver() -> None:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        raise TargetError("benchmark: no CUDA driver (libcuda.so.1) on this machine; run it on the GPU host") from None


def load(artifact_dir: Path) -> tuple[CudaModel, dict]:
    manifest, weights = benchmark_artifact(artifact_dir, "cuda")
    return CudaModel(artifact_dir / LIBRARY_NAME, weights), manifest


def benchmark(artifact_dir: Path, *, repeats: int, warmup: int, seed: int, library: str | None = None) -> list[float]:
    """Seconds of each of `repeats` runs after `warmup` untimed ones. `library`: "cupy" or
    "torch" for the device buffers and events (default: cupy where installed, its import being
    the faster in a measuring process that starts per candidate, else torch)."""
    if repeats < 1 or warmup < 0:
        raise ValueError(f"benchmark: repeats must be >= 1 and warmup >= 0 (got {repeats}, {warmup})")
    require_driver()
    model, manifest = load(Path(artifact_dir))
    host = benchmark_inputs(input_types(manifest["signature"]["inputs"]), seed)
    if not host and any(not isinstance(d, int) for o in manifest["signature"]["outputs"] for d in o["shape"]):
        raise TargetError(f"{artifact_dir}: no inputs and a symbolic output shape: nothing to size the outputs by")
    for name in ([library] if library else ["cupy", "torch"]):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        if name == "torch" and module.cuda.is_available():
            return _with_torch(module, model, manifest, host, repeats, warmup)
        if name == "cupy":
            return _with_cupy(module, model, manifest, host, repeats, warmup)
    raise TargetError(f"benchmark: needs {library or 'cupy or torch (with CUDA)'} on the GPU host for device "
                      f"buffers and CUDA events")


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


def _outputs(model: CudaModel, manifest: dict, inputs: list, template) -> list:
    """Output tensors: as run_device allocates them, or (a model without inputs, whose output
    shapes are static) from the signature."""
    if inputs:
        return model.run_device(inputs)
    return [device_io.allocate(template, tuple(o["shape"]), slot.dtype)
            for o, slot in zip(manifest["signature"]["outputs"], model.output_slots)]


def _with_torch(torch, model: CudaModel, manifest: dict, host: list[np.ndarray], repeats: int, warmup: int
                ) -> list[float]:
    inputs = [torch.from_numpy(a).cuda() for a in host]
    outputs = _outputs(model, manifest, inputs, torch.empty(0, device="cuda"))
    # On the current stream explicitly: inside a graph capture that is the capturing stream.
    run = lambda: model.run_device(inputs, outputs, torch.cuda.current_stream())  # noqa: E731
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


def _with_cupy(cupy, model: CudaModel, manifest: dict, host: list[np.ndarray], repeats: int, warmup: int
               ) -> list[float]:
    """As _with_torch: one run captured into a CUDA graph (plain calls where capture fails),
    replays timed with events; everything on one stream of our own, current while the inputs
    are made and the run is captured (so DLPack hands them over without a cross-stream wait)."""
    stream = cupy.cuda.Stream(non_blocking=True)
    with stream:
        inputs = [cupy.asarray(a) for a in host]
        outputs = _outputs(model, manifest, inputs, cupy.empty(0))
        run = lambda: model.run_device(inputs, outputs, stream)  # noqa: E731
        for _ in range(max(warmup, 3)):
            run()
        stream.synchronize()
        try:
            stream.begin_capture()
            try:
                run()
            finally:
                graph = stream.end_capture()
            timed = lambda: graph.launch(stream)  # noqa: E731
            timed()
        except Exception:        # a runtime or CuPy that cannot capture: time the plain calls
            stream.synchronize()
            timed = run
        events = [(cupy.cuda.Event(), cupy.cuda.Event()) for _ in range(repeats)]
        for start, end in events:
            start.record(stream)
            timed()
            end.record(stream)
        stream.synchronize()
    return [cupy.cuda.get_elapsed_time(start, end) / 1e3 for start, end in events]


__all__ = ["benchmark", "captured", "require_driver"]
