"""The model zoo through the ONNX frontend: every exported model imports to known ops, and the
interpreted graph matches onnxruntime. Marker: `zoo` (the models are ~600 MB on disk)."""
from __future__ import annotations

import collections

import numpy as np
import pytest

from compiler.frontends.onnx import import_onnx
from compiler.ir.interpreter import interpret
from compiler.ir.ops import OPS
from compiler.ir.verifier import verify
from onnx_testlib import assert_matches, run_onnxruntime

MODELS = ("mlp", "resnet18", "resnet50", "mobilenet_v2", "bert", "gpt2")
EXPORTERS = ("torchscript", "dynamo")
INTERPRETED = ("mlp", "resnet18", "mobilenet_v2", "bert", "gpt2")   # resnet50: import only (slow)

pytestmark = pytest.mark.zoo


def random_feeds(graph, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for value in graph.inputs:
        shape = tuple(d if isinstance(d, int) else 3 for d in value.type.shape)
        if value.type.dtype.is_int:
            feeds[value.name] = rng.integers(0, 1000, shape).astype(value.type.dtype.to_numpy())
        else:
            feeds[value.name] = rng.standard_normal(shape).astype(value.type.dtype.to_numpy())
    return feeds


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", MODELS)
def test_zoo_model_imports_to_known_ops(name: str, exporter: str, zoo_path) -> None:
    graph = import_onnx(zoo_path(name, exporter))
    verify(graph)
    histogram = collections.Counter(node.op for node in graph.nodes)
    assert set(histogram) <= set(OPS), histogram
    assert graph.nodes and graph.outputs == ("y",)
    # Exporters' shape arithmetic is folded: no op reads a shape-computing subgraph at run time.
    assert not {"Shape", "ConstantOfShape", "Constant", "Range"} & set(histogram)


@pytest.mark.parametrize("exporter", EXPORTERS)
@pytest.mark.parametrize("name", INTERPRETED)
def test_zoo_model_matches_onnxruntime(name: str, exporter: str, zoo_path) -> None:
    path = zoo_path(name, exporter)
    graph = import_onnx(path)
    feeds = random_feeds(graph, seed=len(name))
    ours = interpret(graph, feeds)
    (theirs,) = run_onnxruntime(path, feeds)
    assert_matches(ours["y"], theirs, f"{name}.{exporter}")
