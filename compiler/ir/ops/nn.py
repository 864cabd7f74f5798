"""Neural-network ops: convolution, pooling, Gemm/MatMul, normalisation, softmax."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from compiler.ir.ops.common import broadcast_shapes, normalize_axis, require, same_dtype
from compiler.ir.ops.registry import NoAttrs, OpDef, OpError, table
from compiler.ir.types import Dim, Sym, TensorType


@dataclass(frozen=True, slots=True)
class ConvAttrs:
    kernel_shape: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]          # begins for every spatial axis, then ends
    dilations: tuple[int, ...]
    group: int = 1
    # Set by convert_layout: x and y are channels-last (N, *spatial, C) and the weight is
    # (*kernel, C_in/group, C_out); otherwise ONNX's (N, C, *spatial) and (C_out, C_in/group, *kernel).
    channels_last: bool = False

    def __post_init__(self) -> None:
        n = len(self.kernel_shape)
        if len(self.strides) != n or len(self.dilations) != n or len(self.pads) != 2 * n:
            raise OpError(f"conv/pool attributes disagree on the spatial rank {n}: {self}")
        if min(self.strides + self.dilations + (self.group,), default=1) < 1 or min(self.pads, default=0) < 0:
            raise OpError(f"strides, dilations and group must be positive and pads non-negative: {self}")


@dataclass(frozen=True, slots=True)
class PoolAttrs:
    kernel_shape: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    ceil_mode: bool = False
    count_include_pad: bool = False   # AveragePool only
    channels_last: bool = False       # set by convert_layout: (N, *spatial, C)

    def __post_init__(self) -> None:
        n = len(self.kernel_shape)
        if len(self.strides) != n or len(self.dilations) != n or len(self.pads) != 2 * n:
            raise OpError(f"pool attributes disagree on the spatial rank {n}: {self}")


def _out_dim(size: Dim, kernel: int, stride: int, pad_begin: int, pad_end: int, dilation: int,
             ceil_mode: bool) -> Dim:
    if isinstance(size, Sym):
        raise OpError("convolution and pooling need static spatial dimensions")
    span = (kernel - 1) * dilation + 1
    numerator = size + pad_begin + pad_end - span
    if numerator < 0:
        raise OpError(f"window of {span} does not fit an axis of {size} with padding {pad_begin}+{pad_end}")
    out = (-(-numerator // stride) if ceil_mode else numerator // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad_begin:
        out -= 1  # the last window must start inside the input or its begin padding
    return out


def _spatial_out(shape, attrs, ceil_mode=False) -> tuple[Dim, ...]:
    n = len(attrs.kernel_shape)
    if len(shape) != n + 2:
        raise OpError(f"expected a rank-{n + 2} input for a {n}-d window, got rank {len(shape)}")
    return tuple(_out_dim(shape[2 + i], attrs.kernel_shape[i], attrs.strides[i],
                          attrs.pads[i], attrs.pads[n + i], attrs.dilations[i], ceil_mode)
                 for i in range(n))


def _windows(x: np.ndarray, attrs, out_spatial, pad_value) -> np.ndarray:
    """(N, C, *out, *kernel) view of every window, padding with `pad_value`."""
    n = len(attrs.kernel_shape)
    begin, end = attrs.pads[:n], attrs.pads[n:]
    extra = [max(0, (o - 1) * s + (k - 1) * d + 1 - (x.shape[2 + i] + b + e))
             for i, (o, s, k, d, b, e) in enumerate(zip(out_spatial, attrs.strides, attrs.kernel_shape,
                                                        attrs.dilations, begin, end))]
    padded = np.pad(x, [(0, 0), (0, 0)] + [(b, e + x_) for b, e, x_ in zip(begin, end, extra)],
                    constant_values=pad_value)
    spans = tuple((k - 1) * d + 1 for k, d in zip(attrs.kernel_shape, attrs.dilations))
    view = sliding_window_view(padded, spans, axis=tuple(range(2, 2 + n)))
    view = view[(slice(None), slice(None))
                + tuple(slice(0, (o - 1) * s + 1, s) for o, s in zip(out_spatial, attrs.strides))
                + tuple(slice(None, None, d) for d in attrs.dilations)]
    return view


def _conv_infer(types, values, attrs):
    require(types, 2, "Conv", optional=1)
    x, w = types[0], types[1]
    dtype = same_dtype([t for t in types if t is not None], "Conv")
    if w.rank != x.rank or not isinstance(w.shape[0], int):
        raise OpError(f"Conv: weight rank {w.rank} must equal input rank {x.rank}")
    if tuple(w.shape[2:]) != attrs.kernel_shape:
        raise OpError(f"Conv: kernel_shape {attrs.kernel_shape} disagrees with weight shape {w.shape}")
    channels = x.shape[1]
    if isinstance(channels, int) and (channels != w.shape[1] * attrs.group or w.shape[0] % attrs.group):
        raise OpError(f"Conv: {channels} input channels do not match weight {w.shape} with group {attrs.group}")
    if len(types) > 2 and types[2] is not None and types[2].shape != (w.shape[0],):
        raise OpError(f"Conv: bias shape {types[2].shape} must be ({w.shape[0]},)")
    return (TensorType((x.shape[0], w.shape[0]) + _spatial_out(x.shape, attrs), dtype),)


def _conv_ref(inputs, attrs):
    x, w = inputs[0], inputs[1]
    bias = inputs[2] if len(inputs) > 2 else None
    n = len(attrs.kernel_shape)
    out_spatial = _spatial_out(x.shape, attrs)
    win = _windows(x, attrs, out_spatial, 0)           # N, C, *O, *K
    g = attrs.group
    win = win.reshape((x.shape[0], g, x.shape[1] // g) + win.shape[2:])
    wg = w.reshape((g, w.shape[0] // g) + w.shape[1:])
    letters = "ijklmnop"[:n]
    kernel = "qrstuvwx"[:n]
    spec = f"zgc{letters}{kernel},gmc{kernel}->zgm{letters}"
    y = np.einsum(spec, win.astype(np.float64), wg.astype(np.float64), optimize=True)
    y = y.reshape((x.shape[0], w.shape[0]) + tuple(out_spatial))
    if bias is not None:
        y = y + bias.reshape((1, -1) + (1,) * n)
    return (y.astype(x.dtype),)


def _pool_infer(name):
    def infer(types, values, attrs):
        require(types, 1, name)
        x = types[0]
        return (x.with_shape((x.shape[0], x.shape[1]) + _spatial_out(x.shape, attrs, attrs.ceil_mode)),)
    return infer


def _maxpool_ref(inputs, attrs):
    x = inputs[0]
    out = _spatial_out(x.shape, attrs, attrs.ceil_mode)
    win = _windows(x, attrs, out, -np.inf if x.dtype.kind == "f" else np.iinfo(x.dtype).min)
    n = len(attrs.kernel_shape)
    return (win.max(axis=tuple(range(-n, 0))).astype(x.dtype),)


def _avgpool_ref(inputs, attrs):
    x = inputs[0]
    n = len(attrs.kernel_shape)
    out = _spatial_out(x.shape, attrs, attrs.ceil_mode)
    sums = _windows(x.astype(np.float64), attrs, out, 0).sum(axis=tuple(range(-n, 0)))
    if attrs.count_include_pad:
        # Padding counts, the ceil-mode overhang beyond the padding does not.
        padded = np.pad(np.zeros(x.shape[2:]), [(b, e) for b, e in zip(attrs.pads[:n], attrs.pads[n:])],
                        constant_values=1)
        ones = np.ones((1, 1) + padded.shape)
        no_pad = PoolAttrs(attrs.kernel_shape, attrs.strides, (0,) * 2 * n, attrs.dilations, attrs.ceil_mode)
        counts = _windows(ones, no_pad, out, 0).sum(axis=tuple(range(-n, 0)))
    else:
        counts = _windows(np.ones((1, 1) + x.shape[2:]), attrs, out, 0).sum(axis=tuple(range(-n, 0)))
    return ((sums / counts).astype(x.dtype),)


@dataclass(frozen=True, slots=True)
class LpPoolAttrs:
    kernel_shape: tuple[int, ...]
    strides: tuple[int, ...]
    pads: tuple[int, ...]
    dilations: tuple[int, ...]
    ceil_mode: bool = False
    p: int = 2
    channels_last: bool = False       # never set: convert_layout leaves LpPool row-major


def _lppool_ref(inputs, attrs):
    x = inputs[0]
    n = len(attrs.kernel_shape)
    out = _spatial_out(x.shape, attrs, attrs.ceil_mode)
    win = np.abs(_windows(x.astype(np.float64), attrs, out, 0)) ** attrs.p
    return ((win.sum(axis=tuple(range(-n, 0))) ** (1.0 / attrs.p)).astype(x.dtype),)


def _global_pool_infer(types, values, attrs):
    require(types, 1, "GlobalAveragePool")
    x = types[0]
    if x.rank < 3:
        raise OpError(f"GlobalAveragePool needs rank >= 3, got {x.rank}")
    return (x.with_shape(x.shape[:2] + (1,) * (x.rank - 2)),)


def _global_pool_ref(inputs, attrs):
    x = inputs[0]
    return (x.astype(np.float64).mean(axis=tuple(range(2, x.ndim)), keepdims=True).astype(x.dtype),)


@dataclass(frozen=True, slots=True)
class GemmAttrs:
    alpha: float = 1.0
    beta: float = 1.0
    trans_a: bool = False
    trans_b: bool = False


def _gemm_infer(types, values, attrs):
    require(types, 2, "Gemm", optional=1)
    a, b = types[0], types[1]
    same_dtype([t for t in types if t is not None], "Gemm")
    if a.rank != 2 or b.rank != 2:
        raise OpError(f"Gemm takes rank-2 A and B, got ranks {a.rank} and {b.rank}")
    m, k = (a.shape[1], a.shape[0]) if attrs.trans_a else a.shape
    k2, n = (b.shape[1], b.shape[0]) if attrs.trans_b else b.shape
    if k != k2:
        raise OpError(f"Gemm: inner dimensions {k} and {k2} differ")
    if len(types) > 2 and types[2] is not None:
        broadcast_shapes(types[2].shape, (m, n))
        if broadcast_shapes(types[2].shape, (m, n)) != (m, n):
            raise OpError(f"Gemm: C of shape {types[2].shape} does not broadcast to ({m}, {n})")
    return (TensorType((m, n), a.dtype),)


def _gemm_ref(inputs, attrs):
    a = inputs[0].T if attrs.trans_a else inputs[0]
    b = inputs[1].T if attrs.trans_b else inputs[1]
    y = attrs.alpha * (a.astype(np.float64) @ b.astype(np.float64))
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + attrs.beta * inputs[2]
    return (y.astype(inputs[0].dtype),)


def _matmul_infer(types, values, attrs):
    require(types, 2, "MatMul")
    a, b = types
    dtype = same_dtype(types, "MatMul")
    if a.rank == 0 or b.rank == 0:
        raise OpError("MatMul does not take scalars")
    a_shape = (1,) + a.shape if a.rank == 1 else a.shape
    b_shape = b.shape + (1,) if b.rank == 1 else b.shape
    if a_shape[-1] != b_shape[-2]:
        raise OpError(f"MatMul: inner dimensions {a_shape[-1]} and {b_shape[-2]} differ "
                      f"(shapes {a.shape} and {b.shape})")
    batch = broadcast_shapes(a_shape[:-2], b_shape[:-2])
    shape = batch + (a_shape[-2],) * (a.rank > 1) + (b_shape[-1],) * (b.rank > 1)
    return (TensorType(shape, dtype),)


def _matmul_ref(inputs, attrs):
    a, b = inputs
    if a.dtype.kind == "f":
        return (np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(a.dtype),)
    return (np.matmul(a, b),)


@dataclass(frozen=True, slots=True)
class EpsilonAttrs:
    epsilon: float = 1e-5


def _batchnorm_infer(types, values, attrs):
    require(types, 5, "BatchNormalization")
    x = types[0]
    if x.rank < 2:
        raise OpError("BatchNormalization needs rank >= 2")
    for t in types[1:]:
        if t.shape != (x.shape[1],):
            raise OpError(f"BatchNormalization: parameter shape {t.shape} must be ({x.shape[1]},)")
    return (x,)


def _batchnorm_ref(inputs, attrs):
    x, scale, bias, mean, var = inputs
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - mean.reshape(shape)) / np.sqrt(var.reshape(shape).astype(np.float64) + attrs.epsilon)
    return ((y * scale.reshape(shape) + bias.reshape(shape)).astype(x.dtype),)


@dataclass(frozen=True, slots=True)
class AxisAttrs:
    axis: int = -1


def _softmax_infer(types, values, attrs):
    require(types, 1, "Softmax")
    normalize_axis(attrs.axis, types[0].rank)
    if not types[0].dtype.is_float:
        raise OpError(f"Softmax takes floats, got {types[0].dtype.value}")
    return (types[0],)


def _softmax_ref(inputs, attrs):
    x = inputs[0].astype(np.float64)
    e = np.exp(x - x.max(axis=attrs.axis, keepdims=True))
    return ((e / e.sum(axis=attrs.axis, keepdims=True)).astype(inputs[0].dtype),)


@dataclass(frozen=True, slots=True)
class LayerNormAttrs:
    axis: int = -1
    epsilon: float = 1e-5


def _layernorm_infer(types, values, attrs):
    require(types, 2, "LayerNormalization", optional=1)
    x = types[0]
    axis = normalize_axis(attrs.axis, x.rank)
    for t in types[1:]:
        if t is not None:
            broadcast_shapes(t.shape, x.shape[axis:])
    return (x,)


def _layernorm_ref(inputs, attrs):
    x = inputs[0].astype(np.float64)
    axes = tuple(range(attrs.axis % x.ndim, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + attrs.epsilon) * inputs[1]
    if len(inputs) > 2 and inputs[2] is not None:
        y = y + inputs[2]
    return (y.astype(inputs[0].dtype),)


def to_channels_first(array_or_shape, rank: int):
    """(N, *spatial, C) -> (N, C, *spatial) for a shape tuple or an array."""
    perm = (0, rank - 1) + tuple(range(1, rank - 1))
    if isinstance(array_or_shape, tuple):
        return tuple(array_or_shape[p] for p in perm)
    return np.transpose(array_or_shape, perm)


def to_channels_last(array_or_shape, rank: int):
    perm = (0,) + tuple(range(2, rank)) + (1,)
    if isinstance(array_or_shape, tuple):
        return tuple(array_or_shape[p] for p in perm)
    return np.transpose(array_or_shape, perm)


def _weight_to_oihw(array_or_shape, rank: int):
    """(*kernel, I, O) -> (O, I, *kernel)."""
    perm = (rank - 1, rank - 2) + tuple(range(rank - 2))
    if isinstance(array_or_shape, tuple):
        return tuple(array_or_shape[p] for p in perm)
    return np.transpose(array_or_shape, perm)


def _channels_last_infer(infer):
    """Run the channels-first inference on the channels-first view of a channels-last node."""
    def wrapped(types, values, attrs):
        if not getattr(attrs, "channels_last", False):
            return infer(types, values, attrs)
        first = [t.with_shape(to_channels_first(t.shape, t.rank)) if k == 0 and t is not None else t
                 for k, t in enumerate(types)]
        if len(first) > 1 and first[1] is not None and isinstance(attrs, ConvAttrs):
            first[1] = first[1].with_shape(_weight_to_oihw(first[1].shape, first[1].rank))
        (out,) = infer(first, values, replace(attrs, channels_last=False))
        return (TensorType(to_channels_last(out.shape, out.rank), out.dtype, "NHWC" if out.rank == 4 else ""),)
    return wrapped


def _channels_last_reference(reference):
    def wrapped(inputs, attrs):
        if not getattr(attrs, "channels_last", False):
            return reference(inputs, attrs)
        args = list(inputs)
        args[0] = np.ascontiguousarray(to_channels_first(args[0], args[0].ndim))
        if len(args) > 1 and args[1] is not None and isinstance(attrs, ConvAttrs):
            args[1] = np.ascontiguousarray(_weight_to_oihw(args[1], args[1].ndim))
        (out,) = reference(args, replace(attrs, channels_last=False))
        return (np.ascontiguousarray(to_channels_last(out, out.ndim)),)
    return wrapped


OPS = table(
    OpDef("LpPool", LpPoolAttrs, _pool_infer("LpPool"), _lppool_ref, doc="(sum of |x|^p over a window)^(1/p)"),
    OpDef("Conv", ConvAttrs, _channels_last_infer(_conv_infer), _channels_last_reference(_conv_ref),
          doc="N-d convolution with groups"),
    OpDef("MaxPool", PoolAttrs, _channels_last_infer(_pool_infer("MaxPool")), _channels_last_reference(_maxpool_ref),
          doc="max pooling"),
    OpDef("AveragePool", PoolAttrs, _channels_last_infer(_pool_infer("AveragePool")),
          _channels_last_reference(_avgpool_ref), doc="average pooling"),
    OpDef("GlobalAveragePool", NoAttrs, _global_pool_infer, _global_pool_ref, doc="mean over spatial axes"),
    OpDef("Gemm", GemmAttrs, _gemm_infer, _gemm_ref, doc="alpha*A'B' + beta*C"),
    OpDef("MatMul", NoAttrs, _matmul_infer, _matmul_ref, doc="batched matrix product"),
    OpDef("BatchNormalization", EpsilonAttrs, _batchnorm_infer, _batchnorm_ref, doc="inference batch norm"),
    OpDef("Softmax", AxisAttrs, _softmax_infer, _softmax_ref, doc="softmax along one axis"),
    OpDef("LayerNormalization", LayerNormAttrs, _layernorm_infer, _layernorm_ref,
          doc="normalise over the trailing axes from `axis`"),
)
