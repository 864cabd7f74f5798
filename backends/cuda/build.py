"""Build a CUDA artifact: nvcc compiles model.cu to a cubin for the target's sm_XX, then the
system C compiler builds the host runtime (with the cubin linked in) into libmodel.so. Both
steps go through the content-addressed build cache; neither needs a GPU or links libcuda.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from compiler.errors import BuildError
from compiler.target import Target
from backends.base import Binary, Source
from backends.buildcache import build_cached
from backends.cpu.build import LIBRARY_NAME, compiler_command
from backends.cuda.host import CUBIN_NAME, HOST_NAME

KERNELS_NAME = "model.cu"


def nvcc_command() -> str:
    for candidate in (shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise BuildError("nvcc not found (looked on PATH and in /usr/local/cuda/bin); install the CUDA toolkit "
                     "to compile for CUDA targets")


def nvcc_flags(target: Target) -> list[str]:
    arch = target.name.split(":")[1]
    # No --use_fast_math: fp32 results must match the reference within 1e-5 (rel. L2).
    return ["-cubin", f"-arch={arch}", "-O3", "-std=c++17", "-Xptxas=-warn-spills"]


def host_flags() -> list[str]:
    return ["-std=gnu11", "-O2", "-fPIC", "-shared", "-Wall", "-Wno-unused-variable",
            "-Wno-unused-but-set-variable", "-Wl,--build-id=sha1"]


def build_cuda(source: Source, target: Target, cache_dir: Path | None) -> Binary:
    nvcc = nvcc_command()
    nvcc_line = (os.path.basename(nvcc), *nvcc_flags(target), "-o", CUBIN_NAME, KERNELS_NAME)
    cubin, cubin_key = build_cached(nvcc, nvcc_line, {KERNELS_NAME: source.files[KERNELS_NAME]}, CUBIN_NAME,
                                    cache_dir, "nvcc", KERNELS_NAME)
    cc = compiler_command()
    host_line = (os.path.basename(cc), *host_flags(), "-o", LIBRARY_NAME, HOST_NAME, "-ldl")
    host_files = {name: text for name, text in source.files.items() if name != KERNELS_NAME}
    library, host_key = build_cached(cc, host_line, {**host_files, CUBIN_NAME: cubin}, LIBRARY_NAME,
                                     cache_dir, "C compiler", HOST_NAME)
    return Binary({CUBIN_NAME: cubin, LIBRARY_NAME: library}, nvcc_line + ("&&",) + host_line,
                  {"cache_key": host_key, "cubin_cache_key": cubin_key})
