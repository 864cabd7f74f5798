"""What a benchmark worker can run: the aotc artifact itself, or a peer on the source model.

Each contender is built in its worker process and exposes `run()` over prepared inputs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import AotcError, UnsupportedError

PEERS = ("onnxruntime", "tvm")


def make_inputs(signature, bindings: dict[str, int], seed: int = 0) -> dict[str, np.ndarray]:
    """Fresh random, non-zero inputs for a signature (ints in [1, 100) for index inputs)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for name, ttype in signature:
        shape = tuple(bindings.get(d.name, 1) if not isinstance(d, int) else d for d in ttype.shape)
        dtype = ttype.dtype.to_numpy()
        if ttype.dtype.is_float:
            arrays[name] = (rng.standard_normal(shape) + 0.1).astype(dtype)
        elif ttype.dtype.value == "bool":
            arrays[name] = rng.integers(0, 2, shape).astype(bool)
        else:
            arrays[name] = rng.integers(1, 100, shape).astype(dtype)
    return arrays


def aotc_contender(artifact_dir: Path, model_path: Path | None, threads: int,
                   inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    from compiler.runtime import Artifact
    artifact = Artifact(artifact_dir, threads=threads)
    return lambda: artifact.run(**inputs)


def onnxruntime_contender(artifact_dir: Path, model_path: Path | None, threads: int,
                          inputs: dict[str, np.ndarray]) -> Callable[[], object]:
    if model_path is None:
        raise AotcError("peer onnxruntime needs the source model: pass --model PATH")
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, inputs)


def tvm_contender(artifact_dir, model_path, threads, inputs):
    raise UnsupportedError("peer tvm is not wired up in this version (install aotc[peers]; issue 9)")


CONTENDERS = {"aotc": aotc_contender, "onnxruntime": onnxruntime_contender, "tvm": tvm_contender}
