"""The CUDA contraction template: a shared-memory tiled fp32 GEMM (implicit GEMM for
convolutions) with the contraction's epilogue applied at the store.

Each block computes a BM x BN tile of C for one (batch, group); 256 threads each own a 4 x 4
register tile strided by 16 rows/columns, so a warp's stores and shared-memory reads are
contiguous. Operand tiles are gathered through the spec's addressing (dense strides, im2col
windows with zero padding), choosing the load order that makes the operand's contiguous axis
the fast one across threads. FMA only: no tensor cores, so no TF32 rounding.
"""
from __future__ import annotations

from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, EpilogueClamp, EpilogueGelu, Im2col, Im2colRows
from compiler.ir.loops import Binary, Const, Expr, Var
from backends.contraction_text import clamp_lines, float_literal, strided_index

BM = BN = 64
BK = 16
THREADS = 256
MAX_GRID_YZ = 65535
# NaN-propagating, as numpy (fmaxf/fminf would drop a NaN); defined in backends/cuda/mathlib.py.
_MAX = "aotc_max<float>"
_MIN = "aotc_min<float>"


def _dim(d: "int | str") -> str:
    return str(d) if isinstance(d, int) else d


def _a_element(spec: Contraction, m: str, k: str) -> str:
    a = spec.a
    if isinstance(a, Dense):
        return f"{a.param}[{strided_index(a, m, k)}]"
    if isinstance(a, Im2colRows):
        kw = a.kernel[1]
        (sh, sw), (ph, pw), (dh, dw) = a.stride, a.pad, a.dilation
        cg = a.channels_per_group
        return (f"aotc_window_rows({a.param} + gb * {a.image_stride} + gg * {cg}, {m}, {k}, {cg}, {kw}, "
                f"{a.out_width}, {sh}, {sw}, {ph}, {pw}, {dh}, {dw}, {a.height}, {a.width}, {a.channels})")
    raise NotImplementedError(f"CUDA GEMM: operand A of type {type(a).__name__}")


def _b_element(spec: Contraction, k: str, n: str) -> str:
    b = spec.b
    if isinstance(b, Dense):
        return f"{b.param}[{strided_index(b, k, n)}]"
    if isinstance(b, Im2col):
        kh, kw = b.kernel
        (sh, sw), (ph, pw), (dh, dw) = b.stride, b.pad, b.dilation
        image = f"{b.param} + gb * {b.image_stride} + gg * {b.channel_offset_per_group * b.height * b.width}"
        return (f"aotc_window_cols({image}, {k}, {n}, {kh}, {kw}, {b.out_width}, {sh}, {sw}, {ph}, {pw}, "
                f"{dh}, {dw}, {b.height}, {b.width})")
    raise NotImplementedError(f"CUDA GEMM: operand B of type {type(b).__name__}")


def _k_fastest(operand, k_is_col: bool) -> bool:
    """Whether consecutive threads should walk k when loading this operand's tile."""
    if isinstance(operand, Dense):
        return (operand.col_stride if k_is_col else operand.row_stride) == 1
    return isinstance(operand, Im2colRows)   # channels-last windows are contiguous along k


def _epilogue(spec: Contraction) -> list[str]:
    lines = [f"v *= {float_literal(spec.alpha)};"] if spec.alpha != 1.0 else []
    for op in spec.epilogue:
        if isinstance(op, EpilogueAdd):
            scale = "" if op.scale == 1.0 else f"{float_literal(op.scale)} * "
            lines.append(f"v += {scale}{op.param}[{strided_index(op, 'm', 'n')}];")
        elif isinstance(op, EpilogueClamp):
            lines += clamp_lines(op, "v", _MAX, _MIN)
        elif isinstance(op, EpilogueGelu):
            if op.approximate == "tanh":
                lines.append("v = 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * v * v * v)));")
            else:
                lines.append("v = 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));")
        else:
            raise NotImplementedError(f"CUDA GEMM: epilogue {type(op).__name__}")
    return lines


# The window gathers every convolution kernel of a model shares, printed once in model.cu.
SUPPORT = """\
/* Element (k = (ci, ky, kx), n = (oy, ox)) of a channels-first convolution's im2col matrix. */
__device__ __forceinline__ float aotc_window_cols(const float* image, int64_t k, int64_t n, int kh, int kw,
        int64_t out_width, int sh, int sw, int ph, int pw, int dh, int dw, int64_t height, int64_t width) {
    const int64_t ci = k / (kh * kw), ky = (k / kw) % kh, kx = k % kw;
    const int64_t iy = (n / out_width) * sh - ph + ky * dh, ix = (n % out_width) * sw - pw + kx * dw;
    if (iy < 0 || iy >= height || ix < 0 || ix >= width) return 0.0f;
    return image[(ci * height + iy) * width + ix];
}

/* Element (m = (oy, ox), k = (ky, kx, ci)) of a channels-last convolution's window rows. */
__device__ __forceinline__ float aotc_window_rows(const float* image, int64_t m, int64_t k, int64_t cg, int kw,
        int64_t out_width, int sh, int sw, int ph, int pw, int dh, int dw, int64_t height, int64_t width,
        int64_t channels) {
    const int64_t tap = k / cg, ci = k % cg, ky = tap / kw, kx = tap % kw;
    const int64_t iy = (m / out_width) * sh - ph + ky * dh, ix = (m % out_width) * sw - pw + kx * dw;
    if (iy < 0 || iy >= height || ix < 0 || ix >= width) return 0.0f;
    return image[(iy * width + ix) * channels + ci];
}
"""


