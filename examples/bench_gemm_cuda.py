"""The CUDA side of examples/bench_gemm.py: aotc's GEMM / implicit-GEMM convolution kernels on
device-resident buffers against torch (cuBLAS / cuDNN, TF32 off) in the same run.

Each case is checked first (rel. L2 against float64 on the GPU), then timed with CUDA events
(median of many runs after warm-up). --sweep also renders and times every tile candidate of
backends/cuda/gemm_tiles.py for each case: the data the tile heuristic is judged by.
"""
from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from cuda_device_run import _value, load, load_cubin, median_ms
from backends.cuda import gemm
from backends.cuda.build import nvcc_command, nvcc_flags
from backends.cuda.gemm_tiles import CANDIDATES, GemmPlan, choose_plan
from backends.cuda.mathlib import MATHLIB_CU
from backends.cuda.printer import THREADS, CudaPrinter
from compiler.target import resolve_target

# (in channels, out channels, kernel, stride, input size, how many in the network): ResNet-50 v1.5.
RESNET50_CONVS = (
    (3, 64, 7, 2, 224, 1),
    (64, 64, 1, 1, 56, 1), (64, 64, 3, 1, 56, 3), (64, 256, 1, 1, 56, 4), (256, 64, 1, 1, 56, 2),
    (256, 128, 1, 1, 56, 1), (128, 128, 3, 2, 56, 1), (128, 512, 1, 1, 28, 4), (256, 512, 1, 2, 56, 1),
    (512, 128, 1, 1, 28, 3), (128, 128, 3, 1, 28, 3),
    (512, 256, 1, 1, 28, 1), (256, 256, 3, 2, 28, 1), (256, 1024, 1, 1, 14, 6), (512, 1024, 1, 2, 28, 1),
    (1024, 256, 1, 1, 14, 5), (256, 256, 3, 1, 14, 5),
    (1024, 512, 1, 1, 14, 1), (512, 512, 3, 2, 14, 1), (512, 2048, 1, 1, 7, 3), (1024, 2048, 1, 2, 14, 1),
    (2048, 512, 1, 1, 7, 2), (512, 512, 3, 1, 7, 2),
)


def _model(nodes, inputs, outputs, initializers) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "bench", inputs, outputs, initializer=initializers)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


def gemm_case(n: int, rng):
    w = rng.standard_normal((n, n)).astype(np.float32)
    model = _model([helper.make_node("MatMul", ["x", "w"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, n])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [n, n])], [numpy_helper.from_array(w, "w")])
    x = rng.standard_normal((n, n)).astype(np.float32)

    def torch_fn(torch, xs):
        wt = torch.from_numpy(w).cuda()
        return lambda: torch.matmul(xs, wt), lambda: torch.matmul(xs.double(), wt.double())
    return f"gemm {n}^3", model, x, 2.0 * n ** 3, torch_fn


