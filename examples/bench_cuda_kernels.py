"""Memory-bound CUDA kernels against the device's copy bandwidth, in one run: large elementwise
kernels, and row reductions (softmax, layernorm, sum/mean/max over the last axis) against torch.

Bandwidth counts the fewest bytes the kernel must move (each input read once, each output
written once) over its median time (CUDA events, device-resident buffers, examples/
cuda_device_run.py); the copy is torch's y.copy_(x) on a 256 MiB tensor, counting read + write.

    python examples/bench_cuda_kernels.py [--target cuda:sm_90] [--runs 20]
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cuda_device_run import load, median_ms

MIB = 1 << 20


def _model(nodes, inputs: dict, output_shape, initializers=()) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes, "bench", [helper.make_tensor_value_info(n, TensorProto.FLOAT, s) for n, s in inputs.items()],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, output_shape)],
        initializer=[numpy_helper.from_array(a, n) for n, a in initializers])
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


def cases(rng):
    """(name, model, inputs, torch function of the input tensors)."""
    big = (64, 1024, 1024)                      # 256 MiB of float32
    channels = (32, 256, 56, 56)                # NCHW activation, 98 MiB
    scale = rng.standard_normal((1, 256, 1, 1)).astype(np.float32)
    gamma, beta = (rng.standard_normal(1024).astype(np.float32) for _ in range(2))
    node = helper.make_node
    yield ("relu 256 MiB", _model([node("Relu", ["x"], ["y"])], {"x": big}, big), {"x": big},
           lambda t, x: t.relu(x))
    yield ("add+relu 2x256 MiB", _model([node("Add", ["x", "z"], ["s"]), node("Relu", ["s"], ["y"])],
                                         {"x": big, "z": big}, big), {"x": big, "z": big},
           lambda t, x, z: t.relu(x + z))
    yield ("x*scale[c] (NCHW)", _model([node("Mul", ["x", "s"], ["y"])], {"x": channels}, channels, [("s", scale)]),
           {"x": channels}, lambda t, x: x * t.from_numpy(scale).to(x))
    for rows, cols in ((16384, 1024), (49152, 128)):
        shape = (rows, cols)
        yield (f"softmax {rows}x{cols}", _model([node("Softmax", ["x"], ["y"], axis=-1)], {"x": shape}, shape),
               {"x": shape}, lambda t, x: t.softmax(x, -1))
    shape = (16384, 1024)
    yield ("layernorm 16384x1024", _model([node("LayerNormalization", ["x", "g", "b"], ["y"], axis=-1)],
                                          {"x": shape}, shape, [("g", gamma), ("b", beta)]), {"x": shape},
           lambda t, x: t.nn.functional.layer_norm(x, (1024,), t.from_numpy(gamma).to(x), t.from_numpy(beta).to(x)))
    for op, fn in (("ReduceSum", "sum"), ("ReduceMean", "mean"), ("ReduceMax", "amax")):
        axes = numpy_helper.from_array(np.array([-1], np.int64), "axes")
        if op == "ReduceSum":
            model = _model([node(op, ["x", "axes"], ["y"], keepdims=1)], {"x": shape}, (16384, 1), [])
            model.graph.initializer.append(axes)
        else:
            model = _model([node(op, ["x"], ["y"], axes=[-1], keepdims=1)], {"x": shape}, (16384, 1))
        yield (f"{op} 16384x1024", model, {"x": shape}, lambda t, x, fn=fn: getattr(t, fn)(x, -1, keepdim=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="cuda:sm_90")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    import cupy as cp
    import torch
    rng = np.random.default_rng(0)
    src = torch.randn(64 * MIB, device="cuda")
    dst = torch.empty_like(src)
    copy_ms = median_ms(lambda: dst.copy_(src), args.runs)
    copy = 2 * src.numel() * 4 / copy_ms / 1e6
    print(f"device: {torch.cuda.get_device_name()}; copy 256 MiB: {copy_ms:.3f} ms = {copy:.0f} GB/s (read + write)")
    for name, model, shapes, torch_fn in cases(rng):
        feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
        program = load(model, args.target, feeds)
        program.run()
        tensors = [torch.from_dlpack(program.buffers[n]) for n in shapes]
        expected = torch_fn(torch, *[t.double() for t in tensors]).float()
        got = torch.from_dlpack(program.output()).reshape(expected.shape)
        error = float(torch.linalg.norm((got - expected).double()) / torch.linalg.norm(expected.double()))
        moved = sum(a.nbytes for a in feeds.values()) + got.numel() * 4
        ours, theirs = median_ms(program.run, args.runs), median_ms(lambda: torch_fn(torch, *tensors), args.runs)
        print(f"{name:24s} aotc {ours:8.4f} ms {moved / ours / 1e6:6.0f} GB/s ({100 * moved / ours / 1e6 / copy:3.0f}% of copy) "
              f"| torch {theirs:8.4f} ms {moved / theirs / 1e6:6.0f} GB/s | {len(program.launches)} launches | rel L2 {error:.1e}")
        program = tensors = None
        cp.get_default_memory_pool().free_all_blocks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
