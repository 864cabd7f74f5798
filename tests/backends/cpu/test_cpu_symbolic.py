"""CPU backend: models with a symbolic batch (dim_param "batch"), compiled once and run at
several batch sizes; and ops no ONNX model reaches (the importer folds Range), tested on
hand-built graphs. Everything is compared with onnxruntime and the interpreter."""
from __future__ import annotations

import numpy as np
import onnx
import onnx.helper as oh
import pytest

from cpu_testlib import (BOOL, F32, I64, assert_close, check_model, ints_in, make_feeds, make_model,
                         normal, positive, run_onnxruntime, seed_of)

_rng = np.random.default_rng(99)
BATCHES = (1, 7, 2)   # grow the arena, then run smaller in the grown one


def w(*shape: int) -> np.ndarray:
    return normal(_rng, shape)


def _mlp() -> onnx.ModelProto:
    nodes = [
        oh.make_node("MatMul", ["x", "w1"], ["h"]),
        oh.make_node("Add", ["h", "b1"], ["h1"]),
        oh.make_node("Relu", ["h1"], ["h2"]),
        oh.make_node("Gemm", ["h2", "w2", "b2"], ["h3"], transB=1, alpha=0.5),
        oh.make_node("LayerNormalization", ["h3", "s", "b"], ["h4"]),
        oh.make_node("Softmax", ["h4"], ["y"], axis=-1),
    ]
    return make_model(nodes, {"x": (F32, ("batch", 6))}, ["y", "h1"],
                      {"w1": w(6, 8), "b1": w(8), "w2": w(5, 8), "b2": w(5), "s": w(5), "b": w(5)})


