"""Measure a seeded sample of the CUDA config space of a zoo model's GEMM kernels on the GPU,
check every sampled config's output, and write the results as JSON (and, with --records, as
tuning records in the autotuner's JSON-lines format).

    python examples/check_cuda_space.py --out cuda_space.json [--model bert_base] [--configs 48]
        [--kinds gemm,attention] [--records cuda_space.jsonl] [--seed 0]

On the GPU host: the model is exported there (ONNX, torchscript exporter; cached), lowered for
the target (no full build: each kernel is measured alone), and its distinct kernels of the
chosen kinds are taken (by structural hash, weighted by their calls). For each, index 0 of its
space (the default, what an untuned compile prints) and `--configs - 1` random others are
printed, built by nvcc in parallel (one cubin per chunk), loaded with CuPy and launched on
device buffers: the kernel's own constants, random non-zero activations. Each config's output
is compared with the default's (rel. L2, must be <= 1e-5: a split or another tile only reorders
fp32 sums); the default's GEMM output with a float64 torch reference where both operands are
dense. Time: CUDA events around batches of back-to-back launches (the queue stays full, so
host launch overhead hides), the median over rounds, per launch.

The JSON has, per kernel: its shape, calls, space size, and every sampled config with its
median seconds, the roofline estimate (backends/cuda/estimate.py), its errors; the best config
and the time saved per model run if it replaced the default (calls x difference).

--apply-best then compiles the whole model twice, with the defaults and with each measured
kernel's best config (a stand-in for `aotc tune` + a tuning database until those land: the
backend's default_config is swapped for the run), checks the tuned artifact against
onnxruntime, and benches both as `aotc bench` does (CUDA graphs, TF32 off), the tuned one
against torch.compile in the same process (about three more minutes for BERT-base).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402
from cuda_device_run import _value, load_cubin  # noqa: E402

from compiler.api import default_options  # noqa: E402
from compiler.frontends.onnx.importer import import_onnx_specialised  # noqa: E402
from compiler.ir.config import KernelConfig  # noqa: E402
from compiler.ir.contraction import Dense, EpilogueAdd, EpilogueClamp, EpilogueGelu  # noqa: E402
from compiler.ir.program import kernel_hash  # noqa: E402
from compiler.pipeline import graph_passes, precision  # noqa: E402
from compiler.target import resolve_target  # noqa: E402
from passes.fuse import PlanEpilogues  # noqa: E402
from passes.lower import Lower  # noqa: E402
from backends.cuda import CudaBackend, gemm_mma  # noqa: E402
from backends.cuda.build import nvcc_command, nvcc_flags  # noqa: E402
from backends.cuda.printer import kernel_functions, module_header  # noqa: E402

TOLERANCE = 1e-5
KINDS = ("gemm", "attention", "loop")


def kind_of(kernel) -> str:
    return "gemm" if kernel.contraction is not None else "attention" if kernel.attention is not None else "loop"


def lowered_program(model_name: str, target):
    """The model's program as the pipeline lowers it (kernels before tiling, graph constants)."""
    path = zoo.export(model_name, "torchscript")
    graph = import_onnx_specialised(str(path)).graph
    for graph_pass in graph_passes(target, precision(default_options())):
        graph = graph_pass(graph)
    return Lower(PlanEpilogues(target)(graph), target.per_point_windows, target.half_contractions)(graph)


def distinct_kernels(program, kinds: set[str]) -> list[dict]:
    """One entry per structural hash of the chosen kinds: the first call's kernel and args."""
    found: dict[str, dict] = {}
    for call in program.calls:
        kernel = program.kernels[call.kernel]
        if kind_of(kernel) not in kinds:
            continue
        digest = kernel_hash(kernel)
        entry = found.setdefault(digest, {"hash": digest, "kernel": kernel, "args": call.args, "calls": 0})
        entry["calls"] += 1
    return sorted(found.values(), key=lambda e: -e["calls"] * max(e["kernel"].cost.flops, 1))


def sample_indices(size: int, count: int, rng: random.Random) -> list[int]:
    return [0] + sorted(rng.sample(range(1, size), min(count - 1, size - 1)))


