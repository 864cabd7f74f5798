"""What tuning records of the CUDA backend key on besides the kernel: the target, the GPU that
measured them (its name, from the driver), the driver's version and nvcc's. A machine without a
driver says so in place of the GPU (records measured there would be estimates, not timings)."""
from __future__ import annotations

import ctypes
import subprocess

from compiler.errors import BuildError
from compiler.target import Target
from backends.cuda.build import nvcc_command


def gpu_description() -> str:
    """'NAME|driver=VERSION' of GPU 0, or 'no-gpu' where no driver or device answers."""
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return "no-gpu"
    device = ctypes.c_int()
    version = ctypes.c_int()
    name = ctypes.create_string_buffer(256)
    if (cuda.cuInit(0) != 0 or cuda.cuDeviceGet(ctypes.byref(device), 0) != 0
            or cuda.cuDeviceGetName(name, len(name), device) != 0 or cuda.cuDriverGetVersion(ctypes.byref(version)) != 0):
        return "no-gpu"
    return f"{name.value.decode(errors='replace')}|driver={version.value}"


def nvcc_version() -> str:
    try:
        result = subprocess.run([nvcc_command(), "--version"], capture_output=True, text=True, check=False)
    except (BuildError, OSError):
        return "no-nvcc"
    release = [line for line in result.stdout.splitlines() if "release" in line]
    return release[-1].split("release", 1)[1].strip() if release else "nvcc"


def fingerprint(target: Target) -> str:
    return f"{target.name}|{gpu_description()}|nvcc {nvcc_version()}"


__all__ = ["fingerprint", "gpu_description", "nvcc_version"]
