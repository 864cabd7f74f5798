"""The artifact runs without Python: examples/c/run_model.c links the library through the
generated header, runs the model, and runs two handles concurrently from two threads."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import compiler
from conftest import REPO, rel_l2, zoo_inputs


@pytest.fixture(scope="module")
def resnet_artifact(tmp_path_factory, zoo_path):
    path = zoo_path("resnet18", "torchscript")
    out = tmp_path_factory.mktemp("c_abi") / "resnet18"
    compiler.compile(path, target="cpu").save(out)
    return path, out


def build_example(artifact: Path, work: Path) -> Path:
    cc = shutil.which("cc") or shutil.which("gcc")
    exe = work / "run_model"
    subprocess.run([cc, "-O2", "-std=gnu11", f"-I{artifact}", str(REPO / "examples/c/run_model.c"),
                    f"-L{artifact}", "-lmodel", f"-Wl,-rpath,{artifact}", "-lpthread", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    return exe


@pytest.mark.zoo
@pytest.mark.parametrize("handles", [1, 2])
def test_c_program_runs_the_model(resnet_artifact, tmp_path, handles):
    model_path, artifact = resnet_artifact
    exe = build_example(artifact, tmp_path)
    session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    feeds = zoo_inputs(session, seed=3)
    (x,) = feeds.values()
    x.tofile(tmp_path / "input.bin")
    result = subprocess.run([str(exe), str(artifact / "weights.bin"), str(tmp_path / "input.bin"),
                             str(tmp_path / "output.bin"), "--threads", "1", "--handles", str(handles)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    output = np.fromfile(tmp_path / "output.bin", dtype=np.float32).reshape(1, 1000)
    assert rel_l2(output, session.run(None, feeds)[0]) <= 1e-5


@pytest.mark.zoo
def test_c_library_refuses_wrong_weights_size(resnet_artifact, tmp_path):
    _, artifact = resnet_artifact
    exe = build_example(artifact, tmp_path)
    (tmp_path / "short.bin").write_bytes(b"\0" * 64)
    (tmp_path / "input.bin").write_bytes(np.ones((1, 3, 224, 224), np.float32).tobytes())
    result = subprocess.run([str(exe), str(tmp_path / "short.bin"), str(tmp_path / "input.bin"),
                             str(tmp_path / "out.bin")], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "weights are 64 bytes, expected" in result.stderr
