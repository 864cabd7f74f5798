"""Run a toolchain command on generated files through the content-addressed build cache.

The key is the tool's version, the command line and every input file, so a rebuild of the
same model is a cache hit and the output is byte-identical. The CPU and CUDA backends build
through this one function (gcc for shared libraries, nvcc for cubins).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping

from compiler.errors import BuildError


def tool_version(command: str) -> str:
    """Part of the build cache key (a few ms per build; no module-level cache)."""
    result = subprocess.run([command, "--version"], capture_output=True, text=True, check=False)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return " | ".join(lines[-2:]) if lines else command


def build_cached(tool: str, command: tuple[str, ...], files: Mapping[str, "str | bytes"], output: str,
                 cache_dir: Path | None, what: str, entry: str) -> tuple[bytes, str]:
    """Run `tool` with `command[1:]` in a directory holding `files`; returns `output`'s bytes
    and the cache key. Errors name the tool (`what`) and the generated file (`entry`)."""
    key_text = "\n".join([tool_version(tool), " ".join(command)]
                         + [f"{name}\n{_text(data)}" for name, data in sorted(files.items())])
    key = hashlib.sha256(key_text.encode(errors="surrogateescape")).hexdigest()[:32]
    if cache_dir is not None:
        cached = Path(cache_dir) / key / output
        if cached.is_file():
            return cached.read_bytes(), key
    with tempfile.TemporaryDirectory(prefix="aotc-build-") as tmp:
        # Always build in a directory named by the key, so paths the compiler may record
        # are the same on every machine and run.
        work = Path(tmp) / key
        work.mkdir()
        for name, data in files.items():
            (work / name).write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
        result = subprocess.run([tool, *command[1:]], cwd=work, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            first = next((l for l in result.stderr.splitlines() if "error" in l), result.stderr.strip()[:300])
            raise BuildError(f"{what} failed on the generated {entry}: {first}")
        data = (work / output).read_bytes()
    if cache_dir is not None:
        _store(Path(cache_dir) / key, output, data)
    return data, key


def _text(data: "str | bytes") -> str:
    return data if isinstance(data, str) else hashlib.sha256(data).hexdigest()


def _store(directory: Path, name: str, data: bytes) -> None:
    """Atomic insert into the build cache: concurrent builders never see a partial file."""
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-")
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.replace(tmp, directory / name)
