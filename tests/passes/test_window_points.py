"""Per-point window lowering (Target.per_point_windows, the GPU targets' choice): depthwise
convolutions and max pools as one parallel iteration per output element, run on the CPU here
against onnxruntime — padding, stride, dilation, channel multipliers and a fused ReLU6 tail."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.target import resolve_target
from conftest import rel_l2

F32 = TensorProto.FLOAT


def window_model(op: str, channels: int, multiplier: int, size: int, kernel: int, stride: int,
                 pad: int, dilation: int, seed: int):
    rng = np.random.default_rng(seed)
    out_channels = channels * multiplier
    nodes, init = [], []
    if op == "Conv":
        init = [numpy_helper.from_array(rng.standard_normal((out_channels, 1, kernel, kernel)).astype(np.float32), "w"),
                numpy_helper.from_array(rng.standard_normal(out_channels).astype(np.float32), "b")]
        nodes.append(helper.make_node("Conv", ["x", "w", "b"], ["c"], group=channels, kernel_shape=[kernel] * 2,
                                      strides=[stride] * 2, pads=[pad] * 4, dilations=[dilation] * 2))
        nodes.append(helper.make_node("Clip", ["c", "lo", "hi"], ["y"]))
        init += [numpy_helper.from_array(np.array(0, np.float32), "lo"), numpy_helper.from_array(np.array(6, np.float32), "hi")]
    else:
        out_channels = channels
        nodes.append(helper.make_node("MaxPool", ["x"], ["y"], kernel_shape=[kernel] * 2, strides=[stride] * 2,
                                      pads=[pad] * 4, dilations=[dilation] * 2))
    out = (size + 2 * pad - dilation * (kernel - 1) - 1) // stride + 1
    graph = helper.make_graph(nodes, "window", [helper.make_tensor_value_info("x", F32, [2, channels, size, size])],
                              [helper.make_tensor_value_info("y", F32, [2, out_channels, out, out])], init)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("op,multiplier,size,kernel,stride,pad,dilation", [
    ("Conv", 1, 13, 3, 1, 1, 1), ("Conv", 1, 14, 3, 2, 1, 1), ("Conv", 2, 11, 5, 1, 2, 1),
    ("Conv", 1, 12, 3, 1, 2, 2), ("MaxPool", 1, 13, 3, 2, 1, 1), ("MaxPool", 1, 9, 2, 2, 0, 1),
])
def test_per_point_windows_match_onnxruntime(op, multiplier, size, kernel, stride, pad, dilation):
    model = window_model(op, 6, multiplier, size, kernel, stride, pad, dilation, seed=size + kernel)
    target = replace(resolve_target("cpu"), per_point_windows=("Conv", "MaxPool"), activation_layout="NCHW")
    art = compiler.compile(model, target=target)
    x = np.random.default_rng(7).standard_normal((2, 6, size, size)).astype(np.float32)
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    got = art(x=x)
    assert got.shape == want.shape
    assert rel_l2(got, want) <= 1e-6
