"""How the ONNX importer builds a graph: folding, names, symbols, constants, opsets, determinism."""
from __future__ import annotations

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from onnx import TensorProto, numpy_helper

from compiler.frontends.onnx import import_onnx
from compiler.frontends.names import Namer, sanitize
from compiler.ir.ops.shape import ReshapeAttrs
from compiler.ir.types import Sym
from onnx_testlib import compare_with_onnxruntime, make_model, random_inputs

F32, I64 = np.float32, np.int64


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=I64)


def test_shape_gather_concat_reshape_chain_folds_to_one_reshape() -> None:
    # What both torch exporters emit for x.view(x.size(0), -1).
    nodes = [
        oh.make_node("Shape", ["x"], ["s"]),
        oh.make_node("Gather", ["s", "zero"], ["n"], axis=0),
        oh.make_node("Unsqueeze", ["n", "axes0"], ["n1"]),
        oh.make_node("Concat", ["n1", "minus_one"], ["shape"], axis=0),
        oh.make_node("Reshape", ["x", "shape"], ["y"]),
    ]
    model = make_model(nodes, {"x": (F32, (2, 3, 4))}, ["y"],
                       {"zero": np.array(0, I64), "axes0": ints(0), "minus_one": ints(-1)})
    graph = compare_with_onnxruntime(model, random_inputs(model, 0))
    (node,) = graph.nodes
    assert (node.op, node.inputs, node.attrs) == ("Reshape", ("x",), ReshapeAttrs((2, -1)))
    assert dict(graph.constants) == {}


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_constant_forms(opset: int) -> None:
    tensor = numpy_helper.from_array(np.array([[1.5, -2.0, 3.0]], F32), "t")
    nodes = [
        oh.make_node("Constant", [], ["c_tensor"], value=tensor),
        oh.make_node("Constant", [], ["c_float"], value_float=0.25),
        oh.make_node("Constant", [], ["c_floats"], value_floats=[1.0, 2.0, 3.0]),
        oh.make_node("Constant", [], ["c_int"], value_int=3),
        oh.make_node("Constant", [], ["c_ints"], value_ints=[1, 3]),
        oh.make_node("Add", ["x", "c_tensor"], ["a"]),
        oh.make_node("Mul", ["a", "c_float"], ["b"]),
        oh.make_node("Sub", ["b", "c_floats"], ["y"]),
        oh.make_node("Reshape", ["y", "c_ints"], ["z"]),
        oh.make_node("Add", ["c_int", "c_int"], ["k"]),
    ]
    model = make_model(nodes, {"x": (F32, (1, 3))}, ["z", "k"], opset=opset)
    graph = compare_with_onnxruntime(model, random_inputs(model, 1))
    assert [n.op for n in graph.nodes] == ["Add", "Mul", "Sub", "Reshape"]
    assert graph.constants["k"].tolist() == 6


def test_constant_of_shape_shape_and_size_fold() -> None:
    nodes = [
        oh.make_node("Shape", ["x"], ["s"]),
        oh.make_node("Shape", ["x"], ["tail"], start=-2),
        oh.make_node("Shape", ["x"], ["middle"], start=1, end=-1),
        oh.make_node("Size", ["x"], ["n"]),
        oh.make_node("ConstantOfShape", ["s"], ["zeros"]),
        oh.make_node("ConstantOfShape", ["tail"], ["sevens"],
                     value=numpy_helper.from_array(np.array([7], I64))),
        oh.make_node("Add", ["x", "zeros"], ["y"]),
    ]
    model = make_model(nodes, {"x": (F32, (2, 3, 4))}, ["y", "sevens", "middle", "n"], opset=18)
    graph = compare_with_onnxruntime(model, random_inputs(model, 2))
    assert [n.op for n in graph.nodes] == ["Add"]
    assert graph.constants["sevens"].shape == (3, 4) and graph.constants["n"].tolist() == 24


