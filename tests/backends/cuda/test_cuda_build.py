"""Compiling for CUDA on a machine without a GPU: nvcc builds the cubin, gcc the host library;
the artifact is deterministic, and loading it without a driver fails with one clear line."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import onnx.helper as oh
import pytest

import compiler
from compiler.api import compile_to_directory
from compiler.errors import BuildError, TargetError
from backends.base import Source
from backends.cuda.build import KERNELS_NAME, build_cuda
from backends.cuda.host import HOST_NAME
from compiler.target import resolve_target
from conftest import tree_bytes
from cuda_testlib import has_driver, needs_nvcc

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontends"))
from onnx_testlib import make_model  # noqa: E402

pytestmark = needs_nvcc

F32 = np.float32


def small_model():
    rng = np.random.default_rng(0)
    nodes = [oh.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), oh.make_node("Relu", ["h"], ["r"]),
             oh.make_node("Softmax", ["r"], ["y"], axis=-1)]
    return make_model(nodes, {"x": (F32, ("batch", 32))}, ["y"],
                      {"w": rng.standard_normal((16, 32)).astype(F32), "b": rng.standard_normal(16).astype(F32)})


def test_artifact_has_kernels_cubin_and_host_library(tmp_path):
    out = compile_to_directory(small_model(), "cuda:sm_90", tmp_path / "a")
    for name in ("kernels/model.cu", "kernels/host.c", "model.cubin", "libmodel.so", "aotc_model.h",
                 "manifest.json", "weights.bin"):
        assert (out / name).is_file(), name
    assert (out / "model.cubin").read_bytes()[:4] == b"\x7fELF"


def test_same_model_gives_a_byte_identical_artifact(tmp_path):
    a = compile_to_directory(small_model(), "cuda:sm_90", tmp_path / "a")
    b = compile_to_directory(small_model(), "cuda:sm_90", tmp_path / "b")
    assert tree_bytes(a) == tree_bytes(b)


@pytest.mark.skipif(has_driver(), reason="this machine has a CUDA driver")
def test_loading_without_a_driver_is_one_clear_line():
    with pytest.raises(TargetError) as error:
        compiler.compile(small_model(), target="cuda:sm_90")
    message = str(error.value)
    assert "no CUDA driver (libcuda.so.1) on this machine" in message and "\n" not in message


@pytest.mark.skipif(has_driver(), reason="this machine has a CUDA driver")
def test_cli_compiles_for_cuda_and_run_refuses_in_one_line(tmp_path):
    model = tmp_path / "m.onnx"
    onnx.save(small_model(), str(model))
    def aotc(*args):
        return subprocess.run([sys.executable, "-m", "compiler.cli", *args], capture_output=True, text=True, timeout=300)
    assert aotc("compile", str(model), "--target", "cuda:sm_90", "-o", str(tmp_path / "a"), "-q").returncode == 0
    result = aotc("run", str(tmp_path / "a"))
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("aotc: error: no CUDA driver (libcuda.so.1) on this machine: "
                                     "this artifact needs an NVIDIA GPU and its driver")


def test_nvcc_errors_are_a_build_error_with_its_message():
    source = Source({KERNELS_NAME: "__global__ void broken( {", HOST_NAME: ""}, entry=KERNELS_NAME)
    with pytest.raises(BuildError, match="nvcc failed on the generated model.cu: .*error"):
        build_cuda(source, resolve_target("cuda:sm_90"), None)


# Every zoo model, in the default tier: nvcc takes 1-6 s per model here (serial, 2 cores).
ZOO = ["mlp", "resnet18", "resnet50", "mobilenet_v2", "bert", "gpt2"]


@pytest.mark.zoo
@pytest.mark.parametrize("name", ZOO)
def test_zoo_model_compiles_for_sm90(zoo_path, tmp_path, name):
    out = compile_to_directory(zoo_path(name), "cuda:sm_90", tmp_path / name)
    assert (out / "model.cubin").stat().st_size > 0
