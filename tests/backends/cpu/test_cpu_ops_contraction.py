"""Per-op tests of the CPU backend, contractions at sizes that reach the GEMM template's edges:
M, N, K not multiples of the register tile, K over one KC block, M over MC, N over NC,
constant operands packed at compile time, broadcast batches, a symbolic M. Each is compared
with onnxruntime and the interpreter (the small cases live in test_cpu_ops_nn.py)."""
from __future__ import annotations

import numpy as np
import onnx.helper as oh
import pytest

from cpu_testlib import F32, OpCase, check_case, check_model, make_feeds, make_model, normal, params, seed_of

_rng = np.random.default_rng(31337)


def w(*shape: int) -> np.ndarray:
    return normal(_rng, shape)


def _mm(tag: str, a_shape, b_shape, const_a=False, const_b=False) -> OpCase:
    inputs, consts = {}, {}
    (consts if const_a else inputs)["a"] = w(*a_shape) if const_a else (F32, a_shape)
    (consts if const_b else inputs)["b"] = w(*b_shape) if const_b else (F32, b_shape)
    return OpCase(f"MatMul-{tag}", "MatMul", inputs, consts=consts, order=("a", "b"))


MATMUL = [
    _mm("k-over-kc-ragged-m-n", (37, 300), (300, 53)),
    _mm("m-over-mc-k-three-blocks", (130, 600), (600, 40)),
    _mm("n-over-nc", (9, 20), (20, 2100)),
    _mm("tiny-k1", (17, 1), (1, 35)),
    _mm("const-b-packed", (5, 300), (300, 33), const_b=True),
    _mm("k-page-aliased-a-packed", (29, 1024), (1024, 40), const_b=True),   # rows 4 KiB apart: A packed
    _mm("const-a-packed", (7, 300), (300, 17), const_a=True),
    _mm("const-both", (19, 40), (40, 21), const_a=True, const_b=True),
    _mm("vector-times-const-matrix", (300,), (300, 45), const_b=True),
    _mm("matrix-times-vector", (45, 300), (300,)),
    _mm("batched-const-b-broadcast", (2, 3, 5, 20), (20, 17), const_b=True),
    _mm("batched-const-b-per-batch", (3, 5, 20), (3, 20, 17), const_b=True),
    _mm("batched-const-b-outer-batch", (2, 3, 5, 20), (2, 1, 20, 17), const_b=True),
    _mm("batched-const-a-broadcast", (20, 9), (2, 3, 9, 18), const_a=True),
    _mm("batch-rank2-both-broadcast", (2, 1, 5, 20), (1, 3, 20, 17)),
    _mm("batch-rank3", (2, 2, 3, 5, 20), (20, 17)),
]


def _gemm(tag: str, a, b, c=None, runtime=(), **attrs) -> OpCase:
    """Operands a, b, c as shapes; those named in `runtime` are graph inputs, the rest constants."""
    inputs, consts = {}, {}
    for name, shape in (("a", a), ("b", b), ("c", c)):
        if shape is None:
            continue
        if name in runtime:
            inputs[name] = (F32, shape)
        else:
            consts[name] = w(*shape)
    order = ("a", "b") + (("c",) if c is not None else ())
    return OpCase(f"Gemm-{tag}", "Gemm", inputs, attrs=attrs, consts=consts, order=order)


GEMM = [
    _gemm("k-over-kc", (37, 300), (300, 53), (53,), runtime=("a",)),
    _gemm("transA-const-a", (300, 9), (300, 20), runtime=("b",), transA=1),
    _gemm("transB-alpha-beta-mn", (33, 300), (41, 300), (33, 41), runtime=("a",), transB=1, alpha=0.5, beta=2.0),
    _gemm("transA-transB-runtime", (70, 30), (50, 70), (30, 1), runtime=("a", "b", "c"), transA=1, transB=1,
          beta=-1.0),
    _gemm("bias-1n-runtime", (100, 20), (20, 130), (1, 130), runtime=("a", "b", "c")),
    _gemm("beta-zero-ignores-c", (6, 20), (20, 5), (6, 5), runtime=("a",), beta=0.0),
    _gemm("scalar-bias-n-over-nc", (3, 10), (10, 2100), (), runtime=("a",), alpha=-2.0),
]

