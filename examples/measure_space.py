"""Measure every config of one kernel's config space and write tuning records (JSON lines,
the format of `aotc tune --export`): the data the offline search-efficiency comparison
(examples/search_efficiency.py) replays strategies on.

    python examples/measure_space.py MODEL.onnx --list                  # the model's tasks
    python examples/measure_space.py MODEL.onnx --task 3 --fix nc=0 --fix split=0 \\
        --threads 1 --out conv3x3.jsonl

--fix KNOB=I keeps knob KNOB at its I-th choice (0: the default), shrinking the space to the
product of the other knobs. The output is appended to as configs are measured, and a rerun
skips the configs already there, so an interrupted run resumes.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import tempfile
import time
from pathlib import Path

from compiler.api import _import, default_options
from compiler.ir.config import ConfigSpace
from compiler.pipeline import lower_graph
from compiler.target import resolve_target
from compiler.tuning import build_candidate, measure_command
from autotune.database import TuningRecord
from autotune.measure import LocalRunner, RunnerSettings
from autotune.space import extract_tasks, tuning_key


def restricted(space: ConfigSpace, fixes: dict[str, int]) -> ConfigSpace:
    names = [name for name, _ in space.knobs]
    for name, pick in fixes.items():
        if name not in names:
            sys.exit(f"measure_space: no knob '{name}' (knobs: {', '.join(names)})")
    return ConfigSpace(tuple((name, (choices[fixes[name]],) if name in fixes else choices)
                             for name, choices in space.knobs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model")
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--list", action="store_true", help="print the tasks and exit")
    parser.add_argument("--task", type=int, default=0, help="index in --list's order")
    parser.add_argument("--fix", action="append", default=[], metavar="KNOB=I")
    parser.add_argument("--out", help="JSON-lines file to append records to")
    parser.add_argument("--threads", type=int, default=None, help="CPU timing threads (default: all cores)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2, help="parallel builds")
    parser.add_argument("--limit", type=int, default=None, help="measure at most this many configs (a trial run)")
    args = parser.parse_args()

    options = default_options()
    lowered = lower_graph(_import(args.model, None).graph, resolve_target(args.target), options)
    tasks = extract_tasks(lowered.program, lowered.backend, lowered.target)
    if args.list or not args.out:
        for i, task in enumerate(tasks):
            spec = task.kernel.contraction
            shape = f" m={spec.m} n={spec.n} k={spec.k}" if spec is not None else ""
            print(f"{i:3d} {task.name:<22} calls={task.weight} space={task.space.size():>6} "
                  f"knobs={','.join(f'{n}:{len(c)}' for n, c in task.space.knobs)} {','.join(task.kernel.ops)}{shape}")
        return 0
    task = tasks[args.task]
    fixes = {name: int(pick) for name, _, pick in (f.partition("=") for f in args.fix)}
    space = restricted(task.space, fixes)
    key = tuning_key(lowered.backend, lowered.target, task.kernel_hash)
    out = Path(args.out)
    done = set()
    if out.is_file():
        done = {json.dumps(json.loads(line)["config"], sort_keys=True) for line in out.read_text().splitlines() if line.strip()}
    todo = [i for i in range(space.size())
            if json.dumps(space.config_at(i).to_json(), sort_keys=True) not in done][:args.limit]
    print(f"{task.name}: {space.size()} configs, {len(todo)} to measure -> {out}", file=sys.stderr)
    settings = RunnerSettings(repeats=args.repeats, build_workers=args.jobs, threads=args.threads)
    build = functools.partial(build_candidate, target=lowered.target, options=options)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="aotc-space-") as tmp, out.open("a", encoding="utf-8") as sink:
        runner = LocalRunner(build, measure_command(), Path(tmp), settings)

        def record(config, m) -> None:
            sink.write(TuningRecord(key, config, m.seconds, m.error, m.runs, time.time()).line() + "\n")
            sink.flush()
        try:
            for at in range(0, len(todo), args.batch):
                configs = [space.config_at(i) for i in todo[at:at + args.batch]]
                runner.measure(task, configs, on_result=record)
                done_now = min(at + args.batch, len(todo))
                rate = done_now / max(time.monotonic() - start, 1e-9) * 60
                print(f"{done_now}/{len(todo)} measured, {rate:.1f} configs/min", file=sys.stderr, flush=True)
        finally:
            runner.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
