"""The CUDA contraction template: a register-blocked fp32 GEMM (implicit GEMM for convolutions)
with the contraction's epilogue applied at the store.

Each block computes a BM x BN tile of C for one (batch, group), the tile chosen per problem at
compile time (gemm_tiles.py); each thread keeps TM x TN accumulators in registers. A and B
move through two shared-memory buffers: while the block multiplies one BK-deep slice, its
threads hold the next slice's global loads in registers (float4 where the operand allows,
gemm_operands.py) and write them to the other buffer afterwards, so one barrier per slice
suffices and the global latency hides behind the FMAs. FMA only: no tensor cores, so no TF32
rounding; each output sums its products in k order, as the loop it replaces did.
"""
from __future__ import annotations

from compiler.ir.contraction import Contraction, EpilogueAdd, EpilogueClamp, EpilogueGelu
from compiler.ir.loops import Binary, Const, Expr, Var
from backends.contraction_text import clamp_lines, float_literal, strided_index
from backends.cuda.gemm_operands import a_loader, b_loader
from backends.cuda.gemm_tiles import GemmPlan

# Split-K's partial sums: one static device array per model (the launches run in order on one
# stream, so every split kernel shares it), sized by the printer to the largest split.
WORKSPACE = "aotc_workspace"
REDUCE_BLOCKS_PER_SM = 8

MAX_GRID_YZ = 65535
# NaN-propagating, as numpy (fmaxf/fminf would drop a NaN); defined in backends/cuda/mathlib.py.
_MAX = "aotc_max<float>"
_MIN = "aotc_min<float>"


def _dim(d: "int | str") -> str:
    return str(d) if isinstance(d, int) else d


def _epilogue(spec: Contraction) -> list[str]:
    lines = [f"v *= {float_literal(spec.alpha)};"] if spec.alpha != 1.0 else []
    for op in spec.epilogue:
        if isinstance(op, EpilogueAdd):
            scale = "" if op.scale == 1.0 else f"{float_literal(op.scale)} * "
            lines.append(f"v += {scale}aotc_f32({op.param}[{strided_index(op, 'm', 'n')}]);")
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


# Helpers every GEMM kernel of a model shares, printed once in model.cu: element access that
# widens float16/bfloat16 operands to float on load and rounds on store (overloads, so the
# template's text is the same for every element type; accumulation is always float), and the
# channels-last window gather.
SUPPORT = """\
#include <cuda_fp16.h>
#include <cuda_bf16.h>
__device__ __forceinline__ float aotc_f32(float x) { return x; }
__device__ __forceinline__ float aotc_f32(__half x) { return __half2float(x); }
__device__ __forceinline__ float aotc_f32(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ void aotc_put(float* p, float v) { *p = v; }
__device__ __forceinline__ void aotc_put(__half* p, float v) { *p = __float2half_rn(v); }
__device__ __forceinline__ void aotc_put(__nv_bfloat16* p, float v) { *p = __float2bfloat16_rn(v); }
/* Four consecutive elements (16 bytes of float, 8 of a half type: callers keep them aligned). */
__device__ __forceinline__ float4 aotc_load4(const float* p) { return *(const float4*)p; }
__device__ __forceinline__ float4 aotc_load4(const __half* p) {
    const float2 lo = __half22float2(((const __half2*)p)[0]), hi = __half22float2(((const __half2*)p)[1]);
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ float4 aotc_load4(const __nv_bfloat16* p) {
    const float2 lo = __bfloat1622float2(((const __nv_bfloat162*)p)[0]), hi = __bfloat1622float2(((const __nv_bfloat162*)p)[1]);
    return make_float4(lo.x, lo.y, hi.x, hi.y);
}
__device__ __forceinline__ void aotc_store4(float* p, float4 v) { *(float4*)p = v; }
__device__ __forceinline__ void aotc_store4(__half* p, float4 v) {
    ((__half2*)p)[0] = __floats2half2_rn(v.x, v.y); ((__half2*)p)[1] = __floats2half2_rn(v.z, v.w);
}
__device__ __forceinline__ void aotc_store4(__nv_bfloat16* p, float4 v) {
    ((__nv_bfloat162*)p)[0] = __floats2bfloat162_rn(v.x, v.y); ((__nv_bfloat162*)p)[1] = __floats2bfloat162_rn(v.z, v.w);
}

/* Element (m = (oy, ox), k = (ky, kx, ci)) of a channels-last convolution's window rows. */
template <typename T>
__device__ __forceinline__ float aotc_window_rows(const T* image, int64_t m, int64_t k, int64_t cg, int kw,
        int64_t out_width, int sh, int sw, int ph, int pw, int dh, int dw, int64_t height, int64_t width,
        int64_t channels) {
    const int64_t tap = k / cg, ci = k % cg, ky = tap / kw, kx = tap % kw;
    const int64_t iy = (m / out_width) * sh - ph + ky * dh, ix = (m % out_width) * sw - pw + kx * dw;
    if (iy < 0 || iy >= height || ix < 0 || ix >= width) return 0.0f;
    return aotc_f32(image[(iy * width + ix) * channels + ci]);
}
"""


