"""The torch peers of the CPU bench: torch eager and torch.compile (Inductor, default mode) on
the model's torch.export program (a .pt2 file; examples/zoo.py NAME --exporter torch.export
writes one with the same seeded weights as the zoo's ONNX).

Both run under inference mode with torch's intra-op pool set to the bench's thread count (and
one inter-op thread), as onnxruntime's is. torch.compile compiles on its first call, which the
worker's warm-up absorbs; Inductor's CPU kernels are C++ built with the host compiler.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import AotcError


def _load_module(program_path: Path, threads: int):
    import torch
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # the pool already started (only in a process that ran torch before)
        pass
    try:
        program = torch.export.load(str(program_path))
    except Exception as error:
        raise AotcError(f"peer torch: cannot load the torch.export program {program_path}: {error}") from error
    return torch, program.module()


def _runner(torch, fn, inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    # Positional, in the artifact's input order: the exported module's own argument order.
    tensors = [torch.from_numpy(np.ascontiguousarray(value)) for value in inputs.values()]

    def run():
        with torch.inference_mode():
            return fn(*tensors)
    return run


def torch_contender(artifact_dir: Path, program_path: Path, threads: int,
                    inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    torch, module = _load_module(program_path, threads)
    return _runner(torch, module, inputs)


def torch_compile_contender(artifact_dir: Path, program_path: Path, threads: int,
                            inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    torch, module = _load_module(program_path, threads)
    return _runner(torch, torch.compile(module), inputs)
