"""`aotc inspect` for FPGA artifacts: the estimator's table (DIR/hls/estimate.json), per layer
or engine step, with totals as a share of the part."""
from __future__ import annotations

import json
from pathlib import Path

RESOURCES = ("dsp", "bram", "lut", "ff")


def read_estimate(directory: Path) -> dict | None:
    path = Path(directory) / "hls" / "estimate.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def format_estimate(estimate: dict) -> str:
    lines = [f"FPGA design ({estimate['style']}) for {estimate['part']} at {estimate['mhz']} MHz; estimated:",
             f"{'layer':<40} {'op':<18} {'config':<22} {'cycles':>10} {'DSP':>6} {'BRAM18K':>8} {'LUT':>8} {'FF':>8}"]
    for row in estimate["layers"]:
        config = ",".join(f"{k}={v}" for k, v in sorted(row["config"].items()))
        lines.append(f"{row['layer'][:40]:<40} {row['op'][:18]:<18} {config:<22} {row['cycles']:>10,} "
                     f"{row['dsp']:>6,} {row['bram']:>8,} {row['lut']:>8,} {row['ff']:>8,}")
    total, limits = estimate["total"], estimate["limits"]
    lines.append(f"{'total':<40} {'':<18} {'':<22} {estimate['latency_cycles']:>10,} " +
                 " ".join(f"{total[k]:>{w},}" for k, w in zip(RESOURCES, (6, 8, 8, 8))))
    lines.append("share of the part: " + ", ".join(
        f"{k.upper()} {total[k]:,}/{limits[k]:,} ({100 * total[k] / limits[k]:.1f}%)" for k in RESOURCES))
    peak = estimate["dsp_roofline_macs_per_second"]
    lines.append(f"throughput: {estimate['samples_per_second']:,} samples/s (one every {estimate['interval_cycles']:,} "
                 f"cycles); {estimate['macs_per_second'] / 1e9:.2f} GMAC/s of a {peak / 1e9:.1f} GMAC/s DSP roofline "
                 f"({100 * estimate['macs_per_second'] / peak:.1f}%)")
    return "\n".join(lines)
