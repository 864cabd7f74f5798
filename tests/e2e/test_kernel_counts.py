"""Fusion at least halves the kernel count of ResNet-18 and BERT-small against one kernel per
ONNX node (as `aotc inspect` reports), for both torch exporters."""
from __future__ import annotations

import pytest

import compiler
from compiler.inspect import inspect_report


@pytest.mark.zoo
@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
@pytest.mark.parametrize("name", ["resnet18", "bert"])
def test_fusion_halves_the_kernel_count(zoo_path, name, exporter):
    report = inspect_report(compiler.compile(zoo_path(name, exporter)).manifest)
    assert report["source_nodes"] >= 2 * report["kernel_calls"], report["kernel_calls"]
