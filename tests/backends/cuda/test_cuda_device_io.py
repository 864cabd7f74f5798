"""Device tensors in and out of a CUDA artifact: DLPack parsing (checked here on numpy's host
capsules), the one-line errors, and on a GPU (marker `cuda`) torch and cupy tensors read and
written in place, a caller's stream, and a CUDA-graph capture, compared with onnxruntime."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import onnx.helper as oh
import onnxruntime as ort
import pytest

import compiler
from compiler.errors import InputError
from compiler.ir.dtypes import DType
from conftest import rel_l2
from backends.cuda import dlpack
from backends.cuda.device_io import Slot, check, is_device_tensor
from cuda_testlib import on_gpu

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontends"))
from onnx_testlib import make_model  # noqa: E402

F32 = np.float32


def test_dlpack_view_reads_numpy_shape_strides_dtype_and_address():
    array = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    tensor = dlpack.view(array, "input 'x'")
    assert tensor.shape == (2, 3, 4) and tensor.dtype is DType.float32 and tensor.contiguous
    assert tensor.address == array.ctypes.data and tensor.device == "cpu:0"
    transposed = dlpack.view(array.transpose(0, 2, 1), "input 'x'")
    assert transposed.shape == (2, 4, 3) and transposed.strides == (12, 1, 4) and not transposed.contiguous
    assert dlpack.view(np.zeros((3, 1), np.int64)[:, :1], "x").contiguous  # size-1 axes: any stride
    assert dlpack.view(np.zeros(2, bool), "x").dtype is DType.bool


def test_host_arrays_are_not_device_tensors():
    assert not is_device_tensor(np.zeros(3, F32))
    assert not is_device_tensor([1.0, 2.0])


@pytest.mark.parametrize("value, message", [
    (np.zeros((2, 3), F32), "input 'x' is on cpu:0; this artifact runs on cuda:0"),
    ([1.0], "input 'x': a list is not a DLPack tensor"),
])
def test_check_names_the_input_and_what_is_wrong(value, message):
    with pytest.raises(InputError, match=re.escape(message)):
        check(value, Slot("x", "input", DType.float32, 2), 0)


def test_cpu_artifact_refuses_device_arguments():
    model = make_model([oh.make_node("Relu", ["x"], ["y"])], {"x": (F32, (2, 3))}, ["y"], {})
    artifact = compiler.compile(model, target="cpu")
    with pytest.raises(InputError, match="out= takes a device tensor; this artifact runs on cpu"):
        artifact(np.ones((2, 3), F32), out=[np.empty((2, 3), F32)])
    with pytest.raises(InputError, match="stream= applies to device tensors"):
        artifact(np.ones((2, 3), F32), stream=0)


# ---------------------------------------------------------------- on the GPU


def gemm_model():
    """Two inputs (one with a symbolic batch), a weight, one output."""
    rng = np.random.default_rng(3)
    nodes = [oh.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), oh.make_node("Tanh", ["h"], ["t"]),
             oh.make_node("Add", ["t", "z"], ["y"])]
    return make_model(nodes, {"x": (F32, ("batch", 64)), "z": (F32, ("batch", 48))}, ["y"],
                      {"w": rng.standard_normal((48, 64)).astype(F32), "b": rng.standard_normal(48).astype(F32)})


@pytest.fixture(scope="module")
def gemm():
    from test_cuda_run import gpu_target
    model = gemm_model()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return compiler.compile(model, target=gpu_target()), session


def feeds(batch: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"x": rng.standard_normal((batch, 64)).astype(F32), "z": rng.standard_normal((batch, 48)).astype(F32)}


@on_gpu
@pytest.mark.parametrize("batch", [1, 37])
def test_torch_tensors_in_and_out_without_copies(gemm, batch):
    torch = pytest.importorskip("torch")
    artifact, session = gemm
    host = feeds(batch, seed=batch)
    expected = session.run(None, host)[0]
    inputs = {k: torch.from_numpy(v).cuda() for k, v in host.items()}
    y = artifact(**inputs)                       # a new torch tensor on the inputs' device
    assert isinstance(y, torch.Tensor) and y.device.type == "cuda" and y.dtype == torch.float32
    assert rel_l2(y.cpu().numpy(), expected) <= 1e-5
    out = torch.full((batch, 48), float("nan"), device="cuda")
    assert artifact.run_list(**inputs, out=[out])[0] is out and rel_l2(out.cpu().numpy(), expected) <= 1e-5


@on_gpu
def test_cupy_arrays_in_and_out(gemm):
    cupy = pytest.importorskip("cupy")
    artifact, session = gemm
    host = feeds(5, seed=11)
    y = artifact(**{k: cupy.asarray(v) for k, v in host.items()})
    assert isinstance(y, cupy.ndarray)
    assert rel_l2(cupy.asnumpy(y), session.run(None, host)[0]) <= 1e-5


@on_gpu
def test_runs_on_the_callers_stream_and_inside_a_cuda_graph(gemm):
    torch = pytest.importorskip("torch")
    artifact, session = gemm
    x, z = torch.empty(8, 64, device="cuda"), torch.empty(8, 48, device="cuda")
    y = torch.empty(8, 48, device="cuda")
    stream = torch.cuda.Stream()
    with torch.cuda.stream(stream):
        artifact(x, z, out=[y])                   # warm-up: the arena is sized before capture
    stream.synchronize()
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        artifact(x, z, out=[y])
    for seed in (1, 2):
        host = feeds(8, seed)
        x.copy_(torch.from_numpy(host["x"]))
        z.copy_(torch.from_numpy(host["z"]))
        graph.replay()
        assert rel_l2(y.cpu().numpy(), session.run(None, host)[0]) <= 1e-5


@on_gpu
def test_device_errors_name_the_tensor(gemm):
    torch = pytest.importorskip("torch")
    artifact, _ = gemm
    x, z = torch.randn(4, 64, device="cuda"), torch.randn(4, 48, device="cuda")
    cases = [
        (dict(x=x.double(), z=z), "input 'x': expected dtype f32, got f64"),
        (dict(x=x, z=torch.randn(4, 48, 1, device="cuda")), "input 'z': expected rank 2"),
        (dict(x=x, z=torch.randn(5, 48, device="cuda")), "symbol 'batch'"),
        (dict(x=torch.randn(64, 4, device="cuda").t(), z=z), "input 'x': strides (1, 4) are not dense row-major"),
        (dict(x=torch.randn(4 * 64 + 1, device="cuda")[1:].view(4, 64), z=z), "is not 16-byte aligned"),
        (dict(x=x, z=z.cpu()), "input 'z' is a host array but the other inputs"),
        (dict(x=x, z=z, out=[torch.empty(4, 47, device="cuda")]), "output 'y': expected shape (4, 48)"),
        (dict(x=x, z=z, out=[x[:, :48]]), "output 'y': strides"),
        (dict(x=x, z=z, out=[z]), "output 'y' overlaps another input or output"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InputError, match=re.escape(message)):
            artifact(**kwargs)
