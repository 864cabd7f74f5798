"""Run a model's compiled CUDA kernels on device-resident buffers, for timing kernels alone.

The artifact's host runtime copies inputs in and outputs out on every call; a kernel benchmark
must not pay those copies. This loads the artifact's cubin with CuPy, gives every value of the
program its own device buffer, and launches the program's kernels in call order with the grids
the host runtime would compute. Static shapes only (the grids are evaluated here).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np

from compiler.api import default_options
from compiler.frontends.onnx.importer import import_onnx_specialised
from compiler.ir.loops import Binary, Const, Expr
from compiler.pipeline import compile_graph
from compiler.target import resolve_target
from backends.cuda.host import CUBIN_NAME
from backends.cuda.printer import kernel_functions

_OPS = {"add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a // b,
        "min": min, "max": max, "sub": lambda a, b: a - b}


def _value(e: Expr) -> int:
    if isinstance(e, Const):
        return int(e.value)
    if isinstance(e, Binary):
        return _OPS[e.op](_value(e.a), _value(e.b))
    raise ValueError(f"grid expression {e!r} needs a symbol: static shapes only")


@dataclass
class DeviceProgram:
    compiled: object
    module: object                      # cupy.cuda.function.Module
    launches: list                      # (function, grid, block, value names)
    buffers: dict                       # value name -> cupy array

    def run(self) -> None:
        for function, grid, block, args in self.launches:
            function(grid, (block,), tuple(self.buffers[a] for a in args))

    def output(self, index: int = 0):
        return self.buffers[self.compiled.program.graph.outputs[index]]

    def contraction_names(self) -> list[str]:
        """The cubin function names of the program's contraction kernels, in call order."""
        out = []
        for call in self.compiled.program.calls:
            kernel = self.compiled.program.kernels[call.kernel]
            if kernel.contraction is not None:
                out += [name for name, _, _ in kernel_functions(kernel, self.compiled.target)]
        return out


def _device_array(array: np.ndarray) -> np.ndarray:
    """CuPy has no bfloat16: such arrays travel as their 16-bit patterns (the kernels read bits)."""
    return array.view(np.uint16) if array.dtype.name == "bfloat16" else array


def load_cubin(cubin: bytes):
    """The cubin as a CuPy driver module (cuModuleLoadData)."""
    import cupy as cp
    module = cp.cuda.function.Module()
    module.load(cubin)
    return module


def load(model, target: str, feeds: dict[str, np.ndarray], options=None) -> DeviceProgram:
    """Compile `model` (an onnx.ModelProto) for `target` (with `options`, default_options()'s
    by default) and place its values on the GPU."""
    import cupy as cp
    resolved = resolve_target(target)
    graph = import_onnx_specialised(model).graph
    compiled = compile_graph(graph, resolved, options or default_options())
    module = load_cubin(compiled.binary.files[CUBIN_NAME])
    buffers = {name: cp.asarray(_device_array(np.ascontiguousarray(array))) for name, array in compiled.constants.items()}
    buffers.update({name: cp.asarray(array) for name, array in feeds.items()})
    launches = []
    for call in compiled.program.calls:
        kernel = compiled.program.kernels[call.kernel]
        if kernel.symbols:
            raise ValueError("static shapes only")
        for param, value in zip(kernel.params, call.args):
            if value not in buffers:
                poison = np.full(param.size.evaluate({}), np.nan if param.dtype.is_float else 0, dtype=param.dtype.to_numpy())
                buffers[value] = cp.asarray(_device_array(poison))   # poisoned
        for name, _, launch in kernel_functions(kernel, resolved):
            grid = tuple(_value(e) for e in launch.grid)
            launches.append((module.get_function(name), grid, launch.block, call.args))
    return DeviceProgram(compiled, module, launches, buffers)


def median_ms(fn, reps: int = 20, warmup: int = 3) -> float:
    """Median of `reps` CUDA-event timings of fn() after `warmup` calls."""
    import cupy as cp
    for _ in range(warmup):
        fn()
    cp.cuda.Device().synchronize()
    times = []
    for _ in range(reps):
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, stop))
    return statistics.median(times)
