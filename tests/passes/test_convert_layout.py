"""convert_layout: channels-last convolution regions with Transposes only at the boundaries;
values unchanged (interpreter), and compiled NHWC models match onnxruntime."""
from __future__ import annotations

import collections
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

import compiler
from compiler.api import default_options
from compiler.frontends.onnx import import_onnx
from compiler.ir.interpreter import interpret
from compiler.ir.verifier import verify
from conftest import rel_l2
from passes.convert_layout import ConvertLayout
from passes.eliminate_dead_code import eliminate_dead_code

F32 = TensorProto.FLOAT


def small_cnn():
    """Stem conv, residual block, depthwise conv + ReLU6, both pools, global pool, classifier."""
    rng = np.random.default_rng(0)
    weights = {"w1": (8, 3, 3, 3), "b1": (8,), "w2": (8, 8, 3, 3), "wd": (8, 1, 3, 3), "bd": (8,),
               "scale": (1, 8, 1, 1), "fc": (5, 8)}
    init = [numpy_helper.from_array((rng.standard_normal(s) * 0.3).astype(np.float32), n) for n, s in weights.items()]
    init += [numpy_helper.from_array(np.array(0.0, np.float32), "lo"), numpy_helper.from_array(np.array(6.0, np.float32), "hi")]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["c2", "r1"], ["s2"]),
        helper.make_node("Mul", ["s2", "scale"], ["m2"]),          # per-channel constant: re-laid out
        helper.make_node("MaxPool", ["m2"], ["p2"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["p2", "wd", "bd"], ["cd"], kernel_shape=[3, 3], group=8, pads=[1, 1, 1, 1]),
        helper.make_node("Clip", ["cd", "lo", "hi"], ["rd"]),
        helper.make_node("AveragePool", ["rd"], ["ap"], kernel_shape=[2, 2], strides=[1, 1]),
        helper.make_node("GlobalAveragePool", ["ap"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc"], ["y"], transB=1),
    ]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", F32, [1, 3, 17, 15])],
                              [helper.make_tensor_value_info("y", F32, [1, 5]),
                               helper.make_tensor_value_info("m2", F32, [1, 8, 9, 8])], initializer=init)
    return helper.make_model(graph, ir_version=10, opset_imports=[helper.make_opsetid("", 17)])


def test_nchw_is_the_identity():
    graph = import_onnx(small_cnn())
    assert ConvertLayout("NCHW")(graph) is graph


def test_channels_last_region_has_transposes_only_at_boundaries():
    graph = import_onnx(small_cnn())
    converted = eliminate_dead_code(ConvertLayout("NHWC")(graph))
    verify(converted)
    ops = collections.Counter(n.op for n in converted.nodes)
    # In: x. Out: the graph output m2 (an intermediate of the region), and before Flatten —
    # a (1, 1, 1, C) value, whose bytes are already in order: a free Reshape.
    assert ops["Transpose"] == 2 and ops["Reshape"] == 1
    assert all(n.attrs.channels_last for n in converted.nodes if n.op in ("Conv", "MaxPool", "AveragePool"))
    assert "GlobalAveragePool" not in ops
    x = (np.random.default_rng(1).standard_normal((1, 3, 17, 15)) + 0.1).astype(np.float32)
    before, after = interpret(graph, {"x": x}), interpret(converted, {"x": x})
    for name in graph.outputs:
        assert rel_l2(after[name], before[name]) <= 1e-6


@pytest.mark.zoo
@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_zoo_cnn_in_channels_last_needs_one_transpose(zoo_path, name):
    graph = import_onnx(zoo_path(name, "dynamo"))
    converted = eliminate_dead_code(ConvertLayout("NHWC")(graph))
    # The input's Transpose; the pooled (1, 1) result goes back by a free Reshape.
    assert collections.Counter(n.op for n in converted.nodes)["Transpose"] == 1


def test_compiled_channels_last_model_matches_onnxruntime():
    model = small_cnn()
    options = replace(default_options(), activation_layout="NHWC")
    art = compiler.compile(model, target="cpu", options=options)
    assert art.manifest["options"]["activation_layout"] == "NHWC"
    x = (np.random.default_rng(2).standard_normal((1, 3, 17, 15)) + 0.1).astype(np.float32)
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for got, want in zip(art.run_list(x=x), expected):
        assert got.shape == want.shape
        assert rel_l2(got, want) <= 1e-5


def test_auto_layout_choices():
    from passes.convert_layout import choose_layout
    graph = import_onnx(small_cnn())
    assert choose_layout(graph, "auto") == "NHWC"
    no_conv = graph.with_nodes(n for n in graph.nodes if n.op != "Conv")
    assert choose_layout(no_conv, "auto") == "NCHW"
    assert choose_layout(graph, "NCHW") == "NCHW"


@pytest.mark.zoo
def test_resnet_runs_channels_last_throughout(zoo_path):
    graph = import_onnx(zoo_path("resnet18", "torchscript"))
    converted = eliminate_dead_code(ConvertLayout("auto")(graph))
    convs = [n for n in converted.nodes if n.op == "Conv"]
    assert convs and all(n.attrs.channels_last for n in convs)
    # In: one Transpose of the image; out after the global pool (1 x 1 spatial): a free Reshape.
    ops = collections.Counter(n.op for n in converted.nodes)
    assert ops["Transpose"] == 1 and ops["Reshape"] == 1
    x = (np.random.default_rng(4).standard_normal((1, 3, 224, 224)) + 0.1).astype(np.float32)
    assert rel_l2(interpret(converted, {"x": x})["y"], interpret(graph, {"x": x})["y"]) <= 1e-6