def render(spec: Contraction, signature: str) -> str:
    """The kernel for `spec`; `signature` is the printer's (name, parameters, symbols)."""
    m, g = _dim(spec.m), f"((int64_t){_dim(spec.batch)} * {spec.groups})"
    a_order = ("kk = e % {bk}, mm = e / {bk}" if _k_fastest(spec.a, True) else "mm = e % {bm}, kk = e / {bm}").format(bk=BK, bm=BM)
    b_order = ("kk = e % {bk}, nn = e / {bk}" if _k_fastest(spec.b, False) else "nn = e % {bn}, kk = e / {bn}").format(bk=BK, bn=BN)
    epilogue = "\n".join(f"                    {line}" for line in _epilogue(spec))
    out = (f"{spec.out_param}[gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + "
           f"m * {spec.out_row_stride} + n]")
    return f"""\
/* contraction: g={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}; {BM}x{BN}x{BK} tiles, {THREADS} threads */
{signature} {{
    __shared__ float a_tile[{BK}][{BM}];
    __shared__ float b_tile[{BK}][{BN}];
    const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
    const int64_t rows = {m};
    for (int64_t g = blockIdx.z; g < {g}; g += gridDim.z) {{
        const int64_t gb = g / {spec.groups}, gg = g % {spec.groups};
        (void)gb; (void)gg;
        for (int64_t m0 = (int64_t)blockIdx.y * {BM}; m0 < rows; m0 += (int64_t)gridDim.y * {BM}) {{
            const int64_t n0 = (int64_t)blockIdx.x * {BN};
            float acc[4][4] = {{{{0.0f}}}};
            for (int64_t k0 = 0; k0 < {spec.k}; k0 += {BK}) {{
                for (int e = threadIdx.x; e < {BK * BM}; e += {THREADS}) {{
                    const int {a_order};
                    const int64_t m = m0 + mm, k = k0 + kk;
                    a_tile[kk][mm] = (m < rows && k < {spec.k}) ? {_a_element(spec, "m", "k")} : 0.0f;
                }}
                for (int e = threadIdx.x; e < {BK * BN}; e += {THREADS}) {{
                    const int {b_order};
                    const int64_t k = k0 + kk, n = n0 + nn;
                    b_tile[kk][nn] = (k < {spec.k} && n < {spec.n}) ? {_b_element(spec, "k", "n")} : 0.0f;
                }}
                __syncthreads();
                #pragma unroll
                for (int kk = 0; kk < {BK}; ++kk) {{
                    float a[4], b[4];
                    #pragma unroll
                    for (int i = 0; i < 4; ++i) {{ a[i] = a_tile[kk][ty + 16 * i]; b[i] = b_tile[kk][tx + 16 * i]; }}
                    #pragma unroll
                    for (int i = 0; i < 4; ++i)
                        #pragma unroll
                        for (int j = 0; j < 4; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
                }}
                __syncthreads();
            }}
            #pragma unroll
            for (int i = 0; i < 4; ++i) {{
                #pragma unroll
                for (int j = 0; j < 4; ++j) {{
                    const int64_t m = m0 + ty + 16 * i, n = n0 + tx + 16 * j;
                    if (m >= rows || n >= {spec.n}) continue;
                    float v = acc[i][j];
{epilogue}
                    {out} = v;
                }}
            }}
        }}
    }}
}}
"""


def grid(spec: Contraction) -> tuple[Expr, Expr, Expr]:
    """Blocks in x (N tiles), y (M tiles, capped; the kernel strides) and z (batch x groups)."""
    def dim(d):
        return Const(d, Var("i").dtype) if isinstance(d, int) else Var(d)
    index = Var("i").dtype
    m_tiles = Binary("div", Binary("add", dim(spec.m), Const(BM - 1, index)), Const(BM, index))
    groups = Binary("mul", dim(spec.batch), Const(spec.groups, index))
    cap = Const(MAX_GRID_YZ, index)
    return (Const(-(-spec.n // BN), index), Binary("min", m_tiles, cap), Binary("min", groups, cap))
