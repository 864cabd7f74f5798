"""`aotc bench` on the CPU against its peers: the torch eager and torch.compile contenders run the
MLP's torch.export program beside onnxruntime and aotc, every output checked against
onnxruntime's before timing; a wrong output stops the bench; peers and their models are checked
before any worker starts (TVM absent: one line naming aotc[peers]). Nothing asserts a speed."""
from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from compiler.bench.contenders import check_peers, pick_model
from compiler.bench.runner import BenchSettings, check_outputs, run_bench
from compiler.errors import AotcError, InputError

HAS_TVM = importlib.util.find_spec("tvm") is not None


@pytest.fixture(scope="module")
def mlp(tmp_path_factory):
    import zoo
    from compiler.api import compile_to_directory
    onnx_path = zoo.export("mlp", "torchscript")
    artifact = compile_to_directory(str(onnx_path), "cpu", tmp_path_factory.mktemp("peers") / "mlp")
    return artifact, onnx_path, zoo.save_exported_program("mlp")


@pytest.mark.zoo
def test_torch_and_torch_compile_match_onnxruntime_on_the_mlp(mlp):
    artifact, onnx_path, program = mlp
    settings = BenchSettings(threads=2, rounds=2, iterations=2, warmup=1, bindings={"batch": 3}, gap_seconds=0)
    result = run_bench(artifact, ["onnxruntime", "torch", "torch.compile"], [onnx_path, program], settings)
    assert result["reference"] == "onnxruntime"
    assert result["aotc"]["rel_l2_vs_reference"] <= 1e-5
    for peer in ("torch", "torch.compile"):
        row = result["peers"][peer]
        assert row["rel_l2_vs_reference"] <= 1e-5 and row["samples"] == 4
        assert row["ratio"] == pytest.approx(result["aotc"]["median_ms"] / row["median_ms"])


def _saved(tmp_path: Path, name: str, value: np.ndarray) -> SimpleNamespace:
    np.save(tmp_path / f"{name}.npy", value)
    return SimpleNamespace(name=name, output=tmp_path / f"{name}.npy")


def test_a_wrong_output_stops_the_bench_before_timing(tmp_path):
    expected = np.random.default_rng(1).standard_normal((3, 10)).astype(np.float32) + 0.1
    workers = [_saved(tmp_path, "aotc", expected * (1 + 1e-7)), _saved(tmp_path, "onnxruntime", expected),
               _saved(tmp_path, "torch.compile", expected * 1.01)]
    with pytest.raises(AotcError, match=r"torch.compile's output differs from onnxruntime's \(rel. L2 0.01"):
        check_outputs(workers, 1e-4)
    reference, errors = check_outputs(workers[:2], 1e-4)
    assert reference == "onnxruntime" and errors["aotc"] <= 1e-6


def test_without_onnxruntime_aotc_is_the_reference(tmp_path):
    value = np.arange(1, 5, dtype=np.float32).reshape(2, 2)
    reference, errors = check_outputs([_saved(tmp_path, "aotc", value), _saved(tmp_path, "torch", value)], 1e-4)
    assert reference == "aotc" and errors == {"torch": 0.0}
    with pytest.raises(AotcError, match=r"torch's output differs from aotc's \(rel. L2 inf"):   # a shape mismatch
        check_outputs([_saved(tmp_path, "aotc", value), _saved(tmp_path, "torch", value[:1])], 1.0)


@pytest.mark.parametrize("peer, models, message", [
    ("torch.compile", [Path("m.onnx")], "--against torch.compile: needs a torch.export program"),
    ("onnxruntime", [Path("m.pt2")], "--against onnxruntime: needs the ONNX model: pass --model PATH.onnx"),
    ("tensorrt", [], "--against tensorrt: unknown peer; known: onnxruntime, torch, torch.compile, tvm"),
])
def test_peers_and_their_models_are_checked_first(peer, models, message):
    with pytest.raises(InputError, match=re.escape(message)):
        check_peers([peer], models)


def test_each_peer_picks_its_model_by_suffix():
    models = [Path("m.pt2"), Path("m.onnx")]
    assert pick_model("torch", models) == Path("m.pt2") and pick_model("onnxruntime", models) == Path("m.onnx")
    assert pick_model("aotc", models) is None


@pytest.mark.skipif(HAS_TVM, reason="TVM is installed in this Python")
def test_against_tvm_without_tvm_is_one_line(mlp):
    artifact, onnx_path, _ = mlp
    result = subprocess.run([sys.executable, "-m", "compiler.cli", "bench", str(artifact), "--against", "tvm",
                             "--model", str(onnx_path)], capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip() == ("aotc: error: --against tvm: the 'tvm' package is not installed in this "
                                     "Python (pip install aotc[peers])")


@pytest.mark.zoo
@pytest.mark.skipif(HAS_TVM, reason="TVM is installed in this Python")
def test_a_peer_that_cannot_start_is_reported_not_fatal(mlp):
    artifact, onnx_path, _ = mlp
    settings = BenchSettings(threads=1, rounds=1, iterations=1, warmup=0, gap_seconds=0)
    result = run_bench(artifact, ["tvm", "onnxruntime"], [onnx_path], settings)
    assert "install aotc[peers]" in result["peers"]["tvm"]["error"]
    assert result["peers"]["onnxruntime"]["samples"] == 1 and result["reference"] == "onnxruntime"
