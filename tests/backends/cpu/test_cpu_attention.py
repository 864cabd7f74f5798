"""The CPU Attention template (backends/cpu/templates/attention.py): the exporters' head-split
attention against onnxruntime (unmasked, padding mask, causal, depth and width not vector
multiples, keys past one chunk of accumulators, batch x heads > 1, rows past one row block) and
the Attention node's other layouts and attributes (plain layout, S != T, width != depth,
zero_nan_rows with wholly masked rows, -inf masks, broadcast masks) against the interpreter, on
fresh random inputs; and that every Attention kernel of a model is printed by the template."""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

import compiler
from compiler.api import compile_to_directory
from compiler.ir.interpreter import interpret
from attention_models import attention_graph, feeds_for, head_split_feeds, head_split_model
from conftest import rel_l2

TOLERANCE = 1e-5


@pytest.mark.parametrize("b,h,s,d,mask", [
    (1, 2, 24, 32, ""),             # BERT's form unmasked
    (4, 4, 33, 16, "padding"),      # additive padding mask, batch x heads > 1, a partial row block
    (1, 2, 19, 16, "causal"),       # GPT-2's constant causal mask (the causal attribute)
    (1, 2, 10, 20, "padding"),      # depth and width not vector multiples
    (1, 1, 300, 8, "causal"),       # keys past one chunk: a causal row stops at its own
    (2, 3, 70, 64, "causal"),
])
def test_head_split_attention_matches_onnxruntime(b, h, s, d, mask):
    model = head_split_model(b, h, s, d, mask)
    feeds = head_split_feeds(b, h, s, d, mask, np.random.default_rng())
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert rel_l2(compiler.compile(model, threads=2)(**feeds), expected) <= TOLERANCE


@pytest.mark.parametrize("b,h,s,t,d,w,causal,mask,split", [
    (1, 2, 33, 45, 20, 70, False, (33, 45), False),     # plain layout, S != T, width != depth
    (1, 1, 20, 37, 32, 32, True, (1, 1, 20, 37), True),  # causal and masked: a row wholly -inf gives 0
    (4, 4, 70, 70, 16, 16, True, (4, 1, 1, 70), True),   # broadcast mask over heads and rows
    (1, 3, 5, 130, 8, 24, False, None, True),            # S < T, no mask
])
def test_attention_attributes_match_the_interpreter(b, h, s, t, d, w, causal, mask, split):
    graph = attention_graph(b, h, s, t, d, causal, mask, split, w)
    feeds = feeds_for(graph, np.random.default_rng())
    expected = interpret(graph, feeds)["y"]
    actual = compiler.compile(graph, threads=2)(**feeds)
    assert np.array_equal(np.isnan(actual), np.isnan(expected)) and not np.isnan(expected).any()
    assert rel_l2(actual, expected) <= TOLERANCE


@pytest.mark.parametrize("target", ["cpu:x86-64-v3", "cpu:x86-64-v2"])    # 8- and 4-wide: 2 rows a pass
@pytest.mark.parametrize("mask", ["causal", "padding"])
def test_narrower_vectors_match_onnxruntime(target, mask):
    b, h, s, d = 1, 2, 37, 24          # a partial last pass, keys past one chunk, depth not a vector multiple
    model = head_split_model(b, h, s, d, mask)
    feeds = head_split_feeds(b, h, s, d, mask, np.random.default_rng())
    expected = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert rel_l2(compiler.compile(model, target=target, threads=2)(**feeds), expected) <= TOLERANCE


def test_attention_kernels_use_the_template(tmp_path):
    directory = compile_to_directory(head_split_model(1, 2, 24, 32, "causal"), "cpu", tmp_path / "a")
    source = (directory / "kernels" / "model.c").read_text()
    assert "/* attention attention_" in source and "K^T and V packed per head" in source
