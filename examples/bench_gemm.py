"""The fp32 GEMM bars. CPU: aotc's contraction kernel at 1024^3 against this machine's measured
peak FMA throughput (a register-only loop, examples/c/peak_fma.c, built with the same -march).
CUDA: the GEMM kernel alone on device-resident buffers against torch.matmul (cuBLAS, TF32 off)
in the same run, at each --size, and with --resnet50 every convolution shape of ResNet-50
(batch 1 and 32) against torch's conv2d (cuDNN, TF32 off); --sweep times every tile candidate.

    .venv/bin/python examples/bench_gemm.py [--size 1024] [--threads 2] [--target cpu]
    python examples/bench_gemm.py --target cuda:sm_90 --size 4096 --size 2048 [--resnet50] [--sweep]
"""
from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.target import resolve_target

HERE = Path(__file__).resolve().parent


def gemm_model(size: int, seed: int = 0) -> onnx.ModelProto:
    """y = x @ w with w a constant (a weight, as in a model's linear layer)."""
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array(rng.standard_normal((size, size)).astype(np.float32), "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"], name="gemm")], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [size, size])], initializer=[w])
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


def peak_gflops(target_name: str, threads: int) -> float:
    target = resolve_target(target_name)
    cc = shutil.which("cc") or shutil.which("gcc")
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "peak_fma"
        subprocess.run([cc, "-O2", "-fopenmp", f"-march={target.isa.march}",
                        f"-DVECTOR_BYTES={max(target.isa.vector_bits // 8, 16)}", str(HERE / "c" / "peak_fma.c"),
                        "-o", str(exe)], check=True)
        return float(subprocess.run([str(exe), str(threads)], capture_output=True, text=True, check=True).stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, action="append")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--target", default="cpu")
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--resnet50", action="store_true", help="CUDA: also every ResNet-50 convolution")
    parser.add_argument("--sweep", action="store_true", help="CUDA: time every GEMM tile candidate too")
    args = parser.parse_args()
    if args.target.startswith("cuda"):
        from bench_gemm_cuda import bench_cuda
        return bench_cuda(args.target, args.size or [4096], args.resnet50, args.sweep, args.runs)
    n = (args.size or [1024])[0]
    model = gemm_model(n)
    art = compiler.compile(model, target=args.target, threads=args.threads)
    x = np.random.default_rng(1).standard_normal((n, n)).astype(np.float32)
    y = art(x)
    w = numpy_helper.to_array(model.graph.initializer[0])
    error = float(np.linalg.norm(y - x.astype(np.float64) @ w) / np.linalg.norm(x.astype(np.float64) @ w))
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        art(x)
        times.append(time.perf_counter() - start)
    gemm = 2.0 * n ** 3 / statistics.median(times) / 1e9
    peak = peak_gflops(args.target, args.threads)
    print(f"{n}^3 fp32 GEMM, {args.threads} threads, target {art.target}: {gemm:.1f} GFLOP/s "
          f"(median of {args.runs}); measured peak FMA {peak:.1f} GFLOP/s; {100 * gemm / peak:.1f}% of peak; "
          f"rel. L2 error vs float64 {error:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
