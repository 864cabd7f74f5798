"""Build the generated project's C simulation: the top function, the layer library and a C ABI
bridge, compiled by the system C++ compiler against Xilinx's ap_types headers (Apache-2.0), as
the `hls4ml` package ships them. Builds go through the content-addressed build cache.
"""
from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from compiler.errors import BuildError
from backends.base import Binary, Source
from backends.buildcache import build_cached

LIBRARY_NAME = "libcsim.so"
FIRMWARE = "hls/firmware/"
# -ffp-contract=off: no fused multiply-adds the hardware's separate fmul/fadd would not do.
FLAGS = ("-std=c++14", "-O2", "-fPIC", "-shared", "-ffp-contract=off", "-w", "-Wl,--build-id=sha1")


def ap_types_dir() -> Path:
    """Where pip installed hls4ml's copy of the ap_types headers (ap_int.h, ap_fixed.h, hls_stream.h)."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise BuildError("the FPGA C simulation needs Xilinx's ap_types headers from the hls4ml package: "
                         "pip install hls4ml==1.3.0")
    path = Path(list(spec.submodule_search_locations)[0]) / "templates" / "vivado" / "ap_types"
    if not (path / "ap_fixed.h").is_file():
        raise BuildError(f"{path}: no ap_fixed.h in this hls4ml install; pip install hls4ml==1.3.0")
    return path


def cxx_command() -> str:
    for candidate in ("c++", "g++", "clang++"):
        path = shutil.which(candidate)
        if path:
            return path
    raise BuildError("no C++ compiler found (looked for c++, g++, clang++); install g++")


def csim_files(source: Source) -> dict[str, str]:
    """The firmware files a C-simulation build reads (flat names, as the includes use them)."""
    return {name[len(FIRMWARE):]: text for name, text in source.files.items()
            if name.startswith(FIRMWARE) and name != FIRMWARE + "aotc_tb.cpp"}


def build_csim(source: Source, cache_dir: Path | None) -> Binary:
    cxx = cxx_command()
    # The include path is part of the command (so of the cache key) but not of the output.
    command = (cxx, *FLAGS, f"-I{ap_types_dir()}", "-I.", "aotc_top.cpp", "csim_bridge.cpp", "-o", LIBRARY_NAME)
    data, key = build_cached(cxx, command, csim_files(source), LIBRARY_NAME, cache_dir,
                             what="the C++ compiler (FPGA C simulation)", entry="hls/firmware/aotc_top.cpp")
    return Binary({LIBRARY_NAME: data}, command=command, metadata={"cache_key": key})
