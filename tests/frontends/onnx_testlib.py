"""Helpers for the ONNX frontend tests: tiny models built with onnx.helper, random inputs, and
a comparison of aotc's interpreter against onnxruntime on the same model."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np
import onnx
import onnx.helper as oh
from onnx import numpy_helper

# onnx.helper.make_model defaults to an IR version onnxruntime 1.31 refuses.
IR_VERSION = 10


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Mapping[str, tuple[np.dtype, tuple]],
               outputs: Sequence[str], initializers: Mapping[str, np.ndarray] | None = None,
               opset: int = 17, value_info: Sequence[onnx.ValueInfoProto] = (),
               output_types: Mapping[str, tuple[np.dtype, tuple]] | None = None) -> onnx.ModelProto:
    """A checked model; graph inputs as {name: (dtype, shape)}, output types found by inference
    unless `output_types` gives them. A dimension given as a string becomes a dim_param, None an
    unknown dimension.
    """
    graph_inputs = [oh.make_tensor_value_info(name, oh.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
                    for name, (dtype, shape) in inputs.items()]
    inits = [numpy_helper.from_array(np.asarray(array), name) for name, array in (initializers or {}).items()]
    if output_types is None:
        graph_outputs = [oh.make_empty_tensor_value_info(name) for name in outputs]
    else:
        graph_outputs = [oh.make_tensor_value_info(name, oh.np_dtype_to_tensor_dtype(np.dtype(dtype)), shape)
                         for name, (dtype, shape) in output_types.items()]
    graph = oh.make_graph(list(nodes), "test_graph", graph_inputs, graph_outputs, inits,
                          value_info=list(value_info))
    model = oh.make_model(graph, ir_version=IR_VERSION, opset_imports=[oh.make_opsetid("", opset)])
    if output_types is None:
        model = onnx.shape_inference.infer_shapes(model)
    for output in model.graph.output:
        assert output.type.tensor_type.elem_type, f"shape inference could not type output {output.name}"
    onnx.checker.check_model(model)
    return model


def random_array(rng: np.random.Generator, dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Random non-zero values: floats in ±[0.1, 2], ints in ±[1, 9], bools either way."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.asarray(rng.random(shape) < 0.5)
    sign = np.where(rng.random(shape) < 0.5, -1, 1)
    if dtype.kind in "iu":
        magnitude = rng.integers(1, 10, shape)
        return np.asarray(magnitude * (sign if dtype.kind == "i" else 1)).astype(dtype)
    return np.asarray(sign * rng.uniform(0.1, 2.0, shape)).astype(dtype)


def runtime_inputs(model: onnx.ModelProto, sizes: Mapping[str, int] | None = None,
                   default_size: int | None = None) -> list[tuple[str, np.dtype, tuple]]:
    """(name, dtype, shape) of every graph input that is not an initializer. A dim_param takes
    its size from `sizes`, else `default_size` (None: it must be in `sizes`)."""
    initializer_names = {t.name for t in model.graph.initializer}
    out = []
    for info in model.graph.input:
        if info.name in initializer_names:
            continue
        tensor_type = info.type.tensor_type
        shape = []
        for d in tensor_type.shape.dim:
            if d.HasField("dim_value"):
                shape.append(d.dim_value)
            elif d.dim_param in (sizes or {}) or default_size is None:
                shape.append((sizes or {})[d.dim_param])
            else:
                shape.append(default_size)
        out.append((info.name, np.dtype(oh.tensor_dtype_to_np_dtype(tensor_type.elem_type)), tuple(shape)))
    return out


def random_inputs(model: onnx.ModelProto, seed: int, sizes: Mapping[str, int] | None = None,
                  positive: bool = False) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    feeds = {}
    for name, dtype, shape in runtime_inputs(model, sizes, default_size=3):
        array = random_array(rng, dtype, shape)
        feeds[name] = np.abs(array) if positive and array.dtype != np.bool_ else array
    return feeds


def run_onnxruntime(model: "onnx.ModelProto | os.PathLike[str]",
                    feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's outputs, unoptimised (no fusions that change rounding), on 2 threads."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 2
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else os.fspath(model)
    session = onnxruntime.InferenceSession(source, options, providers=["CPUExecutionProvider"])
    return session.run(None, dict(feeds))


def rel_l2(ours: np.ndarray, theirs: np.ndarray) -> float:
    diff = np.linalg.norm((ours.astype(np.float64) - theirs.astype(np.float64)).ravel())
    scale = np.linalg.norm(theirs.astype(np.float64).ravel())
    return float(diff / scale) if scale else float(diff)


def assert_matches(ours: np.ndarray, theirs: np.ndarray, what: str, rtol: float = 1e-5) -> None:
    """rel L2 <= rtol for floats, exact equality for ints and bools; same shape and dtype."""
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != onnxruntime's {theirs.shape}"
    assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != onnxruntime's {theirs.dtype}"
    if ours.dtype.kind == "f":
        assert np.array_equal(np.isnan(ours), np.isnan(theirs)), f"{what}: NaNs differ"
        mask = ~np.isnan(theirs)
        error = rel_l2(ours[mask], theirs[mask])
        assert error <= rtol, f"{what}: relative L2 error {error:.3g} > {rtol}"
    else:
        np.testing.assert_array_equal(ours, theirs, err_msg=what)


def compare_with_onnxruntime(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray],
                             rtol: float = 1e-5):
    """Import and verify `model`, interpret it on `feeds`, check every output against onnxruntime."""
    from compiler.frontends.onnx import import_onnx
    from compiler.ir.interpreter import interpret
    from compiler.ir.verifier import verify

    graph = import_onnx(model)
    verify(graph)
    ours = interpret(graph, feeds)
    theirs = run_onnxruntime(model, feeds)
    assert len(graph.outputs) == len(theirs)
    for name, expected in zip(graph.outputs, theirs):
        assert_matches(ours[name], expected, name, rtol)
    return graph


@dataclass(frozen=True)
class Case:
    """One single-node model: `op` with `attrs`, graph inputs `inputs`, constant `consts`.

    `order` lists the node's inputs by name ("" for an absent optional one); by default the graph
    inputs, then the constants.
    """

    id: str
    op: str
    inputs: Mapping[str, tuple[object, tuple]]
    attrs: Mapping[str, object] = field(default_factory=dict)
    consts: Mapping[str, np.ndarray] = field(default_factory=dict)
    order: tuple[str, ...] | None = None
    outputs: int = 1
    opset: int = 17
    positive: bool = False

    def model(self) -> onnx.ModelProto:
        names = self.order if self.order is not None else (*self.inputs, *self.consts)
        outs = [f"y{i}" for i in range(self.outputs)]
        node = oh.make_node(self.op, list(names), outs, name=f"{self.op.lower()}_node", **self.attrs)
        return make_model([node], self.inputs, outs, self.consts, self.opset)
