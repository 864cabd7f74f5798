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
