"""WebGPU benchmarks for the GPU machine (issue 7's bars): a 2048^3 fp32 GEMM and ResNet-18 /
BERT-small end to end, through wgpu over Vulkan, against aotc's own CUDA backend on the same GPU.

    python examples/bench_webgpu.py --json out.json   # everything (examples/run_webgpu_device.sh)
    python examples/bench_webgpu.py --only webgpu     # no CUDA side (e.g. on lavapipe: slow!)
    python examples/bench_webgpu.py --no-models       # the GEMM only

GEMM: every config of the WebGPU GEMM space (backends/webgpu/gemm_space.py) alone on the
2048^3 problem (gemm_probe: one shader, device time of 10 dispatches per submission, best of
3), the best checked against numpy; the fastest few again as trusted shader modules (naga's
index clamping and loop counters off); then the compiled MatMul model as an artifact runs it,
its variant picked by the runtime's first-run measurement.
Models: device time of the dispatches only: the model runs once (pipelines, bind groups, the
variant pick), then `--repeat` copies of its dispatch list are encoded into one submission
and timed to completion (a 4-byte read-back waits for the queue); median of `--trials`.
CUDA: the same models compiled for `--cuda-target`, called on device-resident torch tensors
(DLPack in, `out=` tensors), synchronised, median of `--trials` batches of `--repeat` calls.
Without OR-Tools (the GPU machine's image) compiles use the greedy memory planner.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
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
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8), b


def compile_options():
    from compiler.options import CompileOptions
    planner = "cpsat" if importlib.util.find_spec("ortools") else "greedy"
    return CompileOptions(memory_planner=planner)


def webgpu_seconds(artifact, feeds: dict, repeat: int, trials: int) -> float:
    """Seconds per run of the model's dispatches (device time, no host copies)."""
    artifact.run(**feeds)
    return statistics.median(artifact._model.run_seconds(repeat) for _ in range(trials))


def slowest_dispatches(model, keep: int = 40) -> list[dict]:
    """The model's dispatches by device time alone (WebGpuModel.dispatch_seconds), slowest first:
    milliseconds, and what runs (nodes, shader, workgroup counts)."""
    seconds = model.dispatch_seconds()
    rows = []
    for dispatch, (_, _, counts), t in zip(model.plan["dispatches"], model.active, seconds):
        nodes = ",".join(dispatch["nodes"][:3]) + ("..." if len(dispatch["nodes"]) > 3 else "")
        rows.append({"ms": t * 1e3, "what": f"{nodes} {dispatch['shader']} groups {counts}"})
    rows.sort(key=lambda r: -r["ms"])
    total = sum(r["ms"] for r in rows)
    return [{"ms": total, "what": f"sum of {len(rows)} dispatches alone"}] + rows[:keep]


def cuda_seconds(artifact, feeds: dict, repeat: int, trials: int) -> float:
    """Seconds per call on device-resident torch tensors (inputs and `out=` outputs on the GPU)."""
    import torch
    device_feeds = {k: torch.from_numpy(np.ascontiguousarray(v)).cuda() for k, v in feeds.items()}
    outputs = artifact.run_list(**device_feeds)
    torch.cuda.synchronize()
    times = []
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeat):
            artifact.run_list(**device_feeds, out=outputs)
        torch.cuda.synchronize()
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


def sweep_gemm(n: int, keep: int, log) -> dict:
    """Every config of the space on the n^3 GEMM alone; the `keep` fastest again trusted."""
    from compiler.target import resolve_target
    from backends.webgpu.gemm_probe import GemmProbe, spec
    from backends.webgpu.gemm_space import SPACE
    from backends.webgpu.runtime import request_device
    wgpu, device = request_device()
    target = resolve_target("webgpu")
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((n, n)).astype(np.float32), rng.standard_normal((n, n)).astype(np.float32)
    probe = GemmProbe(wgpu, device, spec(n, n, n), a, b)
    flops = 2 * n ** 3
    checked = {}
    for cfg in SPACE:
        checked[cfg.name] = probe.seconds(cfg, target, repeat=30)
        log(f"  sweep {cfg.name:20s} {checked[cfg.name] * 1e3:8.3f} ms {flops / checked[cfg.name] / 1e12:6.2f} TFLOP/s")
    ranked = sorted(SPACE, key=lambda c: checked[c.name])
    trusted = {}
    for cfg in ranked[:keep]:
        trusted[cfg.name] = probe.seconds(cfg, target, repeat=30, trusted=True)
        log(f"  trusted {cfg.name:18s} {trusted[cfg.name] * 1e3:8.3f} ms {flops / trusted[cfg.name] / 1e12:6.2f} TFLOP/s")
    best = ranked[0]
    expected = a.astype(np.float64) @ b.astype(np.float64)
    got = probe.run(best, target)
    error = float(np.linalg.norm(got - expected) / np.linalg.norm(expected))
    best_trusted = min(trusted, key=trusted.get)
    return {"checked_seconds": checked, "trusted_seconds": trusted, "best": best.name,
            "best_seconds": checked[best.name], "best_tflops": flops / checked[best.name] / 1e12,
            "best_trusted": best_trusted, "best_trusted_tflops": flops / trusted[best_trusted] / 1e12,
            "best_rel_l2": error, "adapter": dict(device.adapter.info)}


