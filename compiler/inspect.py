"""`aotc inspect`: what an artifact contains, from its manifest alone (nothing is executed)."""
from __future__ import annotations

from compiler.artifact import describe_shape, signature_types


def inspect_report(manifest: dict) -> dict:
    memory = manifest["plan"]["memory"]
    regions = memory["regions"]
    static = [r for r in regions if not r["symbols"]]
    kernels = manifest["kernels"]
    calls = manifest["plan"]["calls"]
    per_kernel_calls: dict[str, int] = {}
    for call in calls:
        per_kernel_calls[call["kernel"]] = per_kernel_calls.get(call["kernel"], 0) + 1
    rows = []
    for k in kernels:
        count = per_kernel_calls.get(k["name"], 0)
        rows.append({"name": k["name"], "ops": k["ops"], "calls": count, "nodes": len(k["nodes"]),
                     "flops": k["flops"], "bytes": k["bytes"],
                     "intensity": round(k["flops"] / k["bytes"], 3) if k["bytes"] else 0.0,
                     "config": k["config"], **({"tuned": k["tuned"]} if "tuned" in k else {})})
    return {
        "model": manifest["model"]["name"],
        "target": manifest["target"]["name"],
        "inputs": [{"name": n, "type": describe_shape(t)} for n, t in signature_types(manifest, "inputs")],
        "outputs": [{"name": n, "type": describe_shape(t)} for n, t in signature_types(manifest, "outputs")],
        "graph_nodes": sum(len(c["nodes"]) for c in calls),
        "source_nodes": manifest["model"].get("source_nodes"),
        "kernel_calls": len(calls),
        "unique_kernels": len(kernels),
        "kernels": rows,
        "total_flops": sum(k["flops"] * per_kernel_calls.get(k["name"], 0) for k in kernels),
        "total_bytes": sum(k["bytes"] * per_kernel_calls.get(k["name"], 0) for k in kernels),
        "planner": memory["planner"],
        "arena_bytes": sum(r["bytes"] for r in static),
        "lower_bound": sum(r["lower_bound"] for r in static),
        "no_reuse_bytes": sum(r["no_reuse"] for r in static),
        "symbolic_regions": [r for r in regions if r["symbols"]],
        "weights_bytes": sum(w["bytes"] for w in manifest["plan"]["weights"].values()),
        "notes": memory["notes"],
    }


def _human(n: float) -> str:
    for unit in ("", "K", "M", "G", "T"):
        if abs(n) < 1000:
            return f"{n:.3g}{unit}"
        n /= 1000
    return f"{n:.3g}P"


def _tuned(row: dict) -> str:
    """A tuned kernel: its record's time, and the gain over the default config as measured."""
    tuned = row.get("tuned")
    if not tuned:
        return ""
    gain = f" (x{tuned['default_seconds'] / tuned['seconds']:.2f} over default)" if tuned.get("default_seconds") else ""
    return f"  tuned {tuned['seconds'] * 1e3:.3f} ms{gain}"


def format_report(report: dict) -> str:
    lines = [f"model {report['model']} for {report['target']}",
             "inputs:  " + ", ".join(f"{i['name']}: {i['type']}" for i in report["inputs"]),
             "outputs: " + ", ".join(f"{o['name']}: {o['type']}" for o in report["outputs"]),
             f"kernels: {report['unique_kernels']} unique, {report['kernel_calls']} calls for "
             f"{report['graph_nodes']} graph nodes ({report['source_nodes']} nodes in the source model); "
             f"{_human(report['total_flops'])}FLOP, {_human(report['total_bytes'])}B moved",
             "",
             f"{'kernel':<34} {'ops':<22} {'calls':>5} {'FLOP':>8} {'bytes':>8} {'FLOP/B':>7}"]
    for row in sorted(report["kernels"], key=lambda r: -r["flops"] * r["calls"]):
        lines.append(f"{row['name']:<34} {','.join(row['ops']):<22} {row['calls']:>5} "
                     f"{_human(row['flops']):>8} {_human(row['bytes']):>8} {row['intensity']:>7.2f}{_tuned(row)}")
    gap = report["arena_bytes"] / report["lower_bound"] if report["lower_bound"] else 1.0
    lines += ["", f"memory plan ({report['planner']}): arena {report['arena_bytes']:,} B, "
              f"lower bound {report['lower_bound']:,} B (x{gap:.3f}), no reuse {report['no_reuse_bytes']:,} B; "
              f"weights {report['weights_bytes']:,} B"]
    for region in report["symbolic_regions"]:
        lines.append(f"  region per {'*'.join(region['symbols'])}: {region['bytes']:,} B "
                     f"(lower bound {region['lower_bound']:,} B)")
    lines += [f"note: {n}" for n in report["notes"]]
    return "\n".join(lines)
