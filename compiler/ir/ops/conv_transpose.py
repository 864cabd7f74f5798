"""ConvTranspose (the gradient of a convolution with respect to its input: x scattered through
the kernel, strided and dilated, then cropped by the pads) and Col2Im (the same scatter of
im2col's columns)."""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from compiler.ir.ops.common import require, same_dtype
from compiler.ir.ops.registry import OpDef, OpError, table
from compiler.ir.types import TensorType


@dataclass(frozen=True, slots=True)
class ConvTransposeAttrs:
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]            # begins for every spatial axis, then ends (resolved)
    output_padding: tuple[int, ...]
    group: int = 1


def output_spatial(in_spatial, kernel, attrs: ConvTransposeAttrs) -> tuple[int, ...]:
    n = len(kernel)
    return tuple(attrs.strides[i] * (in_spatial[i] - 1) + attrs.output_padding[i] + (kernel[i] - 1) * attrs.dilations[i]
                 + 1 - attrs.pads[i] - attrs.pads[n + i] for i in range(n))


def _infer(types, values, attrs):
    require(types, 2, "ConvTranspose", optional=1)
    x, w = types[0], types[1]
    dtype = same_dtype([t for t in types if t is not None], "ConvTranspose")
    if not x.is_static or not w.is_static or x.rank != w.rank or x.rank < 3:
        raise OpError("ConvTranspose needs static input and weight shapes of one rank (3 or more)")
    if x.shape[1] != w.shape[0] or x.shape[1] % attrs.group:
        raise OpError(f"ConvTranspose: {x.shape[1]} input channels do not match weight {w.shape}")
    out = output_spatial(x.shape[2:], w.shape[2:], attrs)
    if min(out) < 1:
        raise OpError(f"ConvTranspose: empty output {out}")
    return (TensorType((x.shape[0], w.shape[1] * attrs.group) + out, dtype),)


def _reference(inputs, attrs):
    x, w = inputs[0].astype(np.float64), inputs[1].astype(np.float64)
    bias = inputs[2] if len(inputs) > 2 and inputs[2] is not None else None
    n, g = len(w.shape) - 2, attrs.group
    in_sp, kernel = x.shape[2:], w.shape[2:]
    full = [attrs.strides[i] * (in_sp[i] - 1) + (kernel[i] - 1) * attrs.dilations[i] + 1 + attrs.output_padding[i]
            for i in range(n)]
    c_in, c_out = x.shape[1] // g, w.shape[1]
    y = np.zeros((x.shape[0], c_out * g, *full))
    for group in range(g):
        xs = x[:, group * c_in:(group + 1) * c_in]
        ws = w[group * c_in:(group + 1) * c_in]
        for tap in itertools.product(*(range(k) for k in kernel)):
            contribution = np.einsum("nc...,cm->nm...", xs, ws[(slice(None), slice(None)) + tap])
            where = tuple(slice(tap[i] * attrs.dilations[i], tap[i] * attrs.dilations[i]
                                + attrs.strides[i] * (in_sp[i] - 1) + 1, attrs.strides[i]) for i in range(n))
            y[(slice(None), slice(group * c_out, (group + 1) * c_out)) + where] += contribution
    crop = tuple(slice(attrs.pads[i], full[i] - attrs.pads[n + i]) for i in range(n))
    y = y[(slice(None), slice(None)) + crop]
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * n)
    return (y.astype(inputs[0].dtype),)




@dataclass(frozen=True, slots=True)
class Col2ImAttrs:
    image_shape: tuple[int, ...]
    block_shape: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...]            # begins, then ends


def col2im_blocks(attrs: Col2ImAttrs) -> tuple[int, ...]:
    """How many block positions fit along each spatial axis."""
    n = len(attrs.image_shape)
    return tuple((attrs.image_shape[i] + attrs.pads[i] + attrs.pads[n + i]
                  - (attrs.dilations[i] * (attrs.block_shape[i] - 1) + 1)) // attrs.strides[i] + 1 for i in range(n))


def _col2im_infer(types, values, attrs):
    require(types, 1, "Col2Im")
    x = types[0]
    block = int(np.prod(attrs.block_shape))
    if x.rank != 3 or not x.is_static or x.shape[1] % block or x.shape[2] != int(np.prod(col2im_blocks(attrs))):
        raise OpError(f"Col2Im: input {x.shape} does not match blocks {attrs.block_shape} of {attrs.image_shape}")
    return (x.with_shape((x.shape[0], x.shape[1] // block) + attrs.image_shape),)


def _col2im_ref(inputs, attrs):
    x = inputs[0]
    n = len(attrs.image_shape)
    blocks = col2im_blocks(attrs)
    block = int(np.prod(attrs.block_shape))
    channels = x.shape[1] // block
    padded = [attrs.image_shape[i] + attrs.pads[i] + attrs.pads[n + i] for i in range(n)]
    y = np.zeros((x.shape[0], channels, *padded), dtype=np.float64)
    cols = x.reshape(x.shape[0], channels, *attrs.block_shape, *blocks).astype(np.float64)
    for tap in itertools.product(*(range(k) for k in attrs.block_shape)):
        where = tuple(slice(tap[i] * attrs.dilations[i], tap[i] * attrs.dilations[i]
                            + attrs.strides[i] * (blocks[i] - 1) + 1, attrs.strides[i]) for i in range(n))
        y[(slice(None), slice(None)) + where] += cols[(slice(None), slice(None)) + tap]
    crop = tuple(slice(attrs.pads[i], padded[i] - attrs.pads[n + i]) for i in range(n))
    return (y[(slice(None), slice(None)) + crop].astype(x.dtype),)


OPS = table(OpDef("ConvTranspose", ConvTransposeAttrs, _infer, _reference, doc="transposed convolution"),
            OpDef("Col2Im", Col2ImAttrs, _col2im_infer, _col2im_ref, doc="sum column blocks back into an image"))