def conv_case(cin: int, cout: int, k: int, stride: int, size: int, batch: int, rng):
    w = (rng.standard_normal((cout, cin, k, k)) / np.sqrt(cin * k * k)).astype(np.float32)
    b = rng.standard_normal(cout).astype(np.float32)
    out = (size + 2 * (k // 2) - k) // stride + 1
    model = _model([helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[k // 2] * 4, strides=[stride] * 2),
                    helper.make_node("Relu", ["c"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, cin, size, size])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, cout, out, out])],
                   [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    x = rng.standard_normal((batch, cin, size, size)).astype(np.float32)

    def torch_fn(torch, xs):
        import torch.nn.functional as F
        wt, bt = torch.from_numpy(w).cuda(), torch.from_numpy(b).cuda()
        conv = dict(stride=stride, padding=k // 2)
        return (lambda: F.relu(F.conv2d(xs, wt, bt, **conv)),
                lambda: F.relu(F.conv2d(xs.double(), wt.double(), bt.double(), **conv)))
    flops = 2.0 * batch * cout * out * out * cin * k * k
    return f"conv b{batch} {cin}->{cout} {k}x{k}/{stride} @{size}", model, x, flops, torch_fn


def _sweep(program, target, reps: int) -> dict[str, float]:
    """ms of every tile candidate (unsplit) for the program's (single) contraction kernel."""
    [call] = [c for c in program.compiled.program.calls if program.compiled.program.kernels[c.kernel].contraction]
    kernel = program.compiled.program.kernels[call.kernel]
    spec, printer, texts, names = kernel.contraction, CudaPrinter(), [], []
    for i, tiles in enumerate(CANDIDATES):
        signature = printer.signature(kernel).replace(kernel.name, f"sweep{i}").replace(
            f"__launch_bounds__({THREADS})", f"__launch_bounds__({tiles.threads}, {tiles.resident_blocks})")
        texts.append(gemm.render(spec, GemmPlan(tiles), signature))
        names.append(f"sweep{i}")
    header = "#include <stdint.h>\n#include <math.h>\n#include <cuda_fp16.h>\n" + MATHLIB_CU + gemm.SUPPORT
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "s.cu").write_text(header + "\n".join(texts))
        subprocess.run([nvcc_command(), *nvcc_flags(target), "-o", "s.cubin", "s.cu"], cwd=tmp, check=True)
        module = load_cubin((Path(tmp) / "s.cubin").read_bytes())
    args = tuple(program.buffers[a] for a in call.args)
    out = {}
    for tiles, name in zip(CANDIDATES, names):
        function, grid = module.get_function(name), tuple(_value(e) for e in gemm.grid(spec, GemmPlan(tiles)))
        out[f"{tiles.bm}x{tiles.bn}x{tiles.bk}/{tiles.tm}"] = median_ms(
            lambda: function(grid, (tiles.threads,), args), reps)
    return out


def bench_cuda(target_name: str, sizes: list[int], resnet50: bool, sweep: bool, reps: int) -> int:
    import cupy as cp
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    target = resolve_target(target_name)
    rng = np.random.default_rng(0)
    cases = [gemm_case(n, rng) for n in sizes]
    if resnet50:
        cases += [(*conv_case(*shape[:5], batch, rng), shape[5]) for batch in (1, 32) for shape in RESNET50_CONVS]
    totals: dict[str, list[float]] = {}
    print(f"device: {torch.cuda.get_device_name()}; target {target.name}; TF32 off; median of {reps}")
    for case in cases:
        name, model, x, flops, torch_fn = case[:5]
        count = case[5] if len(case) > 5 else 1
        program = load(model, target_name, {"x": x})
        xs = torch.from_dlpack(program.buffers["x"])
        ours_fn, reference_fn = torch_fn(torch, xs)
        program.run()
        expected = reference_fn()
        got = torch.from_dlpack(program.output()).double().reshape(expected.shape)
        error = float(torch.linalg.norm(got - expected) / torch.linalg.norm(expected))
        ours, theirs = median_ms(program.run, reps), median_ms(ours_fn, reps)
        kernels = [program.compiled.program.kernels[c.kernel] for c in program.compiled.program.calls]
        spec = next((k.contraction for k in kernels if k.contraction is not None), None)
        plan = choose_plan(spec, target) if spec else None
        tile_text = (f"{plan.tiles.bm}x{plan.tiles.bn}x{plan.tiles.bk}/{plan.tiles.tm}"
                     + (f" split {plan.splits}" if plan.splits > 1 else "")) if plan else "-"
        print(f"{name:36s} aotc {ours:8.4f} ms {flops / ours / 1e9:6.1f} TFLOP/s | torch {theirs:8.4f} ms "
              f"{flops / theirs / 1e9:6.1f} TFLOP/s | ratio {theirs / ours:5.2f} | rel L2 {error:.1e} | {tile_text}")
        if name.startswith("conv"):
            batch = name.split()[1]
            total = totals.setdefault(batch, [0.0, 0.0])
            total[0] += count * ours
            total[1] += count * theirs
        if sweep:
            times = _sweep(program, target, reps)
            best = min(times, key=times.get)
            print("    sweep: " + ", ".join(f"{k} {v:.4f}" for k, v in times.items()) + f"; best {best}")
        del program
        cp.get_default_memory_pool().free_all_blocks()
    for batch, (ours, theirs) in totals.items():
        print(f"ResNet-50 {batch} convolutions (each shape x its count): aotc {ours:.3f} ms, torch {theirs:.3f} ms, "
              f"ratio {theirs / ours:.2f}")
    return 0