def main(argv: list[str] | None = None) -> int:
    import onnxruntime as ort

    import compiler
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("webgpu", "cuda", "both"), default="both")
    parser.add_argument("--cuda-target", default="cuda:sm_90")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--keep", type=int, default=6, help="fastest sweep configs timed again as trusted modules")
    parser.add_argument("--no-sweep", action="store_true")
    parser.add_argument("--profile", type=int, default=12, help="slowest dispatches of each model to log")
    parser.add_argument("--no-models", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    chosen = ["webgpu", "cuda"] if args.only == "both" else [args.only]
    options = compile_options()
    results: dict = {"size": args.size, "memory_planner": options.memory_planner}

    def log(line: str) -> None:
        print(line, flush=True)

    def save() -> None:
        if args.json:
            args.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")

    def run_case(name: str, kind: str, entry: dict, source, feeds: dict) -> None:
        if kind == "webgpu":
            art = compiler.compile(source, target="webgpu", options=options)
            entry["webgpu_seconds"] = webgpu_seconds(art, feeds, args.repeat, args.trials)
            entry["webgpu_variants"] = art._model.chosen_configs()
            entry["webgpu_slowest_dispatches"] = slowest = slowest_dispatches(art._model)
            for row in slowest[:args.profile]:
                log(f"  {row['ms']:8.3f} ms  {row['what']}")
            from backends.webgpu.runtime import WebGpuModel
            weights = np.fromfile(art.directory / "weights.bin", dtype=np.uint8)
            art._model = WebGpuModel(art.directory, weights, trusted=True)
            entry["webgpu_trusted_seconds"] = webgpu_seconds(art, feeds, args.repeat, args.trials)
            log(f"{name:9s} webgpu  {entry['webgpu_seconds'] * 1e3:8.3f} ms (trusted modules "
                f"{entry['webgpu_trusted_seconds'] * 1e3:8.3f} ms); variants {sorted(set(entry['webgpu_variants']))}")
        else:
            art = compiler.compile(source, target=args.cuda_target, options=options)
            entry["cuda_seconds"] = cuda_seconds(art, feeds, args.repeat, args.trials)
            log(f"{name:9s} cuda    {entry['cuda_seconds'] * 1e3:8.3f} ms")
        del art

    n, flops = args.size, 2 * args.size ** 3
    if "webgpu" in chosen and not args.no_sweep:
        try:
            results["gemm_sweep"] = sweep = sweep_gemm(n, args.keep, log)
            log(f"gemm {n}^3 sweep best {sweep['best']} {sweep['best_tflops']:.2f} TFLOP/s (rel L2 "
                f"{sweep['best_rel_l2']:.1e}); trusted best {sweep['best_trusted']} "
                f"{sweep['best_trusted_tflops']:.2f} TFLOP/s")
        except Exception as error:
            results["gemm_sweep_error"] = f"{type(error).__name__}: {error}"[:2000]
            log(f"gemm sweep failed: {results['gemm_sweep_error'][:300]}")
        save()
    model, _ = gemm_model(n)
    a = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    cases = [("gemm", model, {"a": a})]
    if not args.no_models:
        import zoo
        for name in ("resnet18", "bert"):
            path = str(zoo.export(name, "torchscript"))
            cases.append((name, path, zoo_feeds(ort.InferenceSession(path))))
    for name, source, feeds in cases:
        entry = results.setdefault(name, {})
        for kind in chosen:
            try:
                run_case(name, kind, entry, source, feeds)
            except Exception as error:   # one failing side must not lose the other's numbers
                entry[f"{kind}_error"] = f"{type(error).__name__}: {error}"[:2000]
                log(f"{name:9s} {kind:7s} failed: {entry[f'{kind}_error'][:300]}")
        if name == "gemm":
            for key in ("webgpu_seconds", "webgpu_trusted_seconds", "cuda_seconds"):
                if key in entry:
                    entry[key.replace("seconds", "tflops")] = flops / entry[key] / 1e12
        if "cuda_seconds" in entry and "webgpu_seconds" in entry:
            entry["webgpu_speed_vs_cuda"] = entry["cuda_seconds"] / entry["webgpu_seconds"]
            trusted = entry.get("webgpu_trusted_seconds")
            if trusted:
                entry["webgpu_trusted_speed_vs_cuda"] = entry["cuda_seconds"] / trusted
            log(f"{name:9s} webgpu at {entry['webgpu_speed_vs_cuda']:.0%} of cuda's speed "
                f"({entry.get('webgpu_trusted_speed_vs_cuda', 0):.0%} with trusted modules)")
        save()
    if "cuda_seconds" in results["gemm"] and "gemm_sweep" in results:
        best = min(results["gemm_sweep"]["best_seconds"], *results["gemm_sweep"]["trusted_seconds"].values())
        results["gemm"]["best_variant_speed_vs_cuda"] = results["gemm"]["cuda_seconds"] / best
        log(f"gemm {n}^3: best WebGPU config at {results['gemm']['best_variant_speed_vs_cuda']:.0%} of aotc CUDA")
        save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
