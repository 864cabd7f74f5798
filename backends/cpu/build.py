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


def compile_flags(target: Target) -> list[str]:
    march = target.isa.march if target.isa else "x86-64"
    # -fno-math-errno lets sqrt/exp vectorize; no -ffast-math: NaN/inf semantics must hold.
    return ["-std=gnu11", "-O3", "-fPIC", "-shared", "-fopenmp", f"-march={march}", "-mtune=generic",
            "-fno-math-errno", "-fno-plt", "-Wall", "-Wno-unused-variable", "-Wno-unused-but-set-variable",
            "-Wl,--build-id=sha1"]


def build_library(source: Source, target: Target, cache_dir: Path | None) -> Binary:
    cc = compiler_command()
    command = (os.path.basename(cc), *compile_flags(target), "-o", LIBRARY_NAME, source.entry, "-lm")
    data, key = build_cached(cc, command, source.files, LIBRARY_NAME, cache_dir, "C compiler", source.entry)
    return Binary({LIBRARY_NAME: data}, command, {"cache_key": key})
