"""Whole models through the FPGA backend: generated project, C simulation, onnxruntime as the
reference (float32: rel. L2 <= 1e-5 on fresh random inputs), estimates within the part."""
from __future__ import annotations

import numpy as np
import pytest

import compiler
from conftest import rel_l2
from fpga_testlib import assert_fits, estimate, lenet, onnxruntime_outputs, residual_cnn

pytestmark = pytest.mark.fpga
PARTS = ("fpga:xcu280", "fpga:xczu9eg")
TOLERANCE = 1e-5


@pytest.mark.parametrize("target", PARTS)
def test_lenet_dataflow_matches_onnxruntime(target):
    model = lenet(seed=0)
    art = compiler.compile(model, target=target)
    x = np.random.default_rng(11).standard_normal((3, 1, 28, 28)).astype(np.float32)
    error = rel_l2(art(x), onnxruntime_outputs(model, {"x": x})[0])
    assert error <= TOLERANCE, f"lenet on {target}: rel. L2 {error:.2e}"
    est = estimate(art.directory)
    assert est["style"] == "dataflow"
    assert_fits(est)


@pytest.mark.zoo
@pytest.mark.parametrize("target", PARTS)
def test_mlp_dataflow_matches_onnxruntime_at_any_batch(zoo_path, target):
    path = zoo_path("mlp", "torchscript")
    art = compiler.compile(path, target=target)
    for batch in (1, 4):
        x = np.random.default_rng(batch).standard_normal((batch, 784)).astype(np.float32)
        error = rel_l2(art(x), onnxruntime_outputs(path, {"x": x})[0])
        assert error <= TOLERANCE, f"mlp on {target} at batch {batch}: rel. L2 {error:.2e}"
    assert_fits(estimate(art.directory))


def test_residual_cnn_too_big_for_chip_runs_on_the_engine():
    model = residual_cnn(seed=1)
    art = compiler.compile(model, target="fpga:xczu9eg")
    est = estimate(art.directory)
    assert est["style"] == "engine"
    assert_fits(est)
    # conv + shortcut + relu become one engine step each time
    assert [r["op"] for r in est["layers"]].count("Conv+Add+Relu") == 2
    x = np.random.default_rng(12).standard_normal((1, 3, 128, 128)).astype(np.float32)
    error = rel_l2(art(x), onnxruntime_outputs(model, {"x": x})[0])
    assert error <= TOLERANCE, f"residual CNN: rel. L2 {error:.2e}"


@pytest.mark.zoo
@pytest.mark.parametrize("target", PARTS)
def test_resnet18_matches_onnxruntime_and_streams_weights_on_zcu102(zoo_path, target):
    path = zoo_path("resnet18", "torchscript")
    art = compiler.compile(path, target=target)
    est = estimate(art.directory)
    if target == "fpga:xczu9eg":
        assert est["style"] == "engine"      # ~47 MB of fp32 weights against ~4 MB of BRAM
    assert_fits(est)
    x = np.random.default_rng(13).standard_normal((1, 3, 224, 224)).astype(np.float32)
    error = rel_l2(art(x), onnxruntime_outputs(path, {"x": x})[0])
    assert error <= TOLERANCE, f"resnet18 on {target}: rel. L2 {error:.2e}"


def _fixed(model, target, precision, shape):
    from dataclasses import replace
    from compiler.api import default_options
    art = compiler.compile(model, target=target, options=replace(default_options(), fpga_precision=precision))
    x = np.random.default_rng(21).standard_normal(shape).astype(np.float32)
    y, ref = art(x), onnxruntime_outputs(model, {"x": x})[0]
    return art, float(np.mean(y.argmax(1) == ref.argmax(1))), rel_l2(y, ref)


@pytest.mark.parametrize("target", PARTS)
def test_lenet_fixed16_agrees_on_top1(target):
    art, agreement, error = _fixed(lenet(seed=0), target, "fixed16", (200, 1, 28, 28))
    assert agreement >= 0.98, f"lenet fixed16 on {target}: top-1 agreement {agreement:.1%} (rel. L2 {error:.2e})"
    est = estimate(art.directory)
    assert est["precision"] == "fixed16" and "ap_fixed<16" in est["layers"][0]["format"]
    assert_fits(est)


@pytest.mark.zoo
@pytest.mark.parametrize("target", PARTS)
def test_mlp_fixed16_agrees_on_top1(zoo_path, target):
    path = str(zoo_path("mlp", "torchscript"))
    art, agreement, error = _fixed(path, target, "fixed16", (200, 784))
    assert agreement >= 0.98, f"mlp fixed16 on {target}: top-1 agreement {agreement:.1%} (rel. L2 {error:.2e})"
    assert_fits(estimate(art.directory))
