"""Benchmark the zoo against onnxruntime with `aotc bench` and print a markdown table.

    .venv/bin/python examples/bench_zoo.py [--models resnet18,bert] [--threads 2] [--rounds 10]
"""
from __future__ import annotations

import argparse
import json
import platform
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--exporter", default="torchscript", choices=zoo.EXPORTERS)
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--json", help="also write the raw results here")
    args = parser.parse_args()
    rows, raw = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            model = zoo.export(name, args.exporter)
            out = Path(tmp) / name
            aotc("compile", str(model), "--target", args.target, "-o", str(out), "-q")
            report = json.loads(aotc("bench", str(out), "--against", "onnxruntime", "--model", str(model),
                                     "--threads", str(args.threads), "--rounds", str(args.rounds), "--json"))
            raw[name] = report
            peer = report["peers"]["onnxruntime"]
            rows.append(f"| {name} | {report['aotc']['median_ms']:.2f} | {peer['median_ms']:.2f} | {peer['ratio']:.2f} |")
            print(rows[-1], file=sys.stderr, flush=True)
    print(f"{cpu_name()}, {args.threads} threads, target {args.target}, {args.exporter} export, batch 1\n")
    print("| model | aotc ms | onnxruntime ms | aotc / onnxruntime |\n|---|---|---|---|")
    print("\n".join(rows))
    if args.json:
        Path(args.json).write_text(json.dumps(raw, indent=1, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
