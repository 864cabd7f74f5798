"""Tiny ONNX models for the tuning tests: one GEMM-shaped kernel each (seconds to build)."""
from __future__ import annotations

from pathlib import Path

import numpy as np


def matmul_model(path: Path, m: int = 16, k: int = 40, n: int = 48, seed: int = 0) -> Path:
    """y = relu(x @ W + b): one contraction kernel with a bias and clamp epilogue."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array((rng.standard_normal((k, n)) + 0.1).astype(np.float32), "W")
    b = numpy_helper.from_array((rng.standard_normal(n) + 0.1).astype(np.float32), "b")
    nodes = [helper.make_node("MatMul", ["x", "W"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["z"]),
             helper.make_node("Relu", ["z"], ["y"])]
    graph = helper.make_graph(nodes, "tiny_matmul", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [m, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [m, n])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))
    return path


def conv_model(path: Path, channels: int = 8, out: int = 16, size: int = 10, seed: int = 0) -> Path:
    """y = relu(conv3x3(x, W, b), pad 1): a window (im2col) contraction."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(seed)
    w = numpy_helper.from_array((rng.standard_normal((out, channels, 3, 3)) * 0.2).astype(np.float32), "W")
    b = numpy_helper.from_array((rng.standard_normal(out) + 0.1).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[1, 1, 1, 1]), helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(nodes, "tiny_conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, out, size, size])], [w, b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.save(model, str(path))
    return path


def lowered(model: Path, target: str = "cpu"):
    """(LoweredGraph, tasks) of a model file, as `aotc tune` sees it."""
    from compiler.api import _import, default_options
    from compiler.pipeline import lower_graph
    from compiler.target import resolve_target
    from autotune.space import extract_tasks
    result = lower_graph(_import(str(model), None).graph, resolve_target(target), default_options())
    return result, extract_tasks(result.program, result.backend, result.target)


def failing_build(task, config, out_dir, *, target, options):
    """A candidate build that fails for KC=64 (a picklable stand-in for a compiler error)."""
    from compiler.errors import BuildError
    from compiler.tuning import build_candidate
    if config.param("KC", 0) == 64:
        raise BuildError("C compiler failed on the generated model.c: injected error")
    build_candidate(task, config, out_dir, target=target, options=options)


def config_with(space, **params):
    """The first config of `space` (in index order) whose Params have these values."""
    for index in range(space.size()):
        config = space.config_at(index)
        if all(config.param(name, None) == value for name, value in params.items()):
            return config
    raise LookupError(f"no config with {params}")
