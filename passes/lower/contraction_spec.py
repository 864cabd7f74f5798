"""Contraction specs for Conv, Gemm and MatMul nodes: the data a backend's GEMM template needs
(see compiler/ir/contraction.py). A node that does not fit the template's shape of things
(3-d convolution, depthwise convolution, matmuls with more than two batch dimensions,
non-float32) gets None and keeps its loop-nest kernel.

    Conv(x: f32[1,64,56,56], w: f32[64,64,3,3]) ->
    Contraction(batch=1, groups=1, m=64, n=3136, k=576, a=Dense(w, 576, 1, constant),
                b=Im2col(x, ...), epilogue=(EpilogueAdd(bias, 1, 0),))
"""
from __future__ import annotations

from typing import Sequence

from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, Im2col, Im2colRows
from compiler.ir.dtypes import DType
from compiler.ir.graph import Node
from compiler.ir.types import Sym, TensorType


def _dim(d) -> "int | str":
    return d.name if isinstance(d, Sym) else int(d)


# Element types a contraction template reads: float32 everywhere; float16 and bfloat16 where the
# target's template converts them (Target.half_contractions), else half products keep the loop nest.
HALF_TYPES = (DType.float16, DType.bfloat16)


def _element_ok(dtype: DType, half: bool) -> bool:
    return dtype is DType.float32 or (half and dtype in HALF_TYPES)


def conv_spec(node: Node, in_types: Sequence[TensorType | None], out_types, constant: Sequence[bool],
              half: bool = False) -> Contraction | None:
    attrs = node.attrs
    x, w = in_types[0], in_types[1]
    out = out_types[0]
    spatial = len(attrs.kernel_shape)
    if spatial not in (1, 2) or not _element_ok(x.dtype, half):
        return None
    if attrs.channels_last:
        return conv_spec_channels_last(node, in_types, out_types, constant)
    groups = attrs.group
    cout = int(w.shape[0])
    cin_g = int(w.shape[1])
    cout_g = cout // groups
    if cin_g == 1 and cout_g <= 4 and groups > 1:
        return None  # depthwise: a GEMM with m <= 4 wastes the microkernel
    if spatial == 1:
        height, width = 1, int(x.shape[2])
        kernel, stride = (1, attrs.kernel_shape[0]), (1, attrs.strides[0])
        pad, dilation = (0, attrs.pads[0]), (1, attrs.dilations[0])
        out_h, out_w = 1, int(out.shape[2])
    else:
        height, width = int(x.shape[2]), int(x.shape[3])
        kernel, stride = tuple(attrs.kernel_shape), tuple(attrs.strides)
        pad, dilation = (attrs.pads[0], attrs.pads[1]), tuple(attrs.dilations)
        out_h, out_w = int(out.shape[2]), int(out.shape[3])
    k = cin_g * kernel[0] * kernel[1]
    plane = out_h * out_w
    image = int(x.shape[1]) * height * width
    a = Dense("in1", row_stride=k, col_stride=1, group_stride=cout_g * k, constant=constant[1])
    b = Im2col("in0", cin_g, height, width, kernel, stride, pad, dilation, out_w, cin_g, image)
    epilogue = ()
    if len(in_types) > 2 and in_types[2] is not None:
        epilogue = (EpilogueAdd("in2", row_stride=1, col_stride=0, group_stride=cout_g),)
    return Contraction(batch=_dim(x.shape[0]), groups=groups, m=cout_g, n=plane, k=k, a=a, b=b,
                       out_param="out0", out_row_stride=plane, out_batch_stride=cout * plane,
                       out_group_stride=cout_g * plane, epilogue=epilogue)


def conv_spec_channels_last(node: Node, in_types, out_types, constant) -> Contraction | None:
    """Channels-last convolution as GEMM: C[(b, g), pixel, c_out] = windows(x)[pixel, (ky, kx,
    ci)] @ w[(ky, kx, ci), c_out], the weight already (kh, kw, C_in/g, C_out). A 1x1/stride-1
    convolution reads x as a plain matrix."""
    attrs = node.attrs
    x, w, out = in_types[0], in_types[1], out_types[0]
    if len(attrs.kernel_shape) != 2:
        return None
    groups = attrs.group
    kh, kw = attrs.kernel_shape
    cin_g, cout = int(w.shape[2]), int(w.shape[3])
    cout_g = cout // groups
    if cin_g == 1 and cout_g <= 4 and groups > 1:
        return None  # depthwise: the window kernel
    height, width, channels = int(x.shape[1]), int(x.shape[2]), int(x.shape[3])
    out_h, out_w = int(out.shape[1]), int(out.shape[2])
    k = kh * kw * cin_g
    pixels = out_h * out_w
    pointwise = (kh, kw) == (1, 1) and tuple(attrs.strides) == (1, 1) and not any(attrs.pads)
    if pointwise:
        a = Dense("in0", row_stride=channels, col_stride=1, batch_stride=height * width * channels,
                  group_stride=cin_g)
    else:
        a = Im2colRows("in0", channels, cin_g, height, width, (kh, kw), tuple(attrs.strides),
                       (attrs.pads[0], attrs.pads[1]), tuple(attrs.dilations), out_w, height * width * channels)
    b = Dense("in1", row_stride=cout, col_stride=1, group_stride=cout_g, constant=constant[1])
    epilogue = ()
    if len(in_types) > 2 and in_types[2] is not None:
        epilogue = (EpilogueAdd("in2", row_stride=0, col_stride=1, group_stride=cout_g),)
    return Contraction(batch=_dim(x.shape[0]), groups=groups, m=pixels, n=cout_g, k=k, a=a, b=b,
                       out_param="out0", out_row_stride=cout, out_batch_stride=pixels * cout,
                       out_group_stride=cout_g, epilogue=epilogue)


