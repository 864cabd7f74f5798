"""The WebGPU GEMM template, its config space and per-adapter variants.

Without a device: the space (dozens of configs, all within the spec-default limits), which
variants a contraction carries (defaults sized to the problem, or a config's Params), the plan
and manifest recording them, and the selection logic (limits, policy, measurement through a
fake timer). Marker `webgpu` (lavapipe here): every config of the space against numpy on an odd
shape, the default variants on odd and aligned shapes with every operand layout, and a MatMul
and a convolution model run with each variant slot against onnxruntime (rel. L2 <= 1e-4).
"""
from __future__ import annotations

import json

import numpy as np
import onnx.helper as oh
import onnxruntime as ort
import pytest

import compiler
from compiler.api import compile_to_directory
from compiler.ir.config import KernelConfig, Param
from compiler.options import CompileOptions
from compiler.target import resolve_target
from backends.webgpu import gemm_probe
from backends.webgpu.gemm_space import COMPACT, DEFAULT_VARIANTS, SPACE, GemmConfig, config_index, default_variants, variants
from backends.webgpu.variants import choose, default_policy, eligible, resolve, variant_groups
from conftest import rel_l2
from webgpu_testlib import needs_adapter

TARGET = resolve_target("webgpu")
TOLERANCE = 1e-4


def _matmul_model(m, k, n, trans_b=False):
    rng = np.random.default_rng(0)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(np.float32)
    node = (oh.make_node("Gemm", ["a", "b"], ["c"], transB=1) if trans_b else oh.make_node("MatMul", ["a", "b"], ["c"]))
    graph = oh.make_graph([node], "mm", [oh.make_tensor_value_info("a", 1, [m, k])],
                          [oh.make_tensor_value_info("c", 1, [m, n])], [oh.make_tensor("b", 1, b.shape, b.ravel())])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)


def _conv_model(cin=5, cout=7, size=(13, 11), batch=2, stride=2):
    """A convolution, 3x3, padding 1, bias and ReLU (implicit GEMM); by default an odd one:
    5 -> 7 channels, stride 2."""
    rng = np.random.default_rng(1)
    w = (rng.standard_normal((cout, cin, 3, 3)) / np.sqrt(9 * cin)).astype(np.float32)
    bias = rng.standard_normal(cout).astype(np.float32)
    out = [batch, cout] + [(d - 1) // stride + 1 for d in size]
    nodes = [oh.make_node("Conv", ["x", "w", "bias"], ["h"], pads=[1, 1, 1, 1], strides=[stride, stride]),
             oh.make_node("Relu", ["h"], ["y"])]
    graph = oh.make_graph(nodes, "conv", [oh.make_tensor_value_info("x", 1, [batch, cin, *size])],
                          [oh.make_tensor_value_info("y", 1, out)],
                          [oh.make_tensor("w", 1, w.shape, w.ravel()), oh.make_tensor("bias", 1, bias.shape, bias)])
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)], ir_version=8)


# --- the space and the variants a kernel carries (no device) ---

def test_space_is_web_sized_and_within_the_spec_default_limits():
    assert 24 <= len(SPACE) <= 100 and len(set(SPACE)) == len(SPACE) and COMPACT in SPACE
    limits = dict(TARGET.limits)
    for cfg in SPACE:
        assert cfg.fits(limits) and cfg.threads in (64, 128, 256) and cfg.storage <= 16384
        assert cfg.tm % 4 == 0 and cfg.tn % 4 == 0
    assert all(cfg in SPACE for cfg in DEFAULT_VARIANTS)
    assert DEFAULT_VARIANTS[0].bm == DEFAULT_VARIANTS[0].bn == 128 and DEFAULT_VARIANTS[0].tm == 8


def test_default_variants_follow_the_problem_size():
    big = gemm_probe.spec(2048, 2048, 2048)
    assert default_variants(big, TARGET) == DEFAULT_VARIANTS
    small = gemm_probe.spec(8, 16, 300)
    # No 128-row tile for 8 rows; the compact kernel stays (software adapters run it).
    assert default_variants(small, TARGET) == (GemmConfig(32, 32, 16, 4, 4, True), COMPACT)


def test_a_config_names_the_variants():
    big = gemm_probe.spec(512, 512, 512)
    chosen = (SPACE[5], SPACE[40])
    config = KernelConfig(tuple(Param(f"variant{i}", config_index(c)) for i, c in enumerate(chosen)))
    assert variants(config, big, TARGET) == chosen
    assert variants(KernelConfig(), big, TARGET) == DEFAULT_VARIANTS


