"""A loaded artifact you can call: numpy in, numpy out.

    art = compiler.load("build/resnet18")
    y = art(x)                  # or art(x=x); several outputs come back as a tuple
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from compiler.artifact import (MANIFEST, WEIGHTS, check_inputs, read_manifest, signature_types,
                               verify_files)
from compiler.errors import ArtifactError, TargetError


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

    def run(self, *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
        """Outputs by name (a model listing one output name twice gets one entry)."""
        return dict(zip(self.output_names, self.run_list(*args, **kwargs)))

    def run_list(self, *args: Any, **kwargs: Any) -> list[np.ndarray]:
        """Outputs in signature order."""
        return self._model.run(check_inputs(self.inputs, args, kwargs))

    def __call__(self, *args: Any, **kwargs: Any):
        outputs = self.run_list(*args, **kwargs)
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
