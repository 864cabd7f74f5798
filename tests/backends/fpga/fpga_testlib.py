"""Models the FPGA tests build in code (onnx.helper, seeded random weights) and a comparison
helper against onnxruntime."""
from __future__ import annotations

import numpy as np


def _init(rng, name, shape, scale):
    from onnx import numpy_helper
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def lenet(seed: int = 0, batch: "int | str" = "batch"):
    """LeNet-5 on 1x28x28: conv5x5(6, pad 2) relu maxpool, conv5x5(16) relu avgpool, 3 dense layers."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(seed)
    inits = [_init(rng, "c1w", (6, 1, 5, 5), 0.3), _init(rng, "c1b", (6,), 0.1),
             _init(rng, "c2w", (16, 6, 5, 5), 0.1), _init(rng, "c2b", (16,), 0.1),
             _init(rng, "f1w", (120, 400), 0.05), _init(rng, "f1b", (120,), 0.1),
             _init(rng, "f2w", (84, 120), 0.1), _init(rng, "f2b", (84,), 0.1),
             _init(rng, "f3w", (10, 84), 0.1), _init(rng, "f3b", (10,), 0.1)]
    nodes = [helper.make_node("Conv", ["x", "c1w", "c1b"], ["c1"], kernel_shape=[5, 5], pads=[2, 2, 2, 2]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], kernel_shape=[5, 5]),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("AveragePool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p2"], ["f"], axis=1),
             helper.make_node("Gemm", ["f", "f1w", "f1b"], ["g1"], transB=1),
             helper.make_node("Relu", ["g1"], ["h1"]),
             helper.make_node("Gemm", ["h1", "f2w", "f2b"], ["g2"], transB=1),
             helper.make_node("Relu", ["g2"], ["h2"]),
             helper.make_node("Gemm", ["h2", "f3w", "f3b"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "lenet", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 28, 28])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def onnxruntime_outputs(model, feeds: dict) -> list:
    import onnxruntime
    session = onnxruntime.InferenceSession(model.SerializeToString() if hasattr(model, "SerializeToString")
                                           else str(model), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def residual_cnn(seed: int = 0, size: int = 128):
    """A small ResNet-style CNN on 3 x size x size: its activations alone overflow a ZCU102's
    BRAM, so it runs on the streaming engine. conv-relu, conv + shortcut + relu, maxpool, strided
    conv with a 1x1 projection shortcut, global average pool, dense."""
    from onnx import TensorProto, helper
    rng = np.random.default_rng(seed)
    inits = [_init(rng, "w1", (16, 3, 3, 3), 0.3), _init(rng, "b1", (16,), 0.1),
             _init(rng, "w2", (16, 16, 3, 3), 0.1), _init(rng, "b2", (16,), 0.1),
             _init(rng, "w3", (32, 16, 3, 3), 0.1), _init(rng, "b3", (32,), 0.1),
             _init(rng, "wp", (32, 16, 1, 1), 0.2), _init(rng, "bp", (32,), 0.1),
             _init(rng, "wf", (10, 32), 0.2), _init(rng, "bf", (10,), 0.1)]
    conv = lambda i, w, b, o, **kw: helper.make_node("Conv", [i, w, b], [o], **kw)   # noqa: E731
    nodes = [conv("x", "w1", "b1", "c1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"]),
             conv("r1", "w2", "b2", "c2", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c2", "r1"], ["a2"]), helper.make_node("Relu", ["a2"], ["r2"]),
             helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             conv("p2", "w3", "b3", "c3", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
             conv("p2", "wp", "bp", "cp", kernel_shape=[1, 1], strides=[2, 2]),
             helper.make_node("Add", ["c3", "cp"], ["a3"]), helper.make_node("Relu", ["a3"], ["r3"]),
             helper.make_node("GlobalAveragePool", ["r3"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
             helper.make_node("Gemm", ["f", "wf", "bf"], ["y"], transB=1)]
    graph = helper.make_graph(nodes, "residual_cnn",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def estimate(artifact_dir) -> dict:
    import json
    from pathlib import Path
    return json.loads((Path(artifact_dir) / "hls" / "estimate.json").read_text())


def assert_fits(est: dict) -> None:
    """Every design stays within 80% of LUT/FF/DSP and 90% of BRAM."""
    for key, share in est["share"].items():
        assert share <= (0.9 if key == "bram" else 0.8), f"{key} at {share:.1%} of {est['part']}"
