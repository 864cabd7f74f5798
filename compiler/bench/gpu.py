"""`aotc bench` for CUDA artifacts: aotc against torch eager and torch.compile on one GPU, in
one process, in the same run.

Every contender reads the same device-resident inputs and writes device-resident outputs (aotc
through its device entry point: no host copies are timed). TF32 is off for torch's matmuls and
cuDNN, so every side computes in fp32. Before timing, each contender's output is compared with
torch eager's (relative L2, in float64); a mismatch beyond the tolerance stops the bench, since
timing a wrong answer means nothing. With `cuda_graph` (the default) every contender is
captured into a CUDA graph and the replays are timed, so no side pays Python or launch
overhead; without it, every side is timed as called from Python. Timing: CUDA events around
each repetition, after a warm-up, rounds interleaved across contenders; the median of all.

The peers run the model as a torch.export program (a .pt2 file, best exported on the GPU;
one exported on the CPU is moved there): torch eager is its module, torch.compile that module
compiled (Inductor, default mode).
"""
from __future__ import annotations

import statistics
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from compiler.errors import AotcError, InputError
from backends.cuda.benchmark import captured

GPU_PEERS = ("torch", "torch.compile")


@dataclass
class GpuBenchSettings:
    rounds: int = 5
    reps: int = 40               # timed repetitions per contender per round
    warmup: int = 10
    cuda_graph: bool = True
    tolerance: float = 1e-4      # rel. L2 against torch eager, fp32 with TF32 off
    bindings: dict[str, int] = field(default_factory=dict)
    seed: int = 0
    # The peers' precision: "fp32", or "fp16"/"bf16" for a program exported from a half model
    # (its float inputs get device-resident half copies, made once, outside the timing).
    peer_dtype: str = "fp32"


def check_peers(model: Path | None, peers: list[str]) -> None:
    """Before anything is loaded: known peers, and the .pt2 program they run."""
    for peer in peers:
        if peer not in GPU_PEERS:
            raise InputError(f"--against {peer}: unknown peer for CUDA artifacts; known: {', '.join(GPU_PEERS)}")
    if peers and (model is None or model.suffix != ".pt2"):
        raise InputError(f"--model {model or '(none)'}: the torch peers run a torch.export program; pass "
                         f"--model MODEL.pt2 (examples/zoo.py NAME --exporter torch.export writes one)")


def _peer_module(model: Path):
    import torch
    program = torch.export.load(str(model))
    if any(t.device.type != "cuda" for t in program.state_dict.values()):
        # Exported on the CPU: move it (weights, constants and the devices its ops name).
        from torch.export.passes import move_to_device_pass
        program = move_to_device_pass(program, "cuda")
    return program.module()


def _first(value):
    return value[0] if isinstance(value, (tuple, list)) else value


def _rel_l2(actual, expected) -> float:
    a = actual.detach().double().cpu().numpy()
    e = expected.detach().double().cpu().numpy()
    return float(np.linalg.norm(a - e) / (np.linalg.norm(e) or 1.0))


def _time(torch, run: Callable[[], object], reps: int) -> list[float]:
    events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)) for _ in range(reps)]
    for start, end in events:
        start.record()
        run()
        end.record()
    torch.cuda.synchronize()
    return [start.elapsed_time(end) for start, end in events]


def run_gpu_bench(artifact_dir: Path, model: Path | None, peers: list[str], settings: GpuBenchSettings,
                  on_round=lambda r: None) -> dict:
    check_peers(model, peers)
    import torch
    from compiler.bench.contenders import make_inputs
    from compiler.runtime import Artifact
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    artifact = Artifact(artifact_dir)
    host = make_inputs(artifact.inputs, settings.bindings, settings.seed)
    inputs = [torch.from_numpy(host[name]).cuda() for name in artifact.input_names]
    # aotc writes into preallocated tensors, as a graph replay needs fixed addresses anyway.
    first = artifact(*inputs)
    outputs = [first] if len(artifact.output_names) == 1 else list(first)
    contenders: dict[str, Callable[[], object]] = {"aotc": lambda: artifact(*inputs, out=outputs)}
    if peers:
        module = _peer_module(model)
        half = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(settings.peer_dtype)
        peer_inputs = [t.to(half) if half is not None and t.is_floating_point() else t for t in inputs]
        with torch.no_grad():
            for peer in peers:
                fn = module if peer == "torch" else torch.compile(module)
                contenders[peer] = (lambda fn=fn: fn(*peer_inputs))
    failed: dict[str, str] = {}
    with torch.no_grad():
        results = {}
        for name, run in list(contenders.items()):
            try:
                results[name] = _first(run())
            except Exception as error:  # a peer that cannot run this model is reported, not fatal
                if name == "aotc":
                    raise
                failed[name] = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:300]
                failed[name + " traceback"] = traceback.format_exc()[-3000:]
                del contenders[name]
        torch.cuda.synchronize()
        reference = results.get("torch")
        errors = {name: _rel_l2(value, reference) for name, value in results.items()} if reference is not None else {}
        for name, error in errors.items():
            if not error <= settings.tolerance:
                raise AotcError(f"bench: {name}'s output differs from torch eager's (rel. L2 {error:.3g} > "
                                f"{settings.tolerance:g}): not timing a wrong answer")
        timed = {name: (captured(torch, run, settings.warmup) if settings.cuda_graph else run)
                 for name, run in contenders.items()}
        times: dict[str, list[float]] = {name: [] for name in timed}
        for name, run in timed.items():
            _time(torch, run, settings.warmup)
        for round_index in range(settings.rounds):
            for name, run in timed.items():
                times[name] += _time(torch, run, settings.reps)
            on_round(round_index + 1)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "device": torch.cuda.get_device_name(0), "torch": torch.__version__,
        "cuda_graph": settings.cuda_graph, "tf32": False, "rounds": settings.rounds, "reps_per_round": settings.reps,
        "bindings": settings.bindings,
        "aotc": {"median_ms": medians["aotc"], "samples": len(times["aotc"]), "rel_l2_vs_torch": errors.get("aotc")},
        "peers": {peer: ({"error": failed[peer], "traceback": failed[peer + " traceback"]} if peer in failed else
                         {"median_ms": medians[peer], "samples": len(times[peer]), "ratio": medians["aotc"] / medians[peer],
                          "rel_l2_vs_torch": errors.get(peer)}) for peer in peers},
    }