def test_shape_of_static_part_of_symbolic_input_folds() -> None:
    nodes = [oh.make_node("Shape", ["x"], ["s"], start=1),
             oh.make_node("Concat", ["minus_one", "s"], ["shape"], axis=0),
             oh.make_node("Reshape", ["x", "shape"], ["y"])]
    model = make_model(nodes, {"x": (F32, ("batch", 3, 4))}, ["y"], {"minus_one": ints(-1)}, opset=15)
    graph = compare_with_onnxruntime(model, random_inputs(model, 3, {"batch": 5}))
    assert graph.nodes[0].attrs == ReshapeAttrs((-1, 3, 4))
    assert graph.type_of("y").shape == (Sym("batch"), 3, 4)


def test_folding_never_reads_graph_input_values() -> None:
    nodes = [oh.make_node("Add", ["c", "c"], ["c2"]), oh.make_node("Mul", ["x", "c2"], ["y"])]
    model = make_model(nodes, {"x": (F32, (3,))}, ["y"], {"c": np.array([1, 2, 3], F32)})
    graph = import_onnx(model)
    assert [(n.op, n.inputs) for n in graph.nodes] == [("Mul", ("x", "c2"))]
    assert graph.constants["c2"].tolist() == [2, 4, 6]


def test_unused_initializers_and_dead_nodes_are_dropped() -> None:
    nodes = [oh.make_node("Relu", ["x"], ["y"]), oh.make_node("Add", ["x", "w"], ["dead"])]
    graph_proto = oh.make_graph(
        nodes, "g", [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
        [oh.make_tensor_value_info("y", TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.ones(2, F32), "w"), numpy_helper.from_array(np.ones(5, F32), "unused")])
    model = oh.make_model(graph_proto, ir_version=10, opset_imports=[oh.make_opsetid("", 17)])
    graph = import_onnx(model)
    assert [n.op for n in graph.nodes] == ["Relu"] and dict(graph.constants) == {}


def test_names_are_sanitised_unique_identifiers() -> None:
    nodes = [oh.make_node("Relu", ["in put"], ["/layer1/Conv_output_0"], name="/layer1/Relu"),
             oh.make_node("Neg", ["/layer1/Conv_output_0"], ["layer1.Conv_output_0"]),
             oh.make_node("Abs", ["layer1.Conv_output_0"], ["7"], name="/layer1/Relu"),
             oh.make_node("Sigmoid", ["7"], ["out:0"])]
    model = make_model(nodes, {"in put": (F32, (2,))}, ["out:0"])
    graph = import_onnx(model)
    assert graph.input_names == ("in_put",)
    assert [(n.name, n.inputs, n.output_names) for n in graph.nodes] == [
        ("layer1_Relu", ("in_put",), ("layer1_Conv_output_0",)),
        ("Neg_1", ("layer1_Conv_output_0",), ("layer1_Conv_output_0_1",)),
        ("layer1_Relu_1", ("layer1_Conv_output_0_1",), ("v7",)),
        ("Sigmoid_3", ("v7",), ("out_0",)),
    ]
    assert graph.outputs == ("out_0",)
    assert graph.name == "test_graph" and import_onnx(model, name="mine").name == "mine"


def test_namer_is_deterministic() -> None:
    namer = Namer()
    assert [namer.fresh(n) for n in ("a", "a", "a_1", "", "9", "::")] == ["a", "a_1", "a_1_1", "v", "v9", "v_1"]
    assert namer.named("k", "x") == namer.named("k", "ignored") == "x"
    assert sanitize("/layer1/Conv_output_0") == "layer1_Conv_output_0"


def test_symbolic_dimensions() -> None:
    graph_proto = oh.make_graph(
        [oh.make_node("Relu", ["a"], ["y"]), oh.make_node("Relu", ["b"], ["z"])], "g",
        [oh.make_tensor_value_info("a", TensorProto.FLOAT, ["batch size", 4]),
         oh.make_tensor_value_info("b", TensorProto.FLOAT, ["batch size", None])],
        [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["batch size", 4]),
         oh.make_tensor_value_info("z", TensorProto.FLOAT, ["batch size", None])])
    model = oh.make_model(graph_proto, ir_version=10, opset_imports=[oh.make_opsetid("", 17)])
    graph = import_onnx(model)
    assert [v.type.shape for v in graph.inputs] == [(Sym("batch_size"), 4), (Sym("batch_size"), Sym("b_d1"))]