CONV = [
    OpCase("Conv2d-k-over-kc", "Conv", {"x": (F32, (1, 32, 10, 9))}, consts={"w": w(20, 32, 3, 3), "b": w(20)},
           attrs={"pads": [1, 0, 2, 1], "strides": [1, 2], "dilations": [2, 1]}),
    OpCase("Conv2d-plane-over-nc", "Conv", {"x": (F32, (1, 3, 50, 50))}, consts={"w": w(8, 3, 3, 3), "b": w(8)},
           attrs={"pads": [1, 1, 1, 1]}),
    OpCase("Conv2d-groups-wide", "Conv", {"x": (F32, (2, 8, 9, 9))}, consts={"w": w(12, 4, 3, 3), "b": w(12)},
           attrs={"group": 2, "pads": [0, 1, 1, 0]}),
    OpCase("Conv2d-depthwise-multiplier8", "Conv", {"x": (F32, (1, 3, 9, 9))}, consts={"w": w(24, 1, 3, 3)},
           attrs={"group": 3, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    OpCase("Conv2d-1x1-stride2", "Conv", {"x": (F32, (2, 16, 7, 8))}, consts={"w": w(24, 16, 1, 1), "b": w(24)},
           attrs={"strides": [2, 2]}),
    OpCase("Conv2d-runtime-weight-k-over-kc", "Conv", {"x": (F32, (2, 30, 6, 7)), "w": (F32, (5, 30, 3, 3))},
           attrs={"pads": [1, 1, 1, 1]}),
    OpCase("Conv1d-k-over-kc", "Conv", {"x": (F32, (2, 40, 30))}, consts={"w": w(17, 40, 7), "b": w(17)},
           attrs={"pads": [3, 2], "strides": [2], "dilations": [2]}),
    OpCase("Conv1d-asym-pads-groups", "Conv", {"x": (F32, (1, 12, 25))}, consts={"w": w(18, 4, 5)},
           attrs={"pads": [4, 0], "group": 3}),
]

ZERO_SIZE = [
    _mm("k0-zero-size", (3, 0), (0, 4)),
    # beta stays 1: onnxruntime 1.31 returns C unscaled when K = 0 (aotc and the interpreter scale it).
    _gemm("k0-bias-only", (3, 0), (0, 4), (4,), runtime=("a", "b")),
    _mm("m0-zero-size", (0, 5), (5, 4)),
]

CASES = MATMUL + GEMM + CONV + ZERO_SIZE

XFAILS: dict[str, str] = {}


@pytest.mark.parametrize("case", params(CASES, XFAILS))
def test_contraction(case: OpCase) -> None:
    check_case(case)


@pytest.mark.parametrize("op", ["MatMul", "Gemm", "Conv"])
def test_symbolic_m_contraction(op: str) -> None:
    """A symbolic batch as the template's M (MatMul, Gemm) or its batch (Conv), run at several sizes."""
    if op == "Conv":
        node = oh.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])
        model = make_model([node], {"x": (F32, ("batch", 20, 6, 5))}, ["y"], {"w": w(9, 20, 3, 3), "b": w(9)})
    else:
        node = oh.make_node(op, ["x", "w"], ["y"])
        model = make_model([node], {"x": (F32, ("batch", 300))}, ["y"], {"w": w(300, 40)})
    check_model(model, [make_feeds(model, seed_of(f"{op}{batch}"), sizes={"batch": batch}) for batch in (1, 7, 100)])


def test_half_width_tile_where_it_saves_edge_work() -> None:
    """On AVX-512, N = 24 takes an 8-wide 8 x 24 tile (16-wide tiles would waste 25% of the
    lanes); N = 32 and N = 1000 keep the native width. Then a Conv (N = 24) with bias,
    Clip and a residual Add in its epilogue runs at that width and matches onnxruntime."""
    from compiler.ir.contraction import Contraction, Dense
    from compiler.target import resolve_target
    from backends.cpu.contraction import config_space, direct_params

    def spec(n: int) -> Contraction:
        return Contraction(batch=1, groups=1, m=3136, n=n, k=96,
                           a=Dense("a", row_stride=96, col_stride=1), b=Dense("b", row_stride=n, col_stride=1, constant=True),
                           out_param="y", out_row_stride=n, out_batch_stride=0, out_group_stride=0)
    v4, v3 = resolve_target("cpu:x86-64-v4"), resolve_target("cpu:x86-64-v3")
    assert (direct_params(spec(24), v4).vec, direct_params(spec(24), v4).nr) == (8, 24)
    assert direct_params(spec(32), v4).vec == 16 and direct_params(spec(1000), v4).vec == 16
    assert direct_params(spec(24), v3).vec == 8
    # The tuner's register tiles for an 8-wide kernel on AVX-512 use all 32 registers
    # (12 x 16: 24 accumulators), and none more: accumulators + B vectors + A broadcast.
    space = config_space(spec(24), v4)
    blocks = {(c.param("MR", 0), c.param("NR", 0)) for c in dict(space.knobs)["block"]}
    assert (8, 24) in blocks and (12, 16) in blocks
    assert all(mr * (nr // 8) + nr // 8 + 1 <= 32 for mr, nr in blocks)

    nodes = [oh.make_node("Conv", ["x", "w", "b"], ["c"]), oh.make_node("Clip", ["c", "lo", "hi"], ["r"]),
             oh.make_node("Add", ["r", "skip"], ["y"])]
    model = make_model(nodes, {"x": (F32, (1, 40, 9, 11)), "skip": (F32, (1, 24, 9, 11))}, ["y"],
                       {"w": w(24, 40, 1, 1), "b": w(24), "lo": np.array(-0.5, np.float32), "hi": np.array(0.7, np.float32)})
    check_model(model, [make_feeds(model, seed_of("half-width-tile"))])
