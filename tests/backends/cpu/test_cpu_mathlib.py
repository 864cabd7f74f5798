"""The CPU backend's inline math (backends/cpu/mathlib.py) on dense samples: Exp, Tanh, Erf,
Sigmoid and both GELUs, elementwise and as a GEMM epilogue, against float64 numpy over
[-100, 100] (every float32 step near 0, a fine grid beyond) plus +-inf and NaN. Each must stay
within a few float32 ulp of the exact value; the erf GELU's tail, where float32's 1 + erf(x)
cancels, within the absolute error that cancellation allows (as onnxruntime's own)."""
from __future__ import annotations

import math

import numpy as np
import onnx.helper as oh
import pytest
from onnx import TensorProto

import compiler

ULP = 2.0 ** -23
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def _samples() -> np.ndarray:
    grid = np.linspace(-100.0, 100.0, 200_001)
    near_zero = np.linspace(-1e-3, 1e-3, 20_001)
    specials = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0, 88.3, 88.8, -87.5, -103.0, -104.5])
    values = np.concatenate([grid, near_zero, specials]).astype(np.float32)
    return values[: values.size // 64 * 64].reshape(-1, 64)


def _erf(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erf, otypes=[np.float64])(x)


def _erfc(x: np.ndarray) -> np.ndarray:
    return np.vectorize(math.erfc, otypes=[np.float64])(x)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


REFERENCE = {
    "Exp": np.exp,
    "Tanh": np.tanh,
    "Erf": _erf,
    "Sigmoid": _sigmoid,
    # The GELUs in forms without float64's own cancellation in the left tail: 0.5 (1 + tanh u)
    # is sigmoid(2u), 1 + erf(z) is erfc(-z).
    "Gelu-tanh": lambda x: x * _sigmoid(2.0 * SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)),
    "Gelu-none": lambda x: 0.5 * x * _erfc(-x / math.sqrt(2.0)),
}


def _model(case: str, through_gemm: bool, shape) -> object:
    op, _, approximate = case.partition("-")        # Gelu-none: the erf form
    attrs = {"approximate": approximate} if approximate else {}
    nodes, inits, source = [], [], "x"
    if through_gemm:        # x @ I: exact, so the GEMM epilogue sees the samples themselves
        inits.append(oh.make_tensor("eye", TensorProto.FLOAT, (64, 64), np.eye(64, dtype=np.float32).ravel()))
        nodes.append(oh.make_node("MatMul", ["x", "eye"], ["m"]))
        source = "m"
    nodes.append(oh.make_node(op, [source], ["y"], **attrs))
    graph = oh.make_graph(nodes, "mathlib", [oh.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 20)], ir_version=10)


def _allowed_error(case: str, x: np.ndarray, expected: np.ndarray, through_gemm: bool) -> np.ndarray:
    """A few ulp, times the GELUs' condition number in their left tail (the float32 rounding
    of the inner polynomial moves exp's / erfc's argument: relative error ~ |argument| ulp);
    plus the absolute error of float32's 1 + erf or 1 + tanh near -1 where a form adds them
    (the elementwise tanh GELU, both erf GELUs; the epilogue's tanh GELU is x / (1 + exp))."""
    x = x.astype(np.float64)
    condition = {"Gelu-tanh": 1 + 4 * SQRT_2_OVER_PI * np.abs(x + 0.044715 * x ** 3),
                 "Gelu-none": 1 + x ** 2}.get(case, 1.0)
    allowed = 4 * ULP * np.abs(expected) * condition + 1e-37      # + subnormal results (sigmoid far left)
    if case == "Gelu-none" or (case == "Gelu-tanh" and not through_gemm):
        allowed += 2 * ULP * np.abs(x)
    return allowed


@pytest.mark.parametrize("case,through_gemm", [(case, False) for case in REFERENCE] +
                         [("Gelu-tanh", True), ("Gelu-none", True)])      # GELU: a GEMM epilogue too
def test_inline_math_is_within_a_few_ulp(case, through_gemm):
    x = _samples()
    actual = compiler.compile(_model(case, through_gemm, x.shape), threads=2)(x=x)
    with np.errstate(invalid="ignore", over="ignore"):
        expected = REFERENCE[case](x.astype(np.float64))
        expected32 = expected.astype(np.float32)          # past float32's range: inf
    assert np.array_equal(np.isnan(actual), np.isnan(expected)), case
    finite = np.isfinite(expected32)
    infinite = ~finite & ~np.isnan(expected)
    assert np.array_equal(actual[infinite], expected32[infinite]), case
    error = np.abs(actual[finite].astype(np.float64) - expected[finite])
    excess = error / _allowed_error(case, x[finite], expected[finite], through_gemm)
    worst = int(np.argmax(excess))
    assert excess[worst] <= 1.0, (f"{case}: x={x[finite][worst]!r} gives {actual[finite][worst]!r}, "
                                  f"exact {expected[finite][worst]!r}")


def _clamp_model(op: str, through_gemm: bool, shape) -> object:
    nodes, inits, source = [], [], "x"
    if through_gemm:
        inits.append(oh.make_tensor("eye", TensorProto.FLOAT, (64, 64), np.eye(64, dtype=np.float32).ravel()))
        nodes.append(oh.make_node("MatMul", ["x", "eye"], ["m"]))
        source = "m"
    if op == "Relu":
        nodes.append(oh.make_node("Relu", [source], ["y"]))
    else:
        inits += [oh.make_tensor("lo", TensorProto.FLOAT, (), [-0.0]), oh.make_tensor("hi", TensorProto.FLOAT, (), [6.0])]
        nodes.append(oh.make_node("Clip", [source, "lo", "hi"], ["y"]))
    graph = oh.make_graph(nodes, "clamp", [oh.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, shape)], inits)
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 20)], ir_version=10)


@pytest.mark.parametrize("op", ["Relu", "Clip"])
@pytest.mark.parametrize("through_gemm", [False, True], ids=["elementwise", "gemm-epilogue"])
def test_clamps_against_constant_bounds_are_exact(op, through_gemm):
    """ReLU and Clip(-0, 6) print as one compare and select against the bound (mathlib's
    aotc_maxcf / aotc_vmaxc): bit for bit what max/min give, NaN kept, +-0 and +-inf too
    (a bound equal to x returns the bound: max(-0, 0) is +0, as the general form gives)."""
    x = _samples()
    actual = compiler.compile(_clamp_model(op, through_gemm, x.shape), threads=2)(x=x)
    low, high = (np.float32(0.0), np.float32(np.inf)) if op == "Relu" else (np.float32(-0.0), np.float32(6.0))
    expected = np.where(x <= low, low, x)
    expected = np.where(expected >= high, high, expected)
    assert np.array_equal(np.isnan(actual), np.isnan(x))
    assert np.array_equal(actual.view(np.uint32)[~np.isnan(x)], expected.view(np.uint32)[~np.isnan(x)]), op