def _cnn() -> onnx.ModelProto:
    nodes = [
        oh.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
        oh.make_node("BatchNormalization", ["c", "bs", "bb", "bm", "bv"], ["n"]),
        oh.make_node("Relu", ["n"], ["r0"]),
        oh.make_node("Conv", ["r0", "dw"], ["r"], group=4, pads=[1, 1, 1, 1]),   # depthwise: loop nest
        oh.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        oh.make_node("AveragePool", ["p"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        oh.make_node("GlobalAveragePool", ["a"], ["g"]),
        oh.make_node("Flatten", ["g"], ["f"]),
        oh.make_node("Gemm", ["f", "fw"], ["y"], transB=1),
    ]
    return make_model(nodes, {"x": (F32, ("batch", 3, 8, 8))}, ["y"],
                      {"cw": w(4, 3, 3, 3), "cb": w(4), "bs": w(4), "bb": w(4), "bm": w(4),
                       "bv": positive(_rng, (4,)), "dw": w(4, 1, 3, 3), "fw": w(2, 4)})


def _movement() -> onnx.ModelProto:
    i64 = lambda *v: np.array(v, I64)  # noqa: E731
    nodes = [
        oh.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),                 # batch, 5, 4
        oh.make_node("ReduceMean", ["t"], ["m"], axes=[-1], keepdims=0),       # batch, 5
        oh.make_node("Concat", ["m", "m", "x2"], ["c"], axis=1),               # batch, 12
        oh.make_node("Slice", ["c", "st", "en", "ax", "sp"], ["s"]),           # batch, 6
        oh.make_node("Gather", ["s", "gi"], ["g"], axis=1),                    # batch, 3
        oh.make_node("Unsqueeze", ["g", "ua"], ["u"]),                         # batch, 1, 3
        oh.make_node("Expand", ["u", "es"], ["e"]),                            # batch, 2, 3
        oh.make_node("Pad", ["e", "pp"], ["p"], mode="edge"),                  # batch, 3, 5
        oh.make_node("Split", ["p", "ss"], ["y1", "y2"], axis=2),              # batch, 3, 2|3
        oh.make_node("Greater", ["y2", "zero"], ["gt"]),
        oh.make_node("Cast", ["gt"], ["y3"], to=onnx.TensorProto.FLOAT),
        oh.make_node("ReduceSum", ["x", "all"], ["y4"], keepdims=0),           # scalar over the batch too
    ]
    consts = {"st": i64(-1), "en": i64(-100), "ax": i64(1), "sp": i64(-2), "gi": i64(2, -1, 0),
              "ua": i64(1), "es": i64(1, 2, 1), "pp": i64(0, 1, 0, 0, 0, 2), "ss": i64(2, 3),
              "zero": np.array(0.0, F32), "all": i64(0, 1, 2)}
    return make_model(nodes, {"x": (F32, ("batch", 4, 5)), "x2": (F32, ("batch", 2))},
                      ["y1", "y3", "y4"], consts, opset=17)


def _elementwise() -> onnx.ModelProto:
    nodes = [
        oh.make_node("Add", ["a", "b"], ["s"]),                                 # batch, 3, 4
        oh.make_node("Where", ["c", "s", "a"], ["y"]),
        oh.make_node("Gather", ["b", "i"], ["g"]),                              # batch, k
        oh.make_node("MatMul", ["s", "m"], ["y2"]),                             # batch, 3, 2
    ]
    return make_model(nodes, {"a": (F32, ("batch", 3, 1)), "b": (F32, (4,)), "c": (BOOL, (3, 4)),
                              "i": (I64, ("batch", "k")), "m": (F32, ("batch", 4, 2))},
                      ["y", "g", "y2"], opset=17)


def _along_batch() -> onnx.ModelProto:
    """Ops that run along the symbolic axis itself."""
    nodes = [
        oh.make_node("Concat", ["x"], ["c"], axis=0),                           # one input: batch
        oh.make_node("Softmax", ["c"], ["y1"], axis=0),
        oh.make_node("ReduceMean", ["x"], ["y2"], axes=[0], keepdims=1),
        oh.make_node("ReduceMax", ["x"], ["y3"], axes=[0, 1], keepdims=0),
        oh.make_node("Gather", ["x", "i"], ["y4"], axis=0),                     # index 0 and -1
        oh.make_node("Transpose", ["x"], ["y5"], perm=[1, 0]),
    ]
    return make_model(nodes, {"x": (F32, ("batch", 3))}, ["y1", "y2", "y3", "y4", "y5"],
                      {"i": np.array([0, -1, 0], I64)}, opset=17)


MODELS = {"mlp": _mlp(), "cnn": _cnn(), "movement": _movement(), "elementwise-and-index": _elementwise(),
          "along-batch": _along_batch()}
GENS = {"elementwise-and-index": {"i": ints_in(-4, 3)}}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_symbolic_batch_compiled_once(name: str) -> None:
    model = MODELS[name]
    feed_sets = [make_feeds(model, seed_of(f"{name}-{batch}"), GENS.get(name), {"batch": batch, "k": 2 + batch})
                 for batch in BATCHES]
    artifact = check_model(model, feed_sets)
    assert [str(d) for d in artifact.inputs[0][1].shape][0] == "batch"


# ------------------------------------------------------------------ hand-built graphs

# Ops no ONNX model reaches: Range (always folded by the importer) is tested here, Attention
# (made by simplify) in tests/passes/test_attention.py.
GRAPH_LEVEL_OPS = ("Range", "Attention")


@pytest.mark.parametrize("start, limit, delta, dtype", [
    (0.5, 3.7, 0.3, F32), (10, -3, -3, I64), (-2.0, 2.0, 0.5, F32), (4, 5, 7, I64)],
    ids=["f32", "i64-negative-delta", "f32-exact", "i64-single"])
def test_range_graph(start, limit, delta, dtype) -> None:
    """Range (folded by the ONNX importer) added to an input: aotc vs interpreter vs onnxruntime."""
    from compiler.ir.dtypes import DType
    from compiler.ir.graph import Graph, Node, Value
    from compiler.ir.interpreter import interpret
    from compiler.ir.ops import NoAttrs, op_def
    from compiler.ir.ops.shape import RangeAttrs

    attrs = RangeAttrs(float(start), float(limit), float(delta), DType.from_numpy(dtype))
    (r_type,) = op_def("Range").infer([], [], attrs)
    x = Value("x", r_type)
    graph = Graph("range_graph", (x,), ("r", "y"), (
        Node("Range", "range0", (), (Value("r", r_type),), attrs),
        Node("Add", "add0", ("x", "r"), (Value("y", r_type),), NoAttrs()),
    ))
    feeds = {"x": make_feeds(_range_onnx(start, limit, delta, dtype), seed_of(str(start)))["x"]}
    import compiler
    ours = compiler.compile(graph, target="cpu").run_list(**feeds)
    reference = interpret(graph, feeds)
    onnxruntime = run_onnxruntime(_range_onnx(start, limit, delta, dtype), feeds)
    for got, name, ort in zip(ours, ("r", "y"), onnxruntime):
        assert_close(got, ort, f"{name} vs onnxruntime")
        assert_close(got, reference[name], f"{name} vs interpreter")


def _range_onnx(start, limit, delta, dtype) -> onnx.ModelProto:
    scalar = lambda v: np.array(v, dtype)  # noqa: E731
    count = max(int(np.ceil((limit - start) / delta)), 0)
    nodes = [oh.make_node("Range", ["s", "l", "d"], ["r"]), oh.make_node("Add", ["x", "r"], ["y"])]
    return make_model(nodes, {"x": (dtype, (count,))}, ["r", "y"],
                      {"s": scalar(start), "l": scalar(limit), "d": scalar(delta)})