def build_chunks(groups: list[list[tuple[str, str]]], target, workers: int, workspace: int) -> dict[str, bytes]:
    """Groups of (function name, text) split into `workers` modules built concurrently; -> cubin per
    function. A group (one config's launches) stays in one module: a split-K GEMM and its reduce
    launch share the module's static workspace array, so splitting them apart reads another one."""
    chunks = [[job for group in groups[i::workers] for job in group] for i in range(workers) if groups[i::workers]]
    def build(chunk):
        header = module_header(workspace, any(gemm_mma.MARK in text for _, text in chunk))
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "k.cu").write_text(header + "\n" + "\n".join(text for _, text in chunk))
            result = subprocess.run([nvcc_command(), *nvcc_flags(target), "-o", "k.cubin", "k.cu"], cwd=tmp,
                                    capture_output=True, text=True)
            if result.returncode != 0:
                raise RuntimeError(f"nvcc failed: {result.stderr.strip()[:2000]}")
            cubin = (Path(tmp) / "k.cubin").read_bytes()
        return {name: cubin for name, _ in chunk}

    cubins: dict[str, bytes] = {}
    with ThreadPoolExecutor(len(chunks)) as pool:
        for built in pool.map(build, chunks):
            cubins.update(built)
    return cubins


def device_buffers(cp, kernel, args, program, rng) -> dict[str, object]:
    """Constants as the model has them; activations random non-zero; outputs NaN."""
    constants = program.graph.constants
    buffers = {}
    for param, arg in zip(kernel.params, args):
        size = param.size.evaluate({})
        dtype = param.dtype.to_numpy()
        if arg in constants:
            buffers[param.name] = cp.asarray(np.ascontiguousarray(constants[arg]).reshape(-1))
        elif param.writable:
            buffers[param.name] = cp.full(size, np.nan if param.dtype.is_float else 0, dtype=dtype)
        elif param.dtype.is_float:
            buffers[param.name] = cp.asarray((rng.standard_normal(size) + 0.1).astype(dtype))
        else:
            buffers[param.name] = cp.asarray(rng.integers(1, 100, size).astype(dtype))
    return buffers


def gemm_reference(torch, spec, buffers) -> "tuple[object, tuple[int, ...]] | None":
    """C of a contraction with dense operands in float64 through its strides, and the strides
    of C in the output buffer (None where an operand is not dense)."""
    if not (isinstance(spec.a, Dense) and isinstance(spec.b, Dense)):
        return None

    def view(name, rows, cols, strides):
        flat = torch.from_dlpack(buffers[name]).double()
        return torch.as_strided(flat, (spec.batch, spec.groups, rows, cols), strides)
    a = view(spec.a.param, spec.m, spec.k, (spec.a.batch_stride, spec.a.group_stride, spec.a.row_stride, spec.a.col_stride))
    b = view(spec.b.param, spec.k, spec.n, (spec.b.batch_stride, spec.b.group_stride, spec.b.row_stride, spec.b.col_stride))
    c = spec.alpha * (a @ b)
    for op in spec.epilogue:
        if isinstance(op, EpilogueAdd):
            c = c + op.scale * view(op.param, spec.m, spec.n, (op.batch_stride, op.group_stride, op.row_stride, op.col_stride))
        elif isinstance(op, EpilogueClamp):
            c = c.clamp(op.low, op.high)
        elif isinstance(op, EpilogueGelu):
            c = torch.nn.functional.gelu(c, approximate="tanh" if op.approximate == "tanh" else "none")
    return c, (spec.out_batch_stride, spec.out_group_stride, spec.out_row_stride, 1)


def rel_l2(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    if not np.isfinite(got).all():
        return float("inf")
    return float(np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30))


def time_launches(cp, run, rounds: int, batch: int, warmup: int) -> list[float]:
    """Seconds per run: CUDA events around `batch` back-to-back runs, once per round."""
    for _ in range(warmup):
        run()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(rounds):
        start, end = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        for _ in range(batch):
            run()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end) / 1e3 / batch)
    return times


