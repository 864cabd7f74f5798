"""Contractions as data: what a backend's GEMM/convolution template needs to know.

    C[g, m, n] = epilogue( sum_k A[g, m, k] * B[g, k, n] )

`g` runs over batch x groups. Each operand says how element (g, m, k) / (g, k, n) is found in
its buffer: dense strides (transposes and broadcast batch dims are just strides), or an
im2col view of a convolution input (so the template's packing routine is the prologue that
reads windows, with zero padding, straight from the activation tensor). Constant operands may
be packed into the template's panel layout at compile time.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Dense:
    """Element (g, row, col) at param[g_outer * batch_stride + g_inner * group_stride +
    row * row_stride + col * col_stride]; g = g_outer * groups + g_inner."""
    param: str                 # name of the kernel parameter
    row_stride: int
    col_stride: int
    batch_stride: int = 0
    group_stride: int = 0
    constant: bool = False     # a weight: may be pre-packed at compile time


@dataclass(frozen=True, slots=True)
class Im2col:
    """B[(g_outer, g_inner), k, n] of a convolution: k = (ci, ky, kx) over the group's input
    channels, n = (oy, ox); zero outside the input. 2-d (1-d convs use a height of 1)."""
    param: str
    channels: int              # input channels per group
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]       # begin padding (top, left)
    dilation: tuple[int, int]
    out_width: int
    channel_offset_per_group: int   # = channels (group g reads channels [g*channels, ...))
    image_stride: int          # elements per batch image


@dataclass(frozen=True, slots=True)
class Im2colRows:
    """A[(g_outer, g_inner), m, k] of a channels-last convolution: m = (oy, ox) output pixels,
    k = (ky, kx, ci) over the group's input channels (contiguous in memory); zero outside."""
    param: str
    channels: int              # all input channels (the pixel stride)
    channels_per_group: int
    height: int
    width: int
    kernel: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]
    dilation: tuple[int, int]
    out_width: int
    image_stride: int          # elements per batch image (H * W * C)


Operand = Dense | Im2col | Im2colRows


@dataclass(frozen=True, slots=True)
class EpilogueAdd:
    """C += alpha * param[g_outer * batch_stride + m * row_stride + n * col_stride] (bias,
    residual, Gemm's C); strides of 0 broadcast."""
    param: str
    row_stride: int
    col_stride: int
    batch_stride: int = 0
    group_stride: int = 0
    scale: float = 1.0


@dataclass(frozen=True, slots=True)
class EpilogueClamp:
    """ReLU is (0, inf); ReLU6/Clip are finite."""
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class EpilogueGelu:
    """GELU, erf form ("none") or tanh form ("tanh")."""
    approximate: str = "none"


EpilogueOp = EpilogueAdd | EpilogueClamp | EpilogueGelu


@dataclass(frozen=True, slots=True)
class Contraction:
    batch: "int | str"         # outer batch (images / matmul batch); a str names a symbol
    groups: int                # convolution groups, or a second matmul batch dimension
    m: "int | str"
    n: int
    k: int
    a: Operand
    b: Operand
    out_param: str
    # C element (b, g, m, n) at out[b * out_batch_stride + g * out_group_stride + m * out_row_stride + n]
    out_row_stride: int
    out_batch_stride: int
    out_group_stride: int
    alpha: float = 1.0
    epilogue: tuple[EpilogueOp, ...] = ()

    def flops(self, bindings: dict[str, int] | None = None) -> int:
        def value(d):
            return d if isinstance(d, int) else (bindings or {}).get(d, 1)
        return 2 * value(self.batch) * self.groups * value(self.m) * self.n * self.k
