"""Execution on a GPU (marker `cuda`; skipped without a driver): the CPU backend's per-op cases
and zoo models, compiled for the GPU's architecture and compared with onnxruntime (CPU) and the
interpreter: relative L2 <= 1e-5 for fp32, exact for integers."""
from __future__ import annotations

import ctypes
import sys
from pathlib import Path

import numpy as np
import onnx.helper as oh
import onnxruntime as ort
import pytest

import compiler
from conftest import rel_l2, zoo_inputs
from cuda_testlib import has_driver, needs_gpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cpu"))
import test_cpu_ops  # noqa: E402
import test_cpu_ops_contraction  # noqa: E402
import test_cpu_ops_movement  # noqa: E402
import test_cpu_ops_nn  # noqa: E402
from cpu_testlib import check_case, check_model, make_feeds, make_model, params, seed_of  # noqa: E402

pytestmark = needs_gpu


def gpu_target() -> str:
    """cuda:sm_XX of GPU 0 (the tests compile for the device they run on)."""
    if not has_driver():
        return "cuda:sm_90"
    cu = ctypes.CDLL("libcuda.so.1")
    device, major, minor = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
    assert cu.cuInit(0) == 0 and cu.cuDeviceGet(ctypes.byref(device), 0) == 0
    cu.cuDeviceGetAttribute(ctypes.byref(major), 75, device)
    cu.cuDeviceGetAttribute(ctypes.byref(minor), 76, device)
    return f"cuda:sm_{major.value}{minor.value}"


OP_CASES = (test_cpu_ops.CASES + test_cpu_ops_contraction.CASES + test_cpu_ops_movement.CASES
            + test_cpu_ops_nn.CASES)


# The CPU suite's expected failures are the frontend's, so they hold on every target.
XFAILS = {**test_cpu_ops.XFAILS, **test_cpu_ops_contraction.XFAILS, **test_cpu_ops_movement.XFAILS,
          **test_cpu_ops_nn.XFAILS}


@pytest.mark.parametrize("case", params(OP_CASES, XFAILS))
def test_op_case_on_gpu(case):
    check_case(case, target=gpu_target())


def test_symbolic_batch_grows_the_arena():
    """One handle, several batch sizes: the device arena grows and keeps the weights."""
    rng = np.random.default_rng(1)
    nodes = [oh.make_node("MatMul", ["x", "w"], ["h"]), oh.make_node("Tanh", ["h"], ["y"])]
    model = make_model(nodes, {"x": (np.float32, ("batch", 300))}, ["y"],
                       {"w": rng.standard_normal((300, 40)).astype(np.float32)})
    check_model(model, [make_feeds(model, seed_of(f"b{b}"), sizes={"batch": b}) for b in (1, 7, 100, 3)],
                target=gpu_target())


@pytest.mark.parametrize("name", ["mlp", "resnet18", "mobilenet_v2", "bert", "gpt2"])
def test_zoo_model_on_gpu_matches_onnxruntime(zoo_path, name):
    path = zoo_path(name, "torchscript")
    artifact = compiler.compile(path, target=gpu_target())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = zoo_inputs(session, seed=7)
    expected = dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))
    actual = artifact.run(**feeds)
    for key, value in actual.items():
        assert value.shape == expected[key].shape and value.dtype == expected[key].dtype
        error = rel_l2(value, expected[key])
        print(f"{name} {key}: rel L2 {error:.3g}")
        assert error <= 1e-5, (key, error)
