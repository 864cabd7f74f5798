"""Tune a zoo model with TVM's MetaSchedule for a wall-clock budget and record its curve:
tuning seconds -> end-to-end latency of the model built with the database as it stood then.

Needs TVM (`pip install aotc[peers]`; here the separate venv /work/venv-tvm):

    PYTHONPATH=. /work/venv-tvm/bin/python examples/tune_tvm.py [--model resnet18] [--budget 600]
        [--checkpoints 60,120,300,600] [--threads 2] [--work-dir DIR] [--json tvm_curve.json]

The tuner runs in a child process with TVM's defaults (evolutionary search, XGBoost cost
model, gradient task scheduler, 64 trials per iteration) and an unreachable trial count, and
is stopped at the budget: wall clock, not trials, is what the curve's x axis measures. At each
checkpoint the JSON database (appended to as records are measured) is snapshotted; after the
tuner stops, each snapshot (and the untuned model, at 0 s) is built, checked against
onnxruntime (relative L2) and timed, with nothing else of ours running. The last snapshot is
the database to bench with: `aotc bench --against tvm --tvm-database WORK_DIR/at-600s`.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402

DATABASE_FILES = ("database_tuning_record.json", "database_workload.json")   # records first: see snapshot()
UNREACHABLE_TRIALS = 1_000_000
MEASURE_SECONDS = 30     # per point, beyond the first 3 runs


def snapshot(work_dir: Path, into: Path) -> int:
    """Copy the database as it stands; returns its record count. Records are copied before
    workloads (a record's workload is written before it, so every copied record finds its
    own), and a line still being written is cut off."""
    into.mkdir(parents=True)
    for name in DATABASE_FILES:
        source = work_dir / name
        data = source.read_bytes() if source.exists() else b""
        (into / name).write_bytes(data[:data.rfind(b"\n") + 1])
    return (into / DATABASE_FILES[0]).read_bytes().count(b"\n")


def stop(process: subprocess.Popen) -> None:
    """The tuner and its builder/runner pools (its own process group), SIGTERM then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


def tune_for(model: Path, threads: int, work_dir: Path, budget: float, checkpoints: list[float],
             trials_per_iter: int) -> list[dict]:
    """Runs the tuner for `budget` seconds, snapshotting at each checkpoint."""
    command = [sys.executable, __file__, "--tune-child", str(model), "--threads", str(threads),
               "--work-dir", str(work_dir / "tuning"), "--trials-per-iter", str(trials_per_iter)]
    log = open(work_dir / "tuner.log", "w", encoding="utf-8")
    start = time.monotonic()
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    points = []
    try:
        for checkpoint in sorted(c for c in checkpoints if c <= budget):
            time.sleep(max(0.0, start + checkpoint - time.monotonic()))
            seconds = time.monotonic() - start
            records = snapshot(work_dir / "tuning", work_dir / f"at-{checkpoint:g}s")
            points.append({"seconds": round(seconds, 1), "records": records,
                           "database": str(work_dir / f"at-{checkpoint:g}s"), "tuner_exit_code": process.poll()})
            print(f"tune_tvm: {seconds:.0f} s, {records} records", file=sys.stderr, flush=True)
    finally:
        stop(process)
        log.close()
    return points


def measure(model: Path, threads: int, database: str | None, runs: int) -> dict:
    import numpy as np
    import onnxruntime as ort
    from compiler.bench.contenders import first_output
    from compiler.bench.tvm_peer import tvm_contender
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    feeds = {i.name: (rng.integers(1, 100, i.shape).astype(np.int64) if "int64" in i.type else
                      (rng.standard_normal(i.shape) + 0.1).astype(np.float32)) for i in session.get_inputs()}
    run = tvm_contender(model, threads, feeds, database)
    actual, expected = first_output(run()).astype(np.float64), session.run(None, feeds)[0].astype(np.float64)
    error = float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))
    for _ in range(2):
        run()
    times: list[float] = []
    deadline = time.perf_counter() + MEASURE_SECONDS
    while len(times) < runs and (len(times) < 3 or time.perf_counter() < deadline):   # slow builds: fewer runs
        begin = time.perf_counter()
        run()
        times.append((time.perf_counter() - begin) * 1e3)
    return {"latency_ms": statistics.median(times), "runs": len(times), "rel_l2_vs_onnxruntime": error}


def child(args) -> int:
    from compiler.bench.tvm_peer import tune
    tune(Path(args.tune_child), args.threads, Path(args.work_dir), UNREACHABLE_TRIALS,
         trials_per_iter=args.trials_per_iter, seed=0)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet18", choices=zoo.MODELS)
    parser.add_argument("--budget", type=float, default=600, help="tuning wall-clock seconds (default 600)")
    parser.add_argument("--checkpoints", default="60,120,300,600", help="seconds; the budget is always one")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trials-per-iter", type=int, default=64, help="MetaSchedule's num_trials_per_iter")
    parser.add_argument("--runs", type=int, default=20, help="timed runs per checkpoint build (median)")
    parser.add_argument("--work-dir", help="keep the tuning database and snapshots here (default: a temp dir)")
    parser.add_argument("--json", help="write the curve here (default: stdout)")
    parser.add_argument("--tune-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.tune_child:
        return child(args)
    from compiler.bench.tvm_peer import host_target, import_tvm
    tvm, _ = import_tvm()
    model = zoo.export(args.model, "torchscript")
    checkpoints = sorted({float(c) for c in args.checkpoints.split(",")} | {args.budget})
    work_dir = Path(args.work_dir or tempfile.mkdtemp(prefix="tune-tvm-"))
    if work_dir.exists() and any(work_dir.iterdir()):
        sys.exit(f"tune_tvm: --work-dir {work_dir} is not empty (a curve starts from an empty database)")
    work_dir.mkdir(parents=True, exist_ok=True)
    points = tune_for(model, args.threads, work_dir, args.budget, checkpoints, args.trials_per_iter)
    untuned = measure(model, args.threads, None, args.runs)
    curve = [{"seconds": 0.0, "records": 0, **untuned}]
    print(f"tune_tvm: untuned {untuned['latency_ms']:.1f} ms", file=sys.stderr, flush=True)
    for point in points:   # an empty snapshot builds the untuned model: measured once, above
        curve.append({**point, **(measure(model, args.threads, point["database"], args.runs)
                                  if point["records"] else untuned)})
        print(f"tune_tvm: {point['seconds']:.0f} s -> {curve[-1]['latency_ms']:.2f} ms "
              f"(rel. L2 {curve[-1]['rel_l2_vs_onnxruntime']:.1e})", file=sys.stderr, flush=True)
    report = {"tool": f"TVM {tvm.__version__} MetaSchedule", "model": args.model, "onnx": str(model),
              "threads": args.threads, "budget_s": args.budget, "trials_per_iter": args.trials_per_iter,
              "target": str(host_target(args.threads)),
              "work_dir": str(work_dir), "curve": curve}
    text = json.dumps(report, indent=1)
    if args.json:
        Path(args.json).write_text(text)
    else:
        print(text)
    shutil.rmtree(work_dir / "tuning" / "logs", ignore_errors=True)   # per-task logs: large, not needed
    return 0


if __name__ == "__main__":
    sys.exit(main())
