"""Winograd F(m x m, 3 x 3) for channels-last 3x3 / stride-1 convolutions on the CPU.

A convolution's output splits into m x m tiles; each reads an a x a input patch (a = m + 2).
With the transforms B (input), G (filter) and A (output) of Lavin & Gray (2015),

    Y[tile] = A^T [ (G g G^T) (.) (B^T d B) ] A

and the elementwise product over a^2 positions, summed over input channels, is a^2 independent
GEMMs: M[xi][tile][k] = V[xi][tile][c] @ U[xi][c][k]. F(4x4, 3x3) does 36 multiplies where the
direct form does 144 per 4x4 tile and channel pair (4x fewer); F(2x2, 3x3) 16 against 36 (2.25x).
The filter transform U happens once, at compile time (in float64); the input and output
transforms are a few adds per element each, vectorised over channels (contiguous in NHWC).

onnxruntime's MLAS has no fp32 Winograd path, so on the 3x3 layers that dominate ResNets this is
where aotc can do less arithmetic than its peer rather than the same arithmetic faster.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction as F

import numpy as np

from compiler.ir.contraction import Contraction, Dense, Im2colRows

# Output tile sizes with transforms (Lavin & Gray's points 0, +-1, +-2, infinity). F(6x6) and
# larger lose too many bits in fp32 for the bar's 1e-4 relative error over a 50-layer net.
TILE_SIZES = (2, 4)

_B_T = {
    2: [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
    4: [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
        [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]],
}
_G = {
    2: [[1, 0, 0], [F(1, 2), F(1, 2), F(1, 2)], [F(1, 2), F(-1, 2), F(1, 2)], [0, 0, 1]],
    4: [[F(1, 4), 0, 0], [F(-1, 6), F(-1, 6), F(-1, 6)], [F(-1, 6), F(1, 6), F(-1, 6)],
        [F(1, 24), F(1, 12), F(1, 6)], [F(1, 24), F(-1, 12), F(1, 6)], [0, 0, 1]],
}
_A_T = {
    2: [[1, 1, 1, 0], [0, 1, -1, -1]],
    4: [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]],
}


def input_transform(m: int) -> list[list[int]]:
    """B^T, (m + 2) x (m + 2), integer entries."""
    return _B_T[m]


def output_transform(m: int) -> list[list[int]]:
    """A^T, m x (m + 2), integer entries."""
    return _A_T[m]


def filter_transform(m: int) -> np.ndarray:
    """G, (m + 2) x 3, as float64."""
    return np.array([[float(v) for v in row] for row in _G[m]])


@dataclass(frozen=True)
class WinogradShape:
    """One convolution's Winograd geometry: tiles over the output, the patch each reads."""
    m: int                  # output tile side
    batch: int
    height: int             # input
    width: int
    channels: int           # input channels (the GEMM's K)
    out_channels: int       # the GEMM's N
    out_height: int
    out_width: int
    pad: tuple[int, int]    # top, left

    @property
    def alpha(self) -> int:
        return self.m + 2

    @property
    def tiles_h(self) -> int:
        return -(-self.out_height // self.m)

    @property
    def tiles_w(self) -> int:
        return -(-self.out_width // self.m)

    @property
    def tiles(self) -> int:
        return self.batch * self.tiles_h * self.tiles_w

    def padded_tiles(self, mr: int) -> int:
        """Tiles rounded up to whole MR-row panels: the rows of V and M the GEMMs run over."""
        return -(-self.tiles // mr) * mr


def eligible(spec: Contraction) -> bool:
    """A channels-last 3x3 convolution with stride 1, no dilation, one group, float32 weights
    known at compile time (the filter transform runs then), a static batch."""
    a, b = spec.a, spec.b
    return (isinstance(a, Im2colRows) and a.kernel == (3, 3) and a.stride == (1, 1)
            and a.dilation == (1, 1) and spec.groups == 1 and a.channels == a.channels_per_group
            and isinstance(b, Dense) and b.constant and isinstance(spec.batch, int)
            and spec.alpha == 1.0 and max(a.pad) <= 2)


def shape_of(spec: Contraction, m: int) -> WinogradShape:
    a = spec.a
    assert isinstance(a, Im2colRows)
    out_h = spec.m // a.out_width
    return WinogradShape(m, int(spec.batch), a.height, a.width, a.channels, spec.n, out_h, a.out_width, a.pad)


def gemm_spec(spec: Contraction, m: int, rows: int) -> Contraction:
    """The a^2 GEMMs as one grouped contraction: V[xi] (rows x C, row-major, read in place) @
    U[xi] (C x K, pre-packed) -> M[xi] (rows x K). Only its shape and operand kinds matter:
    the Winograd template drives the microkernel itself."""
    shape = shape_of(spec, m)
    c, k = shape.channels, shape.out_channels
    return Contraction(batch=1, groups=shape.alpha ** 2, m=rows, n=k, k=c,
                       a=Dense("v", row_stride=c, col_stride=1, group_stride=rows * c),
                       b=Dense(spec.b.param, row_stride=k, col_stride=1, group_stride=c * k, constant=True),
                       out_param="mt", out_row_stride=k, out_batch_stride=0, out_group_stride=rows * k)


def transformed_filters(weight: np.ndarray, m: int) -> np.ndarray:
    """(3, 3, C, K) channels-last weights -> U [a^2][C][K] = G g G^T per (c, k), in float64
    and rounded once to float32."""
    g = filter_transform(m)
    u = np.einsum("iy,yxck,jx->ijck", g, np.asarray(weight, np.float64).reshape(3, 3, *weight.shape[-2:]), g)
    alpha = m + 2
    return np.ascontiguousarray(u.reshape(alpha * alpha, *u.shape[2:]).astype(np.float32))