def test_plan_and_manifest_record_the_variants(tmp_path):
    out = compile_to_directory(_matmul_model(200, 96, 160), "webgpu", tmp_path / "a",
                               options=CompileOptions(memory_planner="greedy"))
    plan = json.loads((out / "kernels/dispatches.json").read_text())
    (dispatch,) = plan["dispatches"]
    assert [v["config"] for v in dispatch["variants"]] == [c.name for c in DEFAULT_VARIANTS]
    assert dispatch["shader"] == dispatch["variants"][0]["shader"]
    for variant, cfg in zip(dispatch["variants"], DEFAULT_VARIANTS):
        assert variant["needs"] == cfg.needs() and (out / variant["shader"]).is_file()
        assert f"config {cfg.name}" in (out / variant["shader"]).read_text()
    manifest = json.loads((out / "manifest.json").read_text())
    (kernel,) = manifest["kernels"]
    assert [r["name"] for r in kernel["config"]] == ["variant0", "variant1", "variant2"]


# --- selection (no device) ---

def _dispatches():
    variants_a = [{"config": name, "shader": f"kernels/{name}.wgsl", "needs": needs, "workgroups": [1, 1, 1]}
                  for name, needs in (("big", {"invocations_per_workgroup": 256, "workgroup_storage": 16384}),
                                      ("mid", {"invocations_per_workgroup": 256, "workgroup_storage": 8192}),
                                      ("small", {"invocations_per_workgroup": 64, "workgroup_storage": 4096}))]
    variants_b = [dict(v, shader=v["shader"].replace(".wgsl", "-b.wgsl")) for v in variants_a[:2]]
    return [{"shader": "kernels/loop.wgsl"}, {"shader": variants_a[0]["shader"], "variants": variants_a},
            {"shader": variants_b[0]["shader"], "variants": variants_b}, {"shader": variants_a[0]["shader"],
                                                                           "variants": variants_a}]


SPEC_LIMITS = {"invocations_per_workgroup": 256, "workgroup_storage": 16384}


def test_groups_share_a_pick():
    groups = variant_groups(_dispatches())
    assert sorted(groups.values()) == [[1, 3], [2]]


def test_limits_drop_variants_the_device_cannot_run():
    variants_a = _dispatches()[1]["variants"]
    assert eligible(variants_a, SPEC_LIMITS) == [0, 1, 2]
    assert eligible(variants_a, {"invocations_per_workgroup": 128, "workgroup_storage": 16384}) == [2]
    assert eligible(variants_a, {"invocations_per_workgroup": 256, "workgroup_storage": 8192}) == [1, 2]
    assert eligible(variants_a, {"invocations_per_workgroup": 32, "workgroup_storage": 1024}) == [0]


def test_limits_policy_takes_the_big_tile_on_a_gpu_and_the_small_one_in_software():
    dispatches = _dispatches()
    never = lambda k, slot: pytest.fail("the limits policy measures nothing")   # noqa: E731
    on_gpu = choose(dispatches, SPEC_LIMITS, False, "limits", never)
    in_software = choose(dispatches, SPEC_LIMITS, True, "limits", never)
    assert [resolve(d, on_gpu)["config"] for d in dispatches[1:]] == ["big", "big", "big"]
    assert [resolve(d, in_software)["config"] for d in dispatches[1:]] == ["small", "mid", "small"]
    assert resolve(dispatches[0], on_gpu) is dispatches[0]
    small_device = {"invocations_per_workgroup": 256, "workgroup_storage": 8192}
    assert resolve(dispatches[1], choose(dispatches, small_device, False, "limits", never))["config"] == "mid"
    assert default_policy(software=True) == "limits" and default_policy(software=False) == "measure"


def test_measure_policy_keeps_the_fastest_eligible_variant_per_group():
    dispatches = _dispatches()
    fake_seconds = {(1, 0): 3.0, (1, 1): 1.0, (1, 2): 2.0, (2, 0): 0.5, (2, 1): 0.7}
    asked = []

    def timer(k, slot):
        asked.append((k, slot))
        return fake_seconds[(k, slot)]
    choice = choose(dispatches, SPEC_LIMITS, False, "measure", timer)
    assert [resolve(d, choice)["config"] for d in dispatches[1:]] == ["mid", "big", "mid"]
    assert sorted(asked) == sorted(fake_seconds)        # each group measured once, on its first dispatch
    # Variants over the device's limits are never measured.
    asked.clear()
    choice = choose(dispatches, {"invocations_per_workgroup": 256, "workgroup_storage": 8192}, False, "measure", timer)
    assert (1, 0) not in asked and resolve(dispatches[1], choice)["config"] == "mid"


def test_forced_slots_and_bad_policies():
    dispatches = _dispatches()
    choice = choose(dispatches, SPEC_LIMITS, False, 2, lambda k, s: 0.0)
    assert [resolve(d, choice)["config"] for d in dispatches[1:]] == ["small", "mid", "small"]
    with pytest.raises(ValueError, match="unknown variant policy"):
        choose(dispatches, SPEC_LIMITS, False, "fastest", lambda k, s: 0.0)