def measure_kernel(cp, torch, entry: dict, program, target, backend, configs: list[tuple[int, KernelConfig]],
                   cubins: dict[str, bytes], printed: dict, args) -> list[dict]:
    kernel = entry["kernel"]
    buffers = device_buffers(cp, kernel, entry["args"], program, np.random.default_rng(args.seed))
    out_param = next(p.name for p in kernel.params if p.writable)
    params = tuple(buffers[p.name] for p in kernel.params)
    modules: dict[bytes, object] = {}
    results, reference_output = [], None
    for index, config in configs:
        record = {"index": index, "config": config.to_json(), "estimate_seconds": backend.estimate_seconds(kernel, config, target)}
        try:
            launches = []
            for function, _, launch in printed[index]:
                cubin = cubins[function]
                module = modules.get(cubin) or modules.setdefault(cubin, load_cubin(cubin))
                launches.append((module.get_function(function), tuple(_value(e) for e in launch.grid), launch.block))

            def run():
                for fn, grid, block in launches:
                    fn(grid, (block,), params)
            buffers[out_param].fill(np.nan)
            run()
            cp.cuda.Device().synchronize()
            output = cp.asnumpy(buffers[out_param])
            if reference_output is None:          # the default config, measured first
                reference_output = output
                if kernel.contraction is not None:
                    reference = gemm_reference(torch, kernel.contraction, buffers)
                    if reference is not None:
                        want, strides = reference
                        got = torch.as_strided(torch.from_dlpack(buffers[out_param]).double(), want.shape, strides)
                        record["rel_l2_vs_float64"] = float(torch.linalg.norm(got - want) / torch.linalg.norm(want))
            record["rel_l2_vs_default"] = rel_l2(output, reference_output)
            runs = time_launches(cp, run, args.rounds, args.batch, args.warmup)
            record["runs"] = runs
            record["seconds"] = statistics.median(runs)
            record["ok"] = record["rel_l2_vs_default"] <= TOLERANCE and record.get("rel_l2_vs_float64", 0.0) <= TOLERANCE
        except Exception as error:   # one bad config is a result, not the end of the run
            record.update(ok=False, seconds=None, error=f"{type(error).__name__}: {str(error)[:500]}")
        results.append(record)
    return results


def apply_best(model_name: str, target_name: str, best: dict[str, KernelConfig], rounds: int) -> dict:
    """Default and tuned whole-model artifacts: rel. L2 of the tuned one against onnxruntime,
    both benched (the tuned one against torch.compile)."""
    from bench_zoo import check_against_onnxruntime
    from compiler.api import compile_to_directory
    from compiler.bench.gpu import GpuBenchSettings, run_gpu_bench
    onnx_path = zoo.export(model_name, "torchscript")
    program = zoo.save_exported_program(model_name, device="cuda")
    original = CudaBackend.default_config

    def tuned(self, kernel, target):
        return best.get(kernel_hash(kernel)) or original(self, kernel, target)
    settings = GpuBenchSettings(rounds=rounds)
    with tempfile.TemporaryDirectory() as tmp:
        default_dir, tuned_dir = Path(tmp) / "default", Path(tmp) / "tuned"
        compile_to_directory(str(onnx_path), target_name, default_dir)
        CudaBackend.default_config = tuned
        try:
            compile_to_directory(str(onnx_path), target_name, tuned_dir)
        finally:
            CudaBackend.default_config = original
        error = check_against_onnxruntime(tuned_dir, onnx_path)
        default_report = run_gpu_bench(default_dir, None, [], settings)
        tuned_report = run_gpu_bench(tuned_dir, program, ["torch.compile"], settings)
    peer = tuned_report["peers"]["torch.compile"]
    return {"default_ms": default_report["aotc"]["median_ms"], "tuned_ms": tuned_report["aotc"]["median_ms"],
            "torch_compile_ms": peer.get("median_ms"), "tuned_over_torch_compile": peer.get("ratio"),
            "tuned_rel_l2_vs_onnxruntime": error, "tuned_kernels": len(best), "peer_error": peer.get("error")}


