"""Latency against tuning time, aotc beside TVM's MetaSchedule: the README's table, a text plot,
and the bar's check (aotc tuned is faster than TVM tuned, with at most a fifth of its time).

    python examples/tune_curve.py --tvm tvm_curve.json --aotc aotc_curve.json

--tvm: examples/tune_tvm.py's JSON. --aotc: a JSON list of {"seconds", "latency_ms"} (or an
object holding one as "curve"), e.g. from `aotc tune`'s timestamped records. Each curve is
read as best-so-far: at time t, the lowest latency measured at or before t.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

BAR_WIDTH = 40


def load_curve(path: str) -> list[tuple[float, float]]:
    data = json.loads(Path(path).read_text())
    points = data["curve"] if isinstance(data, dict) else data
    try:
        curve = sorted((float(p["seconds"]), float(p["latency_ms"])) for p in points)
    except (KeyError, TypeError, ValueError) as error:
        sys.exit(f"tune_curve: {path}: expected a list of {{seconds, latency_ms}} ({error})")
    if not curve:
        sys.exit(f"tune_curve: {path}: the curve is empty")
    return curve


def best_at(curve: list[tuple[float, float]], seconds: float) -> float | None:
    """The lowest latency measured at or before `seconds`; None before the first point."""
    seen = [latency for at, latency in curve if at <= seconds + 1e-9]
    return min(seen) if seen else None


def bar(latency: float | None, low: float, high: float) -> str:
    """A log-scale bar: lower latency, shorter bar (so the curves fall as tuning goes on)."""
    if latency is None:
        return ""
    span = math.log(high / low) or 1.0
    return "█" * max(1, round(BAR_WIDTH * (0.1 + 0.9 * math.log(latency / low) / span)))


def report(tvm: list[tuple[float, float]], aotc: list[tuple[float, float]]) -> str:
    times = sorted({t for t, _ in tvm} | {t for t, _ in aotc})
    rows = [(t, best_at(tvm, t), best_at(aotc, t)) for t in times]
    values = [v for _, a, b in rows for v in (a, b) if v is not None]
    low, high = min(values), max(values)
    fmt = (lambda v: "-" if v is None else f"{v:.2f}")
    lines = ["| tuning s | TVM MetaSchedule ms | aotc ms |", "|---|---|---|"]
    lines += [f"| {t:.0f} | {fmt(a)} | {fmt(b)} |" for t, a, b in rows]
    lines += ["", f"log-scale bars, {low:.2f} to {high:.2f} ms (shorter is faster):", "```"]
    for t, a, b in rows:
        lines.append(f"{t:7.0f} s  TVM  {bar(a, low, high):<{BAR_WIDTH + 4}} {fmt(a)}")
        lines.append(f"{'':9}  aotc {bar(b, low, high):<{BAR_WIDTH + 4}} {fmt(b)}")
    lines.append("```")
    tvm_time, tvm_latency = tvm[-1][0], best_at(tvm, tvm[-1][0])
    fifth = tvm_time / 5
    aotc_at_fifth = best_at(aotc, fifth)
    first_faster = next((t for t, v in aotc if v < tvm_latency), None)
    verdict = ("met" if aotc_at_fifth is not None and aotc_at_fifth < tvm_latency else "not met")
    lines += ["", f"TVM after {tvm_time:.0f} s: {tvm_latency:.2f} ms. aotc by {fifth:.0f} s (a fifth of that): "
              f"{fmt(aotc_at_fifth)} ms; first below TVM's at "
              f"{'never' if first_faster is None else f'{first_faster:.0f} s'}. Bar: {verdict}."]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tvm", required=True, help="examples/tune_tvm.py's JSON")
    parser.add_argument("--aotc", required=True, help="a JSON list of {seconds, latency_ms}")
    args = parser.parse_args()
    print(report(load_curve(args.tvm), load_curve(args.aotc)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