# --- on a device (lavapipe here) ---

@pytest.fixture(scope="module")
def device():
    from backends.webgpu.runtime import request_device
    return request_device()


def on_device(test):
    for mark in needs_adapter:
        test = mark(test)
    return test


def _check_probe(device, m, n, k, a_transposed, b_transposed, configs):
    wgpu, dev = device
    rng = np.random.default_rng(m * 7 + n)
    a = rng.standard_normal((k, m) if a_transposed else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if b_transposed else (k, n)).astype(np.float32)
    expected = (a.T if a_transposed else a).astype(np.float64) @ (b.T if b_transposed else b)
    probe = gemm_probe.GemmProbe(wgpu, dev, gemm_probe.spec(m, n, k, a_transposed, b_transposed), a, b)
    for cfg in configs:
        assert rel_l2(probe.run(cfg, TARGET), expected) <= TOLERANCE, cfg.name


@on_device
def test_every_config_of_the_space_on_an_odd_shape(device):
    _check_probe(device, 37, 45, 29, False, False, SPACE)


@on_device
@pytest.mark.parametrize("a_transposed", [False, True])
@pytest.mark.parametrize("b_transposed", [False, True])
@pytest.mark.parametrize("shape", [(67, 130, 83), (128, 256, 64)], ids=["odd", "aligned"])
def test_default_variants_with_every_operand_layout(device, shape, a_transposed, b_transposed):
    _check_probe(device, *shape, a_transposed, b_transposed, DEFAULT_VARIANTS)


@on_device
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_models_run_each_variant_slot(layout):
    """A Gemm (B transposed, k-contiguous) and a convolution (im2col, either layout) with each
    variant forced, then picked by measuring (timed on lavapipe: the pick is any of them)."""
    _check_models_each_slot([_matmul_model(67, 50, 130, trans_b=True), _conv_model()], layout)


@on_device
@pytest.mark.parametrize("layout", ["NCHW", "NHWC"])
def test_split_k_contractions_run_each_variant_slot(layout):
    """Few output tiles and a long k (gemm_split.py): the partial GEMM with each variant, then
    the reduce pass with the epilogue; a scratch item in the arena. A channels-last 3x3
    convolution's k slices are not weight-row slices: it stays one dispatch, still correct."""
    models = [_matmul_model(24, 2048, 40, trans_b=True), _conv_model(256, 16, (7, 7), 1, 1)]
    plans = _check_models_each_slot(models, layout)
    for plan, split in zip(plans, [True, layout == "NCHW"]):
        assert ("scratch" in [item["kind"] for item in plan["arena"]]) == split
        assert ("split-K reduce" in plan["shader_text"]) == split


def _check_models_each_slot(models, layout):
    options = CompileOptions(memory_planner="greedy", activation_layout=layout)
    plans = []
    for model in models:
        session = ort.InferenceSession(model.SerializeToString())
        feeds = {i.name: np.random.default_rng(5).standard_normal([d for d in i.shape]).astype(np.float32)
                 for i in session.get_inputs()}
        (expected,) = session.run(None, feeds)
        art = compiler.compile(model, target="webgpu", options=options)
        plan = json.loads((art.directory / "kernels/dispatches.json").read_text())
        plan["shader_text"] = "".join((art.directory / d["shader"]).read_text() for d in plan["dispatches"])
        plans.append(plan)
        names = [v["config"] for d in plan["dispatches"] if d.get("variants") for v in d["variants"]]
        seen = set()
        for policy in (0, 1, 2, "measure"):
            art._model.select_variants(policy)
            (actual,) = art.run_list(**feeds)
            assert rel_l2(actual, expected) <= TOLERANCE, (policy, art._model.chosen_configs())
            seen.update(art._model.chosen_configs())
        assert seen <= set(names) and len(seen) == len(set(names))
    return plans


def test_split_factor_follows_tiles_and_k():
    from backends.webgpu.gemm_split import split_factor, split_spec
    assert split_factor(gemm_probe.spec(2048, 2048, 2048)) == 1              # tiles enough
    assert split_factor(gemm_probe.spec(24, 40, 2048)) == 8                  # one tile: k split in 8 x 256
    assert split_factor(gemm_probe.spec(24, 40, 300)) == 1                   # k too short to split
    assert split_factor(gemm_probe.spec(24, 40, 2048, True, True)) == 8      # transposed operands slice too
    partial = split_spec(gemm_probe.spec(24, 40, 2048), 4)
    assert (partial.groups, partial.k, partial.a.group_stride, partial.b.group_stride) == (4, 512, 512, 512 * 40)
    assert partial.epilogue == () and partial.out_group_stride == 24 * 40
