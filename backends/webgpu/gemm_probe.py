"""One GEMM config on its own: C = A @ B (fp32, row-major or transposed operands) as a single
shader, B in a read-only pool and A and C in the read-write arena as in a compiled MatMul
(the driver may read a read-only binding through a faster cache), run and timed through wgpu. For checking every config of the
space (tests) and sweeping them on a GPU (examples/bench_webgpu.py), with no model around it.
"""
from __future__ import annotations

import time

import numpy as np

from compiler.ir.contraction import Contraction, Dense
from compiler.ir.dtypes import DType
from compiler.target import Target
from backends.webgpu import gemm
from backends.webgpu.gemm_space import GemmConfig
from backends.webgpu.mathlib import MATHLIB_WGSL
from backends.webgpu.printer import ParamAccess, WgslPrinter

HEADER = """\
struct Uniforms { p0: u32, p1: u32, p2: u32, }
@group(0) @binding(0) var<uniform> u: Uniforms;
@group(0) @binding(1) var<storage, read> w0: array<u32>;
@group(0) @binding(2) var<storage, read_write> arena: array<u32>;
"""


def spec(m: int, n: int, k: int, a_transposed: bool = False, b_transposed: bool = False) -> Contraction:
    """A is M x K (stored K x M when transposed), B is K x N (stored N x K when transposed)."""
    a = Dense("a", 1, m) if a_transposed else Dense("a", k, 1)
    b = Dense("b", 1, k) if b_transposed else Dense("b", n, 1)
    return Contraction(1, 1, m, n, k, a, b, "c", out_row_stride=n, out_batch_stride=m * n, out_group_stride=0)


def shader(contraction: Contraction, cfg: GemmConfig, target: Target) -> tuple[str, tuple[int, int, int]]:
    """The shader text and its workgroup counts (a static shape: counts are ints)."""
    printer = WgslPrinter({name: ParamAccess("w0" if name == "b" else "arena", f"p{i}", DType.float32)
                           for i, name in enumerate("abc")}, {})
    text, groups = gemm.render(contraction, printer, target, cfg)
    return HEADER + MATHLIB_WGSL + "\n" + text, tuple(_fold(g) for g in groups)


def _fold(e) -> int:
    if hasattr(e, "value"):
        return int(e.value)
    a, b = _fold(e.a), _fold(e.b)
    return {"add": a + b, "sub": a - b, "mul": a * b, "div": a // b, "min": min(a, b), "max": max(a, b)}[e.op]


class GemmProbe:
    """A, B and C in one arena on `device`; `run` a config, or `seconds` per dispatch of it."""

    def __init__(self, wgpu, device, contraction: Contraction, a: np.ndarray, b: np.ndarray):
        self.wgpu, self.device, self.spec = wgpu, device, contraction
        words = [0, 0, a.size]      # word offsets of A (arena), B (w0) and C (arena)
        self.c_offset, self.c_size = words[2] * 4, contraction.m * contraction.n
        data = np.concatenate([a.ravel(), np.zeros(self.c_size, np.float32)]).astype(np.float32)
        usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC | wgpu.BufferUsage.COPY_DST
        self.arena = device.create_buffer_with_data(data=data.tobytes(), usage=usage)
        self.weights = device.create_buffer_with_data(data=np.ascontiguousarray(b, np.float32).tobytes(),
                                                      usage=wgpu.BufferUsage.STORAGE)
        self.uniforms = device.create_buffer_with_data(data=np.array(words + [0], np.uint32).tobytes(),
                                                       usage=wgpu.BufferUsage.UNIFORM)
        storage = wgpu.BufferBindingType
        self.layout = device.create_bind_group_layout(entries=[
            {"binding": binding, "visibility": wgpu.ShaderStage.COMPUTE, "buffer": {"type": kind}}
            for binding, kind in enumerate((storage.uniform, storage.read_only_storage, storage.storage))])
        self.group = device.create_bind_group(layout=self.layout, entries=[
            {"binding": 0, "resource": {"buffer": self.uniforms, "offset": 0, "size": 16}},
            {"binding": 1, "resource": {"buffer": self.weights, "offset": 0, "size": self.weights.size}},
            {"binding": 2, "resource": {"buffer": self.arena, "offset": 0, "size": self.arena.size}}])

    def pipeline(self, cfg: GemmConfig, target: Target, trusted: bool = False):
        from backends.webgpu.runtime import create_shader_module
        text, counts = shader(self.spec, cfg, target)
        module = create_shader_module(self.device, text, trusted)
        pipeline = self.device.create_compute_pipeline(
            layout=self.device.create_pipeline_layout(bind_group_layouts=[self.layout]),
            compute={"module": module, "entry_point": "main"})
        return pipeline, counts

    def _submit(self, pipeline, counts, repeat: int) -> None:
        encoder = self.device.create_command_encoder()
        compute = encoder.begin_compute_pass()
        for _ in range(repeat):
            compute.set_pipeline(pipeline)
            compute.set_bind_group(0, self.group)
            compute.dispatch_workgroups(*counts)
        compute.end()
        self.device.queue.submit([encoder.finish()])
        self.device.queue.read_buffer(self.arena, 0, 4)      # waits for the queue

    def run(self, cfg: GemmConfig, target: Target, trusted: bool = False) -> np.ndarray:
        self._submit(*self.pipeline(cfg, target, trusted), 1)
        data = self.device.queue.read_buffer(self.arena, self.c_offset, self.c_size * 4)
        return np.frombuffer(data, np.float32).reshape(self.spec.m, self.spec.n).copy()

    def seconds(self, cfg: GemmConfig, target: Target, repeat: int = 10, trials: int = 3,
                trusted: bool = False) -> float:
        """Best of `trials` submissions of `repeat` dispatches, per dispatch, after a warm-up."""
        pipeline, counts = self.pipeline(cfg, target, trusted)
        self._submit(pipeline, counts, 1)
        best = float("inf")
        for _ in range(trials):
            start = time.perf_counter()
            self._submit(pipeline, counts, repeat)
            best = min(best, (time.perf_counter() - start) / repeat)
        return best


__all__ = ["GemmProbe", "shader", "spec"]
