"""Run a CUDA artifact's host library from Python. Its C ABI is the CPU artifact's, so the
ctypes wrapper is the CPU one (numpy in, numpy out, copied through the device) with its error
codes mapped (a missing driver or a failed device call is a TargetError), plus `run_device`:
DLPack device tensors in and out, read and written in place (device_io.py)."""
from __future__ import annotations

import ctypes
from typing import Sequence

from compiler.errors import InputError, TargetError
from backends.cpu.runtime import CpuModel
from backends.cuda import device_io
from backends.cuda.device_io import Slot


class CudaModel(CpuModel):
    error_kinds = {2: InputError, 3: TargetError, 6: TargetError}

    def __init__(self, library_path, weights, threads: int = 1):
        self._path = library_path
        super().__init__(library_path, weights, threads)
        lib = self._lib
        if not hasattr(lib, "aotc_run_device"):
            raise TargetError(f"{self._path}: built by an older aotc without device-tensor I/O; recompile it")
        lib.aotc_run_device.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64),
                                        ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
                                        ctypes.POINTER(ctypes.c_uint64), ctypes.c_void_p]
        self.input_slots = [Slot(n, "input", d, lib.aotc_input_rank(i))
                            for i, (n, d) in enumerate(zip(self.input_names, self.input_dtypes))]
        self.output_slots = [Slot(n, "output", d, lib.aotc_output_rank(i))
                             for i, (n, d) in enumerate(zip(self.output_names, self.output_dtypes))]

    def run_device(self, values: Sequence, out: Sequence | None = None, stream=None) -> list:
        """`values`: DLPack device tensors in signature order. Returns `out` (filled) or new
        tensors of the inputs' library. The kernels are enqueued on `stream` (default: the
        inputs' library's current stream) and this returns without waiting for them."""
        handle = device_io.stream_handle(stream, values[0] if values else None)
        inputs = [device_io.check(v, slot, handle) for v, slot in zip(values, self.input_slots)]
        shapes = [(ctypes.c_int64 * max(len(t.shape), 1))(*t.shape) for t in inputs]
        shape_ptrs = (ctypes.POINTER(ctypes.c_int64) * max(len(inputs), 1))(
            *[ctypes.cast(s, ctypes.POINTER(ctypes.c_int64)) for s in shapes])
        out_shapes = []
        for index, slot in enumerate(self.output_slots):
            dims = (ctypes.c_int64 * max(slot.rank, 1))()
            self._check(self._lib.aotc_output_shape(index, shape_ptrs, dims))
            out_shapes.append(tuple(dims[:slot.rank]))
        if out is None:
            if not values:
                raise InputError("a model without inputs has no device to allocate on: pass out=[...]")
            out = [device_io.allocate(values[0], shape, slot.dtype) for shape, slot in zip(out_shapes, self.output_slots)]
        outputs = device_io.check_outputs(out, self.output_slots, out_shapes, inputs, handle)
        in_ptrs = (ctypes.c_uint64 * max(len(inputs), 1))(*[t.address for t in inputs])
        out_ptrs = (ctypes.c_uint64 * max(len(outputs), 1))(*[t.address for t in outputs])
        self._check(self._lib.aotc_run_device(self._handle, in_ptrs, shape_ptrs, out_ptrs, ctypes.c_void_p(handle)))
        return list(out)