def _bias_strides(shape) -> tuple[int, int] | None:
    """Row/column strides that broadcast a Gemm C of `shape` (rank <= 2) over (m, n)."""
    if len(shape) > 2:
        return None
    rows, cols = (1,) * (2 - len(shape)) + tuple(int(d) for d in shape)
    return (cols if rows != 1 else 0), (1 if cols != 1 else 0)


def gemm_spec(node: Node, in_types, out_types, constant: Sequence[bool], half: bool = False) -> Contraction | None:
    attrs = node.attrs
    a_t, b_t = in_types[0], in_types[1]
    if not _element_ok(a_t.dtype, half):
        return None
    m, n = out_types[0].shape
    if isinstance(n, Sym):
        return None
    k = b_t.shape[1] if attrs.trans_b else b_t.shape[0]
    a_cols = a_t.shape[1]
    if isinstance(a_cols, Sym) or isinstance(k, Sym):
        return None
    a = Dense("in0", row_stride=1, col_stride=int(a_t.shape[1]), constant=constant[0]) if attrs.trans_a \
        else Dense("in0", row_stride=int(a_cols), col_stride=1, constant=constant[0])
    b = Dense("in1", row_stride=1, col_stride=int(k), constant=constant[1]) if attrs.trans_b \
        else Dense("in1", row_stride=int(n), col_stride=1, constant=constant[1])
    if attrs.trans_a and not isinstance(m, int):
        return None
    epilogue = ()
    if len(in_types) > 2 and in_types[2] is not None and attrs.beta != 0.0:
        c_shape = in_types[2].shape
        if any(isinstance(d, Sym) for d in c_shape):
            return None
        strides = _bias_strides(c_shape)
        if strides is None:
            return None
        epilogue = (EpilogueAdd("in2", row_stride=strides[0], col_stride=strides[1], scale=attrs.beta),)
    return Contraction(batch=1, groups=1, m=_dim(m), n=int(n), k=int(k), a=a, b=b, out_param="out0",
                       out_row_stride=int(n), out_batch_stride=0, out_group_stride=0,
                       alpha=attrs.alpha, epilogue=epilogue)


def matmul_spec(node: Node, in_types, out_types, constant: Sequence[bool], half: bool = False) -> Contraction | None:
    a_t, b_t = in_types
    if not _element_ok(a_t.dtype, half):
        return None
    a_shape = (1,) + tuple(a_t.shape) if a_t.rank == 1 else tuple(a_t.shape)
    b_shape = tuple(b_t.shape) + (1,) if b_t.rank == 1 else tuple(b_t.shape)
    if any(isinstance(d, Sym) for d in a_shape[-1:] + b_shape):
        return None
    m, k, n = a_shape[-2], int(a_shape[-1]), int(b_shape[-1])
    if isinstance(m, Sym) and len(a_shape) > 2:
        return None
    batch_rank = max(len(a_shape), len(b_shape)) - 2
    if batch_rank > 2:
        return None
    a_batch = (1,) * (batch_rank - (len(a_shape) - 2)) + a_shape[:-2]
    b_batch = (1,) * (batch_rank - (len(b_shape) - 2)) + b_shape[:-2]
    out_batch = tuple(max(int(x), int(y)) for x, y in zip(a_batch, b_batch))
    a_mat, b_mat = int(m) * k if isinstance(m, int) else 0, k * n
    out_mat = (int(m) if isinstance(m, int) else 0) * n

    def batch_strides(dims, matrix):
        """(outer, inner) strides over the (padded to 2) batch dims, 0 where broadcast."""
        dims = (1,) * (2 - len(dims)) + tuple(int(d) for d in dims)
        inner = 0 if dims[1] == 1 else matrix
        outer = 0 if dims[0] == 1 else matrix * dims[1]
        return outer, inner

    full = (1,) * (2 - len(out_batch)) + out_batch
    a_outer, a_inner = batch_strides(a_batch, a_mat)
    b_outer, b_inner = batch_strides(b_batch, b_mat)
    o_outer, o_inner = (out_mat * full[1], out_mat)
    a = Dense("in0", row_stride=k, col_stride=1, batch_stride=a_outer, group_stride=a_inner, constant=constant[0])
    b = Dense("in1", row_stride=n, col_stride=1, batch_stride=b_outer, group_stride=b_inner, constant=constant[1])
    if (a.constant and (a_outer or a_inner)) or (b.constant and b_outer):
        # Pre-packing handles constants that vary by the inner batch dimension only.
        a = Dense(a.param, a.row_stride, a.col_stride, a.batch_stride, a.group_stride, False)
        b = Dense(b.param, b.row_stride, b.col_stride, b.batch_stride, b.group_stride, False)
    return Contraction(batch=full[0], groups=full[1], m=_dim(m), n=n, k=k, a=a, b=b, out_param="out0",
                       out_row_stride=n, out_batch_stride=o_outer, out_group_stride=o_inner)


SPECS = {"Conv": conv_spec, "Gemm": gemm_spec, "MatMul": matmul_spec}


def contraction_spec(node: Node, in_types, out_types, constant: Sequence[bool], half: bool = False
                     ) -> Contraction | None:
    build = SPECS.get(node.op)
    spec = build(node, in_types, out_types, constant, half) if build else None
    if spec is None or 0 in (spec.m, spec.n, spec.k, spec.batch, spec.groups):
        return None  # empty products keep the loop nest, which handles them
    return spec

