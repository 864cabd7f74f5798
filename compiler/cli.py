"""The `aotc` command line. Errors print one line (`aotc: error: ...`) and exit non-zero;
set AOTC_DEBUG=1 for a traceback."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from pathlib import Path

import numpy as np

from compiler.errors import AotcError, InputError


def _progress(enabled: bool):
    start = time.perf_counter()

    def step(name: str) -> None:
        if enabled:
            print(f"[{time.perf_counter() - start:6.2f}s] {name}", file=sys.stderr, flush=True)
    return step


def cmd_compile(args) -> int:
    from dataclasses import replace
    from compiler.api import compile_to_directory, default_options
    layouts = {"nchw": "NCHW", "nhwc": "NHWC", "auto": "auto"}
    options = replace(default_options(), profile=args.profile,
                      activation_layout=layouts[args.layout] if args.layout else None, dtype=args.dtype,
                      fpga_precision=args.fpga_precision,
                      tuning_db=Path(args.tuning_db) if args.tuning_db else None)
    out = compile_to_directory(args.model, args.target, Path(args.output), options=options,
                               on_step=_progress(not args.quiet))
    print(f"wrote {out}")
    return 0


def cmd_tune(args) -> int:
    from dataclasses import replace
    from compiler.api import default_options
    from compiler.tuning import TuneRequest, tune
    if args.model is None and not (args.merge or args.import_lines or args.export):
        raise InputError("aotc tune: give a MODEL to tune, or --merge/--import/--export to work on the database only")
    if args.trials < 0 or (args.time_budget is not None and args.time_budget <= 0):
        raise InputError("aotc tune: --trials must be >= 0 and --time-budget > 0")
    layouts = {"nchw": "NCHW", "nhwc": "NHWC", "auto": "auto"}
    options = replace(default_options(), activation_layout=layouts[args.layout] if args.layout else None,
                      dtype=args.dtype)
    request = TuneRequest(args.model, args.target, Path(args.db), args.trials, args.strategy, args.seed,
                          args.time_budget, tuple(args.merge), tuple(args.import_lines), args.export,
                          build_workers=args.jobs, threads=args.threads, cache_flush=args.cache_flush)
    tune(request, options, say=lambda line: print(line, flush=True))
    return 0


def _load_inputs(specs: list[str], names: list[str]) -> dict[str, np.ndarray]:
    arrays = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            if len(names) != 1:
                raise InputError(f"--input {spec}: the model has inputs {', '.join(names)}; use NAME=FILE.npy")
            name, path = names[0], spec
        try:
            arrays[name] = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise InputError(f"--input {spec}: no such file {path}") from None
        except (ValueError, OSError) as error:
            raise InputError(f"--input {spec}: not a readable .npy file ({str(error).splitlines()[0]})") from None
    return arrays


def cmd_run(args) -> int:
    from compiler.runtime import Artifact
    artifact = Artifact(args.artifact, threads=args.threads)
    inputs = _load_inputs(args.input, artifact.input_names)
    outputs = artifact.run(**inputs)
    if args.profile:
        _print_profile(artifact, inputs, args.profile)
    if args.output_dir:
        out = Path(args.output_dir)
        out.mkdir(parents=True, exist_ok=True)
    for name, value in outputs.items():
        if args.output_dir:
            np.save(out / f"{name}.npy", value)
            print(f"{name}: {value.dtype}{list(value.shape)} -> {out / (name + '.npy')}")
        else:
            flat = value.reshape(-1)
            preview = np.array2string(flat[:8], precision=5, separator=", ")
            print(f"{name}: {value.dtype}{list(value.shape)} {preview}{' ...' if flat.size > 8 else ''}")
    return 0


def _print_profile(artifact, inputs, repeats: int) -> None:
    if not artifact.manifest["options"].get("profile"):
        raise InputError(f"{artifact.directory} was not compiled with --profile")
    before = artifact.profile()
    for _ in range(repeats):
        artifact.run(**inputs)
    rows: dict[str, list] = {}
    for old, new in zip(before, artifact.profile()):
        row = rows.setdefault(new["kernel"], [0.0, 0])
        row[0] += (new["seconds"] - old["seconds"]) / repeats
        row[1] += 1
    total = sum(r[0] for r in rows.values())
    print(f"per run, {repeats} runs: {total * 1e3:.3f} ms in kernels")
    for name, (seconds, calls) in sorted(rows.items(), key=lambda kv: -kv[1][0])[:25]:
        print(f"  {seconds * 1e3:8.3f} ms {100 * seconds / total:5.1f}%  {calls:3d} call(s)  {name}")


def cmd_inspect(args) -> int:
    from compiler.artifact import read_manifest, verify_files
    from compiler.inspect import format_report, inspect_report
    manifest = read_manifest(Path(args.artifact))
    verify_files(Path(args.artifact), manifest)
    report = inspect_report(manifest)
    from compiler.inspect_fpga import format_estimate, read_estimate
    estimate = read_estimate(Path(args.artifact))   # FPGA artifacts: the resource/latency estimate
    if estimate is not None:
        report["fpga_estimate"] = estimate
    text = format_report(report) + (f"\n\n{format_estimate(estimate)}" if estimate is not None else "")
    print(json.dumps(report, indent=1, sort_keys=True) if args.json else text)
    return 0


def _bindings(specs: list[str]) -> dict[str, int]:
    out = {}
    for spec in specs:
        name, sep, value = spec.partition("=")
        if not sep or not value.isdigit():
            raise InputError(f"--shape {spec}: expected SYMBOL=INT, e.g. batch=1")
        out[name] = int(value)
    return out


def cmd_bench(args) -> int:
    import tempfile
    from compiler.artifact import read_manifest
    peers = [p for p in args.against.split(",") if p] if args.against else None
    with tempfile.TemporaryDirectory(prefix="aotc-bench-") as tmp:
        artifact, models = Path(args.artifact), [Path(m) for m in args.model]
        if artifact.is_file():   # a model file: compile it first, and let the peers run it too
            from compiler.api import compile_to_directory
            models = models or [artifact]
            artifact = compile_to_directory(str(artifact), args.target or "cpu", Path(tmp) / "artifact",
                                            on_step=_progress(False))
        elif args.target:
            raise InputError(f"--target applies when benchmarking a model file; {artifact} is an artifact "
                             f"(its target is fixed at compile)")
        manifest = read_manifest(artifact)
        recorded = _recorded_model(manifest)
        if recorded is not None and recorded.suffix not in {m.suffix for m in models}:
            models.append(recorded)
        if manifest["target"]["kind"] == "cuda":
            # The GPU bench runs the torch peers alone: their .pt2, else the first model given.
            model = next((m for m in models if m.suffix == ".pt2"), models[0] if models else None)
            return _bench_gpu(args, artifact, model, ["torch", "torch.compile"] if peers is None else peers, manifest)
        return _bench_cpu(args, artifact, models, peers or [], manifest)


def _bench_cpu(args, artifact: Path, models: list[Path], peers: list[str], manifest: dict) -> int:
    from compiler.bench.contenders import check_peers
    from compiler.bench.runner import BenchSettings, run_bench
    check_peers(peers, models)
    options = {"tvm_database": args.tvm_database} if args.tvm_database else {}
    settings = BenchSettings(threads=args.threads, rounds=args.rounds or 10, iterations=args.iterations or 5,
                             warmup=args.warmup, bindings=_bindings(args.shape), options=options)
    result = _bench_result(args, manifest, settings.rounds, lambda progress: run_bench(artifact, peers, models, settings, progress))
    if result:
        print(f"{result['model']} on {result['target']}, {settings.threads} threads, "
              f"{result['aotc']['samples']} runs each (medians); outputs checked against {result['reference']}'s")
        print(f"  {'aotc':<14} {result['aotc']['median_ms']:9.3f} ms")
        for peer, row in result["peers"].items():
            print(f"  {peer:<14} failed: {row['error']}" if "error" in row else
                  f"  {peer:<14} {row['median_ms']:9.3f} ms   aotc/{peer} = {row['ratio']:.3f}")
    return 0


def _bench_result(args, manifest: dict, rounds: int, run) -> dict | None:
    """`run(on_round)`'s result labelled with the model and target: printed as JSON (None
    returned) with --json, else returned for a table; rounds are counted on stderr."""
    progress = (lambda r: print(f"round {r}/{rounds}", file=sys.stderr, flush=True)) if not args.json else (lambda r: None)
    result = run(progress)
    result["model"] = manifest["model"]["name"]
    result["target"] = manifest["target"]["name"]
    if args.json:
        print(json.dumps(result, indent=1, sort_keys=True))
        return None
    return result


def _bench_gpu(args, artifact: Path, model: Path | None, peers: list[str], manifest: dict) -> int:
    from compiler.bench.gpu import GpuBenchSettings, run_gpu_bench
    settings = GpuBenchSettings(rounds=args.rounds or 5, reps=args.iterations or 40, warmup=max(args.warmup, 10),
                                cuda_graph=not args.no_cuda_graph, bindings=_bindings(args.shape))
    result = _bench_result(args, manifest, settings.rounds, lambda progress: run_gpu_bench(artifact, model, peers, settings, progress))
    if not result:
        return 0
    print(f"{result['model']} for {result['target']} on {result['device']} (torch {result['torch']}), fp32, TF32 off, "
          f"CUDA graphs {'on' if settings.cuda_graph else 'off'} for every side; medians of {result['aotc']['samples']} runs")
    print(f"  {'':14} {'ms':>9}  {'aotc/peer':>9}  rel. L2 vs torch eager")
    rows = [("aotc", result["aotc"], None)] + [(p, r, r["ratio"]) for p, r in result["peers"].items() if "error" not in r]
    for peer, row in result["peers"].items():
        if "error" in row:
            print(f"  {peer:<14} failed: {row['error']}")
    for name, row, ratio in rows:
        error = row["rel_l2_vs_torch"]
        print(f"  {name:<14} {row['median_ms']:9.3f}  {'' if ratio is None else f'{ratio:9.3f}':>9}  "
              f"{'' if error is None else f'{error:.2e}'}")
    return 0


def _recorded_model(manifest: dict) -> Path | None:
    recorded = manifest["model"].get("path")
    return Path(recorded) if recorded and Path(recorded).is_file() else None


def cmd_targets(args) -> int:
    from compiler.ir.ops import OPS
    from compiler.target import known_targets, resolve_target
    if args.ops:
        from passes.lower import LOWERINGS
        from backends.fpga_hls.layers import SUPPORTED as FPGA_OPS
        for name in sorted(OPS):
            mark = "cpu" if name in LOWERINGS else "-"
            fpga = "fpga" if name in FPGA_OPS else "-"
            print(f"{name:<22} {mark:<5} {fpga:<5} {OPS[name].doc}")
        return 0
    for name in known_targets():
        target = resolve_target(name)
        backend = "yes" if target.kind in ("cpu", "cuda", "webgpu", "fpga") else "not yet"
        detail = f"isa {target.isa.name} ({', '.join(target.isa.features) or 'baseline'})" if target.isa else \
            ", ".join(f"{k}={v}" for k, v in target.limits)
        print(f"{name:<20} backend: {backend:<8} {detail}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="aotc", description="An ahead-of-time ML compiler.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("compile", help="compile a model into an artifact directory")
    p.add_argument("model", help="an .onnx file, or a .pt2 file from torch.export.save")
    p.add_argument("--target", default="cpu", help="cpu (this host), cpu:<isa>, cuda:sm_90, cuda:sm_80, webgpu, fpga:xcu280, fpga:xczu9eg; see `aotc targets`")
    p.add_argument("-o", "--output", required=True, help="artifact directory to write")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress on stderr")
    p.add_argument("--profile", action="store_true", help="time every kernel call (see `aotc run --profile`)")
    p.add_argument("--layout", choices=("nchw", "nhwc", "auto"), help="activation layout of convolution "
                   "regions (default: the target's choice; the CPU's is auto)")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32",
                   help="precision of weights and activations (inputs/outputs keep the model's types; "
                        "softmax, norms, sums and exp/erf stay float32 inside)")
    p.add_argument("--fpga-precision", choices=("float32", "fixed16", "fixed8"), default="float32",
                   help="fpga targets: number format (fixed: ap_fixed with per-layer widths from calibration)")
    p.add_argument("--tuning-db", metavar="FILE", help="take each kernel's config from this tuning database "
                   "(the best record for this target, device and code generator; else the default)")
    p.set_defaults(fn=cmd_compile)

    p = sub.add_parser("tune", help="tune a model's kernels on this machine into a tuning database")
    p.add_argument("model", nargs="?", help="an .onnx or .pt2 file (omit to only merge/import/export)")
    p.add_argument("--target", default="cpu", help="the target to tune for (as for compile)")
    p.add_argument("--db", required=True, metavar="FILE", help="the tuning database (SQLite; created if missing)")
    p.add_argument("--trials", type=int, default=200, help="configs to measure over all kernels, "
                   "records already in the database included (default 200)")
    p.add_argument("--time-budget", type=float, default=None, metavar="S", help="stop measuring after S seconds")
    p.add_argument("--strategy", choices=("random", "evolutionary", "model"), default="evolutionary")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="parallel candidate builds (default 2)")
    p.add_argument("--threads", type=int, default=None, help="cpu: time candidates on this many threads "
                   "(default: every core, as the artifact runs)")
    p.add_argument("--cache-flush", choices=("auto", "on", "off"), default="auto",
                   help="cpu: time candidates with the caches evicted before each run, as a kernel finds them "
                        "inside a model whose weights outgrow the last-level cache (auto: when they do)")
    p.add_argument("--layout", choices=("nchw", "nhwc", "auto"), help="as for compile: tune the kernels it will build")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32", help="as for compile")
    p.add_argument("--merge", action="append", default=[], metavar="OTHER.db", help="copy another database's records in")
    p.add_argument("--import", dest="import_lines", action="append", default=[], metavar="F.jsonl",
                   help="add records from a JSON-lines export")
    p.add_argument("--export", metavar="F.jsonl", help="write every record as JSON lines (after tuning)")
    p.set_defaults(fn=cmd_tune)

    p = sub.add_parser("run", help="run an artifact on .npy inputs")
    p.add_argument("artifact")
    p.add_argument("--input", action="append", default=[], metavar="NAME=FILE.npy")
    p.add_argument("--output-dir", help="save each output as NAME.npy here")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--profile", type=int, default=0, metavar="N",
                   help="run N more times and print time per kernel (artifact compiled with --profile)")
    p.set_defaults(fn=cmd_run)

    p = sub.add_parser("inspect", help="kernels, memory plan and estimates of an artifact")
    p.add_argument("artifact")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_inspect)

    p = sub.add_parser("bench", help="latency against peers, measured in the same run")
    p.add_argument("artifact", help="an artifact directory, or a model file to compile for --target first")
    p.add_argument("--against", default=None,
                   help="comma-separated peers: onnxruntime, torch, torch.compile, tvm (cpu; default none; tvm "
                        "needs aotc[peers]); torch,torch.compile (cuda; the default)")
    p.add_argument("--model", action="append", default=[],
                   help="a source model for the peers, repeatable (default: the path recorded at compile): "
                        "the ONNX file for onnxruntime and tvm, a torch.export .pt2 for the torch peers")
    p.add_argument("--tvm-database", metavar="DIR",
                   help="tvm: a MetaSchedule tuning database (work dir) to build with (default: untuned)")
    p.add_argument("--target", help="when ARTIFACT is a model file: the target to compile it for (default cpu)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--rounds", type=int, default=None, help="rounds, contenders interleaved (default 10 cpu, 5 cuda)")
    p.add_argument("--iterations", type=int, default=None, help="timed runs per round (default 5 cpu, 40 cuda)")
    p.add_argument("--no-cuda-graph", action="store_true",
                   help="cuda: time every side as called from Python instead of as CUDA-graph replays")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--shape", action="append", default=[], metavar="SYMBOL=INT",
                   help="value of a symbolic dimension (default 1)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(fn=cmd_bench)

    p = sub.add_parser("targets", help="known targets and their limits")
    p.add_argument("--ops", action="store_true", help="list ops and which targets lower them")
    p.set_defaults(fn=cmd_targets)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.fn(args)
    except AotcError as error:
        print(f"aotc: error: {str(error).splitlines()[0] if str(error) else type(error).__name__}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # e.g. `aotc inspect DIR | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("aotc: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug in aotc: still one line, with a way to see more
        if os.environ.get("AOTC_DEBUG"):
            traceback.print_exc()
        message = str(error).splitlines()[0] if str(error) else ""
        print(f"aotc: internal error: {type(error).__name__}: {message} (set AOTC_DEBUG=1 for a traceback)",
              file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
