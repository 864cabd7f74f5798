"""Benchmark the zoo with `aotc bench` and print a markdown table: on the CPU against
onnxruntime and torch.compile, with aotc's ratio to the faster of the two (other peers by
--peers; the torch ones run a torch.export program of the same seeded weights); on a CUDA
target (on the GPU machine) the CUDA bar's models against torch eager and torch.compile, each
first checked against onnxruntime (CPU).

    .venv/bin/python examples/bench_zoo.py [--models resnet18,bert] [--threads 2] [--rounds 10]
        [--peers onnxruntime,torch,torch.compile]
    python examples/bench_zoo.py --target cuda:sm_90 [--models resnet50,bert_base] [--json r.json]

On a GPU every model is exported (ONNX for aotc and onnxruntime, torch.export .pt2 for the torch
peers, the same seeded weights), compiled and checked on that machine.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402

DEFAULT_MODELS = ("resnet18", "resnet50", "mobilenet_v2", "bert", "gpt2")


def aotc(*args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "compiler.cli", *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"bench_zoo: aotc {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def check_against_onnxruntime(artifact_dir: Path, model: Path) -> float:
    """Relative L2 of aotc's output against onnxruntime's (CPU) on fresh random inputs."""
    import numpy as np
    import onnxruntime as ort
    from compiler.bench.contenders import make_inputs
    from compiler.runtime import Artifact
    artifact = Artifact(artifact_dir)
    feeds = make_inputs(artifact.inputs, {}, seed=7)
    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    actual = artifact.run_list(**feeds)[0]
    expected = expected.astype(np.float64)
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def gpu_main(args) -> int:
    models = args.models.split(",") if args.models else list(zoo.GPU_BAR)
    rows, raw, device = [], {}, "?"
    extra = ["--rounds", str(args.rounds)] if args.rounds else []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            onnx_path, program = zoo.export(name, args.exporter), zoo.save_exported_program(name, device="cuda")
            out = Path(tmp) / name
            aotc("compile", str(onnx_path), "--target", args.target, "-o", str(out), "-q")
            error = check_against_onnxruntime(out, onnx_path)
            report = json.loads(aotc("bench", str(out), "--against", "torch,torch.compile", "--model", str(program),
                                     "--json", *extra, *(["--no-cuda-graph"] if args.no_cuda_graph else [])))
            report["rel_l2_vs_onnxruntime"] = error
            raw[name], device = report, report["device"]
            peers = [report["peers"][p] for p in ("torch", "torch.compile")]
            ms = [f"{p['median_ms']:.3f}" if "error" not in p else "failed" for p in peers]
            ratios = [f"{p['ratio']:.2f}" if "error" not in p else "-" for p in peers]
            vs_torch = report["aotc"]["rel_l2_vs_torch"]
            rows.append(f"| {name} | {report['aotc']['median_ms']:.3f} | {' | '.join(ms)} | {' | '.join(ratios)} | "
                        f"{error:.1e} | {'-' if vs_torch is None else f'{vs_torch:.1e}'} |")
            print(rows[-1], file=sys.stderr, flush=True)
    graphs = "off" if args.no_cuda_graph else "on (every side replayed from a CUDA graph)"
    print(f"{device}, target {args.target}, fp32, TF32 off, CUDA graphs {graphs}, {args.exporter} export for aotc\n")
    print("| model | aotc ms | torch eager ms | torch.compile ms | aotc / eager | aotc / compile | "
          "rel. L2 vs onnxruntime | rel. L2 vs torch |\n|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1, sort_keys=True))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help=f"default: {','.join(DEFAULT_MODELS)} (cpu), "
                                                      f"{','.join(zoo.GPU_BAR)} (cuda)")
    parser.add_argument("--exporter", default="torchscript", choices=zoo.EXPORTERS)
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=None, help="default 10 (cpu), 5 (cuda)")
    parser.add_argument("--no-cuda-graph", action="store_true", help="cuda: time calls, not graph replays")
    parser.add_argument("--peers", default="onnxruntime,torch.compile",
                        help="cpu: the peers, in table order (torch eager: torch; tvm needs aotc[peers])")
    parser.add_argument("--compile-args", default="",
                        help='cpu: more `aotc compile` options, e.g. for a tuned build (write --compile-args="...")')
    parser.add_argument("--tvm-database", help="cpu, tvm: a MetaSchedule database (examples/tune_tvm.py)")
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    if args.target.startswith("cuda"):
        return gpu_main(args)
    return cpu_main(args)


def _cell(row: dict | None) -> str:
    return "-" if row is None else "failed" if "error" in row else f"{row['median_ms']:.2f}"


def cpu_main(args) -> int:
    models, rounds = (args.models or ",".join(DEFAULT_MODELS)).split(","), args.rounds or 10
    peers = args.peers.split(",")
    # The bar's peers: aotc against the faster of onnxruntime and torch.compile, same run.
    bar = [p for p in ("onnxruntime", "torch.compile") if p in peers] or peers
    extra = ["--tvm-database", args.tvm_database] if args.tvm_database else []
    rows, raw = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            model = zoo.export(name, args.exporter)
            sources = ["--model", str(model)]
            if any(p.startswith("torch") for p in peers):   # the same seeded weights, as torch.export
                sources += ["--model", str(zoo.save_exported_program(name))]
            out = Path(tmp) / name
            aotc("compile", str(model), "--target", args.target, "-o", str(out), "-q", *shlex.split(args.compile_args))
            report = json.loads(aotc("bench", str(out), "--against", ",".join(peers), *sources, *extra,
                                     "--threads", str(args.threads), "--rounds", str(rounds), "--json"))
            raw[name] = report
            ran = [report["peers"][p]["median_ms"] for p in bar if "error" not in report["peers"][p]]
            ratio = f"{report['aotc']['median_ms'] / min(ran):.2f}" if ran else "-"
            cells = [_cell(report["peers"].get(p)) for p in peers]
            rows.append(f"| {name} | {report['aotc']['median_ms']:.2f} | {' | '.join(cells)} | {ratio} |")
            print(rows[-1], file=sys.stderr, flush=True)
    reference = "onnxruntime" if "onnxruntime" in peers else "aotc"
    print(f"{cpu_name()}, {args.threads} threads, target {args.target}, {args.exporter} export (torch.export for the "
          f"torch peers), batch 1, medians of {rounds} interleaved rounds; every output checked against {reference}'s\n")
    print(f"| model | aotc ms | {' | '.join(p + ' ms' for p in peers)} | aotc / min({', '.join(bar)}) |")
    print("|---" * (len(peers) + 3) + "|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
