"""Issue 9's GPU bar in one command on the GPU machine: tune a zoo model's kernels with `aotc tune`
on the GPU, then compile it untuned and tuned, check both against onnxruntime (CPU) on fresh random
inputs, and time both against torch eager and torch.compile in the same run (CUDA graphs on every
side, as examples/bench_zoo.py does). Prints a markdown table; --json writes everything.

    python examples/tune_gpu_model.py --model bert_base --time-budget 240 --db tuning.db --json r.json
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402
from bench_zoo import check_against_onnxruntime  # noqa: E402
from tune_job import add_tuning_arguments, run_tuning  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="bert_base")
    parser.add_argument("--target", default="cuda:sm_90")
    add_tuning_arguments(parser, trials=400, time_budget=240, jobs=12, jobs_help="parallel candidate builds (nvcc)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json")
    args = parser.parse_args()

    from compiler.api import compile_to_directory, default_options
    from compiler.bench.gpu import GpuBenchSettings, run_gpu_bench
    onnx_path = zoo.export(args.model, "torchscript")
    tuning_seconds = run_tuning(onnx_path, args.target, args)
    program = zoo.save_exported_program(args.model, device="cuda")
    settings = GpuBenchSettings(rounds=args.rounds)
    rows, report = [], {"model": args.model, "target": args.target, "tuning_seconds": tuning_seconds}
    with tempfile.TemporaryDirectory() as tmp:
        for label, db in (("untuned", None), ("tuned", Path(args.db))):
            out = Path(tmp) / label
            compile_to_directory(onnx_path, args.target, out, options=replace(default_options(), tuning_db=db))
            manifest = json.loads((out / "manifest.json").read_text())
            tuned = sum(1 for k in manifest.get("kernels", []) if isinstance(k, dict) and k.get("tuned"))
            error = check_against_onnxruntime(out, onnx_path)
            bench = run_gpu_bench(out, program, ["torch", "torch.compile"], settings)
            compiled = bench["peers"]["torch.compile"]
            report[label] = {"bench": bench, "rel_l2_vs_onnxruntime": error, "tuned_kernels": tuned}
            rows.append(f"| {label} | {bench['aotc']['median_ms']:.3f} | {compiled.get('median_ms', float('nan')):.3f} | "
                        f"{compiled.get('ratio', float('nan')):.2f} | {error:.1e} | {tuned} |")
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"{args.model} on {args.target}, tuned {tuning_seconds:.0f} s ({args.strategy}), CUDA graphs on every side\n")
    print("| build | aotc ms | torch.compile ms | aotc / torch.compile | rel. L2 vs onnxruntime | tuned kernels |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, sort_keys=True, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
