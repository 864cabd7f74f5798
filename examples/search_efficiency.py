"""Issue 9's search-efficiency bar, computed offline from recorded measurements of whole spaces:
the cost-model strategy reaches 95% of random search's final best in a third of the trials or fewer.

    .venv/bin/python examples/search_efficiency.py SPACE.jsonl [MORE.jsonl...] [--trials 300]
        [--seeds 5] [--batch 8] [--strategies model,evolutionary,random] [--min-configs 1000]
        [--json out.json]

Input: tuning-record JSON lines (`aotc tune --export`, examples/measure_space.py), holding the
measurements of whole config spaces. Records are grouped into spaces by (kernel_hash, backend,
target, codegen); a space needs at least --min-configs distinct configs (else it is skipped with
a note). A config measured more than once gets the median of its successful times (a failure
when none succeeded).

The replayed space is the set of recorded configs, in the order first recorded (measure_space
writes a space in index order, so the first is the default config): a ConfigSpace of one knob
whose choices are those configs. Strategies only see configs through the cost model's features,
so the model ranks exactly what it would online; breeding (mutations of a knob's choice) has no
knob structure to follow here, so on a flat universe it is a random draw: this handicaps the
evolutionary strategy, and the model's candidate pool once more than 768 configs are unmeasured
(below that the model ranks every unmeasured config).

Protocol, per space, with seeds 0..S-1 and T = --trials (default min(300, configs // 3)):
1. Random search runs T trials per seed; the reference R is the median over seeds of its best.
2. The target is 95% of R's speed: seconds <= R / 0.95.
3. Each strategy runs per seed (up to T trials, batch --batch, no analytic prior: the records
   carry none); its trials-to-target is the 1-based position of the first trial that meets the
   target, counting the default config measured first; '>T' when it never does.
4. The bar holds for a space when the median over seeds of the model strategy's trials-to-target
   is at most T / 3. The table also counts the seeds that meet T / 3 on their own, and says when
   the default config alone meets the target (a space too flat to tell strategies apart).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

from autotune.search import STRATEGIES, run_search
from compiler.ir.config import ConfigSpace, KernelConfig

SPEED_FRACTION = 0.95


@dataclass(frozen=True)
class RecordedSpace:
    key: tuple[str, str, str, str]           # kernel_hash, backend, target, codegen
    configs: tuple[KernelConfig, ...]        # in the order first recorded
    seconds: tuple[float | None, ...]

    def space(self) -> ConfigSpace:
        return ConfigSpace((("config", self.configs),))


def load_spaces(paths: list[Path]) -> list[RecordedSpace]:
    grouped: dict[tuple, dict[str, list]] = {}
    parsed: dict[str, KernelConfig] = {}
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                key = (record["kernel_hash"], record["backend"], record["target"], record["codegen"])
                text = json.dumps(record["config"], sort_keys=True)
                if text not in parsed:
                    parsed[text] = KernelConfig.from_json(record["config"])
                seconds = record["seconds"]
            except (ValueError, KeyError, TypeError) as error:
                raise SystemExit(f"search_efficiency: {path}:{number}: not a tuning record ({error})")
            grouped.setdefault(key, {}).setdefault(text, []).append(seconds)
    spaces = []
    for key, by_config in grouped.items():
        times = []
        for values in by_config.values():
            ok = [float(v) for v in values if v is not None]
            times.append(statistics.median(ok) if ok else None)
        spaces.append(RecordedSpace(key, tuple(parsed[t] for t in by_config), tuple(times)))
    return spaces


def replay(space: RecordedSpace):
    """evaluate(configs) answering from the records."""
    lookup = dict(zip(space.configs, space.seconds))
    return lambda configs: [lookup[c] for c in configs]


def trials_to_target(seconds: list[float | None], target: float) -> int | None:
    for position, value in enumerate(seconds, 1):
        if value is not None and value <= target:
            return position
    return None


def run_until(strategy: str, space: RecordedSpace, trials: int, seed: int, batch: int,
              target: float | None) -> list[float | None]:
    """The strategy's timings in measurement order; stops early once `target` is met."""
    found = [False]

    def on_batch(batch_trials):
        found[0] |= target is not None and any(t.seconds is not None and t.seconds <= target
                                               for t in batch_trials)
    result = run_search(strategy, space.space(), replay(space), trials, seed=seed, batch=batch,
                        on_batch=on_batch, should_stop=lambda: found[0])
    return [t.seconds for t in result.trials]


