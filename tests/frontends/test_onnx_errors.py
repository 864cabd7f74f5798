"""The ONNX frontend's errors: one line, naming the file (or model), the node and the op."""
from __future__ import annotations

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from onnx import TensorProto, numpy_helper

from compiler.errors import ModelError, UnsupportedError
from compiler.frontends.onnx import import_onnx
from onnx_testlib import make_model

F32, I64 = np.float32, np.int64


def raises_one_line(error_type, model, match: str) -> str:
    with pytest.raises(error_type, match=match) as info:
        import_onnx(model)
    message = str(info.value)
    assert "\n" not in message, message
    return message


def small_model() -> onnx.ModelProto:
    weight = np.arange(256, dtype=F32).reshape(16, 16)
    return make_model([oh.make_node("MatMul", ["x", "w"], ["y"])], {"x": (F32, (1, 16))}, ["y"], {"w": weight})


def test_missing_file(tmp_path) -> None:
    path = tmp_path / "model.onnx"
    raises_one_line(ModelError, path, f"{path}: no such file")


def test_directory(tmp_path) -> None:
    raises_one_line(ModelError, tmp_path, "is a directory")


def test_truncated_file(tmp_path) -> None:
    data = small_model().SerializeToString()
    path = tmp_path / "model.onnx"
    path.write_bytes(data[: len(data) // 2])
    raises_one_line(ModelError, path, r"model\.onnx: not a valid ONNX model \(")


@pytest.mark.parametrize("content", [b"\xff\xfe garbage \x00\x01" * 10, b"", b"not a protobuf at all"])
def test_garbage_bytes(tmp_path, content: bytes) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(content)
    raises_one_line(ModelError, str(path), r"model\.onnx: not a valid ONNX model")


def test_checker_failure_reports_its_first_line(tmp_path) -> None:
    model = small_model()
    model.graph.node[0].input[1] = "undefined"
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    raises_one_line(ModelError, path, r"model\.onnx: fails the ONNX checker: .*undefined")


def test_missing_external_data(tmp_path) -> None:
    onnx.save(small_model(), tmp_path / "model.onnx", save_as_external_data=True, location="w.bin",
              size_threshold=0)
    (tmp_path / "w.bin").unlink()
    raises_one_line(ModelError, tmp_path / "model.onnx", "model.onnx: cannot load external weight data")


def test_model_proto_without_its_external_data(tmp_path) -> None:
    onnx.save(small_model(), tmp_path / "model.onnx", save_as_external_data=True, location="w.bin",
              size_threshold=0)
    proto = onnx.load(tmp_path / "model.onnx", load_external_data=False)
    raises_one_line(UnsupportedError, proto, "tensor 'w' keeps its data in an external file")


def test_unsupported_op_names_op_and_node(tmp_path) -> None:
    nodes = [oh.make_node("Relu", ["boxes"], ["b"]),
             oh.make_node("NonMaxSuppression", ["b", "scores"], ["selected"], name="nms_1"),
             oh.make_node("Unique", ["scores"], ["v"], name="unique")]
    model = make_model(nodes, {"boxes": (F32, (1, 4, 4)), "scores": (F32, (1, 1, 4))}, ["selected", "v"])
    path = tmp_path / "model.onnx"
    onnx.save(model, path)
    message = raises_one_line(UnsupportedError, path, "op NonMaxSuppression")
    assert message == (f"{path}: op NonMaxSuppression (node 'nms_1') is not supported by aotc; "
                       f"see `aotc targets --ops`; also unsupported: Unique")


def test_other_domain_is_named() -> None:
    graph = oh.make_graph([oh.make_node("Gelu", ["x"], ["y"], domain="com.microsoft", name="g1")], "g",
                          [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
    model = oh.make_model(graph, ir_version=10, opset_imports=[oh.make_opsetid("", 17),
                                                               oh.make_opsetid("com.microsoft", 1)])
    raises_one_line(UnsupportedError, model, "op Gelu \\(node 'g1'\\) is from domain 'com.microsoft'")


def test_non_constant_reshape_shape() -> None:
    model = make_model([oh.make_node("Reshape", ["x", "s"], ["y"], name="r1")],
                       {"x": (F32, (2, 3)), "s": (I64, (2,))}, ["y"])
    raises_one_line(UnsupportedError, model,
                    r"op Reshape \(node 'r1'\): input 1 \('s', the shape\) is computed at run time")


@pytest.mark.parametrize("op, inputs, index, what", [
    ("Slice", ["x", "s", "e"], 1, "starts"),
    ("Expand", ["x", "s"], 1, "shape"),
    ("Unsqueeze", ["x", "s"], 1, "axes"),
    ("ReduceSum", ["x", "s"], 1, "axes"),
    ("Tile", ["x", "s"], 1, "repeats"),
    ("Pad", ["x", "s"], 1, "pads"),
])
def test_non_constant_shape_inputs(op: str, inputs: list[str], index: int, what: str) -> None:
    consts = {"e": np.array([1], I64)}
    model = make_model([oh.make_node(op, inputs, ["y"], name="n")], {"x": (F32, (1, 2)), "s": (I64, (2,))},
                       ["y"], {k: v for k, v in consts.items() if k in inputs},
                       output_types={"y": (F32, [None] * (4 if op == "Unsqueeze" else 2))})
    raises_one_line(UnsupportedError, model,
                    rf"op {op} \(node 'n'\): input {index} \('s', the {what}\) is computed at run time")


def test_non_constant_range() -> None:
    model = make_model([oh.make_node("Range", ["s", "l", "d"], ["y"], name="r")], {"l": (I64, ())}, ["y"],
                       {"s": np.array(0, I64), "d": np.array(1, I64)})
    raises_one_line(UnsupportedError, model, r"op Range \(node 'r'\): input 1 \('l', the limit\)")


def test_shape_of_symbolic_dimension() -> None:
    nodes = [oh.make_node("Shape", ["x"], ["s"], name="shape"), oh.make_node("Reshape", ["x", "s"], ["y"])]
    model = make_model(nodes, {"x": (F32, ("batch", 3))}, ["y"])
    raises_one_line(UnsupportedError, model, r"op Shape \(node 'shape'\): reads symbolic dimension\(s\) batch")


def test_maxpool_indices_in_use_are_unsupported() -> None:
    model = make_model([oh.make_node("MaxPool", ["x"], ["y", "i"], kernel_shape=[2], name="pool")],
                       {"x": (F32, (1, 1, 4))}, ["y", "i"])
    raises_one_line(UnsupportedError, model, r"op MaxPool \(node 'pool'\): output 1 \('i'\) is used")


@pytest.mark.parametrize("op, consumed", [("LayerNormalization", 1), ("LayerNormalization", 2), ("Dropout", 1)])
def test_extra_outputs_in_use_are_computed(op: str, consumed: int) -> None:
    """LayerNormalization's statistics come from its ONNX function body; Dropout's mask from
    the inference Dropout op."""
    outputs = ["y", "o1", "o2"][: 3 if op == "LayerNormalization" else 2]
    inputs = ["x", "scale"] if op == "LayerNormalization" else ["x"]
    nodes = [oh.make_node(op, inputs, outputs, name="n"), oh.make_node("Identity", [outputs[consumed]], ["z"])]
    model = make_model(nodes, {"x": (F32, (2, 4))}, ["y", "z"], {"scale": np.ones(4, F32)} if op != "Dropout" else {})
    graph = import_onnx(model)
    assert len(graph.outputs) == 2 and graph.nodes


def test_unused_extra_outputs_are_fine() -> None:
    nodes = [oh.make_node("LayerNormalization", ["x", "scale"], ["y", "mean", "inv"]),
             oh.make_node("Dropout", ["y"], ["z", "mask"])]
    model = make_model(nodes, {"x": (F32, (2, 4))}, ["z"], {"scale": np.ones(4, F32)})
    assert [n.op for n in import_onnx(model).nodes] == ["LayerNormalization", "Identity"]


def test_infer_error_names_node_and_op() -> None:
    model = small_model()
    model.graph.input[0].type.tensor_type.shape.dim[1].dim_value = 5
    raises_one_line(ModelError, model, r"op MatMul \(node 'MatMul_0'\): MatMul: inner dimensions 5 and 16 differ")


def test_string_input_is_unsupported() -> None:
    graph = oh.make_graph([oh.make_node("Identity", ["s"], ["y"])], "g",
                          [oh.make_tensor_value_info("s", TensorProto.STRING, [2])],
                          [oh.make_tensor_value_info("y", TensorProto.STRING, [2])])
    model = oh.make_model(graph, ir_version=10, opset_imports=[oh.make_opsetid("", 17)])
    raises_one_line(UnsupportedError, model, "input 's' has element type STRING")


def test_complex_initializer_is_unsupported() -> None:
    graph = oh.make_graph([oh.make_node("Identity", ["c"], ["y"])], "g", [],
                          [oh.make_tensor_value_info("y", TensorProto.COMPLEX64, [2])],
                          [numpy_helper.from_array(np.ones(2, np.complex64), "c")])
    model = oh.make_model(graph, ir_version=10, opset_imports=[oh.make_opsetid("", 17)])
    raises_one_line(UnsupportedError, model, "initializer 'c' has element type COMPLEX64")


def test_pad_wrap_mode_is_unsupported() -> None:
    model = make_model([oh.make_node("Pad", ["x", "p"], ["y"], mode="wrap", name="pad")], {"x": (F32, (2, 3))},
                       ["y"], {"p": np.array([0, 1, 0, 1], I64)}, opset=19)
    raises_one_line(UnsupportedError, model, r"op Pad \(node 'pad'\): pad mode 'wrap' is not supported")


def test_declared_dtype_disagreeing_is_a_model_error() -> None:
    model = make_model([oh.make_node("Relu", ["x"], ["h"]), oh.make_node("Neg", ["h"], ["y"])],
                       {"x": (F32, (2,))}, ["y"])
    model.graph.value_info.append(oh.make_tensor_value_info("h", TensorProto.DOUBLE, [2]))
    raises_one_line(ModelError, model, "value 'h' is declared f64 but its producer computes f32")


def test_wrong_argument_type() -> None:
    with pytest.raises(TypeError, match="path or an onnx.ModelProto"):
        import_onnx(42)  # type: ignore[arg-type]


def test_same_pooling_that_would_crop_is_unsupported() -> None:
    model = make_model([oh.make_node("MaxPool", ["x"], ["y"], kernel_shape=[1, 1], strides=[3, 1],
                                     auto_pad="SAME_UPPER", name="pool")], {"x": (F32, (1, 1, 3, 3))}, ["y"])
    raises_one_line(UnsupportedError, model, r"op MaxPool \(node 'pool'\): auto_pad SAME_UPPER with a window")
