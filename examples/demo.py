"""The demo: export a torchvision ResNet-18 (random weights, fixed seed) to ONNX, compile it
with `aotc compile --target cpu`, run the artifact, and compare with onnxruntime.

    make demo        # or: .venv/bin/python examples/demo.py [--model resnet18] [--out build/demo]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402


def aotc(*args: str, capture: bool = False) -> str:
    command = [sys.executable, "-m", "compiler.cli", *args]
    result = subprocess.run(command, text=True, capture_output=capture, check=False)
    if result.returncode != 0:
        sys.exit(f"demo: `aotc {' '.join(args)}` failed" + (f": {result.stderr.strip()}" if capture else ""))
    return result.stdout if capture else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=zoo.MODELS)
    parser.add_argument("--exporter", default="torchscript", choices=zoo.EXPORTERS)
    parser.add_argument("--out", default="build/demo")
    args = parser.parse_args()

    print(f"1. exporting {args.model} ({args.exporter} exporter) ...", flush=True)
    model_path = zoo.export(args.model, args.exporter)
    print(f"   {model_path}")
    artifact_dir = Path(args.out) / args.model
    print(f"2. aotc compile {model_path.name} --target cpu -o {artifact_dir}", flush=True)
    aotc("compile", str(model_path), "--target", "cpu", "-o", str(artifact_dir))

    print("3. running the artifact and onnxruntime on the same random input ...", flush=True)
    import compiler
    import onnxruntime as ort
    from compiler.bench.contenders import make_inputs
    art = compiler.load(artifact_dir)
    inputs = make_inputs(art.inputs, {"batch": 1}, seed=1)
    ours = art.run(**inputs)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    theirs = dict(zip([o.name for o in session.get_outputs()], session.run(None, inputs)))
    for name, value in ours.items():
        ref = theirs[name]
        rel = float(np.linalg.norm(value - ref) / max(np.linalg.norm(ref), 1e-30))
        print(f"   output {name} {list(value.shape)}: max |error| {float(np.abs(value - ref).max()):.3g}, "
              f"relative L2 {rel:.3g}")

    print("4. aotc bench --against onnxruntime (2 threads, separate processes, interleaved rounds) ...", flush=True)
    report = json.loads(aotc("bench", str(artifact_dir), "--against", "onnxruntime", "--model", str(model_path),
                             "--threads", "2", "--rounds", "5", "--json", capture=True))
    ort_row = report["peers"]["onnxruntime"]
    print(f"   aotc {report['aotc']['median_ms']:.2f} ms, onnxruntime {ort_row['median_ms']:.2f} ms "
          f"(aotc/onnxruntime = {ort_row['ratio']:.2f})")
    print(f"done: inspect the artifact with `.venv/bin/aotc inspect {artifact_dir}`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
