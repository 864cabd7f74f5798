"""What the CUDA tests need from the machine: nvcc to compile (every machine here has it), and
a driver with a GPU to run (only the lent GPU machine). A missing nvcc skips locally and fails
in CI; a missing driver always skips, with the reason."""
from __future__ import annotations

import ctypes
import os
import shutil

import pytest


def has_nvcc() -> bool:
    return bool(shutil.which("nvcc") or os.access("/usr/local/cuda/bin/nvcc", os.X_OK))


def has_driver() -> bool:
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


needs_nvcc = pytest.mark.skipif(not has_nvcc() and os.environ.get("CI") != "true",
                                reason="nvcc not found: CUDA compile tests need the CUDA toolkit")
# GPU execution: marker `cuda`, skipped where no driver can run it (everywhere but the GPU machine).
needs_gpu = [pytest.mark.cuda, needs_nvcc,
             pytest.mark.skipif(not has_driver(), reason="no CUDA driver (libcuda.so.1) on this machine")]


def on_gpu(test):
    """`needs_gpu` on one test, for files that also hold tests that run everywhere."""
    for mark in needs_gpu:
        test = mark(test)
    return test
