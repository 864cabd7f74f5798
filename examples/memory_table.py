"""The memory table: for each graph, the arena with no reuse, greedy-by-size, CP-SAT, the lower
bound, and the schedule pass's peak against the original order — one run, one table.

    .venv/bin/python examples/memory_table.py [--quick]

Rows: the zoo (both exporters, as compiled: fused), the same zoo graphs unfused (one kernel per
node), and randomly wired DAGs (RandWire-style, 50-300 nodes, fixed seeds).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

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
    """A RandWire-style DAG: each node adds (or ReLUs) 1-3 random earlier values; tensor sizes
    vary 16x, so the order matters for the peak."""
    rng = np.random.default_rng(seed)
    f32 = DType.float32
    widths = [int(w) for w in rng.choice([256, 1024, 4096], size=nodes)]
    graph_nodes, values = [], []
    inputs = (Value("x", TensorType((4096,), f32)),)
    available = ["x"]
    sizes = {"x": 4096}
    for k in range(nodes):
        arity = int(rng.integers(1, 4))
        picks = sorted(set(rng.choice(len(available), size=min(arity, len(available)), replace=False).tolist()))
        width = widths[k]
        srcs = []
        for p in picks:
            src = available[p]
            if sizes[src] != width:      # resize by a Slice/Tile-free trick: reduce to a scalar first
                name = f"r{k}_{p}"
                graph_nodes.append(Node("ReduceMean", f"reduce{k}_{p}", (src,), (Value(name, TensorType((1,), f32)),),
                                        _reduce_attrs()))
                sizes[name] = 1
                src = name
            srcs.append(src)
        out = f"v{k}"
        op = "Add" if len(srcs) > 1 else "Relu"
        out_type = TensorType((width,), f32)
        if op == "Add":
            acc = srcs[0]
            for j, other in enumerate(srcs[1:]):
                name = out if j == len(srcs) - 2 else f"{out}_{j}"
                graph_nodes.append(Node("Add", f"add{k}_{j}", (acc, other), (Value(name, out_type if (sizes[acc] == width or sizes[other] == width) else TensorType((1,), f32)),), NoAttrs()))
                sizes[name] = width if (sizes[acc] == width or sizes[other] == width) else 1
                acc = name
            if sizes[out] != width:
                pass
        else:
            graph_nodes.append(Node("Relu", f"relu{k}", (srcs[0],), (Value(out, TensorType((sizes[srcs[0]],), f32)),), NoAttrs()))
            sizes[out] = sizes[srcs[0]]
        available.append(out)
        values.append(out)
    consumed = {i for n in graph_nodes for i in n.inputs}
    outputs = tuple(v for v in values if v not in consumed) or (values[-1],)
    return Graph(f"randwire{nodes}_{seed}", inputs, outputs, tuple(graph_nodes))


def _reduce_attrs():
    from compiler.ir.ops.reduce import ReduceAttrs
    return ReduceAttrs((0,), True)


def row(name: str, program) -> str:
    start = time.perf_counter()
    greedy = plan_memory(program, 64, "greedy")
    greedy_seconds = time.perf_counter() - start
    start = time.perf_counter()
    exact = plan_memory(program, 64, "cpsat")
    cpsat_seconds = time.perf_counter() - start
    region = ()
    g, c, lb, nr = (greedy.region_sizes.get(region, 0), exact.region_sizes.get(region, 0),
                    exact.lower_bounds.get(region, 0), exact.no_reuse.get(region, 0))
    scheduled = schedule(program)
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
