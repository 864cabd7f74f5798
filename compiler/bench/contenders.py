"""What a benchmark worker can run: the aotc artifact itself, or a peer on the source model.

Each contender is built in its worker process and exposes `run()` over prepared inputs. A peer
runs the model it was compiled from: onnxruntime and TVM the ONNX file, the torch peers a
torch.export program (.pt2) of the same weights; `pick_model` chooses among those given.
"""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import AotcError, InputError


@dataclass(frozen=True)
class Contender:
    build: Callable[..., Callable[[], object]]   # (artifact_dir, model, threads, inputs, options) -> run
    source: str | None      # the model file suffix it runs (".onnx", ".pt2"); None: the artifact itself
    package: str | None     # the module it imports, checked before any worker starts
    install: str = ""       # how to get that package


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


def first_output(value) -> np.ndarray:
    """A contender's first output as a numpy array, whatever container it came in."""
    while isinstance(value, (tuple, list, dict)):
        value = next(iter(value.values())) if isinstance(value, dict) else value[0]
    if hasattr(value, "numpy"):       # a torch tensor or a TVM NDArray
        value = value.numpy() if not hasattr(value, "detach") else value.detach().numpy()
    return np.asarray(value)


def aotc_contender(artifact_dir: Path, model: Path | None, threads: int,
                   inputs: dict[str, np.ndarray], options: dict) -> Callable[[], object]:
    from compiler.runtime import Artifact
    artifact = Artifact(artifact_dir, threads=threads)
    return lambda: artifact.run(**inputs)


def onnxruntime_contender(artifact_dir: Path, model: Path, threads: int,
                          inputs: dict[str, np.ndarray], options: dict) -> Callable[[], object]:
    import onnxruntime as ort
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = threads
    session_options.inter_op_num_threads = 1
    session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(model), session_options, providers=["CPUExecutionProvider"])
    return lambda: session.run(None, inputs)


def _torch(artifact_dir, model, threads, inputs, options):
    from compiler.bench.torch_peer import torch_contender
    return torch_contender(artifact_dir, model, threads, inputs)


def _torch_compile(artifact_dir, model, threads, inputs, options):
    from compiler.bench.torch_peer import torch_compile_contender
    return torch_compile_contender(artifact_dir, model, threads, inputs)


def _tvm(artifact_dir, model, threads, inputs, options):
    from compiler.bench.tvm_peer import tvm_contender
    return tvm_contender(model, threads, inputs, options.get("tvm_database"))


CONTENDERS = {
    "aotc": Contender(aotc_contender, None, None),
    "onnxruntime": Contender(onnxruntime_contender, ".onnx", "onnxruntime", "pip install onnxruntime"),
    "torch": Contender(_torch, ".pt2", "torch", "pip install torch"),
    "torch.compile": Contender(_torch_compile, ".pt2", "torch", "pip install torch"),
    "tvm": Contender(_tvm, ".onnx", "tvm", "pip install aotc[peers]"),
}
PEERS = tuple(name for name in CONTENDERS if name != "aotc")


def check_peers(peers: list[str], models: list[Path]) -> None:
    """Before any worker starts: known peers, their package importable, their model given."""
    for peer in peers:
        if peer not in PEERS:
            raise InputError(f"--against {peer}: unknown peer; known: {', '.join(PEERS)}")
        contender = CONTENDERS[peer]
        if importlib.util.find_spec(contender.package) is None:
            raise AotcError(f"--against {peer}: the '{contender.package}' package is not installed in this "
                            f"Python ({contender.install})")
        pick_model(peer, models)


def pick_model(name: str, models: list[Path]) -> Path | None:
    """The model file `name` runs, by suffix, among the --model paths."""
    wanted = CONTENDERS[name].source
    if wanted is None:
        return None
    for model in models:
        if model.suffix == wanted:
            return model
    what = "the ONNX model" if wanted == ".onnx" else \
        "a torch.export program of the same weights (examples/zoo.py NAME --exporter torch.export writes one)"
    given = ", ".join(str(m) for m in models) or "none"
    raise InputError(f"--against {name}: needs {what}: pass --model PATH{wanted} (given: {given})")