def _epilogue_store(spec: Contraction, plan: GemmPlan) -> list[str]:
    """Each thread's results into C through the epilogue (or, split over k, its partial sums
    into the workspace as they are): per row, one 4-wide column group at a time, stored as a
    float4 when the destination's rows and strides keep every group aligned and whole."""
    tiles = plan.tiles
    if plan.splits > 1:
        vector = spec.n % 4 == 0
        out = f"{WORKSPACE} + (z % {plan.splits}) * {plan.workspace(spec) // plan.splits} + (g * gemm_m + m) * gemm_n"
        epilogue = []
    else:
        vector = (spec.n % 4 == 0 and spec.out_row_stride % 4 == 0 and spec.out_batch_stride % 4 == 0
                  and spec.out_group_stride % 4 == 0)
        out = f"{spec.out_param} + gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + m * {spec.out_row_stride}"
        epilogue = [f"        {line}" for line in _epilogue(spec)]
    lines = [f"for (int r = 0; r < {tiles.tm}; ++r) {{",
             f"    const int64_t m = m0 + (r / 4) * {tiles.sub_m} + ty * 4 + r % 4;",
             "    if (m >= gemm_m) continue;",
             "    #pragma unroll",
             f"    for (int s = 0; s < {tiles.tn // 4}; ++s) {{",
             f"        const int64_t n4 = n0 + s * {tiles.sub_n} + tx * 4;",
             "        float v4[4];",
             "        #pragma unroll",
             "        for (int j = 0; j < 4; ++j) {",
             "            const int64_t n = n4 + j;",
             "            if (n >= gemm_n) break;",
             "            float v = acc[r][s * 4 + j];",
             *epilogue,
             "            v4[j] = v;",
             "        }"]
    if vector:
        lines += [f"        if (n4 < gemm_n) aotc_store4({out} + n4, make_float4(v4[0], v4[1], v4[2], v4[3]));"]
    else:
        lines += ["        #pragma unroll",
                  f"        for (int j = 0; j < 4; ++j) if (n4 + j < gemm_n) aotc_put({out} + n4 + j, v4[j]);"]
    return lines + ["    }", "}"]


def render(spec: Contraction, plan: GemmPlan, signature: str) -> str:
    """The kernel for `spec` with `plan`; `signature` is the printer's (name, parameters, symbols).
    Split over k, it writes partial sums; reduce_kernel then finishes C."""
    tiles = plan.tiles
    a, b = a_loader(spec, tiles), b_loader(spec, tiles)
    g = f"((int64_t){_dim(spec.batch)} * {spec.groups})"
    tx_count = tiles.bn // tiles.tn
    if plan.splits > 1:
        z_loop = f"for (int64_t z = blockIdx.z; z < {g} * {plan.splits}; z += gridDim.z) {{"
        slices = [f"const int64_t g = z / {plan.splits};",
                  f"const int k_begin = (int)(z % {plan.splits}) * {plan.k_per_split}, "
                  f"k_end = min(gemm_k, k_begin + {plan.k_per_split});"]
        note = f"; k split {plan.splits} ways ({plan.k_per_split} each) into partial sums"
    else:
        z_loop = f"for (int64_t g = blockIdx.z; g < {g}; g += gridDim.z) {{"
        slices = ["const int k_begin = 0, k_end = gemm_k;"]
        note = ""

    def block(lines, depth):
        return "\n".join("    " * depth + line for line in lines)

    return f"""\
/* contraction: g={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}; {tiles.bm}x{tiles.bn}x{tiles.bk} tiles,
   {tiles.threads} threads of {tiles.tm}x{tiles.tn}; A {a.kind}, B {b.kind}; double-buffered shared memory{note} */
{signature} {{
    /* k-major tiles, rows padded by 4 floats: float4-aligned, and the transposed stores of a
       warp (4 k rows x 8 or 16 columns) land in distinct banks. */
    __shared__ __align__(16) float a_tile[2][{tiles.bk}][{tiles.bm + 4}];
    __shared__ __align__(16) float b_tile[2][{tiles.bk}][{tiles.bn + 4}];
    const int tx = threadIdx.x % {tx_count}, ty = threadIdx.x / {tx_count};
    const int64_t gemm_m = {_dim(spec.m)};
    const int64_t gemm_n = {spec.n};
    const int gemm_k = {spec.k};
    {z_loop}
{block(slices, 2)}
        const int64_t gb = g / {spec.groups}, gg = g % {spec.groups};
        (void)gb; (void)gg;
        for (int64_t m0 = (int64_t)blockIdx.y * {tiles.bm}; m0 < gemm_m; m0 += (int64_t)gridDim.y * {tiles.bm}) {{
            const int64_t n0 = (int64_t)blockIdx.x * {tiles.bn};
{block(a.declare + b.declare, 3)}
            float acc[{tiles.tm}][{tiles.tn}];
            #pragma unroll
            for (int i = 0; i < {tiles.tm}; ++i)
                #pragma unroll
                for (int j = 0; j < {tiles.tn}; ++j) acc[i][j] = 0.0f;
            int buf = 0;
            {{
                const int k_next = k_begin;
{block(a.load + b.load + a.store + b.store, 4)}
            }}
            __syncthreads();
            for (int k0 = k_begin; k0 < k_end; k0 += {tiles.bk}) {{
                const int k_next = k0 + {tiles.bk};
                /* The next slice's global loads are in flight while this one is multiplied. */
                if (k_next < k_end) {{
{block(a.load + b.load, 5)}
                }}
                #pragma unroll
                for (int kk = 0; kk < {tiles.bk}; ++kk) {{
                    float a[{tiles.tm}], b[{tiles.tn}];
                    #pragma unroll
                    for (int s = 0; s < {tiles.tm // 4}; ++s) {{
                        const float4 v = *(const float4*)&a_tile[buf][kk][s * {tiles.sub_m} + ty * 4];
                        a[s * 4] = v.x; a[s * 4 + 1] = v.y; a[s * 4 + 2] = v.z; a[s * 4 + 3] = v.w;
                    }}
                    #pragma unroll
                    for (int s = 0; s < {tiles.tn // 4}; ++s) {{
                        const float4 v = *(const float4*)&b_tile[buf][kk][s * {tiles.sub_n} + tx * 4];
                        b[s * 4] = v.x; b[s * 4 + 1] = v.y; b[s * 4 + 2] = v.z; b[s * 4 + 3] = v.w;
                    }}
                    #pragma unroll
                    for (int i = 0; i < {tiles.tm}; ++i)
                        #pragma unroll
                        for (int j = 0; j < {tiles.tn}; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
                }}
                if (k_next < k_end) {{
                    buf ^= 1;
{block(a.store + b.store, 5)}
                }}
                __syncthreads();
            }}
            #pragma unroll
{block(_epilogue_store(spec, plan), 3)}
        }}
    }}
}}
"""


