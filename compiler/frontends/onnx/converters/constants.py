"""ONNX ops whose outputs are known at import time: Constant, ConstantOfShape, Shape, Size.

Shape and Size read only the static shape of their input, never its values; a symbolic
dimension they would read is unsupported (aotc specialises to static shapes there).
"""
from __future__ import annotations

import math

import numpy as np

from compiler.frontends.onnx.node import Fold, NodeView
from compiler.ir.types import Sym


def _constant(node: NodeView) -> Fold:
    present = sorted(node.attrs)
    if len(present) != 1:
        raise node.invalid(f"needs exactly one value attribute, got {present or 'none'}")
    key = present[0]
    value = node.attrs[key]
    if key == "value":
        return Fold((value,))  # already a numpy array (tensors.attribute_values)
    if key == "value_float":
        return Fold((np.array(value, dtype=np.float32),))
    if key == "value_floats":
        return Fold((np.array(value, dtype=np.float32).reshape(len(value)),))
    if key == "value_int":
        return Fold((np.array(value, dtype=np.int64),))
    if key == "value_ints":
        return Fold((np.array(value, dtype=np.int64).reshape(len(value)),))
    raise node.unsupported(f"a constant given as '{key}' is not supported")


def _constant_of_shape(node: NodeView) -> Fold:
    shape = node.static_ints(0, "shape")
    if any(d < 0 for d in shape):
        raise node.invalid(f"negative dimension in shape {shape}")
    value = node.attrs.get("value")
    if value is None:
        value = np.zeros(1, dtype=np.float32)
    if not isinstance(value, np.ndarray) or value.size != 1:
        raise node.invalid("attribute 'value' must be a one-element tensor")
    return Fold((np.full(shape, value.reshape(()), dtype=value.dtype),))


def _static_dims(node: NodeView, dims: tuple) -> tuple[int, ...]:
    symbols = [str(d) for d in dims if isinstance(d, Sym)]
    if symbols:
        raise node.unsupported(f"reads symbolic dimension(s) {', '.join(symbols)} of input "
                               f"'{node.input_names[0]}'; aotc needs static shapes here")
    return tuple(int(d) for d in dims)


def _shape(node: NodeView) -> Fold:
    shape = node.type(0).shape
    rank = len(shape)
    start = node.int_attr("start", 0)
    end = node.int_attr("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    dims = _static_dims(node, shape[start:end])
    return Fold((np.array(dims, dtype=np.int64).reshape(len(dims)),))


def _size(node: NodeView) -> Fold:
    return Fold((np.array(math.prod(_static_dims(node, node.type(0).shape)), dtype=np.int64),))


CONVERTERS = {
    "Constant": _constant,
    "ConstantOfShape": _constant_of_shape,
    "Shape": _shape,
    "Size": _size,
}
