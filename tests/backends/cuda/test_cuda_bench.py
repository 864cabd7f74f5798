"""`aotc bench` for CUDA artifacts: peers and their model are checked before anything loads;
on a GPU (marker `cuda`) the MLP races torch eager and torch.compile, with and without CUDA
graphs, and every side's output matches torch eager's. Nothing here asserts a speed."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from compiler.bench.gpu import GpuBenchSettings, check_peers, run_gpu_bench
from compiler.errors import InputError
from cuda_testlib import on_gpu


@pytest.mark.parametrize("model, peers, message", [
    (Path("m.onnx"), ["torch"], "--model m.onnx: the torch peers run a torch.export program"),
    (None, ["torch.compile"], "--model (none): the torch peers run a torch.export program"),
    (Path("m.pt2"), ["onnxruntime"], "--against onnxruntime: unknown peer for CUDA artifacts"),
])
def test_peers_and_their_model_are_checked_first(model, peers, message):
    with pytest.raises(InputError, match=re.escape(message)):
        check_peers(model, peers)


def test_no_peers_need_no_model():
    check_peers(None, [])


@on_gpu
@pytest.mark.parametrize("cuda_graph, exported_on", [(True, "cuda"), (False, "cuda"), (True, "cpu")])
def test_mlp_against_torch_and_torch_compile(tmp_path, cuda_graph, exported_on):
    """A program exported on the CPU is moved to the GPU for the peers."""
    import zoo
    from compiler.api import compile_to_directory
    from test_cuda_run import gpu_target
    artifact = compile_to_directory(str(zoo.export("mlp", "torchscript")), gpu_target(), tmp_path / "mlp")
    settings = GpuBenchSettings(rounds=2, reps=3, warmup=2, cuda_graph=cuda_graph, bindings={"batch": 4})
    result = run_gpu_bench(artifact, zoo.save_exported_program("mlp", device=exported_on), ["torch", "torch.compile"], settings)
    assert result["cuda_graph"] is cuda_graph and result["aotc"]["samples"] == 6
    assert result["aotc"]["rel_l2_vs_torch"] <= 1e-5
    for peer in ("torch", "torch.compile"):
        row = result["peers"][peer]
        assert "error" not in row, row
        assert row["median_ms"] > 0 and row["ratio"] > 0 and row["rel_l2_vs_torch"] <= 1e-5
