"""Shared fixtures: the model zoo (exported once into a cache outside git) and helpers."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "examples"))


def rel_l2(actual: np.ndarray, expected: np.ndarray) -> float:
    expected = np.asarray(expected, dtype=np.float64)
    denominator = np.linalg.norm(expected)
    return float(np.linalg.norm(np.asarray(actual, dtype=np.float64) - expected) / (denominator or 1.0))


def tree_bytes(root: Path) -> dict[str, bytes]:
    """Every file under `root` by relative path: two artifacts compare as dicts."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="session")
def zoo_path():
    """zoo_path(name, exporter) -> Path of the exported .onnx (cached across runs)."""
    import zoo
    return lambda name, exporter="torchscript": zoo.export(name, exporter)


def zoo_inputs(session, seed: int = 0, batch: int = 1) -> dict[str, np.ndarray]:
    """Random non-zero inputs for an onnxruntime session's signature; token ids for int64."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for arg in session.get_inputs():
        shape = [d if isinstance(d, int) else batch for d in arg.shape]
        if "int64" in arg.type:
            feeds[arg.name] = rng.integers(1, 1000, shape).astype(np.int64)
        else:
            feeds[arg.name] = (rng.standard_normal(shape) + 0.1).astype(np.float32)
    return feeds


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch):
    """A private build cache, so a test really runs the C compiler."""
    monkeypatch.setenv("AOTC_BUILD_CACHE", str(tmp_path / "build-cache"))
    return tmp_path / "build-cache"


def pytest_report_header(config):
    return f"aotc tests; CI={os.environ.get('CI', '')}"
