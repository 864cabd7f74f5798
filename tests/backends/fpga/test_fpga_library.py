"""The FPGA layer library (backends/fpga_hls/include) on its own: every template, built for this
host against the ap_types headers, against numpy on random data."""
from __future__ import annotations

import ctypes
import math
from pathlib import Path

import numpy as np
import pytest

from backends.buildcache import build_cached
from backends.fpga_hls.build import FLAGS, ap_types_dir, cxx_command
from backends.fpga_hls.layers import Layer
from backends.fpga_hls.printer import LIBRARY, pack
from backends.fpga_hls.project import library_files

pytestmark = pytest.mark.fpga
HERE = Path(__file__).resolve().parent
F32 = np.float32


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    files = {**library_files(LIBRARY), "library_harness.cpp": (HERE / "library_harness.cpp").read_text()}
    command = (cxx_command(), *FLAGS, f"-I{ap_types_dir()}", "-I.", "library_harness.cpp", "-o", "libharness.so")
    import os
    cache = os.environ.get("AOTC_BUILD_CACHE", str(Path.home() / ".cache" / "aotc" / "build"))
    data, _ = build_cached(command[0], command, files, "libharness.so", Path(cache) if cache else None,
                           what="the C++ compiler", entry="library_harness.cpp")
    path = tmp_path_factory.mktemp("harness") / "libharness.so"
    path.write_bytes(data)
    return ctypes.CDLL(str(path))


def call(lib, name, *arrays, ints=()):
    arrays = [np.ascontiguousarray(a, F32) for a in arrays]
    getattr(lib, name)(*[ctypes.c_int(i) for i in ints[:1]],
                       *[a.ctypes.data_as(ctypes.c_void_p) for a in arrays], *[ctypes.c_int(i) for i in ints[1:]])
    return arrays