def evaluate_space(space: RecordedSpace, *, trials: int, seeds: int, batch: int,
                   strategies: list[str]) -> dict:
    random_best = []
    for seed in range(seeds):
        ok = [s for s in run_until("random", space, trials, seed, batch, None) if s is not None]
        random_best.append(min(ok) if ok else float("inf"))
    reference = statistics.median(random_best)
    target = reference / SPEED_FRACTION
    runs = []
    for seed in range(seeds):
        row = {"seed": seed, "random_best": random_best[seed]}
        for strategy in strategies:
            row[strategy] = trials_to_target(run_until(strategy, space, trials, seed, batch, target), target)
        runs.append(row)
    summary = {}
    for strategy in strategies:
        counts = [r[strategy] for r in runs]
        as_numbers = [c if c is not None else float("inf") for c in counts]
        summary[strategy] = {"median_trials": statistics.median(as_numbers),
                             "seeds_within_third": sum(c <= trials / 3 for c in as_numbers)}
    ok = [s for s in space.seconds if s is not None]
    kernel_hash, backend, target_name, codegen = space.key
    return {"kernel_hash": kernel_hash, "backend": backend, "target": target_name, "codegen": codegen,
            "configs": len(space.configs), "failures": len(space.seconds) - len(ok),
            "default_seconds": space.seconds[0], "best_seconds": min(ok) if ok else None,
            "trials": trials, "random_best_median": reference, "target_seconds": target,
            "default_meets_target": space.seconds[0] is not None and space.seconds[0] <= target,
            "runs": runs, "summary": summary,
            "bar_met": "model" in summary and summary["model"]["median_trials"] <= trials / 3}


def markdown(result: dict, strategies: list[str]) -> str:
    trials = result["trials"]
    fmt = lambda n: f">{trials}" if n is None or n == float("inf") else f"{n:g}"   # noqa: E731
    lines = [f"### {result['kernel_hash'][:12]} ({result['backend']}, {result['configs']} configs, "
             f"{result['failures']} failed; default {seconds_text(result['default_seconds'])}, "
             f"best {seconds_text(result['best_seconds'])})",
             "",
             f"T = {trials}; random's median best after T: {seconds_text(result['random_best_median'])}; "
             f"target <= {seconds_text(result['target_seconds'])}; bar: model's median <= {trials / 3:.0f} trials",
             "",
             "| seed | random best | " + " | ".join(f"{s} trials to target" for s in strategies) + " |",
             "|---:|---:|" + "---:|" * len(strategies)]
    for run in result["runs"]:
        lines.append(f"| {run['seed']} | {seconds_text(run['random_best'])} | "
                     + " | ".join(fmt(run[s]) for s in strategies) + " |")
    lines.append("| median | | " + " | ".join(fmt(result["summary"][s]["median_trials"]) for s in strategies) + " |")
    lines.append("| seeds <= T/3 | | " + " | ".join(str(result["summary"][s]["seeds_within_third"])
                                                   for s in strategies) + " |")
    lines.append("")
    trivial = " (trivially: the default config already meets the target)" if result["default_meets_target"] else ""
    lines.append(f"bar {'met' if result['bar_met'] else 'NOT met'}{trivial}")
    return "\n".join(lines)


def seconds_text(value: float | None) -> str:
    if value is None or value == float("inf"):
        return "-"
    return f"{value * 1e3:.4f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("records", nargs="+", type=Path)
    parser.add_argument("--trials", type=int, default=None, help="T (default: min(300, configs // 3))")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--strategies", default="model,evolutionary,random")
    parser.add_argument("--min-configs", type=int, default=1000)
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    strategies = [s for s in args.strategies.split(",") if s]
    unknown = [s for s in strategies if s not in STRATEGIES]
    if unknown:
        parser.error(f"unknown strategy '{unknown[0]}'; choose from {', '.join(STRATEGIES)}")
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    for path in args.records:
        if not path.is_file():
            parser.error(f"no records file {path}")
    results, skipped = [], []
    for space in load_spaces(args.records):
        if len(space.configs) < args.min_configs:
            skipped.append(f"{space.key[0][:12]}: {len(space.configs)} configs < --min-configs {args.min_configs}")
            continue
        trials = args.trials or min(300, len(space.configs) // 3)
        result = evaluate_space(space, trials=trials, seeds=args.seeds, batch=args.batch, strategies=strategies)
        results.append(result)
        print(markdown(result, strategies), end="\n\n", flush=True)
    for note in skipped:
        print(f"skipped {note}", file=sys.stderr)
    if results:
        met = sum(r["bar_met"] for r in results)
        print(f"summary: bar met on {met} of {len(results)} spaces")
    if args.json:
        args.json.write_text(json.dumps({"protocol": {"seeds": args.seeds, "batch": args.batch,
                                                      "speed_fraction": SPEED_FRACTION,
                                                      "strategies": strategies},
                                         "spaces": results, "skipped": skipped}, indent=1) + "\n")
    if not results:
        print("search_efficiency: no space with enough configs", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
