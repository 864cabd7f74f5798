"""WebGPU benchmarks for the GPU machine (issue 7's bars): a 2048^3 fp32 GEMM and ResNet-18 /
BERT-small end to end, through wgpu over Vulkan, against aotc's own CUDA backend on the same GPU.

    python examples/bench_webgpu.py                 # GEMM and the zoo models, webgpu and cuda
    python examples/bench_webgpu.py --only webgpu   # no CUDA side (e.g. on lavapipe: slow!)

Device time of the dispatches only: the model runs once (pipelines, bind groups, uploads), then
`--repeat` copies of its dispatch list are encoded into one submission and timed to completion
(a 4-byte read-back waits for the queue). Prints medians of `--trials` such timings.
Not run in this session: no GPU time was available; numbers belong in the README when measured.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def gemm_model(n: int):
    import onnx.helper as oh
    rng = np.random.default_rng(0)
    b = rng.standard_normal((n, n)).astype(np.float32)
    graph = oh.make_graph([oh.make_node("MatMul", ["a", "b"], ["c"])], "gemm",
                          [oh.make_tensor_value_info("a", 1, [n, n])], [oh.make_tensor_value_info("c", 1, [n, n])],
                          [oh.make_tensor("b", 1, (n, n), b.ravel())])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])


def webgpu_seconds(artifact, feeds: dict, repeat: int, trials: int) -> float:
    """Seconds per run of the model's dispatches (device time, no host copies)."""
    model = artifact._model
    artifact.run(**feeds)
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        encoder = model.device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        for _ in range(repeat):
            for dispatch, group, counts in zip(model.plan["dispatches"], model.groups, model.counts):
                compute.set_pipeline(model.pipelines[dispatch["shader"]])
                compute.set_bind_group(0, group)
                compute.dispatch_workgroups(*counts)
        compute.end()
        model.device.queue.submit([encoder.finish()])
        model.device.queue.read_buffer(model.arena, 0, 4)
        times.append((time.perf_counter() - start) / repeat)
    return statistics.median(times)


def host_seconds(artifact, feeds: dict, repeat: int, trials: int) -> float:
    """Seconds per run through the artifact's own call (the CUDA host runtime synchronises)."""
    artifact.run(**feeds)
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeat):
            artifact.run(**feeds)
        times.append((time.perf_counter() - start) / repeat)
    return statistics.median(times)


def zoo_feeds(session) -> dict:
    """Seeded inputs for an onnxruntime session's signature (token ids for int64 inputs)."""
    rng = np.random.default_rng(0)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        feeds[arg.name] = (rng.integers(1, 1000, shape).astype(np.int64) if "int64" in arg.type
                           else rng.standard_normal(shape).astype(np.float32))
    return feeds


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort
    import zoo

    import compiler
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("webgpu", "cuda", "both"), default="both")
    parser.add_argument("--cuda-target", default="cuda:sm_90")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args(argv)
    targets = {"webgpu": "webgpu", "cuda": args.cuda_target}
    chosen = ["webgpu", "cuda"] if args.only == "both" else [args.only]
    n = args.size
    a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    results = {}
    for kind in chosen:
        art = compiler.compile(gemm_model(n), target=targets[kind])
        timer = webgpu_seconds if kind == "webgpu" else host_seconds
        seconds = timer(art, {"a": a}, args.repeat, args.trials)
        results[("gemm", kind)] = seconds
        print(f"gemm {n}^3 {kind:7s} {seconds * 1e3:8.3f} ms  {2 * n ** 3 / seconds / 1e12:6.2f} TFLOP/s", flush=True)
    for name in ("resnet18", "bert"):
        path = str(zoo.export(name, "torchscript"))
        feeds = zoo_feeds(ort.InferenceSession(path))
        for kind in chosen:
            art = compiler.compile(path, target=targets[kind])
            timer = webgpu_seconds if kind == "webgpu" else host_seconds
            results[(name, kind)] = timer(art, feeds, args.repeat, args.trials)
            print(f"{name:9s} {kind:7s} {results[(name, kind)] * 1e3:8.3f} ms", flush=True)
    if len(chosen) == 2:
        for name in ("gemm", "resnet18", "bert"):
            ratio = results[(name, "cuda")] / results[(name, "webgpu")]
            print(f"{name:9s} webgpu at {ratio:.0%} of cuda's speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
