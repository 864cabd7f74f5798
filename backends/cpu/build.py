"""Build the CPU backend's C into a shared library with the system C compiler.

Builds go through the content-addressed build cache (backends/buildcache.py).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from compiler.errors import BuildError
from compiler.target import Target
from backends.base import Binary, Source
from backends.buildcache import build_cached

LIBRARY_NAME = "libmodel.so"


def compiler_command() -> str:
    for candidate in ("cc", "gcc", "clang"):
        path = shutil.which(candidate)
        if path:
            return path
    raise BuildError("no C compiler found (looked for cc, gcc, clang); install gcc")


def compile_flags(target: Target, opt_level: int = 3) -> list[str]:
    march = target.isa.march if target.isa else "x86-64"
    if opt_level not in (0, 1, 2, 3):
        raise BuildError(f"C optimisation level must be 0 to 3, got {opt_level}")
    # -fno-math-errno lets sqrt/exp vectorize; no -ffast-math: NaN/inf semantics must hold.
    return ["-std=gnu11", f"-O{opt_level}", "-fPIC", "-shared", "-fopenmp", f"-march={march}", "-mtune=generic",
            "-fno-math-errno", "-fno-plt", "-Wall", "-Wno-unused-variable", "-Wno-unused-but-set-variable",
            "-Wl,--build-id=sha1"]


def build_library(source: Source, target: Target, cache_dir: Path | None, opt_level: int = 3) -> Binary:
    cc = compiler_command()
    flags = compile_flags(target, opt_level)
    if any("_Float16" in text for text in source.files.values()):
        # Round every float16 operation to float16, as numpy and onnxruntime do (GCC otherwise
        # keeps float16 intermediates in float).
        flags.append("-fexcess-precision=16")
    command = (os.path.basename(cc), *flags, "-o", LIBRARY_NAME, source.entry, "-lm")
    data, key = build_cached(cc, command, source.files, LIBRARY_NAME, cache_dir, "C compiler", source.entry)
    return Binary({LIBRARY_NAME: data}, command, {"cache_key": key})