def conv_ref(x, w, b, stride, pads, dil, groups):
    c_in, h, wd = x.shape
    c_out, icg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    ho = (h + pads[0] + pads[2] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    wo = (wd + pads[1] + pads[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((c_out, ho, wo), np.float64)
    ocg = c_out // groups
    for o in range(c_out):
        g = o // ocg
        for i in range(ho):
            for j in range(wo):
                patch = xp[g * icg:(g + 1) * icg, i * stride[0]:i * stride[0] + dil[0] * (kh - 1) + 1:dil[0],
                           j * stride[1]:j * stride[1] + dil[1] * (kw - 1) + 1:dil[1]]
                y[o, i, j] = b[o] + np.sum(patch * w[o])
    return y


def pool_ref(x, k, s, p, is_max, count_pad):
    c, h, w = x.shape
    ho, wo = (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
    y = np.zeros((c, ho, wo))
    for i in range(ho):
        for j in range(wo):
            r0, c0 = i * s - p, j * s - p
            win = x[:, max(r0, 0):min(r0 + k, h), max(c0, 0):min(c0 + k, w)]
            y[:, i, j] = win.max(axis=(1, 2)) if is_max else win.sum(axis=(1, 2)) / (k * k if count_pad else
                                                                                     win.shape[1] * win.shape[2])
    return y


def close(actual, expected, tol=1e-5):
    expected = np.asarray(expected, np.float64)
    assert np.linalg.norm(actual - expected) <= tol * max(np.linalg.norm(expected), 1e-30)


def test_dense_packed_lanes_match_numpy(lib):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(12), rng.standard_normal((6, 12)).astype(F32), rng.standard_normal(6)
    layer = Layer("d", "d", "Gemm", "dense", ("x",), "y", (("n_in", 12), ("n_out", 6), ("out_size", 6)), (w, b))
    packed, _ = pack(layer, {"pi": 4, "po": 3})
    *_, y = call(lib, "t_dense", x, packed, b, np.zeros(6))
    close(y, w.astype(np.float64) @ x.astype(F32) + b.astype(F32))


def test_fixed_point_dense_is_close(lib):
    rng = np.random.default_rng(1)
    x, w, b = rng.uniform(-1, 1, 12), rng.uniform(-1, 1, (6, 12)).astype(F32), rng.uniform(-1, 1, 6)
    layer = Layer("d", "d", "Gemm", "dense", ("x",), "y", (("n_in", 12), ("n_out", 6), ("out_size", 6)), (w, b))
    packed, _ = pack(layer, {"pi": 4, "po": 3})
    *_, y = call(lib, "t_fixed_dense", x, packed, b, np.zeros(6))
    assert np.max(np.abs(y - (w @ x + b))) < 0.02      # 10 fractional bits of ap_fixed<16,6>


@pytest.mark.parametrize("name,shape,groups,stride,pads,dil,knobs", [
    ("t_conv", (6, 2, 3, 3), 2, (2, 2), (1, 1, 1, 1), (1, 2), {"pi": 2, "po": 3}),
    ("t_depthwise", (4, 1, 3, 3), 4, (1, 1), (1, 1, 1, 1), (1, 1), {"pi": 1, "po": 1})])
def test_conv_grouped_and_depthwise_match_numpy(lib, name, shape, groups, stride, pads, dil, knobs):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 7, 6) if name == "t_conv" else (4, 5, 5)).astype(F32)
    w, b = rng.standard_normal(shape).astype(F32), rng.standard_normal(shape[0]).astype(F32)
    expected = conv_ref(x.astype(np.float64), w, b, stride, pads, dil, groups)
    dims = (("c_in", 4), ("c_out", shape[0]), ("groups", groups), ("out_size", expected.size))
    packed, _ = pack(Layer("c", "c", "Conv", "conv", ("x",), "y", dims, (w, b)), knobs)
    *_, y = call(lib, name, x, packed, b, np.zeros(expected.size))
    close(y, expected.reshape(-1))


@pytest.mark.parametrize("is_max", [1, 0])
def test_pooling_matches_numpy(lib, is_max):
    x = np.random.default_rng(3).standard_normal((4, 7, 7)).astype(F32)
    _, y = call(lib, "t_maxpool" if is_max else "t_avgpool", x, np.zeros(64))
    close(y, pool_ref(x.astype(np.float64), 3, 2, 1, is_max, count_pad=not is_max).reshape(-1))


@pytest.mark.parametrize("is_max", [1, 0])
def test_engine_pooling_matches_numpy(lib, is_max):
    x = np.random.default_rng(4).standard_normal((4, 7, 7)).astype(F32)
    x_, y = np.ascontiguousarray(x), np.zeros(64, F32)
    lib.t_engine_pool(x_.ctypes.data_as(ctypes.c_void_p), y.ctypes.data_as(ctypes.c_void_p), ctypes.c_int(is_max))
    close(y, pool_ref(x.astype(np.float64), 3, 2, 1, is_max, count_pad=False).reshape(-1))


def test_global_average_pool(lib):
    x = np.random.default_rng(5).standard_normal((5, 9)).astype(F32)
    _, y = call(lib, "t_gap", x, np.zeros(5))
    close(y, x.astype(np.float64).mean(axis=1))


ACTIVATIONS = [lambda x: np.maximum(x, 0), lambda x: np.where(x >= 0, x, 0.1 * x), lambda x: np.clip(x, 0.1, 0.5),
               lambda x: 1 / (1 + np.exp(-x)), np.tanh,
               lambda x: 0.5 * x * (1 + np.array([math.erf(v / math.sqrt(2)) for v in x])), np.exp]


@pytest.mark.parametrize("which", range(len(ACTIVATIONS)))
def test_activations_match_numpy(lib, which):
    x = np.random.default_rng(6).standard_normal(64).astype(F32)
    _, y = call(lib, "t_activation", x, np.zeros(64), ints=(which,))
    close(y, ACTIVATIONS[which](x.astype(np.float64)), tol=1e-6)


def test_binary_ops_and_clone(lib):
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal(64).astype(F32), rng.standard_normal(64).astype(F32)
    *_, y = call(lib, "t_binary_add", a, b, np.zeros(64))
    close(y, a + b)
    *_, y = call(lib, "t_const_sub", a, b, np.zeros(64))
    close(y, b - a)
    _, y0, y1 = call(lib, "t_clone", a, np.zeros(64), np.zeros(64))
    assert np.array_equal(y0, a) and np.array_equal(y1, a)


def test_softmax_and_layernorm_rows(lib):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 10)).astype(F32) * 3
    _, y = call(lib, "t_softmax", x, np.zeros(30))
    e = np.exp(x - x.max(axis=1, keepdims=True))
    close(y.reshape(3, 10), e / e.sum(axis=1, keepdims=True), tol=1e-6)
    g, b = rng.standard_normal(10).astype(F32), rng.standard_normal(10).astype(F32)
    *_, y = call(lib, "t_layernorm", x, g, b, np.zeros(30))
    x64 = x.astype(np.float64)
    norm = (x64 - x64.mean(1, keepdims=True)) / np.sqrt(x64.var(1, keepdims=True) + 1e-5)
    close(y.reshape(3, 10), norm * g + b, tol=1e-6)


@pytest.mark.parametrize("relu,residual", [(0, 0), (1, 1)])
def test_engine_conv_with_partial_tiles_and_epilogue(lib, relu, residual):
    rng = np.random.default_rng(9)
    x, w = rng.standard_normal((5, 7, 7)).astype(F32), rng.standard_normal((7, 5, 3, 3)).astype(F32)
    b, res = rng.standard_normal(7).astype(F32), rng.standard_normal((7, 4, 4)).astype(F32)
    expected = conv_ref(x.astype(np.float64), w, b, (2, 2), (1, 1, 1, 1), (1, 1), 1) + (res if residual else 0)
    expected = np.maximum(expected, 0) if relu else expected
    arrays = [np.ascontiguousarray(a, F32).reshape(-1) for a in (x, w, b, res, np.zeros(112))]
    lib.t_engine_conv(*[a.ctypes.data_as(ctypes.c_void_p) for a in arrays], ctypes.c_int(relu), ctypes.c_int(residual))
    close(arrays[-1], expected.reshape(-1))
