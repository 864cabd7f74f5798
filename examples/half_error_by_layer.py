"""Where a half-precision model's error comes from, without a GPU: the graph after
convert_precision, run by the numpy reference ops in float32 with every half-typed value rounded
to the half type as it is stored (what the backends do: loads widen, math in float32, stores
round; fused kernels round less, so this is an upper bound), against the float32 graph per
value and against onnxruntime (float32) at the output.

    python examples/half_error_by_layer.py model.onnx [--dtype bf16] [--ops LayerNormalization]
                                           [--no-promote]   (residual adds rounded, as before PROMOTING_OPS)
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import onnxruntime as ort

import passes.convert_precision as convert
from compiler.api import _import
from compiler.ir.dtypes import DType
from compiler.ir.ops import op_def
from passes.simplify import Simplify


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / (np.linalg.norm(b) or 1.0))


def run(graph, feeds: dict, half: DType | None) -> dict[str, np.ndarray]:
    """Every value of `graph`; with `half`, values of that type are float32 rounded to it."""
    narrow = half.to_numpy() if half else None

    def stored(array, dtype):
        return array.astype(narrow).astype(np.float32) if half and dtype is half else array
    env = {name: value.astype(np.float32) if half and value.dtype == narrow else value
           for name, value in graph.constants.items()}
    env.update(feeds)
    for node in graph.nodes:
        args = [env[n] if n else None for n in node.inputs]
        if half and node.op == "Cast" and node.attrs.to is half:
            results = [args[0].astype(np.float32)]
        else:
            results = op_def(node.op).reference(args, node.attrs)
        for value, result in zip(node.outputs, results):
            env[value.name] = stored(result, value.type.dtype)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--dtype", default="bf16", choices=("fp16", "bf16"))
    parser.add_argument("--ops", default="LayerNormalization", help="comma-separated ops whose outputs to report")
    parser.add_argument("--no-promote", action="store_true")
    parser.add_argument("--seed", type=int, default=29)
    args = parser.parse_args()
    dtype = DType.float16 if args.dtype == "fp16" else DType.bfloat16
    promoting = frozenset() if args.no_promote else convert.PROMOTING_OPS
    graph = Simplify()(_import(args.model, None).graph)
    saved, convert.PROMOTING_OPS = convert.PROMOTING_OPS, promoting
    try:
        halved = convert.convert_precision(graph, dtype)
    finally:
        convert.PROMOTING_OPS = saved
    session = ort.InferenceSession(args.model, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(args.seed)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else 1 for d in arg.shape]
        feeds[arg.name] = (rng.integers(1, 1000, shape).astype(np.int64) if "int64" in arg.type
                           else (rng.standard_normal(shape) + 0.1).astype(np.float32))
    exact, rounded = run(graph, feeds, None), run(halved, feeds, dtype)
    ops = set(args.ops.split(","))
    for node in graph.nodes:
        if node.op in ops:
            for value in node.outputs:
                print(f"{node.op:20s} {value.name[:60]:60s} rel L2 vs fp32 {_rel(rounded[value.name], exact[value.name]):.2e}")
    expected = session.run(None, feeds)[0]
    promoted = "residual adds rounded" if args.no_promote else "promoted (PROMOTING_OPS)"
    print(f"{args.dtype}, {promoted}: output rel L2 vs onnxruntime fp32 {_rel(rounded[halved.outputs[0]], expected):.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