def reduce_kernel(spec: Contraction, plan: GemmPlan, signature: str) -> str:
    """Split-K's second launch: each element of C is its slices' partial sums added in slice
    order (deterministic, unlike atomics), then the epilogue."""
    total = plan.workspace(spec) // plan.splits
    epilogue = "\n".join(f"        {line}" for line in _epilogue(spec))
    out = (f"{spec.out_param}[gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + "
           f"m * {spec.out_row_stride} + n]")
    return f"""\
/* contraction: g={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}; the sum of {plan.splits} partial products and the epilogue */
{signature} {{
    const int64_t gemm_m = {spec.m}, gemm_n = {spec.n};
    for (int64_t flat = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; flat < {total}; flat += (int64_t)gridDim.x * blockDim.x) {{
        const int64_t n = flat % gemm_n, m = flat / gemm_n % gemm_m, g = flat / (gemm_n * gemm_m);
        const int64_t gb = g / {spec.groups}, gg = g % {spec.groups};
        (void)gb; (void)gg;
        float v = {WORKSPACE}[flat];
        #pragma unroll
        for (int s = 1; s < {plan.splits}; ++s) v += {WORKSPACE}[s * {total} + flat];
{epilogue}
        aotc_put(&{out}, v);
    }}
}}
"""


def functions(spec: Contraction, plan: GemmPlan, signature: str, reduce_signature: str, sms: int
              ) -> list[tuple[str, tuple[Expr, Expr, Expr], int]]:
    """(text, grid, threads) of each launch that computes `spec`: the GEMM, then for a split
    the reduction (256 threads, at most REDUCE_BLOCKS_PER_SM blocks per SM, grid-stride)."""
    out = [(render(spec, plan, signature), grid(spec, plan), plan.tiles.threads)]
    if plan.splits > 1:
        index = Var("i").dtype
        blocks = min(-(-plan.workspace(spec) // plan.splits // 256), sms * REDUCE_BLOCKS_PER_SM)
        one = Const(1, index)
        out.append((reduce_kernel(spec, plan, reduce_signature), (Const(blocks, index), one, one), 256))
    return out


def grid(spec: Contraction, plan: GemmPlan) -> tuple[Expr, Expr, Expr]:
    """Blocks in x (N tiles), y (M tiles, capped; the kernel strides) and z (batch x groups x
    k slices, capped)."""
    def dim(d):
        return Const(d, Var("i").dtype) if isinstance(d, int) else Var(d)
    index = Var("i").dtype
    tiles = plan.tiles
    m_tiles = Binary("div", Binary("add", dim(spec.m), Const(tiles.bm - 1, index)), Const(tiles.bm, index))
    groups = Binary("mul", dim(spec.batch), Const(spec.groups * plan.splits, index))
    cap = Const(MAX_GRID_YZ, index)
    return (Const(-(-spec.n // tiles.bn), index), Binary("min", m_tiles, cap), Binary("min", groups, cap))
