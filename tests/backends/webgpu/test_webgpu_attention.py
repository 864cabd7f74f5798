"""The WebGPU Attention template (backends/webgpu/attention.py).

Without a device: which shapes the template holds (the loop nest prints the others), and that
it prints deterministically within the spec-default limits. Marker `webgpu` (lavapipe here):
the exporters' head-split attention compiled for webgpu against onnxruntime (unmasked, padding
mask, causal, odd depth, keys past 256, batch x heads > 1), the Attention node's other layouts
and attributes (zero_nan_rows, -inf masks, width != depth) against the interpreter, a shape
over the limit running as the loop nest, all on fresh random inputs with rel. L2 <= 1e-4.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import onnxruntime as ort
import pytest

import compiler
from compiler.api import compile_to_directory
from compiler.ir.dtypes import DType
from compiler.ir.interpreter import interpret
from compiler.target import resolve_target
from attention_models import attention_graph, feeds_for, head_split_feeds, head_split_model
from conftest import rel_l2
from webgpu_testlib import needs_adapter
from backends.webgpu import attention
from backends.webgpu.printer import ParamAccess, WgslPrinter
from passes.lower import lower_node

TARGET = resolve_target("webgpu")
TOLERANCE = 1e-4


def _spec(graph):
    return lower_node(graph, graph.nodes[0]).attention


def _attention_shader(model, out) -> str:
    """The WGSL text of the model's one Attention dispatch."""
    directory = compile_to_directory(model, "webgpu", out)
    plan = json.loads((directory / "kernels/dispatches.json").read_text())
    texts = [(directory / d["shader"]).read_text() for d in plan["dispatches"]]
    (text,) = [t for t in texts if t.startswith("// aotc generated WGSL: Attention.")]
    return text


# --- which shapes the template takes (no device) ---

def test_tile_rows_follow_the_limits_and_the_problem_size():
    assert attention.tile_rows(_spec(attention_graph(8, 12, 128, 128, 64)), TARGET) == 4
    assert attention.tile_rows(_spec(attention_graph(1, 4, 128, 128, 64)), TARGET) == 2
    assert attention.tile_rows(_spec(attention_graph(1, 1, 8, 8, 64)), TARGET) == 1
    assert attention.tile_rows(_spec(attention_graph(1, 1, 8, 3000, 64)), TARGET) == 1   # only 1 row fits
    for spec in (_spec(attention_graph(1, 1, 8, 4096, 64)),     # keys past workgroup memory
                 _spec(attention_graph(1, 1, 8, 8, 4096)),      # depth past workgroup memory
                 _spec(attention_graph(1, 1, 8, 8, 64, w=320))):    # 5 columns per invocation
        assert attention.tile_rows(spec, TARGET) is None
    small = replace(TARGET, limits=tuple((k, 4096 if k == "workgroup_storage" else v) for k, v in TARGET.limits))
    assert attention.tile_rows(_spec(attention_graph(1, 1, 8, 900, 64)), small) is None


def test_template_prints_deterministically_within_the_limits(tmp_path):
    model = head_split_model(2, 3, 40, 20, "padding")
    text = _attention_shader(model, tmp_path / "a")
    assert attention.MARK in text and "@workgroup_size(64)" in text
    assert text == _attention_shader(model, tmp_path / "b")
    floats = sum(int(line.split(", ")[1].rstrip(">;")) for line in text.splitlines()
                 if line.startswith("var<workgroup>"))
    assert floats * 4 <= TARGET.limit("workgroup_storage")


def test_more_tiles_than_a_dispatch_dimension_holds_stride_over_the_workgroups():
    """90,000 one-row tiles: 65,535 workgroups walk them (correct on lavapipe, but 15 s there)."""
    spec = _spec(attention_graph(300, 300, 1, 2, 4))
    printer = WgslPrinter({name: ParamAccess("arena", f"p{i}", DType.float32)
                           for i, name in enumerate(("in0", "in1", "in2", "out0"))}, {})
    text, workgroups = attention.render(spec, printer, TARGET)
    assert [w.value for w in workgroups] == [65535, 1, 1]
    assert "t < 90000i; t += i32(aotc_groups.x)" in text


def test_a_shape_over_the_limit_prints_the_loop_nest(tmp_path):
    text = _attention_shader(head_split_model(1, 1, 8, 320, ""), tmp_path / "a")
    assert attention.MARK not in text and "array<f32, 8>" in text


# --- on the device ---

def on_device(test):
    for mark in needs_adapter:
        test = mark(test)
    return test


def _check_onnx(model, feeds):
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    actual = compiler.compile(model, target="webgpu")(**feeds)
    assert rel_l2(actual, expected) <= TOLERANCE


@on_device
@pytest.mark.parametrize("b,h,s,d,mask", [
    (1, 2, 24, 32, ""),             # BERT's form unmasked
    (4, 4, 33, 16, "padding"),      # additive padding mask, batch x heads > 1, 2-row tiles, one partial
    (1, 2, 19, 16, "causal"),       # GPT-2's constant causal mask (the causal attribute)
    (1, 2, 10, 20, "padding"),      # depth and width not multiples of 4
    (1, 1, 300, 8, "causal"),       # keys past 256: several keys per invocation, several tiles
    (1, 1, 8, 320, ""),             # over the limit: the loop nest
])
def test_head_split_attention_matches_onnxruntime(b, h, s, d, mask):
    model = head_split_model(b, h, s, d, mask)
    feeds = head_split_feeds(b, h, s, d, mask, np.random.default_rng())
    _check_onnx(model, feeds)


@on_device
@pytest.mark.parametrize("b,h,s,t,d,w,causal,mask,split", [
    (1, 2, 33, 45, 20, 70, False, (33, 45), False),     # plain layout, S != T, two columns per invocation
    (1, 1, 20, 37, 32, 32, True, (1, 1, 20, 37), True),  # causal and masked: a row wholly -inf gives 0
    (4, 4, 70, 70, 16, 16, True, (4, 1, 1, 70), True),   # 4-row tiles, the last one partial
])
def test_attention_attributes_match_the_interpreter(b, h, s, t, d, w, causal, mask, split):
    graph = attention_graph(b, h, s, t, d, causal, mask, split, w)
    feeds = feeds_for(graph, np.random.default_rng())
    expected = interpret(graph, feeds)["y"]
    actual = compiler.compile(graph, target="webgpu")(**feeds)
    assert np.array_equal(np.isnan(actual), np.isnan(expected)) and not np.isnan(expected).any()
    assert rel_l2(actual, expected) <= TOLERANCE