def test_symbolic_batch_runs_at_several_sizes() -> None:
    nodes = [oh.make_node("Gemm", ["x", "w", "b"], ["h"], transB=1), oh.make_node("Relu", ["h"], ["y"])]
    rng = np.random.default_rng(4)
    model = make_model(nodes, {"x": (F32, ("batch", 6))}, ["y"],
                       {"w": rng.standard_normal((5, 6)).astype(F32), "b": rng.standard_normal(5).astype(F32)})
    for batch in (1, 7):
        compare_with_onnxruntime(model, random_inputs(model, batch, {"batch": batch}))


def test_same_model_gives_identical_graphs(tmp_path) -> None:
    nodes = [oh.make_node("Shape", ["x"], ["s"]), oh.make_node("Reshape", ["x", "s"], ["r"]),
             oh.make_node("MatMul", ["r", "w"], ["y"])]
    model = make_model(nodes, {"x": (F32, (2, 3))}, ["y"], {"w": np.arange(12, dtype=F32).reshape(3, 4)})
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    first, second = import_onnx(path), import_onnx(str(path))
    assert (first.inputs, first.outputs, first.nodes) == (second.inputs, second.outputs, second.nodes)
    assert list(first.constants) == list(second.constants)
    assert all(np.array_equal(first.constants[k], second.constants[k]) for k in first.constants)


def test_external_data_next_to_the_model(tmp_path) -> None:
    weight = np.arange(64 * 64, dtype=F32).reshape(64, 64) / 1000
    model = make_model([oh.make_node("MatMul", ["x", "w"], ["y"])], {"x": (F32, (2, 64))}, ["y"], {"w": weight})
    onnx.save(model, tmp_path / "m.onnx", save_as_external_data=True, location="m.weights", size_threshold=0)
    assert (tmp_path / "m.weights").exists()
    graph = import_onnx(tmp_path / "m.onnx")
    np.testing.assert_array_equal(graph.constants["w"], weight)


def test_model_proto_is_not_modified() -> None:
    model = make_model([oh.make_node("Relu", ["x"], ["y"])], {"x": (F32, (2,))}, ["y"])
    before = model.SerializeToString()
    import_onnx(model)
    assert model.SerializeToString() == before


@pytest.mark.parametrize("opset", [7, 11, 12])
def test_opsets_before_13_are_upgraded(opset: int) -> None:
    graph_proto = oh.make_graph([oh.make_node("Relu", ["x"], ["y"])], "g",
                                [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                [oh.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = oh.make_model(graph_proto, ir_version=8, opset_imports=[oh.make_opsetid("", opset)])
    graph = import_onnx(model)
    assert [node.op for node in graph.nodes] == ["Relu"]


def test_newest_opset_is_accepted() -> None:
    newest = onnx.defs.onnx_opset_version()
    graph_proto = oh.make_graph([oh.make_node("Relu", ["x"], ["y"])], "g",
                                [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                                [oh.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = oh.make_model(graph_proto, opset_imports=[oh.make_opsetid("", newest)])
    assert [n.op for n in import_onnx(model).nodes] == ["Relu"]


def test_model_local_functions_are_inlined() -> None:
    body = [oh.make_node("Relu", ["a"], ["r"]), oh.make_node("Neg", ["r"], ["b"])]
    function = oh.make_function("local", "ReluNeg", ["a"], ["b"], body, [oh.make_opsetid("", 17)])
    graph_proto = oh.make_graph([oh.make_node("ReluNeg", ["x"], ["y"], domain="local")], "g",
                                [oh.make_tensor_value_info("x", TensorProto.FLOAT, [3])],
                                [oh.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = oh.make_model(graph_proto, ir_version=10, functions=[function],
                          opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("local", 1)])
    graph = compare_with_onnxruntime(model, random_inputs(model, 5))
    assert [n.op for n in graph.nodes] == ["Relu", "Neg"]
