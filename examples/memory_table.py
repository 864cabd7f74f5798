"""The memory table: for each graph, the schedule pass's peak against the original node order,
then (on the scheduled program, as the compiler does) the arena with no reuse, greedy-by-size,
CP-SAT and the lower bound, with CP-SAT's solve time — one run, one table.

    .venv/bin/python examples/memory_table.py [--quick]

Rows: the zoo (both exporters, as compiled: fused), the same zoo graphs unfused (one kernel per
node), and randomly wired DAGs (RandWire-style, 50-300 nodes, fixed seeds).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo  # noqa: E402

from compiler.frontends.onnx import import_onnx  # noqa: E402
from compiler.ir.dtypes import DType  # noqa: E402
from compiler.ir.graph import Graph, Node, Value  # noqa: E402
from compiler.ir.ops import NoAttrs  # noqa: E402
from compiler.ir.types import TensorType  # noqa: E402
from compiler.pipeline import graph_passes  # noqa: E402
from compiler.target import resolve_target  # noqa: E402
from passes.fuse import FusionPlan, plan_epilogues  # noqa: E402
from passes.lower import lower_graph  # noqa: E402
from passes.plan_memory import plan_memory  # noqa: E402
from passes.schedule import schedule  # noqa: E402


def random_dag(nodes: int, seed: int) -> Graph:
    """RandWire (Xie et al.): a Watts-Strogatz small-world graph (k = 4, p = 0.75) oriented from
    lower to higher node index; each node sums its inputs and applies ReLU; the sinks are summed
    into the output. Node-index order is the "exporter's" order."""
    import networkx as nx
    wired = nx.connected_watts_strogatz_graph(nodes, 4, 0.75, seed=seed)
    ttype = TensorType((16384,), DType.float32)
    graph_nodes: list[Node] = []

    def add_all(sources: list[str], prefix: str) -> str:
        acc = sources[0]
        for j, other in enumerate(sources[1:]):
            name = f"{prefix}_{j}"
            graph_nodes.append(Node("Add", name, (acc, other), (Value(name, ttype),), NoAttrs()))
            acc = name
        return acc

    for v in range(nodes):
        sources = [f"n{u}" for u in sorted(wired.neighbors(v)) if u < v] or ["x"]
        total = add_all(sources, f"sum{v}")
        graph_nodes.append(Node("Relu", f"n{v}", (total,), (Value(f"n{v}", ttype),), NoAttrs()))
    sinks = [f"n{v}" for v in range(nodes) if not any(w > v for w in wired.neighbors(v))]
    output = add_all(sinks, "out")
    return Graph(f"randwire{nodes}_{seed}", (Value("x", ttype),), (output,), tuple(graph_nodes))


def row(name: str, program) -> str:
    """As the compiler does it: schedule first, then plan the scheduled program's memory."""
    scheduled = schedule(program, deterministic_time=1.0)
    program = scheduled.program
    greedy = plan_memory(program, 64, "greedy")
    start = time.perf_counter()
    exact = plan_memory(program, 64, "cpsat")
    cpsat_seconds = time.perf_counter() - start
    region = ()
    g, c, lb, nr = (greedy.region_sizes.get(region, 0), exact.region_sizes.get(region, 0),
                    exact.lower_bounds.get(region, 0), exact.no_reuse.get(region, 0))
    ratio = scheduled.peak_before / scheduled.peak_after if scheduled.peak_after else 1.0
    return (f"| {name} | {len(program.calls)} | {nr / 1e6:.2f} | {g / 1e6:.3f} | {c / 1e6:.3f} | {lb / 1e6:.3f} | "
            f"{c / lb if lb else 1:.4f} | {cpsat_seconds:.2f} | {scheduled.peak_before / 1e6:.3f} → "
            f"{scheduled.peak_after / 1e6:.3f} (×{ratio:.2f}, {scheduled.seconds:.2f} s) |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows")
    args = parser.parse_args()
    target = resolve_target("cpu")
    print("| graph | kernels | no reuse MB | greedy MB | CP-SAT MB | lower bound MB | CP-SAT / bound | "
          "CP-SAT s | schedule: peak MB before → after |")
    print("|---|---|---|---|---|---|---|---|---|")
    models = ("resnet18", "mobilenet_v2") if args.quick else ("mlp", "resnet18", "resnet50", "mobilenet_v2", "bert", "gpt2")
    for name in models:
        for exporter in zoo.EXPORTERS:
            graph = import_onnx(zoo.export(name, exporter))
            for graph_pass in graph_passes(target):
                graph = graph_pass(graph)
            print(row(f"{name} ({exporter})", lower_graph(graph, plan_epilogues(graph, target))), flush=True)
            if name in ("gpt2", "bert") and exporter == "torchscript" or args.quick:
                raw = import_onnx(zoo.export(name, exporter))
                print(row(f"{name} ({exporter}), unfused", lower_graph(raw, FusionPlan())), flush=True)
    for nodes, seed in ((50, 0), (100, 1), (200, 2), (300, 3)):
        graph = random_dag(nodes, seed)
        print(row(f"random DAG {nodes} nodes (seed {seed})", lower_graph(graph)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
