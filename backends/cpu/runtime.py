"""Run a CPU artifact's shared library from Python through its C ABI (ctypes)."""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Sequence

import numpy as np

from compiler.errors import InputError, TargetError
from compiler.ir.dtypes import DType

_ERROR_KINDS = {2: InputError, 3: TargetError}


class CpuModel:
    """One handle on a loaded library: `run(list of arrays) -> list of arrays`."""

    def __init__(self, library_path: Path, weights: np.ndarray, threads: int = 1):
        self._lib = ctypes.CDLL(str(library_path))
        lib = self._lib
        lib.aotc_last_error.restype = ctypes.c_char_p
        lib.aotc_create.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.POINTER(ctypes.c_void_p)]
        lib.aotc_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p),
                                 ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)), ctypes.POINTER(ctypes.c_void_p)]
        lib.aotc_destroy.argtypes = [ctypes.c_void_p]
        lib.aotc_set_num_threads.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.aotc_output_shape.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
                                          ctypes.POINTER(ctypes.c_int64)]
        for fn in ("aotc_input_name", "aotc_output_name", "aotc_input_dtype", "aotc_output_dtype"):
            getattr(lib, fn).restype = ctypes.c_char_p
        self._weights = weights  # the library reads it for the handle's whole life
        handle = ctypes.c_void_p()
        self._check(lib.aotc_create(weights.ctypes.data_as(ctypes.c_void_p), weights.nbytes, ctypes.byref(handle)))
        self._handle = handle
        self.set_threads(threads)
        self.input_names = [lib.aotc_input_name(i).decode() for i in range(lib.aotc_num_inputs())]
        self.output_names = [lib.aotc_output_name(i).decode() for i in range(lib.aotc_num_outputs())]
        self.input_dtypes = [DType(lib.aotc_input_dtype(i).decode()) for i in range(len(self.input_names))]
        self.output_dtypes = [DType(lib.aotc_output_dtype(i).decode()) for i in range(len(self.output_names))]

    def _check(self, status: int) -> None:
        if status != 0:
            message = self._lib.aotc_last_error().decode(errors="replace")
            raise _ERROR_KINDS.get(status, RuntimeError)(message)

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

    def close(self) -> None:
        if getattr(self, "_handle", None):
            self._lib.aotc_destroy(self._handle)
            self._handle = None

    def __del__(self) -> None:
        self.close()
