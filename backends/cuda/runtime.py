"""Run a CUDA artifact's host library from Python. Its C ABI is the CPU artifact's, so the
ctypes wrapper is the CPU one; only the error codes it maps differ (a missing driver or a
failed device call is a TargetError)."""
from __future__ import annotations

from compiler.errors import InputError, TargetError
from backends.cpu.runtime import CpuModel


class CudaModel(CpuModel):
    error_kinds = {2: InputError, 3: TargetError, 6: TargetError}
