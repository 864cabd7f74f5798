"""Channels-last window kernels (passes/lower/window.py): depthwise convolutions and max pools
after a 1x1 convolution (which puts the region in NHWC), over the interior's blocks of pixels,
its remainder and the border, with strides, dilations, uneven padding, a channel multiplier and
fused bias + ReLU6 / residual epilogues, against onnxruntime on fresh random inputs."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.api import compile_to_directory
from conftest import rel_l2

CASES = {
    # name: (channels, image side, window op attrs, multiplier, epilogue)
    "dw3-pad1": (24, 13, dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 1, "relu6"),
    "dw3-stride2": (16, 14, dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), 1, "relu6"),
    "dw5-dilated-uneven": (20, 17, dict(kernel_shape=[5, 5], pads=[2, 1, 3, 2], dilations=[2, 1]), 1, "none"),
    "dw3-multiplier2": (8, 11, dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 2, "none"),
    "dw3-residual": (32, 10, dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1]), 1, "residual"),
    "dw3-no-interior": (8, 3, dict(kernel_shape=[3, 3], pads=[2, 2, 2, 2]), 1, "relu6"),
    "maxpool3-stride2": (16, 15, dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]), 0, "none"),
    "maxpool2-wide-image": (8, 23, dict(kernel_shape=[2, 2], strides=[1, 1]), 0, "none"),
}


def _model(channels, side, attrs, multiplier, epilogue):
    rng = np.random.default_rng(channels * side)
    init = [numpy_helper.from_array((rng.standard_normal((channels, channels, 1, 1)) * 0.3).astype(np.float32), "w1")]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["p"])]          # 1x1: the region goes channels-last
    out_channels = channels * max(multiplier, 1)
    if multiplier:
        kh, kw = attrs["kernel_shape"]
        init += [numpy_helper.from_array((rng.standard_normal((out_channels, 1, kh, kw)) * 0.3).astype(np.float32), "wd"),
                 numpy_helper.from_array((rng.standard_normal(out_channels) + 0.1).astype(np.float32), "bd")]
        nodes.append(helper.make_node("Conv", ["p", "wd", "bd"], ["d"], group=channels, **attrs))
    else:
        nodes.append(helper.make_node("MaxPool", ["p"], ["d"], **attrs))
    last = "d"
    if epilogue == "relu6":
        init += [numpy_helper.from_array(np.float32(0.0), "lo"), numpy_helper.from_array(np.float32(6.0), "hi")]
        nodes.append(helper.make_node("Clip", ["d", "lo", "hi"], ["y"]))
        last = "y"
    elif epilogue == "residual":
        nodes.append(helper.make_node("Add", ["d", "p"], ["y"]))
        last = "y"
    pads, strides = attrs.get("pads", [0] * 4), attrs.get("strides", [1, 1])
    dilations, kernel = attrs.get("dilations", [1, 1]), attrs["kernel_shape"]
    out = [(side + pads[a] + pads[a + 2] - (kernel[a] - 1) * dilations[a] - 1) // strides[a] + 1 for a in (0, 1)]
    graph = helper.make_graph(nodes, "window_nhwc",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, side, side])],
                              [helper.make_tensor_value_info(last, TensorProto.FLOAT, [1, out_channels] + out)], init)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize("case", CASES)
def test_channels_last_window_matches_onnxruntime(case, tmp_path):
    channels, side, attrs, multiplier, epilogue = CASES[case]
    model = _model(channels, side, attrs, multiplier, epilogue)
    source = (compile_to_directory(model, "cpu", tmp_path / "a") / "kernels" / "model.c").read_text()
    assert "layout_x_nhwc" in source          # the window op really ran channels-last
    artifact = compiler.compile(model, threads=2)
    rng = np.random.default_rng()
    for _ in range(2):
        x = (rng.standard_normal((1, channels, side, side)) + 0.1).astype(np.float32)
        want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        assert rel_l2(artifact(x), want) <= 1e-5
