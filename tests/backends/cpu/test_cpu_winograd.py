"""Winograd F(m x m, 3 x 3) convolutions on the CPU (backends/cpu/winograd.py and its template):
the transforms compute the correlation exactly (float64); every tile size the config space
offers compiles (through a tuning record, as `aotc tune` would pick it) and matches onnxruntime
on fresh random inputs, over edge tiles, channel counts that are not vector multiples, a batch,
both paddings and a fused bias + residual + ReLU epilogue; and the default's choices."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from autotune.database import TuningDatabase, TuningRecord
from autotune.space import extract_tasks, tuning_key
from backends.cpu import winograd
from backends.cpu.contraction import default_winograd
from compiler.api import _import, compile_to_directory, default_options
from compiler.ir.contraction import Contraction, Dense, Im2colRows
from compiler.pipeline import lower_graph
from compiler.runtime import Artifact
from compiler.target import resolve_target
from conftest import rel_l2


@pytest.mark.parametrize("m", winograd.TILE_SIZES)
def test_transforms_compute_the_correlation(m):
    rng = np.random.default_rng(m)
    b_t, a_t = np.array(winograd.input_transform(m), float), np.array(winograd.output_transform(m), float)
    g_mat = winograd.filter_transform(m)
    d, g = rng.standard_normal((m + 2, m + 2)), rng.standard_normal((3, 3))
    y = a_t @ ((g_mat @ g @ g_mat.T) * (b_t @ d @ b_t.T)) @ a_t.T
    want = np.array([[(d[i:i + 3, j:j + 3] * g).sum() for j in range(m)] for i in range(m)])
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)


def conv_model(path, batch: int, channels: int, out: int, size: int, pad: int, residual: bool):
    """y = relu(conv3x3(x, W, b) [+ x]), stride 1."""
    rng = np.random.default_rng(channels * 100 + out)
    w = numpy_helper.from_array((rng.standard_normal((out, channels, 3, 3)) * 0.2).astype(np.float32), "W")
    b = numpy_helper.from_array((rng.standard_normal(out) + 0.1).astype(np.float32), "b")
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["c"], pads=[pad] * 4, kernel_shape=[3, 3])]
    last = "c"
    if residual:
        nodes.append(helper.make_node("Add", ["c", "x"], ["s"]))
        last = "s"
    nodes.append(helper.make_node("Relu", [last], ["y"]))
    side = size + 2 * pad - 2
    graph = helper.make_graph(nodes, "winograd_conv",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, channels, size, size])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, out, side, side])], [w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8), str(path))
    return path


CASES = {
    # batch, C, K, image side, pad, residual
    "edges": (1, 16, 24, 13, 1, False),          # 13 -> partial 4x4 and 2x2 tiles
    "residual": (1, 32, 32, 12, 1, True),
    "no-pad": (1, 8, 40, 11, 0, False),         # K not a multiple of NR
    "batch": (2, 20, 16, 9, 1, False),          # C not a vector multiple; tiles span images
    "rgb": (1, 3, 16, 10, 1, False),
}


@pytest.mark.parametrize("m", (0,) + winograd.TILE_SIZES)
@pytest.mark.parametrize("case", CASES)
def test_every_tile_size_matches_onnxruntime(case, m, tmp_path, isolated_cache):
    batch, channels, out, size, pad, residual = CASES[case]
    model = conv_model(tmp_path / "m.onnx", batch, channels, out, size, pad, residual)
    lowered = lower_graph(_import(str(model), None).graph, resolve_target("cpu"), default_options())
    (task,) = [t for t in extract_tasks(lowered.program, lowered.backend, lowered.target)
               if t.kernel.contraction is not None]
    config = next(c for c in (task.space.config_at(i) for i in range(task.space.size()))
                  if c.param("WINOGRAD", 0) == m)
    db = tmp_path / "records.db"
    with TuningDatabase.open(db) as records:
        records.add(TuningRecord(tuning_key(lowered.backend, lowered.target, task.kernel_hash), config,
                                 1e-6, None, (1e-6,), 1.0))
    out_dir = compile_to_directory(str(model), "cpu", tmp_path / "a", options=replace(default_options(), tuning_db=db))
    source = (out_dir / "kernels" / "model.c").read_text()
    assert (f"Winograd F({m}x{m},3x3)" in source) == bool(m)
    rng = np.random.default_rng(7)
    for _ in range(2):       # fresh inputs each run: nothing left over from the last call
        x = (rng.standard_normal((batch, channels, size, size)) + 0.1).astype(np.float32)
        want = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        assert rel_l2(Artifact(out_dir)(x), want) <= 1e-5


def _spec(size: int, channels: int, out: int, stride: int = 1, groups: int = 1) -> Contraction:
    side = (size - 1) // stride + 1
    a = Im2colRows("in0", channels, channels // groups, size, size, (3, 3), (stride, stride), (1, 1), (1, 1),
                   side, size * size * channels)
    b = Dense("in1", row_stride=out, col_stride=1, group_stride=out // groups, constant=True)
    return Contraction(batch=1, groups=groups, m=side * side, n=out // groups, k=9 * channels // groups, a=a, b=b,
                       out_param="out0", out_row_stride=out, out_batch_stride=side * side * out,
                       out_group_stride=out // groups)


def test_default_tile_sizes():
    assert default_winograd(_spec(56, 64, 64)) == 4       # ResNet's first stage
    assert default_winograd(_spec(14, 256, 256)) == 4
    assert default_winograd(_spec(7, 512, 512)) == 2      # few 4x4 tiles: F(2x2)
    assert default_winograd(_spec(7, 2048, 2048)) == 0    # transformed filters past the caches
    assert default_winograd(_spec(56, 64, 64, stride=2)) == 0
    assert default_winograd(_spec(56, 64, 64, groups=2)) == 0
