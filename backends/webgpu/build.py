"""Build a WebGPU artifact: nothing to compile ahead of time (the browser's or wgpu's shader
compiler takes the WGSL at load), so the binary is the page: runtime.js (an ES module with no
dependencies) and index.html, copied from backends/webgpu/web/."""
from __future__ import annotations

from pathlib import Path

from backends.base import Binary, Source

WEB_DIR = Path(__file__).resolve().parent / "web"
WEB_FILES = ("runtime.js", "index.html")


def build_web(source: Source) -> Binary:
    return Binary({name: (WEB_DIR / name).read_bytes() for name in WEB_FILES}, ("copy", *WEB_FILES))


__all__ = ["WEB_FILES", "build_web"]
