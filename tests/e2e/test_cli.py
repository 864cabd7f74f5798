"""The `aotc` command line end to end on the MLP: compile, run, inspect, bench, targets."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import onnxruntime as ort
import pytest

from conftest import rel_l2


def aotc(*args: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "compiler.cli", *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def mlp(zoo_path, tmp_path_factory):
    model = zoo_path("mlp", "torchscript")
    out = tmp_path_factory.mktemp("cli") / "mlp"
    aotc("compile", str(model), "--target", "cpu", "-o", str(out), "-q")
    return model, out


@pytest.mark.zoo
def test_run_with_named_npy_inputs_and_output_dir(mlp, tmp_path):
    model, out = mlp
    x = (np.random.default_rng(5).standard_normal((3, 784)) + 0.1).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    aotc("run", str(out), "--input", f"x={tmp_path / 'x.npy'}", "--output-dir", str(tmp_path / "outs"))
    y = np.load(tmp_path / "outs" / "y.npy")
    expected = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert y.shape == (3, 10) and rel_l2(y, expected) <= 1e-5


@pytest.mark.zoo
def test_inspect_json_reports_kernels_and_memory(mlp):
    _, out = mlp
    report = json.loads(aotc("inspect", str(out), "--json").stdout)
    # Gemm -> Relu -> Gemm -> Relu -> Gemm: each ReLU runs in its Gemm's epilogue.
    assert report["graph_nodes"] == 5 and report["kernel_calls"] == 3
    assert {"arena_bytes", "lower_bound", "kernels"} <= set(report)
    # The MLP's intermediates scale with the symbolic batch: they live in a per-batch region.
    (region,) = report["symbolic_regions"]
    assert region["symbols"] == ["batch"] and region["bytes"] >= region["lower_bound"] > 0
    gemms = [k for k in report["kernels"] if k["ops"] == ["Gemm"]]
    assert gemms and all(k["flops"] > 0 and k["bytes"] > 0 for k in gemms)
    text = aotc("inspect", str(out)).stdout
    assert "memory plan" in text and "lower bound" in text


@pytest.mark.zoo
def test_bench_json_has_ratio_per_peer(mlp):
    model, out = mlp
    report = json.loads(aotc("bench", str(out), "--against", "onnxruntime", "--model", str(model),
                             "--rounds", "2", "--iterations", "2", "--warmup", "1", "--shape", "batch=4",
                             "--json").stdout)
    row = report["peers"]["onnxruntime"]
    assert row["median_ms"] > 0 and report["aotc"]["median_ms"] > 0
    assert row["ratio"] == pytest.approx(report["aotc"]["median_ms"] / row["median_ms"])


def test_targets_lists_presets_and_ops():
    text = aotc("targets").stdout
    assert "cpu:x86-64-v4" in text and "cuda:sm_90" in text
    ops = aotc("targets", "--ops").stdout
    assert "Conv" in ops and "LayerNormalization" in ops
