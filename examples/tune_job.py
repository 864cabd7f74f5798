"""The tuning step the GPU-machine scripts share (tune_gpu_model.py, tune_webgpu_model.py): the
`aotc tune` options they expose, and running the job in a child process, timed."""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path


def add_tuning_arguments(parser: argparse.ArgumentParser, *, trials: int, time_budget: float, jobs: int,
                         jobs_help: str = "parallel candidate builds") -> None:
    parser.add_argument("--db", required=True)
    parser.add_argument("--trials", type=int, default=trials)
    parser.add_argument("--time-budget", type=float, default=time_budget)
    parser.add_argument("--jobs", type=int, default=jobs, help=jobs_help)
    parser.add_argument("--strategy", default="model")


def run_tuning(model: Path | str, target: str, args: argparse.Namespace) -> float:
    """`aotc tune MODEL --target TARGET` with the parsed options; seconds it took."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "compiler.cli", "tune", str(model), "--target", target, "--db", args.db,
                    "--trials", str(args.trials), "--time-budget", str(args.time_budget), "--jobs", str(args.jobs),
                    "--strategy", args.strategy], check=True)
    return time.perf_counter() - started
