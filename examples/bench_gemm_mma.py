"""The tensor-core GEMM (backends/cuda/gemm_mma.py) alone, on device-resident buffers, against
torch in the same half type (cuBLAS / cuDNN) in the same run: a square GEMM, BERT-base's four
GEMM shapes (batch 8, sequence 128) and a few ResNet-50 batch-32 convolutions. Each case is
checked against float64 on the GPU (rel. L2 of the half-rounded operands' product) first.

    python examples/bench_gemm_mma.py [--dtype fp16|bf16] [--target cuda:sm_90] [--layout NHWC]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_gemm_cuda import _model  # noqa: E402
from cuda_device_run import _value, load, median_ms  # noqa: E402

from backends.cuda.printer import kernel_functions  # noqa: E402
from compiler.api import default_options  # noqa: E402

# (in channels, out channels, kernel, stride, input size): ResNet-50 convolutions at batch 32.
CONVS = ((64, 64, 3, 1, 56), (256, 64, 1, 1, 56), (128, 128, 3, 1, 28), (256, 256, 3, 1, 14), (1024, 256, 1, 1, 14),
         (512, 512, 3, 1, 7), (2048, 512, 1, 1, 7))
# (M, K, N): a square GEMM, then BERT-base's QKV/out projection, FFN up and FFN down at 1024 tokens.
GEMMS = ((4096, 4096, 4096), (1024, 768, 768), (1024, 768, 3072), (1024, 3072, 768))


def gemm_case(m: int, k: int, n: int, rng):
    w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])], [numpy_helper.from_array(w, "w")])

    def torch_fn(torch, x, dtype):
        wt = torch.from_numpy(w).cuda().to(dtype)
        return lambda: torch.matmul(x, wt), lambda: torch.matmul(x.double(), wt.double())
    return f"gemm {m}x{k}x{n}", model, rng.standard_normal((m, k)).astype(np.float32), 2.0 * m * n * k, torch_fn


def conv_case(cin: int, cout: int, k: int, stride: int, size: int, rng, batch: int = 32):
    w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
    out = (size + 2 * (k // 2) - k) // stride + 1
    model = _model([helper.make_node("Conv", ["x", "w"], ["y"], pads=[k // 2] * 4, strides=[stride] * 2)],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, cin, size, size])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, cout, out, out])],
                   [numpy_helper.from_array(w, "w")])

    def torch_fn(torch, x, dtype):
        import torch.nn.functional as F
        wt = torch.from_numpy(w).cuda().to(dtype)
        conv = dict(stride=stride, padding=k // 2)
        return lambda: F.conv2d(x, wt, **conv), lambda: F.conv2d(x.double(), wt.double(), **conv)
    flops = 2.0 * batch * cout * out * out * cin * k * k
    return (f"conv b{batch} {cin}->{cout} {k}x{k}/{stride} @{size}", model,
            rng.standard_normal((batch, cin, size, size)).astype(np.float32), flops, torch_fn)


def main() -> int:
    import cupy as cp
    import torch
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtype", default="fp16", choices=("fp16", "bf16"))
    parser.add_argument("--target", default="cuda:sm_90")
    parser.add_argument("--layout", default=None, help="activation layout override (NCHW, NHWC)")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    torch_dtype = torch.float16 if args.dtype == "fp16" else torch.bfloat16
    options = replace(default_options(), dtype=args.dtype, activation_layout=args.layout)
    rng = np.random.default_rng(0)
    print(f"device: {torch.cuda.get_device_name()}; target {args.target}; {args.dtype}; median of {args.runs}; "
          "aotc: its contraction kernel alone")
    for name, model, x, flops, torch_fn in [gemm_case(*g, rng) for g in GEMMS] + [conv_case(*c, rng) for c in CONVS]:
        program = load(model, args.target, {"x": x}, options)
        program.run()
        launches, texts = [], []
        for call in program.compiled.program.calls:
            kernel = program.compiled.program.kernels[call.kernel]
            if kernel.contraction is not None:
                for function, text, launch in kernel_functions(kernel, program.compiled.target):
                    texts.append(text)
                    launches.append((program.module.get_function(function), tuple(_value(e) for e in launch.grid),
                                     launch.block, call.args))
        xs = torch.from_dlpack(program.buffers["x"]).to(torch_dtype)
        theirs_fn, reference_fn = torch_fn(torch, xs, torch_dtype)
        expected = reference_fn()
        got = torch.from_dlpack(program.output()).double().reshape(expected.shape)
        error = float(torch.linalg.norm(got - expected) / torch.linalg.norm(expected))

        def ours_fn(buffers=program.buffers, launches=launches):
            for function, grid, block, names in launches:
                function(grid, (block,), tuple(buffers[a] for a in names))
        ours, theirs = median_ms(ours_fn, args.runs), median_ms(theirs_fn, args.runs)
        kind = "mma" if any("tensor cores" in text for text in texts) else "CUDA cores"
        print(f"{name:32s} aotc {ours:8.4f} ms {flops / ours / 1e9:6.1f} TFLOP/s | torch {theirs:8.4f} ms "
              f"{flops / theirs / 1e9:6.1f} TFLOP/s | aotc/torch {ours / theirs:5.2f} | rel L2 {error:.1e} | {kind}")
        del program
        cp.get_default_memory_pool().free_all_blocks()
    return 0


if __name__ == "__main__":
    sys.exit(main())