def codegen(backend) -> str:
    """The autotuner's codegen version of the backend, where the autotuner is installed."""
    try:
        from autotune.space import codegen_version
    except ImportError:
        return "unknown"
    return codegen_version(backend)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="JSON results")
    parser.add_argument("--records", type=Path, help="also write tuning records (JSON lines) here")
    parser.add_argument("--model", default="bert_base")
    parser.add_argument("--target", default="cuda:sm_90")
    parser.add_argument("--kinds", default="gemm", help=f"comma-separated of {', '.join(KINDS)}")
    parser.add_argument("--configs", type=int, default=48, help="configs per kernel, the default included")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=20, help="back-to-back launches per timed round")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--build-workers", type=int, default=os.cpu_count() or 4)
    parser.add_argument("--dry-run", action="store_true", help="lower, print and build only (no GPU needed)")
    parser.add_argument("--apply-best", action="store_true",
                        help="compile the model with the best configs and bench it against torch.compile")
    args = parser.parse_args()
    kinds = set(args.kinds.split(","))
    if not kinds <= set(KINDS):
        sys.exit(f"check_cuda_space: --kinds {args.kinds}: choose from {', '.join(KINDS)}")
    started = time.time()
    target, backend = resolve_target(args.target), CudaBackend()
    program = lowered_program(args.model, target)
    entries = distinct_kernels(program, kinds)
    print(f"{args.model}: {len(entries)} distinct kernels of kinds {sorted(kinds)} "
          f"({time.time() - started:.0f} s)", flush=True)
    rng = random.Random(args.seed)
    plans, groups, seen, workspace = [], [], set(), 0
    for entry in entries:
        space = backend.config_space(entry["kernel"], target)
        configs = [(i, space.config_at(i)) for i in sample_indices(space.size(), args.configs, rng)]
        printed = {i: kernel_functions(entry["kernel"], target, c) for i, c in configs}
        for functions in printed.values():
            group = [(name, text) for name, text, _ in functions if name not in seen]
            seen.update(name for name, _ in group)
            if group:
                groups.append(group)
            workspace = max([workspace, *(launch.workspace for _, _, launch in functions)])
        plans.append((entry, space, configs, printed))
    cubins = build_chunks(groups, target, args.build_workers, workspace)
    print(f"built {len(seen)} functions ({time.time() - started:.0f} s)", flush=True)
    if args.dry_run:
        return 0
    import cupy as cp
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    report = {"model": args.model, "target": args.target, "device": torch.cuda.get_device_name(0),
              "fingerprint": backend.fingerprint(target), "seed": args.seed, "configs_per_kernel": args.configs,
              "timing": {"rounds": args.rounds, "batch": args.batch, "warmup": args.warmup}, "kernels": []}
    records = []
    total_saving = 0.0
    for entry, space, configs, printed in plans:
        results = measure_kernel(cp, torch, entry, program, target, backend, configs, cubins, printed, args)
        default = results[0]
        good = [r for r in results if r.get("ok")]
        best = min(good, key=lambda r: r["seconds"]) if good else None
        saving = entry["calls"] * (default["seconds"] - best["seconds"]) if best and default.get("seconds") else 0.0
        total_saving += saving
        kernel = entry["kernel"]
        spec = kernel.contraction
        report["kernels"].append({
            "hash": entry["hash"], "kind": kind_of(kernel), "ops": list(kernel.ops), "calls": entry["calls"],
            "shape": (f"batch={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}" if spec else None),
            "space_size": space.size(), "failures": sum(not r.get("ok") for r in results),
            "default_seconds": default.get("seconds"), "best": best and {"index": best["index"], "config": best["config"],
                                                                       "seconds": best["seconds"]},
            "speedup": (default["seconds"] / best["seconds"]) if best and default.get("seconds") else None,
            "saving_per_model_run_s": saving, "results": results})
        print(f"  {kind_of(kernel):9s} x{entry['calls']:<3d} {report['kernels'][-1]['shape'] or ''} space {space.size()}: "
              f"default {1e6 * (default.get('seconds') or 0):.1f} us, best {1e6 * (best['seconds'] if best else 0):.1f} us, "
              f"{report['kernels'][-1]['failures']} failed", flush=True)
        records += [{"kernel_hash": entry["hash"], "backend": "cuda", "target": report["fingerprint"],
                     "codegen": codegen(backend), "config": r["config"], "seconds": r.get("seconds") if r.get("ok") else None,
                     "error": r.get("error") or (None if r.get("ok") else "wrong result"), "runs": r.get("runs", []),
                     "time": time.time()} for r in results]
    report["saving_per_model_run_s"] = total_saving
    if args.apply_best:
        best = {k["hash"]: KernelConfig.from_json(k["best"]["config"]) for k in report["kernels"]
                if k["best"] and k["best"]["index"] != 0}
        report["whole_model"] = apply_best(args.model, args.target, best, args.rounds)
        print(f"whole model: {json.dumps(report['whole_model'])}", flush=True)
    report["wall_seconds"] = time.time() - started
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    if args.records:
        args.records.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    failures = sum(k["failures"] for k in report["kernels"])
    print(f"{failures} failed configs; best configs would save {1e3 * total_saving:.3f} ms per model run; "
          f"{report['wall_seconds']:.0f} s; results in {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
