"""Per-op tests of the CPU backend, neural-network ops: Conv, pooling, Gemm, MatMul, Softmax,
normalisations and reductions, each compared with onnxruntime and the interpreter."""
from __future__ import annotations

import numpy as np
import pytest

from cpu_testlib import F32, F64, I64, I8, OpCase, check_case, normal, params, positive

_rng = np.random.default_rng(20240601)


def w(*shape: int) -> np.ndarray:
    """A constant weight: fresh random, non-zero."""
    return normal(_rng, shape)


def var(*shape: int) -> np.ndarray:
    return positive(_rng, shape)


X2 = {"x": (F32, (2, 4, 9, 8))}

CONV = [
    OpCase("Conv1d-bias-stride", "Conv", {"x": (F32, (2, 3, 11))}, consts={"w": w(4, 3, 3), "b": w(4)},
           attrs={"strides": [2]}),
    OpCase("Conv1d-dilation-asym-pads", "Conv", {"x": (F32, (1, 3, 10))}, consts={"w": w(5, 3, 3)},
           attrs={"dilations": [2], "pads": [2, 1]}),
    OpCase("Conv1d-groups", "Conv", {"x": (F32, (2, 6, 7))}, consts={"w": w(4, 3, 2), "b": w(4)},
           attrs={"group": 2}),
    OpCase("Conv2d-bias", "Conv", X2, consts={"w": w(6, 4, 3, 3), "b": w(6)}),
    OpCase("Conv2d-no-bias", "Conv", X2, consts={"w": w(5, 4, 3, 2)}),
    OpCase("Conv2d-strides-asym-pads-dilations", "Conv", X2, consts={"w": w(6, 4, 3, 3), "b": w(6)},
           attrs={"strides": [2, 1], "pads": [1, 0, 2, 1], "dilations": [1, 2]}),
    OpCase("Conv2d-stride-larger-than-kernel", "Conv", X2, consts={"w": w(3, 4, 2, 2)},
           attrs={"strides": [3, 3], "pads": [0, 1, 1, 0]}),
    OpCase("Conv2d-1x1", "Conv", X2, consts={"w": w(7, 4, 1, 1), "b": w(7)}),
    OpCase("Conv2d-pads-wider-than-input", "Conv", {"x": (F32, (1, 2, 2, 3))}, consts={"w": w(3, 2, 3, 3)},
           attrs={"pads": [2, 2, 2, 2]}),
    OpCase("Conv2d-groups", "Conv", X2, consts={"w": w(6, 2, 3, 3), "b": w(6)},
           attrs={"group": 2, "pads": [1, 1, 1, 1]}),
    OpCase("Conv2d-depthwise", "Conv", X2, consts={"w": w(4, 1, 3, 3), "b": w(4)},
           attrs={"group": 4, "pads": [1, 1, 1, 1]}),
    OpCase("Conv2d-depthwise-multiplier-strided", "Conv", X2, consts={"w": w(8, 1, 3, 3)},
           attrs={"group": 4, "strides": [2, 2], "pads": [0, 1, 1, 0]}),
    OpCase("Conv2d-same-upper", "Conv", X2, consts={"w": w(6, 4, 4, 3)},
           attrs={"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    OpCase("Conv2d-runtime-weight-and-bias", "Conv",
           {"x": (F32, (1, 3, 6, 6)), "w": (F32, (2, 3, 3, 3)), "b": (F32, (2,))}),
    OpCase("Conv3d-bias", "Conv", {"x": (F32, (1, 2, 5, 4, 6))}, consts={"w": w(3, 2, 2, 3, 2), "b": w(3)}),
    OpCase("Conv3d-strides-pads-dilations", "Conv", {"x": (F32, (2, 2, 6, 5, 7))}, consts={"w": w(4, 2, 3, 2, 3)},
           attrs={"strides": [2, 1, 2], "pads": [1, 0, 2, 0, 1, 1], "dilations": [1, 2, 1]}),
    OpCase("Conv3d-groups", "Conv", {"x": (F32, (1, 4, 4, 4, 4))}, consts={"w": w(6, 2, 2, 2, 2), "b": w(6)},
           attrs={"group": 2, "pads": [1, 1, 1, 0, 0, 0]}),
]

MAXPOOL = [
    OpCase("MaxPool2d", "MaxPool", X2, attrs={"kernel_shape": [2, 2], "strides": [2, 2]}),
    OpCase("MaxPool2d-default-strides", "MaxPool", X2, attrs={"kernel_shape": [3, 2]}),
    OpCase("MaxPool2d-ceil", "MaxPool", X2, attrs={"kernel_shape": [2, 3], "strides": [2, 2], "ceil_mode": 1}),
    OpCase("MaxPool2d-asym-pads-strides", "MaxPool", X2,
           attrs={"kernel_shape": [3, 3], "pads": [1, 0, 2, 1], "strides": [2, 3]}),
    OpCase("MaxPool2d-pads-dilations", "MaxPool", X2,
           attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 0], "dilations": [2, 1], "strides": [1, 2]}),
    OpCase("MaxPool2d-ceil-pads", "MaxPool", X2,
           attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2], "ceil_mode": 1}),
    OpCase("MaxPool1d-ceil", "MaxPool", {"x": (F32, (2, 3, 10))},
           attrs={"kernel_shape": [3], "strides": [3], "ceil_mode": 1}),
    OpCase("MaxPool3d", "MaxPool", {"x": (F32, (1, 2, 5, 6, 4))},
           attrs={"kernel_shape": [2, 3, 2], "strides": [2, 2, 1], "pads": [0, 1, 0, 1, 1, 0]}),
    OpCase("MaxPool2d-i8", "MaxPool", {"x": (I8, (1, 2, 6, 6))}, attrs={"kernel_shape": [2, 2], "strides": [2, 2]}),
]

