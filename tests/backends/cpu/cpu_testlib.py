"""Helpers for the CPU backend's per-op tests: a tiny ONNX model per case, compiled with
`compiler.compile(..., target="cpu")`, run on fresh random inputs and compared with BOTH
onnxruntime (on the same model) and aotc's numpy interpreter (on the imported graph).

Floats: relative L2 error <= 1e-5 (NaNs and infinities must sit in the same places); ints and
bools: exact. The output shape and dtype must match exactly.
"""
from __future__ import annotations

import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np
import onnx

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "frontends"))
from onnx_testlib import Case, make_model, rel_l2, run_onnxruntime, runtime_inputs  # noqa: E402,F401 (make_model re-exported)

F16, F32, F64 = np.float16, np.float32, np.float64
I8, U8, I32, I64, BOOL = np.int8, np.uint8, np.int32, np.int64, np.bool_
RTOL = 1e-5
INT64_MIN, INT64_MAX = int(np.iinfo(np.int64).min), int(np.iinfo(np.int64).max)

# gen(rng, shape) -> array of that shape (and the generator's own dtype)
Gen = Callable[[np.random.Generator, tuple[int, ...]], np.ndarray]


def normal(rng: np.random.Generator, shape) -> np.ndarray:
    return (rng.standard_normal(shape) + 0.1).astype(F32)


def positive(rng: np.random.Generator, shape) -> np.ndarray:
    return (np.abs(rng.standard_normal(shape)) + 0.1).astype(F32)


def scaled(factor: float) -> Gen:
    return lambda rng, shape: (factor * rng.standard_normal(shape) + 0.1).astype(F32)


def coarse(dtype=F32) -> Gen:
    """Small integers (as `dtype`), so comparisons see ties and Floor/Ceil see exact values."""
    return lambda rng, shape: rng.integers(-3, 4, shape).astype(dtype)


def nonzero_ints(dtype=I64, high: int = 9) -> Gen:
    def gen(rng, shape):
        magnitude = rng.integers(1, high + 1, shape)
        sign = 1 if np.dtype(dtype).kind == "u" else np.where(rng.random(shape) < 0.5, -1, 1)
        return (magnitude * sign).astype(dtype)
    return gen


def ints_in(low: int, high: int, dtype=I64) -> Gen:
    """Integers in [low, high] inclusive: indices (negative ones included) or exponents."""
    return lambda rng, shape: rng.integers(low, high + 1, shape).astype(dtype)


def bools(rng: np.random.Generator, shape) -> np.ndarray:
    return np.asarray(rng.random(shape) < 0.5)


def with_specials(rng: np.random.Generator, shape) -> np.ndarray:
    """Normal floats with NaN, +inf and -inf sprinkled in."""
    x = normal(rng, shape).ravel()
    picks = rng.choice(x.size, size=min(x.size, 6), replace=False)
    x[picks] = [np.nan, np.inf, -np.inf, np.nan, 0.0, -0.0][:len(picks)]
    return x.reshape(shape)


def default_gen(dtype) -> Gen:
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return bools
    if dtype.kind in "iu":
        return nonzero_ints(dtype)
    return lambda rng, shape: normal(rng, shape).astype(dtype)


@dataclass(frozen=True)
class OpCase(Case):
    """The frontend's single-node case (tests/frontends/onnx_testlib.py), plus per-input
    generators `gens` for the run-time inputs (default by dtype)."""

    gens: Mapping[str, Gen] = field(default_factory=dict)


def seed_of(text: str) -> int:
    return zlib.crc32(text.encode())


def make_feeds(model: onnx.ModelProto, seed: int, gens: Mapping[str, Gen] | None = None,
               sizes: Mapping[str, int] | None = None) -> dict[str, np.ndarray]:
    """Fresh random inputs for every graph input; a dim_param takes its size from `sizes`."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, dtype, shape in runtime_inputs(model, sizes):
        array = np.asarray((gens or {}).get(name, default_gen(dtype))(rng, shape))
        assert array.dtype == dtype and array.shape == shape, f"generator for {name} is wrong"
        feeds[name] = array
    return feeds


def assert_close(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    """Same shape and dtype; floats: same NaN/inf positions and rel L2 <= RTOL; else exact."""
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
    if ours.dtype.kind == "f":
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=f"{what}: NaNs differ")
        finite = np.isfinite(theirs)
        np.testing.assert_array_equal(ours[~finite & ~np.isnan(theirs)], theirs[~finite & ~np.isnan(theirs)],
                                      err_msg=f"{what}: infinities differ")
        error = rel_l2(ours[finite], theirs[finite])
        assert error <= RTOL, f"{what}: relative L2 error {error:.3g} > {RTOL}"
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=what)


def check_model(model: onnx.ModelProto, feed_sets: Sequence[Mapping[str, np.ndarray]],
                with_onnxruntime: bool = True, target: str = "cpu"):
    """Compile `model` once for `target` (the CPU unless a GPU backend's tests reuse the cases) and check every feed set against onnxruntime and the
    interpreter (only the interpreter where onnxruntime refuses the model). Returns the artifact."""
    import compiler
    from compiler.frontends.onnx import import_onnx
    from compiler.ir.interpreter import interpret

    graph = import_onnx(model)
    artifact = compiler.compile(model, target=target)
    for feeds in feed_sets:
        ours = artifact.run_list(**feeds)
        reference = interpret(graph, feeds)
        interpreted = [reference[name] for name in graph.outputs]
        onnxruntime = run_onnxruntime(model, feeds) if with_onnxruntime else interpreted
        assert len(ours) == len(interpreted) == len(onnxruntime)
        for k, (got, ort, ref) in enumerate(zip(ours, onnxruntime, interpreted)):
            shape = {name: a.shape for name, a in feeds.items()}
            assert_close(got, ort, f"output {k} vs onnxruntime (inputs {shape})")
            assert_close(got, ref, f"output {k} vs interpreter (inputs {shape})")
    return artifact


def check_case(case: OpCase, with_onnxruntime: bool = True, target: str = "cpu") -> None:
    model = case.model()
    check_model(model, [make_feeds(model, seed_of(case.id), case.gens)], with_onnxruntime, target)


def lowered_ops(model: onnx.ModelProto) -> set[str]:
    """The graph-IR ops the CPU pipeline lowers for `model` (after its graph passes)."""
    from compiler.frontends.onnx import import_onnx
    from compiler.pipeline import graph_passes
    from compiler.target import resolve_target

    graph = import_onnx(model)
    for graph_pass in graph_passes(resolve_target("cpu")):
        graph = graph_pass(graph)
    return {node.op for node in graph.nodes}


def params(cases: Sequence[OpCase], xfails: Mapping[str, str] | None = None) -> list:
    """pytest params with ids; the ids in `xfails` get a strict xfail with the given reason."""
    import pytest

    xfails = dict(xfails or {})
    out = [pytest.param(c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=xfails.pop(c.id))]
                        if c.id in xfails else []) for c in cases]
    assert not xfails, f"xfail ids that name no case: {sorted(xfails)}"
    return out
