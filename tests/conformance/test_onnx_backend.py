"""compiler.onnx_backend: the onnx Backend interface, and the honesty of its specialisation
(only shape-determining inputs become constants; everything else stays a run-time input)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx import helper as oh

from compiler.errors import UnsupportedError
from compiler.onnx_backend import AotcBackend


def _model(nodes, inputs, outputs, opset=18):
    graph = oh.make_graph(nodes, "g", [oh.make_tensor_value_info(n, t, s) for n, t, s in inputs],
                          [oh.make_tensor_value_info(n, t, s) for n, t, s in outputs])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", opset)])


def test_supports_cpu_only() -> None:
    assert AotcBackend.supports_device("CPU")
    assert not AotcBackend.supports_device("CUDA")


def test_a_shape_input_is_specialised_per_value_and_data_inputs_are_not() -> None:
    model = _model([oh.make_node("Reshape", ["x", "shape"], ["r"]), oh.make_node("Add", ["r", "y"], ["z"])],
                   [("x", TensorProto.FLOAT, [2, 3]), ("shape", TensorProto.INT64, [2]),
                    ("y", TensorProto.FLOAT, [1])],
                   [("z", TensorProto.FLOAT, ["a", "b"])])
    rep = AotcBackend.prepare(model, "CPU")
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    for shape, y in (((3, 2), 1.0), ((6, 1), 2.0), ((3, 2), 5.0)):
        (z,) = rep.run([x, np.array(shape, np.int64), np.array([y], np.float32)])
        np.testing.assert_array_equal(z, x.reshape(shape) + y)
    artifacts = list(rep._artifacts.values())
    assert len(artifacts) == 2                      # one per shape value; y never specialised
    for artifact, specialised in artifacts:
        assert specialised == {"shape"}
        assert "y" in artifact.input_names and "x" in artifact.input_names


def test_a_node_that_reads_a_specialised_value_runs_as_code() -> None:
    model = _model([oh.make_node("Range", ["start", "limit", "delta"], ["r"]), oh.make_node("Cos", ["r"], ["y"])],
                   [("start", TensorProto.FLOAT, []), ("limit", TensorProto.FLOAT, []),
                    ("delta", TensorProto.FLOAT, [])], [("y", TensorProto.FLOAT, ["n"])])
    rep = AotcBackend.prepare(model, "CPU")
    (y,) = rep.run([np.float32(0), np.float32(5), np.float32(1)])
    np.testing.assert_allclose(y, np.cos(np.arange(5, dtype=np.float32)), rtol=1e-6)
    artifact, _ = next(iter(rep._artifacts.values()))
    assert {"Range", "Cos"} <= {op for kernel in artifact.manifest["kernels"] for op in kernel["ops"]}


def test_an_unsupported_op_is_one_line_naming_op_and_node() -> None:
    model = _model([oh.make_node("Det", ["x"], ["y"], name="d1")],
                   [("x", TensorProto.FLOAT, [2, 2])], [("y", TensorProto.FLOAT, [])])
    with pytest.raises(UnsupportedError, match=r"op Det \(node 'd1'\) is not supported") as info:
        AotcBackend.run_model(model, [np.ones((2, 2), np.float32)])
    assert "\n" not in str(info.value)
    assert onnx.checker.check_model(model) is None