AVGPOOL = [
    OpCase("AveragePool2d", "AveragePool", X2, attrs={"kernel_shape": [2, 2], "strides": [2, 2]}),
    OpCase("AveragePool2d-pads-exclude", "AveragePool", X2, attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    OpCase("AveragePool2d-pads-include", "AveragePool", X2,
           attrs={"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    OpCase("AveragePool2d-asym-pads-include", "AveragePool", X2,
           attrs={"kernel_shape": [3, 2], "pads": [2, 0, 1, 1], "strides": [2, 1], "count_include_pad": 1}),
    OpCase("AveragePool2d-ceil", "AveragePool", X2,
           attrs={"kernel_shape": [2, 2], "strides": [2, 3], "ceil_mode": 1}),
    OpCase("AveragePool2d-ceil-pads-exclude", "AveragePool", X2,
           attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1}),
    OpCase("AveragePool2d-ceil-pads-include", "AveragePool", X2,
           attrs={"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1,
                  "count_include_pad": 1}),
    OpCase("AveragePool1d-strides", "AveragePool", {"x": (F32, (2, 3, 11))},
           attrs={"kernel_shape": [4], "strides": [3], "pads": [1, 2]}),
    OpCase("AveragePool3d-include", "AveragePool", {"x": (F32, (1, 2, 4, 5, 6))},
           attrs={"kernel_shape": [2, 2, 3], "strides": [2, 2, 2], "pads": [1, 0, 1, 0, 1, 1], "count_include_pad": 1}),
    OpCase("AveragePool2d-dilations-opset19", "AveragePool", X2,
           attrs={"kernel_shape": [2, 2], "dilations": [2, 2], "pads": [1, 1, 0, 1]}, opset=19),
    OpCase("GlobalAveragePool2d", "GlobalAveragePool", X2),
    OpCase("GlobalAveragePool1d", "GlobalAveragePool", {"x": (F32, (2, 3, 7))}),
    OpCase("GlobalAveragePool3d", "GlobalAveragePool", {"x": (F32, (2, 3, 2, 3, 4))}),
]

A45 = {"a": (F32, (4, 5))}
GEMM = [
    OpCase("Gemm-no-bias", "Gemm", A45, consts={"b": w(5, 3)}),
    OpCase("Gemm-bias-n", "Gemm", A45, consts={"b": w(5, 3), "c": w(3)}),
    OpCase("Gemm-bias-1n", "Gemm", A45, consts={"b": w(5, 3), "c": w(1, 3)}),
    OpCase("Gemm-bias-m1", "Gemm", A45, consts={"b": w(5, 3), "c": w(4, 1)}),
    OpCase("Gemm-bias-mn", "Gemm", A45, consts={"b": w(5, 3), "c": w(4, 3)}),
    OpCase("Gemm-bias-scalar", "Gemm", A45, consts={"b": w(5, 3), "c": w()}),
    OpCase("Gemm-transA", "Gemm", {"a": (F32, (5, 4))}, consts={"b": w(5, 3), "c": w(3)}, attrs={"transA": 1}),
    OpCase("Gemm-transB", "Gemm", A45, consts={"b": w(3, 5), "c": w(3)}, attrs={"transB": 1}),
    OpCase("Gemm-transA-transB-alpha-beta", "Gemm", {"a": (F32, (5, 4))}, consts={"b": w(3, 5), "c": w(4, 3)},
           attrs={"transA": 1, "transB": 1, "alpha": 0.5, "beta": 2.0}),
    OpCase("Gemm-alpha-no-bias", "Gemm", A45, consts={"b": w(5, 3)}, attrs={"alpha": -1.5}),
    OpCase("Gemm-beta-scalar", "Gemm", A45, consts={"b": w(5, 3), "c": w()}, attrs={"beta": -0.25}),
    OpCase("Gemm-runtime-operands", "Gemm", {"a": (F32, (3, 6)), "b": (F32, (6, 2)), "c": (F32, (3, 2))},
           attrs={"alpha": 0.75, "beta": 1.5}),
]

MATMUL = [
    OpCase(f"MatMul-{tag}", "MatMul", {"a": (F32, sa), "b": (F32, sb)}) for tag, sa, sb in [
        ("2d-2d", (4, 5), (5, 3)),
        ("1d-2d", (5,), (5, 3)),
        ("2d-1d", (4, 5), (5,)),
        ("1d-1d", (5,), (5,)),
        ("3d-3d", (2, 4, 5), (2, 5, 3)),
        ("3d-2d", (2, 4, 5), (5, 3)),
        ("2d-3d", (4, 5), (2, 5, 3)),
        ("1d-3d", (5,), (2, 5, 3)),
        ("4d-1d", (2, 3, 4, 5), (5,)),
        ("broadcast-batch-4d", (2, 1, 3, 4), (1, 5, 4, 2)),
        ("broadcast-batch-rank-mismatch", (3, 1, 2, 4), (5, 4, 6)),
    ]
] + [
    OpCase("MatMul-const-weight", "MatMul", {"a": (F32, (3, 6))}, consts={"b": w(6, 4)}),
    OpCase("MatMul-i64", "MatMul", {"a": (I64, (3, 4)), "b": (I64, (4, 2))}),
    OpCase("MatMul-f64-batched", "MatMul", {"a": (F64, (2, 3, 4)), "b": (F64, (4, 5))}),
    OpCase("Gemm-f64-transB-bias", "Gemm", {"a": (F64, (3, 4)), "b": (F64, (5, 4)), "c": (F64, (5,))},
           attrs={"transB": 1, "alpha": 0.5}),
]

X3 = {"x": (F32, (2, 3, 4))}
SOFTMAX = [
    *(OpCase(f"Softmax-axis{axis}", "Softmax", X3, attrs={"axis": axis}) for axis in (-1, 0, 1, -2)),
    OpCase("Softmax-default-axis", "Softmax", X3),
    OpCase("Softmax-rank1", "Softmax", {"x": (F32, (7,))}),
    OpCase("Softmax-rank4-axis2", "Softmax", {"x": (F32, (2, 3, 4, 5))}, attrs={"axis": 2}),
    OpCase("Softmax-f64-axis0", "Softmax", {"x": (F64, (3, 4))}, attrs={"axis": 0}),
    OpCase("Softmax-large-values", "Softmax", X3, gens={"x": lambda rng, s: (50 * rng.standard_normal(s)).astype(F32)}),
]

NORMS = [
    OpCase("LayerNorm-axis-1-bias", "LayerNormalization", X3, consts={"s": w(4), "b": w(4)}),
    OpCase("LayerNorm-axis-1-no-bias", "LayerNormalization", X3, consts={"s": w(4)}),
    OpCase("LayerNorm-axis-2-bias", "LayerNormalization", X3, consts={"s": w(3, 4), "b": w(3, 4)},
           attrs={"axis": -2}),
    OpCase("LayerNorm-axis-2-no-bias-eps", "LayerNormalization", X3, consts={"s": w(3, 4)},
           attrs={"axis": -2, "epsilon": 1e-3}),
    OpCase("LayerNorm-axis1-rank4", "LayerNormalization", {"x": (F32, (2, 3, 4, 5))},
           consts={"s": w(3, 4, 5), "b": w(3, 4, 5)}, attrs={"axis": 1}),
    OpCase("LayerNorm-axis0-all", "LayerNormalization", {"x": (F32, (3, 5))}, consts={"s": w(3, 5), "b": w(3, 5)},
           attrs={"axis": 0}),
    OpCase("LayerNorm-mean-100", "LayerNormalization", {"x": (F32, (4, 1000))}, consts={"s": w(1000), "b": w(1000)},
           gens={"x": lambda rng, s: (100 + rng.standard_normal(s)).astype(F32)}),
    OpCase("LayerNorm-broadcast-scale-bias", "LayerNormalization", X3, consts={"s": w(4), "b": w(3, 1)},
           attrs={"axis": -2}),
    OpCase("LayerNorm-f64", "LayerNormalization", {"x": (F64, (3, 5))}, consts={"s": w(5).astype(F64)}),
    OpCase("LayerNorm-runtime-scale", "LayerNormalization", {"x": (F32, (4, 6)), "s": (F32, (6,)), "b": (F32, (6,))}),
    OpCase("BatchNorm-rank4", "BatchNormalization", {"x": (F32, (2, 3, 4, 5))},
           consts={"s": w(3), "b": w(3), "m": w(3), "v": var(3)}),
    OpCase("BatchNorm-rank2-eps", "BatchNormalization", {"x": (F32, (5, 4))},
           consts={"s": w(4), "b": w(4), "m": w(4), "v": var(4)}, attrs={"epsilon": 1e-2}),
    OpCase("BatchNorm-rank3", "BatchNormalization", {"x": (F32, (2, 3, 7))},
           consts={"s": w(3), "b": w(3), "m": w(3), "v": var(3)}),
    OpCase("BatchNorm-rank5", "BatchNormalization", {"x": (F32, (1, 2, 3, 2, 4))},
           consts={"s": w(2), "b": w(2), "m": w(2), "v": var(2)}),
]

REDUCE_OPS = ("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd")
# (id suffix, axes or None for all, keepdims)
REDUCE_AXES = [
    ("axis1-keep", [1], 1),
    ("axis-1-drop", [-1], 0),
    ("axes0,2-keep", [0, 2], 1),
    ("axes-3,-1-drop", [-3, -1], 0),
    ("all-keep", None, 1),
    ("all-drop", None, 0),
]


def _reduce(op: str, tag: str, axes, keepdims: int, dtype=F32, opset: int = 18) -> OpCase:
    x = {"x": (dtype, (2, 3, 4))}
    attrs = {"keepdims": keepdims}
    if axes is None:
        return OpCase(f"{op}-{tag}-opset{opset}", op, x, attrs=attrs, opset=opset)
    if opset >= 18 or op == "ReduceSum":
        return OpCase(f"{op}-{tag}-opset{opset}", op, x, attrs=attrs, consts={"axes": np.array(axes, I64)},
                      opset=opset)
    return OpCase(f"{op}-{tag}-opset{opset}", op, x, attrs={**attrs, "axes": axes}, opset=opset)


REDUCE = [
    *(_reduce(op, tag, axes, keep) for op in REDUCE_OPS for tag, axes, keep in REDUCE_AXES),
    *(_reduce(op, "axis1-keep", [1], 1, opset=17) for op in REDUCE_OPS),
    *(_reduce(op, "axes0,2-drop-i64", [0, 2], 0, dtype=I64) for op in ("ReduceSum", "ReduceMax", "ReduceMin")),
    OpCase("ReduceSum-noop-empty-axes", "ReduceSum", X3, attrs={"noop_with_empty_axes": 1}, opset=18),
    OpCase("ReduceMean-f64-axis1", "ReduceMean", {"x": (F64, (2, 3, 4))}, attrs={"axes": [1]}),
    OpCase("ReduceMean-rank1-all-drop", "ReduceMean", {"x": (F32, (9,))}, attrs={"keepdims": 0}, opset=18),
    OpCase("ReduceSum-long-row-positive", "ReduceSum", {"x": (F32, (1, 1_000_000))}, attrs={"keepdims": 0},
           consts={"axes": np.array([1], I64)}, gens={"x": positive}, opset=18),
]

CASES = CONV + MAXPOOL + AVGPOOL + GEMM + MATMUL + SOFTMAX + NORMS + REDUCE

XFAILS: dict[str, str] = {}


@pytest.mark.parametrize("case", params(CASES, XFAILS))
def test_nn(case: OpCase) -> None:
    check_case(case)
