"""Issue 9's search-efficiency bar, computed offline from recorded measurements of whole spaces:
the cost-model strategy reaches 95% of random search's final best in a third of the trials or fewer.

    .venv/bin/python examples/search_efficiency.py SPACE.jsonl [MORE.jsonl...] [--trials 300]
        [--seeds 5] [--batch 8] [--strategies model,evolutionary,random] [--min-configs 1000]
        [--json out.json]
    .venv/bin/python examples/search_efficiency.py --synthetic [--seeds 24]   # no records needed

--synthetic runs the same protocol on a synthetic 24,000-config GEMM-like space (six knobs, a
cost with cache and register interactions, 3% noise, 40% failing configs; the tests use it too)
searched with its knob structure, i.e. as the tuner searches a real space.

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
import hashlib
import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from autotune.search import STRATEGIES, Evaluate, run_search
from compiler.ir.config import ConfigSpace, KernelConfig, Param, Unroll

SPEED_FRACTION = 0.95


@dataclass(frozen=True)
class Replayable:
    """A space whose every config's time is known: what the protocol runs strategies on."""
    space: ConfigSpace
    evaluate: Evaluate
    info: dict                               # reported with the results


@dataclass(frozen=True)
class RecordedSpace:
    key: tuple[str, str, str, str]           # kernel_hash, backend, target, codegen
    configs: tuple[KernelConfig, ...]        # in the order first recorded
    seconds: tuple[float | None, ...]

    def replayable(self) -> Replayable:
        lookup = dict(zip(self.configs, self.seconds))
        ok = [s for s in self.seconds if s is not None]
        kernel_hash, backend, target, codegen = self.key
        return Replayable(ConfigSpace((("config", self.configs),)),
                          lambda configs: [lookup[c] for c in configs],
                          {"kernel_hash": kernel_hash, "backend": backend, "target": target, "codegen": codegen,
                           "configs": len(self.configs), "failures": len(self.seconds) - len(ok),
                           "default_seconds": self.seconds[0], "best_seconds": min(ok) if ok else None})


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


SYNTHETIC_BLOCKS = [(mr, nr) for mr in (4, 6, 8, 12, 16) for nr in (8, 16, 24, 32)]


def synthetic_gemm_space() -> ConfigSpace:
    """24,000 configs: register block, MC, KC, NC, split and unroll, default first."""
    return ConfigSpace((
        ("block", tuple(KernelConfig((Param("MR", mr), Param("NR", nr))) for mr, nr in SYNTHETIC_BLOCKS)),
        ("mc", tuple(KernelConfig((Param("MC", v),)) for v in (32, 64, 96, 128, 192, 256))),
        ("kc", tuple(KernelConfig((Param("KC", v),)) for v in (64, 128, 256, 384, 512))),
        ("nc", tuple(KernelConfig((Param("NC", v),)) for v in (256, 512, 1024, 2048, 4096))),
        ("split", (KernelConfig((Param("SPLIT_N", 0),)), KernelConfig((Param("SPLIT_N", 1),)))),
        ("unroll", tuple(KernelConfig((Unroll("k", f),)) if f > 1 else KernelConfig() for f in (1, 2, 4, 8))),
    ))


def synthetic_gemm_seconds(config: KernelConfig, noise: float = 0.03) -> float | None:
    """A roofline-flavoured cost with interactions, fixed noise per config, and failing regions
    (register blocks that spill, MC not a multiple of MR)."""
    mr, nr, mc = config.param("MR", 0), config.param("NR", 0), config.param("MC", 0)
    kc, nc, split = config.param("KC", 0), config.param("NC", 0), config.param("SPLIT_N", 0)
    unroll = next((r.factor for r in config.records if isinstance(r, Unroll)), 1)
    if mr * nr > 256 or mc % mr:
        return None
    log_t = 0.8 * (math.log(mr * nr) - math.log(192)) ** 2          # register tile efficiency
    log_t += 1.2 * max(0.0, math.log(mc * kc * 4 / 262144))          # A block beyond L2
    log_t += 1.5 * max(0.0, math.log(kc * nr * 4 / 32768))           # B micro-panel beyond L1
    log_t += 0.6 * max(0.0, math.log(nc * kc * 4 / 2 ** 21))          # B block beyond L3 share
    log_t += 0.3 * abs(math.log2(kc / 256)) / 2                       # short K loops pay overhead
    log_t += (-0.15 if nc >= 1024 else 0.2) * split                   # splitting N helps wide blocks
    log_t += 0.05 * abs(math.log2(unroll) - 2) + (0.3 if unroll == 8 and mr >= 12 else 0.0)
    rng = np.random.default_rng(int.from_bytes(hashlib.sha256(config.dumps().encode()).digest()[:4], "little"))
    return 1e-3 * math.exp(log_t + noise * rng.standard_normal())


def synthetic_replayable() -> Replayable:
    space = synthetic_gemm_space()
    times = [synthetic_gemm_seconds(space.config_at(i)) for i in range(space.size())]
    ok = [t for t in times if t is not None]
    return Replayable(space, lambda configs: [synthetic_gemm_seconds(c) for c in configs],
                      {"kernel_hash": "synthetic-gemm", "backend": "synthetic", "target": "-", "codegen": "-",
                       "configs": len(times), "failures": len(times) - len(ok), "default_seconds": times[0],
                       "best_seconds": min(ok)})


def trials_to_target(seconds: list[float | None], target: float) -> int | None:
    for position, value in enumerate(seconds, 1):
        if value is not None and value <= target:
            return position
    return None


def run_until(strategy: str, space: Replayable, trials: int, seed: int, batch: int,
              target: float | None) -> list[float | None]:
    """The strategy's timings in measurement order; stops early once `target` is met."""
    found = [False]

    def on_batch(batch_trials):
        found[0] |= target is not None and any(t.seconds is not None and t.seconds <= target
                                               for t in batch_trials)
    result = run_search(strategy, space.space, space.evaluate, trials, seed=seed, batch=batch,
                        on_batch=on_batch, should_stop=lambda: found[0])
    return [t.seconds for t in result.trials]


def evaluate_space(space: Replayable, *, trials: int, seeds: int, batch: int,
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
    default = space.info["default_seconds"]
    return {**space.info, "trials": trials, "random_best_median": reference, "target_seconds": target,
            "default_meets_target": default is not None and default <= target,
            "runs": runs, "summary": summary,
            "bar_met": "model" in summary and summary["model"]["median_trials"] <= trials / 3}


def markdown(result: dict, strategies: list[str]) -> str:
    trials = result["trials"]
    fmt = lambda n: f">{trials}" if n is None or n == float("inf") else f"{n:g}"   # noqa: E731
    lines = [f"### {result['kernel_hash'][:14]} ({result['backend']}, {result['configs']} configs, "
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
    parser.add_argument("records", nargs="*", type=Path)
    parser.add_argument("--synthetic", action="store_true", help="also run on the synthetic GEMM-like space")
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
    if not args.records and not args.synthetic:
        parser.error("give tuning-record files or --synthetic")
    for path in args.records:
        if not path.is_file():
            parser.error(f"no records file {path}")
    spaces, skipped = [synthetic_replayable()] if args.synthetic else [], []
    for recorded in load_spaces(args.records):
        if len(recorded.configs) < args.min_configs:
            skipped.append(f"{recorded.key[0][:12]}: {len(recorded.configs)} configs < --min-configs {args.min_configs}")
        else:
            spaces.append(recorded.replayable())
    results = []
    for space in spaces:
        trials = args.trials or min(300, space.info["configs"] // 3)
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
