"""Normalisation ATen ops: batch norm (running statistics, or the batch's own as instance norm
uses them), layer norm and group norm. Each computes only its result; the statistics it also
returns (mean, inverse std) are for autograd, and a program that reads them fails at that read.
"""
from __future__ import annotations

import numpy as np

from compiler.frontends.torch_export.call import Call
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.nn import EpsilonAttrs, LayerNormAttrs
from compiler.ir.ops.reduce import ReduceAttrs
from compiler.ir.ops.shape import ReshapeAttrs


def _filled(call: Call, shape, value: float) -> str:
    """A missing weight (ones) or bias (zeros) of a static shape."""
    if not all(isinstance(d, int) for d in shape):
        raise call.unsupported(f"a missing weight of symbolic shape {shape} is not supported")
    return call.constant(np.full(shape, value, call.out_type().dtype.to_numpy()))


def _per_channel(call: Call, y: str, weight_key: str, bias_key: str) -> str:
    """y * weight[c] + bias[c] over axis 1, for the optional affine parameters."""
    rank = call.type(y).rank
    for key, op in ((weight_key, "Mul"), (bias_key, "Add")):
        param = call.optional_tensor(key)
        if param:
            shaped = call.emit("Reshape", ReshapeAttrs((-1,) + (1,) * (rank - 2)), param)
            y = call.emit(op, NoAttrs(), y, shaped)
    return y


def _batch_norm(call: Call) -> tuple[str | None, ...]:
    """_native_batch_norm_legit_no_training: inference batch norm with running statistics."""
    x = call.tensor("input")
    channels = (call.type(x).shape[1],)
    scale = call.optional_tensor("weight") or _filled(call, channels, 1.0)
    bias = call.optional_tensor("bias") or _filled(call, channels, 0.0)
    out = call.emit("BatchNormalization", EpsilonAttrs(float(call.number("eps"))), x, scale, bias,
                    call.tensor("running_mean"), call.tensor("running_var"))
    return (out, None, None)


def _batch_norm_batch_statistics(call: Call) -> tuple[str | None, ...]:
    """_native_batch_norm_legit.no_stats: each channel normalised by its own mean and (biased)
    variance over every other axis; what instance norm lowers to."""
    x = call.tensor("input")
    dtype = call.type(x).dtype
    axes = ReduceAttrs(axes=(0,) + tuple(range(2, call.type(x).rank)), keepdims=True)
    centered = call.emit("Sub", NoAttrs(), x, call.emit("ReduceMean", axes, x))
    variance = call.emit("ReduceMean", axes, call.emit("Mul", NoAttrs(), centered, centered))
    std = call.emit("Sqrt", NoAttrs(), call.emit("Add", NoAttrs(), variance, call.scalar(call.number("eps"), dtype)))
    y = call.emit("Div", NoAttrs(), centered, std)
    return (_per_channel(call, y, "weight", "bias"), None, None)


def _layer_norm(call: Call) -> tuple[str | None, ...]:
    x = call.tensor("input")
    normalized = call.ints("normalized_shape")
    scale = call.optional_tensor("weight") or _filled(call, normalized, 1.0)
    bias = call.optional_tensor("bias")
    out = call.emit("LayerNormalization", LayerNormAttrs(axis=-len(normalized), epsilon=float(call.number("eps"))),
                    x, scale, bias)
    return (out, None, None)


def _group_norm(call: Call) -> tuple[str | None, ...]:
    """native_group_norm: (N, C, *S) viewed as (N, G, C/G * prod(S)), layer-normalised over the
    last axis, viewed back, then the per-channel affine."""
    x = call.tensor("input")
    shape = call.type(x).shape
    groups = call.int("group")
    if not all(isinstance(d, int) for d in shape[1:]):
        raise call.unsupported(f"group norm over symbolic channel or spatial sizes {shape} is not supported")
    width = int(np.prod(shape[1:])) // groups
    grouped = call.emit("Reshape", ReshapeAttrs((0, groups, width)), x)
    ones = _filled(call, (width,), 1.0)
    normalized = call.emit("LayerNormalization", LayerNormAttrs(axis=-1, epsilon=float(call.number("eps"))),
                           grouped, ones)
    y = call.emit("Reshape", ReshapeAttrs((0,) + tuple(shape[1:])), normalized)
    return (_per_channel(call, y, "weight", "bias"), None, None)


CONVERTERS = {
    "aten._native_batch_norm_legit_no_training.default": _batch_norm,
    "aten._native_batch_norm_legit.no_stats": _batch_norm_batch_statistics,
    "aten.native_layer_norm.default": _layer_norm,
    "aten.native_group_norm.default": _group_norm,
}
