"""Time a compiled WebGPU artifact on this machine's adapter: the tuner's measurement
(WebGpuBackend.benchmark) and what its records are keyed on (fingerprint).

A tuning candidate differs from the default only in a contraction's first variant
(gemm_space.config_space), so the artifact runs with variant slot 0 forced: the measurement
is of the candidate's config, never of the runtime's own first-load pick. A timed run is
`COPIES` copies of the model's dispatch list encoded into one compute pass and submitted
once, waited for by a 4-byte read-back, divided by the copies: device time per run with the
submission's fixed cost (tens of microseconds through wgpu) spread thin. Inputs are
backends.base.benchmark_inputs, as for every backend's measurement and output check.
"""
from __future__ import annotations

from pathlib import Path

from compiler.target import Target
from backends.base import benchmark_artifact, benchmark_inputs, input_types
from backends.webgpu.runtime import WebGpuModel, request_device

COPIES = 10


def fingerprint(target: Target) -> str:
    """The target, the adapter (vendor, device, driver, graphics API) and wgpu's version: a
    record measured on one GPU and driver is not reused on another."""
    wgpu, device = request_device()
    info = device.adapter.info
    adapter = " ".join(str(info.get(key, "")) for key in ("vendor", "device")).strip()
    return (f"{target.name}|{adapter}|{info.get('description', '')}|{info.get('backend_type', '')}"
            f"|wgpu {wgpu.__version__}")


def benchmark(artifact_dir: Path, *, repeats: int, warmup: int, seed: int) -> list[float]:
    manifest, weights = benchmark_artifact(artifact_dir, "webgpu")
    model = WebGpuModel(artifact_dir, weights, variant_policy=0)
    model.run(benchmark_inputs(input_types(manifest["signature"]["inputs"]), seed))
    runs = [model.run_seconds(COPIES) for _ in range(warmup + repeats)]
    return runs[warmup:]


__all__ = ["COPIES", "benchmark", "fingerprint"]
