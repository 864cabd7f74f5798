"""What the WebGPU tests need from the machine: wgpu and an adapter (lavapipe, Debian's
mesa-vulkan-drivers, on a CPU-only machine) to run; Chromium and node's playwright-core for the
browser test. Missing pieces skip locally and fail in CI (`make webgpu-setup` installs them)."""
from __future__ import annotations

import functools
import os
import shutil
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parent / "browser"
CHROMIUM = "/usr/bin/chromium"


@functools.cache
def adapter_problem() -> str | None:
    """Why no WebGPU adapter is available to wgpu, or None when one is."""
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")   # quiets Mesa's warnings, nothing else
    try:
        import wgpu
    except ImportError:
        return "wgpu is not installed (pip install wgpu)"
    try:
        adapter = wgpu.gpu.request_adapter_sync(power_preference="high-performance")
    except Exception as error:   # wgpu raises RuntimeError with the driver's message
        return f"no WebGPU adapter: {error}"
    return None if adapter is not None else "no WebGPU adapter (apt-get install mesa-vulkan-drivers)"


def browser_problem() -> str | None:
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} not found (apt-get install chromium)"
    if not shutil.which("node"):
        return "node not found (apt-get install nodejs npm)"
    if not (BROWSER_DIR / "node_modules" / "playwright-core").is_dir():
        return f"playwright-core not installed (npm ci --prefix {BROWSER_DIR})"
    return None


def _skip_unless(problem) -> pytest.MarkDecorator:
    reason = problem()
    return pytest.mark.skipif(reason is not None and os.environ.get("CI") != "true", reason=reason or "")


needs_adapter = [pytest.mark.webgpu, _skip_unless(adapter_problem)]
needs_browser = [pytest.mark.webgpu, _skip_unless(browser_problem)]
