"""Conv, pooling, Gemm/MatMul, normalisations and Softmax imported by aotc vs onnxruntime."""
from __future__ import annotations

import numpy as np
import pytest

from onnx_testlib import Case, compare_with_onnxruntime, random_array, random_inputs

F32 = np.float32
_rng = np.random.default_rng(7)


def w(*shape: int) -> np.ndarray:
    return random_array(_rng, F32, shape)


X = {"x": (F32, (2, 4, 9, 8))}

CASES = [
    Case("Conv-bias", "Conv", X, consts={"w": w(6, 4, 3, 3), "b": w(6)}),
    Case("Conv-no-bias-kernel-attr", "Conv", X, attrs={"kernel_shape": [3, 2]}, consts={"w": w(5, 4, 3, 2)}),
    Case("Conv-strides-pads-dilations", "Conv", X, consts={"w": w(6, 4, 3, 3), "b": w(6)},
         attrs={"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]}),
    Case("Conv-same-upper", "Conv", X, consts={"w": w(6, 4, 4, 3)},
         attrs={"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    Case("Conv-same-lower", "Conv", X, consts={"w": w(6, 4, 4, 3)},
         attrs={"auto_pad": "SAME_LOWER", "strides": [2, 3]}),
    Case("Conv-valid", "Conv", X, consts={"w": w(6, 4, 3, 3)}, attrs={"auto_pad": "VALID", "strides": [2, 2]}),
    Case("Conv-groups", "Conv", X, consts={"w": w(6, 2, 3, 3), "b": w(6)}, attrs={"group": 2, "pads": [1, 1, 1, 1]}),
    Case("Conv-depthwise", "Conv", X, consts={"w": w(8, 1, 3, 3)}, attrs={"group": 4, "pads": [1, 1, 1, 1]}),
    Case("Conv-1d", "Conv", {"x": (F32, (1, 3, 11))}, consts={"w": w(4, 3, 3)}, attrs={"strides": [2]}),
    Case("Conv-3d", "Conv", {"x": (F32, (1, 2, 5, 4, 6))}, consts={"w": w(3, 2, 2, 3, 2), "b": w(3)}),
    Case("Conv-runtime-weight", "Conv", {"x": (F32, (1, 3, 6, 6)), "w": (F32, (2, 3, 3, 3))}),
    Case("MaxPool", "MaxPool", X, attrs={"kernel_shape": [2, 2], "strides": [2, 2]}),
    Case("MaxPool-ceil", "MaxPool", X, attrs={"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
    Case("MaxPool-pads-dilations", "MaxPool", X,
         attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 0], "dilations": [2, 1], "strides": [1, 2]}),
    Case("MaxPool-same-upper", "MaxPool", X,
         attrs={"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    Case("MaxPool-same-lower", "MaxPool", X, attrs={"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER"}),
    Case("MaxPool-same-upper-dilated-ceil", "MaxPool", X,
         attrs={"kernel_shape": [2, 3], "dilations": [2, 2], "auto_pad": "SAME_UPPER", "ceil_mode": 1}),
    Case("MaxPool-1d", "MaxPool", {"x": (F32, (2, 3, 10))},
         attrs={"kernel_shape": [3], "strides": [3], "ceil_mode": 1}),
    Case("MaxPool-default-strides", "MaxPool", X, attrs={"kernel_shape": [3, 2]}),
    Case("AveragePool", "AveragePool", X, attrs={"kernel_shape": [2, 2], "strides": [2, 2]}),
    Case("AveragePool-pads-exclude", "AveragePool", X, attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    Case("AveragePool-pads-include", "AveragePool", X,
         attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    Case("AveragePool-ceil", "AveragePool", X, attrs={"kernel_shape": [2, 2], "strides": [2, 3], "ceil_mode": 1}),
    Case("AveragePool-ceil-include", "AveragePool", X,
         attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1,
                "count_include_pad": 1}),
    Case("AveragePool-same-upper", "AveragePool", X,
         attrs={"kernel_shape": [3, 2], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    Case("AveragePool-same-lower-include", "AveragePool", X,
         attrs={"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER", "count_include_pad": 1}),
    Case("AveragePool-same-upper-ceil", "AveragePool", X,
         attrs={"kernel_shape": [3, 3], "strides": [2, 3], "auto_pad": "SAME_UPPER", "ceil_mode": 1}),
    Case("AveragePool-dilations-opset19", "AveragePool", X, attrs={"kernel_shape": [2, 2], "dilations": [2, 2]},
         opset=19),
    Case("GlobalAveragePool", "GlobalAveragePool", X),
    Case("GlobalAveragePool-1d", "GlobalAveragePool", {"x": (F32, (2, 3, 7))}),
    Case("Gemm-bias", "Gemm", {"a": (F32, (4, 5))}, consts={"b": w(5, 3), "c": w(3)}),
    Case("Gemm-transposes-alpha-beta", "Gemm", {"a": (F32, (5, 4))}, consts={"b": w(3, 5), "c": w(4, 1)},
         attrs={"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}),
    Case("Gemm-transB-scalar-c", "Gemm", {"a": (F32, (4, 5))}, consts={"b": w(3, 5), "c": w()}, attrs={"transB": 1}),
    Case("Gemm-no-c", "Gemm", {"a": (F32, (5, 4)), "b": (F32, (5, 3))}, attrs={"transA": 1}),
    Case("Gemm-symbolic-batch", "Gemm", {"a": (F32, ("batch", 6))}, consts={"b": w(4, 6), "c": w(4)},
         attrs={"transB": 1}),
    Case("MatMul-2d", "MatMul", {"a": (F32, (4, 5)), "b": (F32, (5, 3))}),
    Case("MatMul-batched-broadcast", "MatMul", {"a": (F32, (2, 3, 4, 5)), "b": (F32, (3, 5, 2))}),
    Case("MatMul-vector-matrix", "MatMul", {"a": (F32, (5,)), "b": (F32, (2, 5, 3))}),
    Case("MatMul-matrix-vector", "MatMul", {"a": (F32, (2, 4, 5)), "b": (F32, (5,))}),
    Case("MatMul-i32", "MatMul", {"a": (np.int32, (3, 4)), "b": (np.int32, (4, 2))}),
    Case("BatchNormalization", "BatchNormalization", X,
         consts={"s": w(4), "b": w(4), "m": w(4), "v": np.abs(w(4))}, attrs={"epsilon": 1e-3}),
    Case("BatchNormalization-2d", "BatchNormalization", {"x": (F32, (5, 3))},
         consts={"s": w(3), "b": w(3), "m": w(3), "v": np.abs(w(3))}),
    Case("Softmax-default", "Softmax", {"x": (F32, (2, 3, 5))}),
    Case("Softmax-axis1", "Softmax", {"x": (F32, (2, 3, 5))}, attrs={"axis": 1}),
    Case("Softmax-opset13-axis0", "Softmax", {"x": (F32, (4, 3))}, attrs={"axis": 0}, opset=13),
    Case("LayerNormalization", "LayerNormalization", {"x": (F32, (2, 3, 8))}, consts={"s": w(8), "b": w(8)}),
    Case("LayerNormalization-axis-2-no-bias", "LayerNormalization", {"x": (F32, (2, 3, 8))},
         consts={"s": w(3, 8)}, attrs={"axis": -2, "epsilon": 1e-3}),
    Case("LayerNormalization-axis1", "LayerNormalization", {"x": (F32, (2, 3, 4))},
         consts={"s": w(3, 4), "b": w(3, 4)}, attrs={"axis": 1}),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_nn_op_matches_onnxruntime(case: Case) -> None:
    model = case.model()
    graph = compare_with_onnxruntime(model, random_inputs(model, seed=len(case.id), sizes={"batch": 3}))
    assert [node.op for node in graph.nodes] == [case.op]


def test_conv_attributes_are_explicit() -> None:
    from compiler.frontends.onnx import import_onnx
    from compiler.ir.ops.nn import ConvAttrs

    case = Case("c", "Conv", {"x": (F32, (1, 4, 9, 8))}, consts={"w": w(6, 4, 4, 3)},
                attrs={"auto_pad": "SAME_LOWER", "strides": [2, 3]})
    (node,) = import_onnx(case.model()).nodes
    # out = ceil(9/2)=5, ceil(8/3)=3; total pads (5-1)*2+4-9=3 and (3-1)*3+3-8=1; SAME_LOWER: more at the begin.
    assert node.attrs == ConvAttrs(kernel_shape=(4, 3), strides=(2, 3), pads=(2, 1, 1, 0), dilations=(1, 1), group=1)
