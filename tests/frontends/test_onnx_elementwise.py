"""Elementwise ONNX ops imported and interpreted by aotc, compared with onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from onnx_testlib import Case, compare_with_onnxruntime, random_inputs

F32, F16, I32, I64, BOOL = np.float32, np.float16, np.int32, np.int64, np.bool_

UNARY_FLOAT = ("Relu", "Sigmoid", "Tanh", "Exp", "Erf", "Reciprocal", "Sin", "Cos", "Floor",
               "Ceil", "Neg", "Abs", "Sign", "Identity")
BINARY = ("Add", "Sub", "Mul", "Div", "Max", "Min")
COMPARE = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")

CASES = [
    *(Case(f"{op}-f32", op, {"x": (F32, (2, 3, 4))}) for op in UNARY_FLOAT),
    Case("Log-f32", "Log", {"x": (F32, (3, 5))}, positive=True),
    Case("Sqrt-f32", "Sqrt", {"x": (F32, (3, 5))}, positive=True),
    *(Case(f"{op}-i64", op, {"x": (I64, (4, 5))}) for op in ("Neg", "Abs", "Sign", "Identity")),
    Case("Relu-i32", "Relu", {"x": (I32, (4, 5))}),
    Case("Not-bool", "Not", {"x": (BOOL, (3, 4))}),
    *(Case(f"{op}-f32-broadcast", op, {"a": (F32, (2, 3, 4)), "b": (F32, (3, 1))}) for op in BINARY),
    *(Case(f"{op}-i64-broadcast", op, {"a": (I64, (4, 1)), "b": (I64, (5,))}) for op in BINARY),
    Case("Add-scalar-const", "Add", {"a": (F32, (2, 3))}, consts={"b": np.array(1.5, F32)}),
    Case("Div-i32-truncates", "Div", {"a": (I32, (6, 7))}, consts={"b": np.array([3, -2, 4, -5, 7, 2, -3], I32)}),
    Case("Pow-f32", "Pow", {"a": (F32, (3, 4)), "b": (F32, (4,))}, positive=True),
    Case("Pow-f32-int-exponent", "Pow", {"a": (F32, (3, 4))}, consts={"b": np.array(3, I64)}),
    Case("Pow-i64", "Pow", {"a": (I64, (3, 4))}, consts={"b": np.array([0, 1, 2, 3], I64)}),
    Case("Max-variadic", "Max", {"a": (F32, (2, 1, 4)), "b": (F32, (3, 1)), "c": (F32, (4,))}),
    Case("Min-single", "Min", {"a": (F32, (2, 3))}),
    *(Case(f"{op}-f32", op, {"a": (F32, (2, 3, 4)), "b": (F32, (1, 4))}) for op in COMPARE),
    Case("Equal-i64", "Equal", {"a": (I64, (3, 4))}, consts={"b": np.array([1, -2, 3, 4], I64)}),
    Case("Less-i32", "Less", {"a": (I32, (3, 4)), "b": (I32, (3, 1))}),
    *(Case(f"{op}-bool", op, {"a": (BOOL, (2, 3, 4)), "b": (BOOL, (3, 4))}) for op in ("And", "Or", "Xor")),
    Case("Where-f32", "Where", {"c": (BOOL, (3, 1)), "a": (F32, (2, 3, 4)), "b": (F32, (4,))}),
    Case("Where-i64", "Where", {"c": (BOOL, (2, 3)), "a": (I64, (2, 3)), "b": (I64, ())}),
    Case("Clip-both", "Clip", {"x": (F32, (3, 4))}, consts={"lo": np.array(-0.5, F32), "hi": np.array(0.7, F32)}),
    Case("Clip-min-only", "Clip", {"x": (F32, (3, 4))}, consts={"lo": np.array(0.0, F32)}),
    Case("Clip-max-only", "Clip", {"x": (F32, (3, 4))}, consts={"hi": np.array(0.3, F32)}, order=("x", "", "hi")),
    Case("Clip-none", "Clip", {"x": (F32, (3, 4))}),
    Case("Clip-i64", "Clip", {"x": (I64, (3, 4))}, consts={"lo": np.array(-3, I64), "hi": np.array(4, I64)}),
    Case("Clip-opset13", "Clip", {"x": (F32, (5,))}, consts={"lo": np.array(-1, F32)}, opset=13),
    Case("Cast-f32-i64", "Cast", {"x": (F32, (3, 4))}, attrs={"to": TensorProto.INT64}),
    Case("Cast-i64-f32", "Cast", {"x": (I64, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
    Case("Cast-f32-bool", "Cast", {"x": (F32, (3, 4))}, attrs={"to": TensorProto.BOOL}),
    Case("Cast-bool-f32", "Cast", {"x": (BOOL, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
    Case("Cast-f32-f16", "Cast", {"x": (F32, (3, 4))}, attrs={"to": TensorProto.FLOAT16}),
    Case("Cast-i64-i32", "Cast", {"x": (I64, (3, 4))}, attrs={"to": TensorProto.INT32}),
    Case("CastLike", "CastLike", {"x": (F32, (3, 4)), "like": (I32, (1,))}),
    Case("IsNaN", "IsNaN", {"x": (F32, (3, 4))}),
    Case("LeakyRelu-default", "LeakyRelu", {"x": (F32, (3, 4))}),
    Case("LeakyRelu-alpha", "LeakyRelu", {"x": (F32, (3, 4))}, attrs={"alpha": 0.3}),
    Case("Elu", "Elu", {"x": (F32, (3, 4))}, attrs={"alpha": 0.7}),
    Case("Gelu-erf", "Gelu", {"x": (F32, (3, 4))}, opset=20),
    Case("Gelu-tanh", "Gelu", {"x": (F32, (3, 4))}, attrs={"approximate": "tanh"}, opset=20),
    Case("Identity-opset13", "Identity", {"x": (F32, (3, 4))}, opset=13),
    Case("Dropout-inference", "Dropout", {"x": (F32, (3, 4))}, consts={"ratio": np.array(0.3, F32)}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_elementwise_matches_onnxruntime(case: Case) -> None:
    model = case.model()
    feeds = random_inputs(model, seed=len(case.id), positive=case.positive)
    if case.op == "IsNaN":
        feeds["x"][0, 1] = feeds["x"][2, 3] = np.nan
    graph = compare_with_onnxruntime(model, feeds)
    expected_op = {"CastLike": "Cast", "Dropout": "Identity"}.get(case.op, case.op)
    assert [node.op for node in graph.nodes] == [expected_op]


def test_identity_inside_the_graph_is_an_alias() -> None:
    import onnx.helper as oh

    from compiler.frontends.onnx import import_onnx
    from onnx_testlib import make_model

    nodes = [oh.make_node("Identity", ["x"], ["t"]), oh.make_node("Dropout", ["t"], ["u"]),
             oh.make_node("Relu", ["u"], ["y"])]
    graph = import_onnx(make_model(nodes, {"x": (F32, (2, 3))}, ["y"]))
    assert [(n.op, n.inputs) for n in graph.nodes] == [("Relu", ("x",))]
