"""Data-movement ops and reductions imported by aotc vs onnxruntime, in their opset 13 and 18
forms: shape-determining inputs are constants that become typed attributes."""
from __future__ import annotations

import numpy as np
import pytest

from onnx_testlib import Case, compare_with_onnxruntime, random_inputs

F32, I64, BOOL = np.float32, np.int64, np.bool_
BIG = np.iinfo(np.int64).max


def ints(*values: int) -> np.ndarray:
    return np.array(values, dtype=I64)


X = {"x": (F32, (2, 3, 4))}
REDUCE = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")
WITH_SHAPE_INPUTS = ("Reshape", "Squeeze", "Unsqueeze", "Split", "Slice", "Expand", "Tile", "Pad", *REDUCE)

CASES = [
    Case("Reshape-minus-one", "Reshape", X, consts={"shape": ints(4, -1)}),
    Case("Reshape-zero-copies", "Reshape", X, consts={"shape": ints(0, 0, 2, 2)}),
    Case("Reshape-allowzero", "Reshape", {"x": (F32, (0, 3))}, consts={"shape": ints(3, 0)},
         attrs={"allowzero": 1}),
    Case("Reshape-i64", "Reshape", {"x": (I64, (6,))}, consts={"shape": ints(2, 3)}),
    Case("Flatten-default", "Flatten", X),
    Case("Flatten-axis0", "Flatten", X, attrs={"axis": 0}),
    Case("Flatten-axis-neg", "Flatten", X, attrs={"axis": -1}),
    Case("Transpose-default", "Transpose", X),
    Case("Transpose-perm", "Transpose", X, attrs={"perm": [1, 2, 0]}),
    Case("Squeeze-axes-input", "Squeeze", {"x": (F32, (1, 3, 1, 4))}, consts={"axes": ints(0, -2)}),
    Case("Squeeze-all", "Squeeze", {"x": (F32, (1, 3, 1, 4))}),
    Case("Squeeze-opset13", "Squeeze", {"x": (F32, (3, 1))}, consts={"axes": ints(1)}, opset=13),
    Case("Unsqueeze", "Unsqueeze", X, consts={"axes": ints(0, -1)}),
    Case("Unsqueeze-middle-bool", "Unsqueeze", {"x": (BOOL, (2, 3))}, consts={"axes": ints(1, 3)}),
    Case("Concat", "Concat", {"a": (F32, (2, 3)), "b": (F32, (2, 1)), "c": (F32, (2, 4))}, attrs={"axis": -1}),
    Case("Concat-i64", "Concat", {"a": (I64, (1, 3)), "b": (I64, (2, 3))}, attrs={"axis": 0}),
    Case("Split-opset13-sizes", "Split", {"x": (F32, (2, 7))}, consts={"split": ints(2, 5)},
         attrs={"axis": 1}, outputs=2, opset=13),
    Case("Split-opset13-equal", "Split", {"x": (F32, (6, 2))}, outputs=3, opset=13),
    Case("Split-opset18-num-outputs-uneven", "Split", {"x": (F32, (2, 7))},
         attrs={"axis": -1, "num_outputs": 3}, outputs=3, opset=18),
    Case("Split-opset18-sizes", "Split", {"x": (F32, (5, 2))}, consts={"split": ints(1, 4)},
         outputs=2, opset=18),
    Case("Slice-basic", "Slice", X, consts={"starts": ints(1), "ends": ints(3), "axes": ints(2)}),
    Case("Slice-no-axes", "Slice", X, consts={"starts": ints(0, 1), "ends": ints(1, BIG)}),
    Case("Slice-negative", "Slice", X, consts={"starts": ints(-3, -1), "ends": ints(-1, -BIG),
                                                "axes": ints(-1, 1), "steps": ints(1, -1)}),
    Case("Slice-steps", "Slice", X, consts={"starts": ints(0, 3), "ends": ints(BIG, 0),
                                             "axes": ints(1, 2), "steps": ints(2, -2)}),
    # ONNX clamps a negative-step start below 0 to 0 (Python's slice.indices would give -1).
    Case("Slice-negative-step-clamps", "Slice", X, consts={"starts": ints(-7, 5), "ends": ints(-7, -9),
                                                            "axes": ints(0, 1), "steps": ints(-1, -2)}),
    Case("Slice-negative-step-empty", "Slice", X, consts={"starts": ints(-6), "ends": ints(-3),
                                                           "axes": ints(2), "steps": ints(-3)}),
    Case("Gather-axis0", "Gather", {"x": (F32, (5, 3))}, consts={"i": ints(4, 0, -1, 2)}),
    Case("Gather-axis1-2d", "Gather", X, consts={"i": np.array([[0, 2], [-1, 1]], I64)}, attrs={"axis": 1}),
    Case("Gather-scalar-index", "Gather", X, consts={"i": np.array(-2, I64)}, attrs={"axis": -1}),
    Case("Gather-runtime-indices", "Gather", {"x": (F32, (10, 3)), "i": (np.int32, (2, 2))}),  # |i| <= 9
    Case("GatherElements", "GatherElements", {"x": (F32, (3, 4))},
         consts={"i": np.array([[0, 3, -1], [2, 2, 1], [-4, 0, 1]], I64)}, attrs={"axis": 1}),
    Case("GatherElements-axis0", "GatherElements", {"x": (F32, (3, 4))},
         consts={"i": np.array([[0, 2, 1, 1]], I64)}),
    Case("Expand", "Expand", {"x": (F32, (3, 1))}, consts={"shape": ints(2, 3, 4)}),
    Case("Expand-smaller-shape", "Expand", {"x": (F32, (2, 3, 4))}, consts={"shape": ints(3, 1)}),
    Case("Expand-bool", "Expand", {"x": (BOOL, (1, 4))}, consts={"shape": ints(3, 1)}),
    Case("Tile", "Tile", {"x": (F32, (2, 3))}, consts={"r": ints(2, 3)}),
    Case("Pad-constant-value", "Pad", X, consts={"pads": ints(0, 1, 2, 1, 0, 1), "v": np.array(1.5, F32)}),
    Case("Pad-default-value-opset13", "Pad", X, consts={"pads": ints(1, 0, 0, 0, 2, 1)}, opset=13),
    Case("Pad-reflect", "Pad", X, consts={"pads": ints(0, 1, 2, 0, 1, 3)}, attrs={"mode": "reflect"}),
    Case("Pad-edge", "Pad", X, consts={"pads": ints(1, 0, 2, 1, 2, 0)}, attrs={"mode": "edge"}),
    Case("Pad-negative-crops", "Pad", X, consts={"pads": ints(0, -1, 1, 0, 1, -2)}),
    Case("Pad-opset18-axes", "Pad", X, consts={"pads": ints(1, 2, 3, 0), "v": np.array(-1, F32),
                                                "axes": ints(-1, 0)}, opset=18),
    Case("Pad-i64", "Pad", {"x": (I64, (2, 3))}, consts={"pads": ints(1, 1, 1, 1), "v": np.array(7, I64)}),
    Case("Range-f32", "Range", {}, consts={"s": np.array(0.5, F32), "l": np.array(4.0, F32), "d": np.array(0.75, F32)}),
    Case("Range-i64-negative", "Range", {}, consts={"s": np.array(10, I64), "l": np.array(-3, I64),
                                                    "d": np.array(-4, I64)}),
    *(Case(f"{op}-opset13-attr", op, X, attrs={"axes": [0, -1], "keepdims": 0}, opset=13)
      for op in REDUCE if op != "ReduceSum"),
    Case("ReduceSum-opset13-input", "ReduceSum", X, consts={"axes": ints(1)}, opset=13),
    *(Case(f"{op}-opset18-input", op, X, consts={"axes": ints(-2)}, opset=18) for op in REDUCE),
    *(Case(f"{op}-all-axes", op, X, attrs={"keepdims": 0}, opset=18) for op in REDUCE),
    Case("ReduceSum-noop-empty-axes", "ReduceSum", X, attrs={"noop_with_empty_axes": 1}, opset=13),
    Case("ReduceMean-empty-axes-input", "ReduceMean", X, consts={"axes": np.zeros(0, I64)}, opset=18),
    Case("ReduceSum-i64", "ReduceSum", {"x": (I64, (3, 4))}, consts={"axes": ints(0)}, opset=13),
    Case("ReduceMax-i64", "ReduceMax", {"x": (I64, (3, 4))}, attrs={"axes": [1]}, opset=13),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_shape_op_matches_onnxruntime(case: Case) -> None:
    model = case.model()
    graph = compare_with_onnxruntime(model, random_inputs(model, seed=len(case.id)))
    if case.op == "Range":       # constant inputs: folded, nothing left to run
        assert graph.nodes == () and set(graph.constants) == set(graph.outputs)
    else:
        assert [node.op for node in graph.nodes] == [case.op]
        if case.op in WITH_SHAPE_INPUTS:
            assert graph.nodes[0].inputs[1:] == (), "shape-determining inputs must become attributes"
