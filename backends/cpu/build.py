"""Build the CPU backend's C into a shared library with the system C compiler.

Builds are content-addressed: the key is the source text, the flags and the compiler's
version, so a rebuild of the same model is a cache hit and the library is byte-identical.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from compiler.errors import BuildError
from compiler.target import Target
from backends.base import Binary, Source

LIBRARY_NAME = "libmodel.so"


def compiler_command() -> str:
    for candidate in ("cc", "gcc", "clang"):
        path = shutil.which(candidate)
        if path:
            return path
    raise BuildError("no C compiler found (looked for cc, gcc, clang); install gcc")


def compiler_version(command: str) -> str:
    """Part of the build cache key (a few ms per build; no module-level cache)."""
    result = subprocess.run([command, "--version"], capture_output=True, text=True, check=False)
    return result.stdout.splitlines()[0] if result.stdout else command


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
    key_text = "\n".join([compiler_version(cc), " ".join(flags)]
                         + [f"{name}\n{text}" for name, text in sorted(source.files.items())])
    key = hashlib.sha256(key_text.encode()).hexdigest()[:32]
    command = (os.path.basename(cc), *flags, "-o", LIBRARY_NAME, source.entry, "-lm")
    if cache_dir is not None:
        cached = Path(cache_dir) / key / LIBRARY_NAME
        if cached.is_file():
            return Binary({LIBRARY_NAME: cached.read_bytes()}, command, {"cache_key": key})
    with tempfile.TemporaryDirectory(prefix="aotc-build-") as tmp:
        # Always build in a directory named by the key, so paths the compiler may record
        # are the same on every machine and run.
        work = Path(tmp) / key
        work.mkdir()
        for name, text in source.files.items():
            (work / name).write_text(text, encoding="utf-8")
        result = subprocess.run([cc, *command[1:]], cwd=work, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            first = next((l for l in result.stderr.splitlines() if "error" in l), result.stderr.strip()[:300])
            raise BuildError(f"C compiler failed on the generated {source.entry}: {first}")
        data = (work / LIBRARY_NAME).read_bytes()
    if cache_dir is not None:
        _store(Path(cache_dir) / key, data)
    return Binary({LIBRARY_NAME: data}, command, {"cache_key": key})


def _store(directory: Path, data: bytes) -> None:
    """Atomic insert into the build cache: concurrent builders never see a partial file."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, directory / LIBRARY_NAME)
