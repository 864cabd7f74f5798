"""ONNX Resize (and Upsample, which the version converter turns into it): the output shape
comes from constant scales or sizes; each resized axis's interpolation is a linear map of the
input line, so its (index, weight) taps are read off onnx's own reference implementation
applied to the identity matrix, once at compile time."""
from __future__ import annotations

import numpy as np

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.ir.ops.resize import ResizeAttrs
from compiler.ir.types import Sym


def _resize(node: NodeView) -> Emit:
    x = node.type(0)
    if any(isinstance(d, Sym) for d in x.shape):
        raise node.unsupported("Resize needs a static input shape")
    shape = [int(d) for d in x.shape]
    rank = len(shape)
    axes = [a % rank for a in node.ints_attr("axes", tuple(range(rank)))]
    if node.has_input(1) and node.attr("coordinate_transformation_mode", "half_pixel") == "tf_crop_and_resize":
        raise node.unsupported("coordinate_transformation_mode tf_crop_and_resize (a run-time roi) is not supported")
    if node.attr("keep_aspect_ratio_policy", "stretch") != "stretch":
        raise node.unsupported("keep_aspect_ratio_policy other than 'stretch' is not supported")
    if node.has_input(3):
        sizes = node.static_ints(3, "sizes")
        per_axis = {a: ("sizes", s) for a, s in zip(axes, sizes)}
    elif node.has_input(2):
        scales = np.asarray(node.static(2, "scales"), dtype=np.float32).reshape(-1)
        per_axis = {a: ("scales", float(s)) for a, s in zip(axes, scales)}
    else:
        raise node.invalid("needs scales or sizes")
    resized, tables = [], []
    for axis in sorted(per_axis):
        kind, value = per_axis[axis]
        if (kind == "scales" and value == 1.0) or (kind == "sizes" and value == shape[axis]):
            if node.attr("mode", "nearest") == "nearest" or kind == "scales":
                continue   # every coordinate mode maps an unscaled axis onto itself
        weights = _axis_weights(node, shape[axis], kind, value)
        resized.append(axis)
        tables += _taps(weights)
    return Emit("Resize", ResizeAttrs(tuple(resized)), inputs=(0,), constants=tuple(tables))


def _axis_weights(node: NodeView, length: int, kind: str, value) -> np.ndarray:
    """(out, in) matrix: row o holds the weights of output position o over the input line."""
    import onnx
    from onnx import helper
    from onnx.reference import ReferenceEvaluator
    attrs = {k: v for k, v in node.attrs.items() if k not in ("axes", "keep_aspect_ratio_policy")}
    inputs = ["x", "", "scales"] if kind == "scales" else ["x", "", "", "sizes"]
    resize = helper.make_node("Resize", inputs, ["y"], **attrs)
    graph = helper.make_graph(
        [resize], "axis", [helper.make_tensor_value_info("x", onnx.TensorProto.DOUBLE, [length, length])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.DOUBLE, None)],
        [helper.make_tensor("scales", onnx.TensorProto.FLOAT, [2], [1.0, value]) if kind == "scales"
         else helper.make_tensor("sizes", onnx.TensorProto.INT64, [2], [length, value])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", max(node.opset, 19))])
    (rows,) = ReferenceEvaluator(model).run(None, {"x": np.eye(length)})
    return np.asarray(rows, dtype=np.float64).T       # (out, in)


def _taps(weights: np.ndarray) -> list[np.ndarray]:
    nonzero = weights != 0
    taps = max(int(nonzero.sum(axis=1).max()), 1)
    index = np.zeros((weights.shape[0], taps), dtype=np.int64)
    weight = np.zeros((weights.shape[0], taps), dtype=np.float64)
    for o in range(weights.shape[0]):
        columns = np.flatnonzero(nonzero[o])
        index[o, :len(columns)] = columns
        weight[o, :len(columns)] = weights[o, columns]
    return [index, weight]


CONVERTERS = {"Resize": _resize}
