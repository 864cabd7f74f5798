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
    """A RandWire-style DAG: node k adds 1-3 random earlier values (ReLU when it takes one);
    an operand of another width is first reduced to one value, so tensor sizes vary 16x and the
    order of the nodes matters for the peak."""
    rng = np.random.default_rng(seed)
    f32 = DType.float32
    graph_nodes: list[Node] = []
    available, sizes = ["x"], {"x": 4096}
    for k in range(nodes):
        width = int(rng.choice([256, 1024, 4096]))
        picks = rng.choice(len(available), size=min(int(rng.integers(1, 4)), len(available)), replace=False)
        operands = []
        for p in sorted(int(i) for i in picks):
            src = available[p]
            if sizes[src] not in (1, width):
                reduced = f"r{k}_{p}"
                graph_nodes.append(Node("ReduceMean", f"reduce{k}_{p}", (src,),
                                        (Value(reduced, TensorType((1,), f32)),), _reduce_attrs()))
                sizes[reduced] = 1
                src = reduced
            operands.append(src)
        out = f"v{k}"
        if len(operands) == 1:
            graph_nodes.append(Node("Relu", f"relu{k}", (operands[0],),
                                    (Value(out, TensorType((sizes[operands[0]],), f32)),), NoAttrs()))
            sizes[out] = sizes[operands[0]]
        acc = operands[0]
        for j, other in enumerate(operands[1:]):
            name = out if j == len(operands) - 2 else f"{out}_{j}"
            size = max(sizes[acc], sizes[other])
            graph_nodes.append(Node("Add", f"add{k}_{j}", (acc, other), (Value(name, TensorType((size,), f32)),), NoAttrs()))
            sizes[name] = size
            acc = name
        available.append(out)
    consumed = {i for n in graph_nodes for i in n.inputs}
    outputs = tuple(v for v in available[1:] if v not in consumed)
    return Graph(f"randwire{nodes}_{seed}", (Value("x", TensorType((4096,), f32)),), outputs, tuple(graph_nodes))


def _reduce_attrs():
    from compiler.ir.ops.reduce import ReduceAttrs
    return ReduceAttrs((0,), True)


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
