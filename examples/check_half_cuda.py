"""The fp16/bf16 device check (issue 6): BERT-base and ResNet-50 b32 compiled with `--dtype`,
checked against onnxruntime in float32 (CPU) on fresh random inputs (rel. L2 <= 1e-2), then
timed against torch eager and torch.compile running the same model in the same half type
(`model.half()` before torch.export), every side replayed from a CUDA graph (the same setting on
both sides; --no-cuda-graph times Python calls instead). Prints a markdown table.

    python examples/check_half_cuda.py [--models resnet50_b32,bert_base] [--dtypes fp16,bf16] [--json r.json]
                                       [--layout NHWC]
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

TOLERANCE = 1e-2


def check_one(name: str, dtype: str, target: str, out: Path, args) -> tuple[str, dict]:
    from compiler.api import compile_to_directory, default_options
    from compiler.bench.gpu import GpuBenchSettings, run_gpu_bench
    onnx_path = zoo.export(name, "torchscript")
    compile_to_directory(onnx_path, target, out, options=replace(default_options(), dtype=dtype,
                                                                 activation_layout=args.layout))
    error = check_against_onnxruntime(out, onnx_path)
    program = zoo.save_exported_program(name, device="cuda", dtype=dtype)
    # aotc and torch round differently inside; both are compared with torch eager in the half type.
    settings = GpuBenchSettings(rounds=args.rounds, cuda_graph=not args.no_cuda_graph, tolerance=5e-2,
                                peer_dtype=dtype)
    report = run_gpu_bench(out, program, ["torch", "torch.compile"], settings)
    report["rel_l2_vs_onnxruntime_fp32"] = error
    peers = [report["peers"][p] for p in ("torch", "torch.compile")]
    ms = [f"{p['median_ms']:.3f}" if "error" not in p else "failed" for p in peers]
    ratios = [f"{p['ratio']:.2f}" if "error" not in p else "-" for p in peers]
    verdict = "ok" if error <= TOLERANCE else "FAIL"
    row = (f"| {name} | {dtype} | {report['aotc']['median_ms']:.3f} | {' | '.join(ms)} | {' | '.join(ratios)} | "
           f"{error:.1e} ({verdict}) |")
    return row, report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="resnet50_b32,bert_base")
    parser.add_argument("--dtypes", default="fp16,bf16")
    parser.add_argument("--target", default="cuda:sm_90")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--layout", default=None, help="activation layout override (NCHW, NHWC; default the target's)")
    parser.add_argument("--no-cuda-graph", action="store_true")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    rows, raw, failed = [], {}, False
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            for dtype in args.dtypes.split(","):
                try:
                    row, report = check_one(name, dtype, args.target, Path(tmp) / f"{name}_{dtype}", args)
                except Exception as error:  # one failing configuration must not hide the others' rows
                    row, report = f"| {name} | {dtype} | error: {str(error).splitlines()[0][:200]} |", {"error": repr(error)}
                failed = failed or "ok)" not in row
                rows.append(row)
                raw[f"{name}/{dtype}"] = report
                print(row, file=sys.stderr, flush=True)
    graphs = "off" if args.no_cuda_graph else "on (every side replayed from a CUDA graph)"
    layout = f", {args.layout} activations" if args.layout else ""
    print(f"target {args.target}{layout}, half weights and activations on every side, CUDA graphs {graphs}\n")
    print("| model | dtype | aotc ms | torch eager ms | torch.compile ms | aotc / eager | aotc / compile | "
          "rel. L2 vs onnxruntime fp32 |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1, sort_keys=True, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
