"""A loaded artifact you can call: numpy in, numpy out.

    art = compiler.load("build/resnet18")
    y = art(x)                  # or art(x=x); several outputs come back as a tuple

A CUDA artifact also takes DLPack device tensors (torch CUDA tensors, cupy arrays), read in
place; its outputs are then written into `out=[...]` or returned as new tensors of the inputs'
library, on `stream=` (default: that library's current stream), without waiting:

    y = art(x_cuda)                          # a torch tensor on cuda:0
    art(x_cuda, out=[y], stream=s)           # into the caller's tensor, on stream s
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from compiler.artifact import (MANIFEST, WEIGHTS, check_inputs, order_inputs, read_manifest,
                               signature_types, verify_files)
from compiler.errors import ArtifactError, InputError, TargetError


class Artifact:
    def __init__(self, directory: str | os.PathLike, *, threads: int | None = None,
                 _owned_tmp: tempfile.TemporaryDirectory | None = None):
        self.directory = Path(directory)
        self._owned_tmp = _owned_tmp   # compile() results live in a temporary directory until saved
        self.manifest = read_manifest(self.directory)
        verify_files(self.directory, self.manifest)
        self.inputs = signature_types(self.manifest, "inputs")
        self.outputs = signature_types(self.manifest, "outputs")
        self.target = self.manifest["target"]["name"]
        self._model = self._load(threads or os.cpu_count() or 1)

    def _load(self, threads: int):
        kind = self.manifest["target"]["kind"]
        weights = np.fromfile(self.directory / WEIGHTS, dtype=np.uint8)
        if kind == "cpu":
            from backends.cpu import CpuBackend
            return CpuBackend().load(self.directory, weights, threads)
        if kind == "cuda":
            from backends.cuda import CudaBackend
            return CudaBackend().load(self.directory, weights, threads)
        if kind == "webgpu":
            from backends.webgpu import WebGpuBackend
            return WebGpuBackend().load(self.directory, weights, threads)
        if kind == "fpga":
            from backends.fpga_hls import FpgaHlsBackend
            return FpgaHlsBackend().load(self.directory, weights, self.manifest)
        raise TargetError(f"{self.directory}: artifacts for {self.target} cannot run in this aotc yet")

    @property
    def input_names(self) -> list[str]:
        return [n for n, _ in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [n for n, _ in self.outputs]

    def set_threads(self, threads: int) -> None:
        self._model.set_threads(threads)

    def profile(self) -> list[dict]:
        """Per kernel call: kernel, nodes and seconds spent since load (compile with
        profiling, `aotc compile --profile`, or the times are zero)."""
        seconds = self._model.profile()
        calls = self.manifest["plan"]["calls"]
        return [{"kernel": c["kernel"], "nodes": c["nodes"], "seconds": t} for c, t in zip(calls, seconds)]

    def run(self, *args: Any, out=None, stream=None, **kwargs: Any) -> dict[str, Any]:
        """Outputs by name (a model listing one output name twice gets one entry)."""
        return dict(zip(self.output_names, self.run_list(*args, out=out, stream=stream, **kwargs)))

    def run_list(self, *args: Any, out=None, stream=None, **kwargs: Any) -> list[Any]:
        """Outputs in signature order: numpy arrays for numpy inputs; for device tensors (CUDA
        artifacts), `out` filled in place or new device tensors, enqueued on `stream`."""
        values = order_inputs(self.inputs, args, kwargs)
        from backends.cuda.device_io import is_device_tensor
        on_device = [is_device_tensor(v) for v in values]
        if not any(on_device) and out is None:
            if stream is not None:
                raise InputError("stream= applies to device tensors; these inputs are host arrays")
            return self._model.run(check_inputs(self.inputs, args, kwargs))
        if self.manifest["target"]["kind"] != "cuda":
            what = next((f"input '{n}' is" for n, d in zip(self.input_names, on_device) if d), "out= takes")
            raise InputError(f"{what} a device tensor; this artifact runs on {self.target}: pass numpy arrays")
        if not all(on_device):
            name = self.input_names[on_device.index(False)]
            raise InputError(f"input '{name}' is a host array but the other inputs (or out=) are on the GPU: "
                             f"pass every input as a device tensor, or every one as a numpy array")
        return self._model.run_device(values, out, stream)

    def __call__(self, *args: Any, out=None, stream=None, **kwargs: Any):
        outputs = self.run_list(*args, out=out, stream=stream, **kwargs)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def save(self, directory: str | os.PathLike) -> Path:
        """Copy the artifact to `directory` (atomically; an existing artifact is replaced)."""
        from compiler.artifact import write_directory
        import json
        files = {}
        for name in self.manifest["files"]:
            files[name] = (self.directory / name).read_bytes()
        manifest = json.loads((self.directory / MANIFEST).read_text(encoding="utf-8"))
        write_directory(files, manifest, Path(directory))
        return Path(directory)

    def __repr__(self) -> str:
        ins = ", ".join(f"{n}: {t}" for n, t in self.inputs)
        outs = ", ".join(f"{n}: {t}" for n, t in self.outputs)
        return f"<aotc.Artifact {self.manifest['model']['name']} for {self.target} ({ins}) -> ({outs})>"


__all__ = ["Artifact", "ArtifactError"]
