"""Same model and options give a byte-identical artifact, even with no build cache."""
from __future__ import annotations

import pytest

from compiler.api import compile_to_directory
from compiler.options import CompileOptions
from conftest import tree_bytes


@pytest.mark.zoo
@pytest.mark.parametrize("name,exporter", [("mlp", "dynamo"), ("bert", "torchscript")])
def test_compiling_twice_gives_identical_bytes(zoo_path, tmp_path, name, exporter):
    path = zoo_path(name, exporter)
    first = compile_to_directory(path, "cpu:x86-64-v3", tmp_path / "a", options=CompileOptions(build_cache=None))
    second = compile_to_directory(path, "cpu:x86-64-v3", tmp_path / "b", options=CompileOptions(build_cache=None))
    a, b = tree_bytes(first), tree_bytes(second)
    assert sorted(a) == sorted(b)
    differing = [name for name in a if a[name] != b[name]]
    assert not differing, f"files differ between two compiles: {differing}"
    assert {"manifest.json", "weights.bin", "graph.ir", "libmodel.so", "aotc_model.h", "kernels/model.c"} <= set(a)
