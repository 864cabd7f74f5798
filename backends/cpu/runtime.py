"""Run a CPU artifact's shared library from Python through its C ABI (ctypes)."""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Sequence

import numpy as np

from compiler.errors import InputError, TargetError
from compiler.ir.dtypes import DType

_ERROR_KINDS = {2: InputError, 3: TargetError}


def _aligned_copy(data: np.ndarray, alignment: int = 64) -> np.ndarray:
    """A copy of `data` (bytes) starting on an `alignment`-byte boundary, so the kernels'
    vector loads from pre-packed weights never straddle cache lines."""
    raw = np.empty(data.nbytes + alignment, dtype=np.uint8)
    start = (-raw.ctypes.data) % alignment
    out = raw[start:start + data.nbytes]
    out[...] = data.view(np.uint8).reshape(-1)
    return out


class CpuModel:
    """One handle on a loaded library: `run(list of arrays) -> list of arrays`."""
    error_kinds = _ERROR_KINDS

    def __init__(self, library_path: Path, weights: np.ndarray, threads: int = 1):
        self._lib = ctypes.CDLL(str(library_path))
        lib = self._lib
        lib.aotc_last_error.restype = ctypes.c_char_p
        lib.aotc_create.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
        lib.aotc_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)), ctypes.POINTER(ctypes.c_void_p)]
        lib.aotc_destroy.argtypes = [ctypes.c_void_p]
        lib.aotc_profile.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_double), ctypes.c_int]
        lib.aotc_set_num_threads.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.aotc_input_dims.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int64)]
        lib.aotc_output_shape.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
                                          ctypes.POINTER(ctypes.c_int64)]
        for fn in ("aotc_input_name", "aotc_output_name", "aotc_input_dtype", "aotc_output_dtype"):
            getattr(lib, fn).restype = ctypes.c_char_p
        self._weights = _aligned_copy(weights)  # read by the library for the handle's whole life
        handle = ctypes.c_void_p()
        self._check(lib.aotc_create(self._weights.ctypes.data_as(ctypes.c_void_p), self._weights.nbytes,
                                    ctypes.byref(handle)))
        self._handle = handle
        self.set_threads(threads)
        self.input_names = [lib.aotc_input_name(i).decode() for i in range(lib.aotc_num_inputs())]
        self.output_names = [lib.aotc_output_name(i).decode() for i in range(lib.aotc_num_outputs())]
        self.input_dtypes = [DType(lib.aotc_input_dtype(i).decode()) for i in range(len(self.input_names))]
        self.output_dtypes = [DType(lib.aotc_output_dtype(i).decode()) for i in range(len(self.output_names))]

    def input_shapes(self, symbol_value: int = 1) -> list[tuple[int, ...]]:
        """Declared input shapes, every symbolic dimension taken as `symbol_value`."""
        shapes = []
        for index in range(len(self.input_names)):
            rank = self._lib.aotc_input_rank(index)
            dims = (ctypes.c_int64 * max(rank, 1))()
            self._check(self._lib.aotc_input_dims(index, dims))
            shapes.append(tuple(symbol_value if d < 0 else int(d) for d in dims[:rank]))
        return shapes

    def _check(self, status: int) -> None:
        if status != 0:
            message = self._lib.aotc_last_error().decode(errors="replace")
            raise self.error_kinds.get(status, RuntimeError)(message)

    def set_threads(self, threads: int) -> None:
        self._check(self._lib.aotc_set_num_threads(self._handle, int(threads)))

    def run(self, arrays: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`arrays` must already be C-contiguous with the declared dtypes and ranks."""
        shapes = [(ctypes.c_int64 * max(a.ndim, 1))(*a.shape) for a in arrays]
        shape_ptrs = (ctypes.POINTER(ctypes.c_int64) * max(len(arrays), 1))(
            *[ctypes.cast(s, ctypes.POINTER(ctypes.c_int64)) for s in shapes])
        outputs = []
        for index, dtype in enumerate(self.output_dtypes):
            rank = self._lib.aotc_output_rank(index)
            dims = (ctypes.c_int64 * max(rank, 1))()
            self._check(self._lib.aotc_output_shape(index, shape_ptrs, dims))
            outputs.append(np.empty(tuple(dims[:rank]), dtype=dtype.to_numpy()))
        in_ptrs = (ctypes.c_void_p * max(len(arrays), 1))(*[a.ctypes.data for a in arrays])
        out_ptrs = (ctypes.c_void_p * max(len(outputs), 1))(*[o.ctypes.data for o in outputs])
        self._check(self._lib.aotc_run(self._handle, in_ptrs, shape_ptrs, out_ptrs))
        return outputs

    def profile(self) -> list[float]:
        """Seconds spent in each kernel call since the handle was created."""
        count = self._lib.aotc_profile(self._handle, None, 0)
        buffer = (ctypes.c_double * max(count, 1))()
        self._lib.aotc_profile(self._handle, buffer, count)
        return list(buffer[:count])

    def close(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.aotc_destroy(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()
