"""Run an FPGA artifact in C simulation: the generated top function, built for this host,
called through the bridge's C ABI with the artifact's weights (engine designs read them from
"DDR", i.e. the weights.bin array)."""
from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Mapping

import numpy as np

from backends.fpga_hls.build import LIBRARY_NAME


class FpgaCsimModel:
    def __init__(self, directory: Path, weights: np.ndarray, manifest: Mapping):
        self._lib = ctypes.CDLL(str(Path(directory) / LIBRARY_NAME))
        self._lib.aotc_csim_run.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p),
                                            ctypes.c_void_p, ctypes.c_uint]
        self._lib.aotc_csim_run.restype = ctypes.c_int
        self._weights = np.ascontiguousarray(weights).view(np.float32) if weights.size else np.zeros(1, np.float32)
        # Output shapes from the manifest: a symbolic axis (a string there) is the batch.
        self._outputs = [tuple(item["shape"]) for item in manifest["signature"]["outputs"]]

    def set_threads(self, threads: int) -> None:
        """C simulation is single-threaded, like the hardware's one top function."""

    def profile(self) -> list[float]:
        return []

    def run(self, inputs: list[np.ndarray]) -> list[np.ndarray]:
        batch = int(inputs[0].shape[0]) if inputs and inputs[0].ndim else 1
        arrays = [np.ascontiguousarray(a, np.float32) for a in inputs]
        outs = [np.zeros(tuple(batch if isinstance(d, str) else d for d in shape), np.float32)
                for shape in self._outputs]
        in_ptrs = (ctypes.c_void_p * max(1, len(arrays)))(*[a.ctypes.data for a in arrays])
        out_ptrs = (ctypes.c_void_p * max(1, len(outs)))(*[o.ctypes.data for o in outs])
        code = self._lib.aotc_csim_run(in_ptrs, out_ptrs, self._weights.ctypes.data, batch)
        if code != 0:
            raise RuntimeError(f"C simulation failed with code {code}")
        return outs
