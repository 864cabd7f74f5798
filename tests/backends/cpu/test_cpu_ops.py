"""Per-op tests of the CPU backend, elementwise ops: every case compiles a one-node ONNX model
to a C library and compares it with onnxruntime and aotc's interpreter (see cpu_testlib).

Also checks that every op with a CPU lowering is covered by some case in this folder.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnx.helper as oh
import pytest
from onnx import TensorProto, numpy_helper

from cpu_testlib import (BOOL, F16, F32, F64, I8, I32, I64, U8, OpCase, check_case, check_model, coarse,
                         ints_in, lowered_ops, make_feeds, nonzero_ints, params, positive, scaled,
                         with_specials)

X = {"x": (F32, (2, 3, 4))}

UNARY = [
    OpCase(f"{op}-f32", op, X) for op in
    ("Relu", "Sigmoid", "Tanh", "Exp", "Erf", "Reciprocal", "Neg", "Abs", "Sin", "Cos", "Sign")
] + [
    OpCase("Log-f32-positive", "Log", X, gens={"x": positive}),
    OpCase("Sqrt-f32-positive", "Sqrt", X, gens={"x": positive}),
    OpCase("Floor-f32", "Floor", X, gens={"x": scaled(3.0)}),
    OpCase("Ceil-f32", "Ceil", X, gens={"x": scaled(3.0)}),
    OpCase("Floor-f32-exact-ints", "Floor", X, gens={"x": coarse()}),
    OpCase("Exp-f32-rank0", "Exp", {"x": (F32, ())}),
    OpCase("Tanh-f32-rank1", "Tanh", {"x": (F32, (7,))}, gens={"x": scaled(4.0)}),
    OpCase("Sigmoid-f32-large", "Sigmoid", X, gens={"x": scaled(30.0)}),
    OpCase("LeakyRelu-default", "LeakyRelu", X),
    OpCase("LeakyRelu-alpha", "LeakyRelu", X, attrs={"alpha": 0.3}),
    OpCase("Elu-default", "Elu", X),
    OpCase("Elu-alpha", "Elu", X, attrs={"alpha": 0.7}),
    OpCase("Gelu-erf-opset20", "Gelu", X, opset=20),
    OpCase("Gelu-tanh-opset20", "Gelu", X, attrs={"approximate": "tanh"}, opset=20),
    OpCase("Neg-i64", "Neg", {"x": (I64, (3, 4))}),
    OpCase("Abs-i64", "Abs", {"x": (I64, (3, 4))}),
    OpCase("Sign-i64", "Sign", {"x": (I64, (3, 4))}),
    OpCase("Abs-i32", "Abs", {"x": (I32, (3, 4))}),
    OpCase("Relu-i32", "Relu", {"x": (I32, (3, 4))}),
    OpCase("Not-bool", "Not", {"x": (BOOL, (2, 3, 4))}),
    OpCase("IsNaN-with-nan-inf", "IsNaN", X, gens={"x": with_specials}),
    OpCase("Abs-f32-with-nan-inf", "Abs", X, gens={"x": with_specials}),
    OpCase("Identity-graph-output", "Identity", X),
    OpCase("Identity-i64", "Identity", {"x": (I64, (5,))}),
]

ARITH = ("Add", "Sub", "Mul", "Div", "Max", "Min")
COMPARE = ("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual")
# (id suffix, shape of a, shape of b): same shape, rank-mismatched, size-1 dims on both sides,
# a scalar, a scalar on the left.
BROADCASTS = [
    ("same", (2, 3, 4), (2, 3, 4)),
    ("rank-mismatch", (2, 3, 4), (4,)),
    ("ones-both-sides", (2, 1, 4), (3, 1)),
    ("scalar", (2, 3), ()),
    ("scalar-left", (), (3, 2)),
    ("rank4-vs-rank3", (2, 1, 4, 1), (3, 1, 5)),
]

BINARY = [
    *(OpCase(f"{op}-f32-{tag}", op, {"a": (F32, sa), "b": (F32, sb)})
      for op in ARITH for tag, sa, sb in BROADCASTS[:3]),
    *(OpCase(f"Add-f32-{tag}", "Add", {"a": (F32, sa), "b": (F32, sb)}) for tag, sa, sb in BROADCASTS[3:]),
    OpCase("Mul-f32-const-bias", "Mul", {"a": (F32, (2, 3))}, consts={"b": np.array([0.5, -2.0, 3.0], F32)}),
    OpCase("Sub-f32-same-input-twice", "Sub", {"a": (F32, (3, 4))}, order=("a", "a")),
    *(OpCase(f"{op}-i64-{tag}", op, {"a": (I64, sa), "b": (I64, sb)})
      for op in ARITH for tag, sa, sb in (BROADCASTS[0], BROADCASTS[2])),
    OpCase("Div-i64-truncates-toward-zero", "Div", {"a": (I64, (4, 6))},
           consts={"b": np.array([3, -2, 4, -5, 7, -1], I64)}, gens={"a": nonzero_ints(I64, 50)}),
    OpCase("Add-i32-broadcast", "Add", {"a": (I32, (3, 1)), "b": (I32, (4,))}),
    OpCase("Mul-i64-scalar", "Mul", {"a": (I64, (2, 3)), "b": (I64, ())}),
    OpCase("Max-variadic-f32", "Max", {"a": (F32, (2, 1, 4)), "b": (F32, (3, 1)), "c": (F32, (4,))}),
    OpCase("Min-variadic-i64", "Min", {"a": (I64, (3, 1)), "b": (I64, (1, 4)), "c": (I64, (3, 4))}),
    OpCase("Max-single", "Max", {"a": (F32, (2, 3))}),
    *(OpCase(f"{op}-f32-{tag}", op, {"a": (F32, sa), "b": (F32, sb)}, gens={"a": coarse(), "b": coarse()})
      for op in COMPARE for tag, sa, sb in (BROADCASTS[0], BROADCASTS[2])),
    *(OpCase(f"{op}-i64-rank-mismatch", op, {"a": (I64, (2, 3, 4)), "b": (I64, (4,))},
             gens={"a": coarse(I64), "b": coarse(I64)}) for op in COMPARE),
    OpCase("Equal-bool", "Equal", {"a": (BOOL, (3, 4)), "b": (BOOL, (4,))}),
    OpCase("Less-i32-scalar", "Less", {"a": (I32, (3, 4)), "b": (I32, ())}, gens={"a": coarse(I32)}),
    *(OpCase(f"{op}-bool-{tag}", op, {"a": (BOOL, sa), "b": (BOOL, sb)})
      for op in ("And", "Or", "Xor") for tag, sa, sb in (BROADCASTS[0], BROADCASTS[2])),
    OpCase("And-bool-scalar", "And", {"a": (BOOL, (3, 4)), "b": (BOOL, ())}),
    OpCase("Pow-f32-positive-base", "Pow", {"a": (F32, (3, 4)), "b": (F32, (3, 4))}, gens={"a": positive}),
    OpCase("Pow-f32-broadcast", "Pow", {"a": (F32, (2, 3, 4)), "b": (F32, (4,))}, gens={"a": positive}),
    OpCase("Pow-f32-int-exponent", "Pow", {"a": (F32, (3, 4)), "b": (I64, (4,))},
           gens={"b": ints_in(-2, 3)}),
    OpCase("Pow-f32-const-square", "Pow", {"a": (F32, (3, 4))}, consts={"b": np.array(2.0, F32)}),
    OpCase("Pow-i64", "Pow", {"a": (I64, (3, 4)), "b": (I64, (4,))}, gens={"b": ints_in(0, 4)}),
    OpCase("Pow-i32-f32-exponent", "Pow", {"a": (I32, (3, 4))}, consts={"b": np.array(2.0, F32)}),
]

WHERE = [
    OpCase("Where-f32-same", "Where", {"c": (BOOL, (2, 3)), "a": (F32, (2, 3)), "b": (F32, (2, 3))}),
    OpCase("Where-f32-broadcast", "Where", {"c": (BOOL, (3, 1)), "a": (F32, (2, 3, 4)), "b": (F32, (4,))}),
    OpCase("Where-cond-broadcast", "Where", {"c": (BOOL, (2, 1, 4)), "a": (F32, (3, 1)), "b": (F32, ())}),
    OpCase("Where-i64", "Where", {"c": (BOOL, (2, 3)), "a": (I64, (2, 3)), "b": (I64, ())}),
    OpCase("Where-i32", "Where", {"c": (BOOL, (3, 4)), "a": (I32, (4,)), "b": (I32, (3, 1))}),
]


def _scalar(value, dtype=F32) -> np.ndarray:
    return np.array(value, dtype)


CLIP = [
    OpCase("Clip-both", "Clip", X, consts={"lo": _scalar(-0.5), "hi": _scalar(0.7)}),
    OpCase("Clip-min-only", "Clip", X, consts={"lo": _scalar(0.2)}),
    OpCase("Clip-max-only", "Clip", X, consts={"hi": _scalar(0.3)}, order=("x", "", "hi")),
    OpCase("Clip-none", "Clip", X),
    OpCase("Clip-runtime-bounds", "Clip", {"x": (F32, (3, 4)), "lo": (F32, ()), "hi": (F32, ())},
           gens={"lo": lambda rng, s: np.array(-0.4, F32), "hi": lambda rng, s: np.array(0.6, F32)}),
    OpCase("Clip-i64", "Clip", {"x": (I64, (3, 4))}, consts={"lo": _scalar(-3, I64), "hi": _scalar(4, I64)}),
    OpCase("Clip-i64-max-only", "Clip", {"x": (I64, (3, 4))}, consts={"hi": _scalar(2, I64)},
           order=("x", "", "hi")),
]

CAST = [
    OpCase("Cast-f32-i64", "Cast", X, attrs={"to": TensorProto.INT64}, gens={"x": scaled(5.0)}),
    OpCase("Cast-f32-i32", "Cast", X, attrs={"to": TensorProto.INT32}, gens={"x": scaled(5.0)}),
    OpCase("Cast-f32-i8", "Cast", X, attrs={"to": TensorProto.INT8}, gens={"x": scaled(5.0)}),
    OpCase("Cast-i64-f32", "Cast", {"x": (I64, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
    OpCase("Cast-i32-f32", "Cast", {"x": (I32, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
    OpCase("Cast-i64-i32", "Cast", {"x": (I64, (3, 4))}, attrs={"to": TensorProto.INT32}),
    OpCase("Cast-i32-i64", "Cast", {"x": (I32, (3, 4))}, attrs={"to": TensorProto.INT64}),
    OpCase("Cast-f32-f64", "Cast", X, attrs={"to": TensorProto.DOUBLE}),
    OpCase("Cast-f32-f16", "Cast", X, attrs={"to": TensorProto.FLOAT16}),
    OpCase("Cast-f32-bool", "Cast", X, attrs={"to": TensorProto.BOOL}, gens={"x": coarse()}),
    OpCase("Cast-f32-bool-nan", "Cast", X, attrs={"to": TensorProto.BOOL}, gens={"x": with_specials}),
    OpCase("Cast-i64-bool", "Cast", {"x": (I64, (3, 4))}, attrs={"to": TensorProto.BOOL},
           gens={"x": coarse(I64)}),
    OpCase("Cast-bool-f32", "Cast", {"x": (BOOL, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
    OpCase("Cast-bool-i64", "Cast", {"x": (BOOL, (3, 4))}, attrs={"to": TensorProto.INT64}),
    OpCase("Cast-i8-f32", "Cast", {"x": (I8, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
]

# NaN and infinities go through as numpy and onnxruntime let them (NaN propagates).
SPECIALS = [
    *(OpCase(f"{op}-nan-inf", op, X, gens={"x": with_specials})
      for op in ("Relu", "Sign", "LeakyRelu", "Elu", "Neg", "Floor", "Sigmoid", "Tanh")),
    OpCase("Max-nan-left", "Max", {"a": (F32, (2, 3, 4)), "b": (F32, (2, 3, 4))}, gens={"a": with_specials}),
    OpCase("Max-nan-right", "Max", {"a": (F32, (2, 3, 4)), "b": (F32, (2, 3, 4))}, gens={"b": with_specials}),
    OpCase("Min-nan-left", "Min", {"a": (F32, (2, 3, 4)), "b": (F32, (2, 3, 4))}, gens={"a": with_specials}),
    OpCase("Min-nan-right", "Min", {"a": (F32, (2, 3, 4)), "b": (F32, (2, 3, 4))}, gens={"b": with_specials}),
    OpCase("Clip-nan-inf", "Clip", X, consts={"lo": _scalar(-0.5), "hi": _scalar(0.7)}, gens={"x": with_specials}),
    OpCase("Equal-nan", "Equal", {"a": (F32, (2, 3, 4)), "b": (F32, (2, 3, 4))},
           gens={"a": with_specials, "b": with_specials}),
]

# Other float widths (float16 only where rounding is exact: one correctly rounded operation).
OTHER_DTYPES = [
    OpCase("Add-f16-broadcast", "Add", {"a": (F16, (2, 3, 4)), "b": (F16, (4,))}),
    OpCase("Mul-f16", "Mul", {"a": (F16, (3, 4)), "b": (F16, (3, 4))}),
    OpCase("Relu-f16", "Relu", {"x": (F16, (3, 4))}),
    OpCase("Cast-f16-f32", "Cast", {"x": (F16, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
    OpCase("Add-f64-broadcast", "Add", {"a": (F64, (2, 3, 4)), "b": (F64, (3, 1))}),
    *(OpCase(f"{op}-f64", op, {"x": (F64, (3, 4))}) for op in ("Exp", "Tanh", "Sigmoid", "Reciprocal")),
    OpCase("Sqrt-f64", "Sqrt", {"x": (F64, (3, 4))}, gens={"x": lambda rng, s: positive(rng, s).astype(F64)}),
    OpCase("Where-f64", "Where", {"c": (BOOL, (3, 4)), "a": (F64, (3, 4)), "b": (F64, ())}),
    OpCase("Cast-f64-f32", "Cast", {"x": (F64, (3, 4))}, attrs={"to": TensorProto.FLOAT}),
    OpCase("Add-u8-wraps", "Add", {"a": (U8, (3, 4)), "b": (U8, (4,))}, gens={"a": ints_in(200, 255, U8)}),
    OpCase("Max-u8", "Max", {"a": (U8, (3, 4)), "b": (U8, (3, 1))}),
    OpCase("Neg-i8", "Neg", {"x": (I8, (3, 4))}),
]

CASES = UNARY + BINARY + WHERE + CLIP + CAST + SPECIALS + OTHER_DTYPES

XFAILS: dict[str, str] = {}


@pytest.mark.parametrize("case", params(CASES, XFAILS))
def test_elementwise(case: OpCase) -> None:
    check_case(case)


def _outputs_model(duplicate: bool = True):
    """Graph outputs that are a graph input, a constant, and (if `duplicate`) one value listed
    twice: the CPU pipeline copies them with Identity kernels (materialize_outputs)."""
    f32 = TensorProto.FLOAT
    outputs = [("x", [2, 3]), ("r", [2, 3])] + [("r", [2, 3])] * duplicate + [("c", [2])]
    graph = oh.make_graph([oh.make_node("Relu", ["x"], ["r"])], "outputs",
                          [oh.make_tensor_value_info("x", f32, [2, 3])],
                          [oh.make_tensor_value_info(n, f32, shape) for n, shape in outputs],
                          [numpy_helper.from_array(np.array([1.5, -2.0], F32), "c")])
    model = oh.make_model(graph, ir_version=10, opset_imports=[oh.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_outputs_copied_by_identity() -> None:
    model = _outputs_model()
    assert "Identity" in lowered_ops(model)
    check_model(model, [make_feeds(model, 5)])


def test_output_names_follow_the_model() -> None:
    import compiler

    artifact = compiler.compile(_outputs_model(duplicate=False), target="cpu")
    assert artifact.output_names == ["x", "r", "c"]


def test_every_lowered_op_has_a_case() -> None:
    """Each op in passes.lower.LOWERINGS is lowered by at least one case of this folder."""
    from passes.lower import LOWERINGS

    import test_cpu_ops_contraction
    import test_cpu_ops_movement
    import test_cpu_ops_nn
    import test_cpu_symbolic

    covered: set[str] = set(test_cpu_symbolic.GRAPH_LEVEL_OPS)
    for case in CASES + test_cpu_ops_nn.CASES + test_cpu_ops_movement.CASES + test_cpu_ops_contraction.CASES:
        covered |= lowered_ops(case.model())
    for model in test_cpu_symbolic.MODELS.values():
        covered |= lowered_ops(model)
    missing = sorted(set(LOWERINGS) - covered - conformance_ops())
    assert not missing, f"ops with a CPU lowering but no test case (here or a passing ONNX node case): {missing}"


def conformance_ops() -> set[str]:
    """Ops of the ONNX node cases aotc passes (tests/conformance); every new op keeps its ONNX
    name in the graph IR."""
    import sys
    from pathlib import Path
    folder = str(Path(__file__).resolve().parents[2] / "conformance")
    sys.path.insert(0, folder)
    try:
        from conformance_harness import node_cases
        from expected_failures import EXPECTED_FAILURES
    finally:
        sys.path.remove(folder)
    return {node.op_type for name, case in node_cases().items() if name not in EXPECTED_FAILURES
            for node in case.model.graph.node}
