"""Issue 9's WebGPU tuning job on the GPU machine: tune a zoo model's contractions with `aotc tune
--target webgpu` on the adapter wgpu finds (the NVIDIA GPU through Vulkan there), then compile it
untuned and tuned, check both against onnxruntime on fresh random inputs, and time both (device
time of the dispatch lists, examples/bench_webgpu.py's method) against aotc's CUDA backend in the
same run. Run it through examples/run_webgpu_device.sh, which sets wgpu up:

    WEBGPU_SCRIPT=examples/tune_webgpu_model.py bash examples/run_webgpu_device.sh \\
        --model resnet18 --time-budget 150 --db webgpu.db --json $OUT/tune_webgpu.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402
from bench_webgpu import compile_options, cuda_seconds, webgpu_seconds, zoo_feeds  # noqa: E402
from tune_job import add_tuning_arguments, run_tuning  # noqa: E402


def main() -> int:
    import onnxruntime as ort

    import compiler
    from dataclasses import replace
    from autotune.measure import rel_l2
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18")
    add_tuning_arguments(parser, trials=300, time_budget=150, jobs=8)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--trials-timed", type=int, default=5)
    parser.add_argument("--cuda-target", default="cuda:sm_90")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    onnx_path = str(zoo.export(args.model, "torchscript"))
    report = {"model": args.model, "tuning_seconds": run_tuning(onnx_path, "webgpu", args)}
    session = ort.InferenceSession(onnx_path)
    feeds = zoo_feeds(session)
    want = session.run(None, feeds)
    rows = []
    for label, db in (("untuned", None), ("tuned", Path(args.db))):
        art = compiler.compile(onnx_path, target="webgpu", options=replace(compile_options(), tuning_db=db))
        got = art.run_list(**feeds)
        error = max(rel_l2(g, w) for g, w in zip(got, want))
        tuned = sum(1 for k in art.manifest["kernels"] if k.get("tuned"))
        seconds = webgpu_seconds(art, feeds, args.repeat, args.trials_timed)
        report[label] = {"webgpu_seconds": seconds, "rel_l2_vs_onnxruntime": error, "tuned_kernels": tuned,
                         "variants": art._model.chosen_configs()}
        rows.append((label, seconds, error, tuned))
        print(f"{label}: {seconds * 1e3:.3f} ms, rel. L2 {error:.1e}, {tuned} tuned kernels", file=sys.stderr, flush=True)
    try:
        cuda = compiler.compile(onnx_path, target=args.cuda_target, options=compile_options())
        report["cuda_seconds"] = cuda_seconds(cuda, feeds, args.repeat, args.trials_timed)
    except Exception as error:      # no GPU driver: the WebGPU numbers still stand
        report["cuda_error"] = f"{type(error).__name__}: {error}"[:500]
    print(f"{args.model} through WebGPU, tuned {report['tuning_seconds']:.0f} s ({args.strategy})\n")
    print("| build | WebGPU ms | rel. L2 vs onnxruntime | tuned kernels | WebGPU / aotc CUDA speed |")
    print("|---|---|---|---|---|")
    for label, seconds, error, tuned in rows:
        ratio = f"{report['cuda_seconds'] / seconds:.0%}" if "cuda_seconds" in report else "-"
        print(f"| {label} | {seconds * 1e3:.3f} | {error:.1e} | {tuned} | {ratio} |")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
