"""Where a zoo model's CUDA time goes: every launch of the compiled program timed alone (CUDA
events around each launch, device-resident buffers, examples/cuda_device_run.py), summed by the
ops its kernel implements, largest first.

    python examples/profile_cuda_kernels.py --models bert_base,gpt2_124m [--runs 10]

Events around single launches add a few microseconds each; the table is for finding what
dominates, `bench_zoo.py` for end-to-end latency.
"""
from __future__ import annotations

import argparse
import collections
import statistics

import numpy as np

import zoo
from cuda_device_run import load


def profile(name: str, target: str, runs: int) -> list[tuple[str, int, float]]:
    import cupy as cp
    import onnx
    model = onnx.load(str(zoo.export(name, "torchscript")))
    built = zoo.build(name)
    feeds = {n: np.asarray(x.numpy()) for n, x in zip(built.input_names, built.example_inputs)}
    program = load(model, target, feeds)
    program.run()
    cp.cuda.Device().synchronize()
    per_launch = [[] for _ in program.launches]
    for _ in range(runs):
        for index, (function, grid, block, args) in enumerate(program.launches):
            start, stop = cp.cuda.Event(), cp.cuda.Event()
            start.record()
            function(grid, (block,), tuple(program.buffers[a] for a in args))
            stop.record()
            stop.synchronize()
            per_launch[index].append(cp.cuda.get_elapsed_time(start, stop))
    launch_labels = _launch_labels(program)
    totals: dict[str, list] = collections.defaultdict(lambda: [0, 0.0])
    for label, times in zip(launch_labels, per_launch):
        totals[label][0] += 1
        totals[label][1] += statistics.median(times)
    return sorted(((label, count, ms) for label, (count, ms) in totals.items()), key=lambda row: -row[2])


def _launch_labels(program) -> list[str]:
    """One label per launch, in launch order (a split GEMM is two launches of one call)."""
    from backends.cuda.printer import kernel_functions
    labels = []
    for call in program.compiled.program.calls:
        kernel = program.compiled.program.kernels[call.kernel]
        label = "+".join(kernel.ops) + (" [gemm]" if kernel.contraction else "") + (" [flash]" if kernel.attention else "")
        labels += [label] * len(kernel_functions(kernel, program.compiled.target))
    return labels


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="bert_base,gpt2_124m")
    parser.add_argument("--target", default="cuda:sm_90")
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    for name in args.models.split(","):
        try:
            rows = profile(name, args.target, args.runs)
        except Exception as error:      # one model's failure must not hide the others' tables
            print(f"\n{name}: {type(error).__name__}: {error}")
            continue
        total = sum(ms for _, _, ms in rows)
        print(f"\n{name}: {total:.3f} ms over {sum(c for _, c, _ in rows)} launches (median per launch, summed)")
        print("| kernel ops | launches | ms | share |\n|---|---|---|---|")
        for label, count, ms in rows:
            print(f"| {label} | {count} | {ms:.3f} | {100 * ms / total:.1f}% |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
