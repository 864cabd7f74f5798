"""The CUDA contraction template for float16/bfloat16 operands: tensor cores through `mma.sync`.

Each block computes a BM x BN tile of C for one (batch, group) with 4 or 8 warps; each warp owns
a (BM / WARPS_M) x (BN / WARPS_N) piece of it as m16n8 accumulator fragments in float32. Slices
of A and B BK = 32 deep move into a ring of 2 or 3 shared-memory stages (gemm_mma_operands.py:
`cp.async` where the operand allows, else gathered through registers), so the loads of slice
k + STAGES - 1 are in flight while slice k is multiplied; `ldmatrix` (`.trans` for an operand
stored mn-inner) reads the fragments and `mma.sync.aligned.m16n8k16.row.col.f32.<t>.<t>.f32`
multiplies them. The epilogue (gemm.py's, the same text as the CUDA-core template's) runs on
each accumulator, and C is stored in pairs where its strides keep them aligned.

Chosen at compile time (`choose`): both operands of one half type and k at least 16 (a
depthwise convolution's k of 9 would waste most of each mma). Everything else, float32
included, stays on the CUDA-core template, whose text is unchanged.

Rounding: the products of two half values are exact in float32 and the tensor core adds them
in float32, but not necessarily in k order, so results differ from the CUDA-core template's
in the last float32 bits; both are far inside the half types' own rounding.
"""
from __future__ import annotations

from dataclasses import dataclass

from compiler.ir.contraction import Contraction, Dense, Im2col, Im2colRows
from compiler.ir.dtypes import DType
from compiler.ir.loops import Binary, Const, Expr, Var
from compiler.target import Target
from backends.cuda.gemm import _epilogue as epilogue_lines
from backends.cuda.gemm_mma_operands import MmaLoader, a_loader, b_loader

BK = 32
MIN_K = 16
STATIC_SHARED = 48 * 1024
MAX_GRID_YZ = 65535
MMA_TYPES = {DType.float16: "f16", DType.bfloat16: "bf16"}
# Names every mma kernel uses from SUPPORT: the printer adds SUPPORT to model.cu when one is present.
MARK = "aotc_mma_"


@dataclass(frozen=True)
class MmaTiles:
    bm: int
    bn: int
    warps_m: int
    warps_n: int
    efficiency: float      # relative throughput of a saturated SM (larger tiles reuse more)

    @property
    def threads(self) -> int:
        return 32 * self.warps_m * self.warps_n

    @property
    def mi(self) -> int:
        """m16 fragments per warp."""
        return self.bm // self.warps_m // 16

    @property
    def ni(self) -> int:
        """n8 fragments per warp (even: ldmatrix.x4 reads two)."""
        return self.bn // self.warps_n // 8


# Largest first. The efficiencies are estimates (operand bytes per mma fall as the tile grows),
# not yet fitted to timings as gemm_tiles.py's are: examples/bench_gemm_mma.py measures them.
CANDIDATES = (
    MmaTiles(128, 128, 2, 4, 1.0),
    MmaTiles(128, 64, 4, 2, 0.85),
    MmaTiles(64, 128, 2, 4, 0.85),
    MmaTiles(64, 64, 2, 2, 0.7),
)


@dataclass(frozen=True)
class MmaPlan:
    tiles: MmaTiles
    mma_type: str          # "f16" | "bf16"
    gathered: bool = False  # an operand is gathered through registers (gemm_mma_operands.py)

    @property
    def min_blocks(self) -> int:
        """Blocks per SM to ask ptxas for (the launch bounds): a cp.async kernel fits in 128
        registers a thread; a gathering one needs up to 255, which ptxas would otherwise spill."""
        blocks = 2 if self.tiles.threads >= 256 else 4
        return blocks // 2 if self.gathered else blocks

    def stages(self, a: MmaLoader, b: MmaLoader) -> int:
        """3 where the ring fits static shared memory, else 2."""
        per_stage = 2 * (_elements(a.shape(self.tiles.bm, BK)) + _elements(b.shape(self.tiles.bn, BK)))
        return 3 if 3 * per_stage <= STATIC_SHARED else 2


def _elements(shape: tuple[int, int]) -> int:
    return shape[0] * shape[1]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def _cost(spec: Contraction, tiles: MmaTiles, sms: int) -> float:
    """Waves of blocks over the SMs, each as long as its tile's area at the tile's efficiency."""
    rows = spec.m if isinstance(spec.m, int) else 256
    batch = spec.batch if isinstance(spec.batch, int) else 1
    blocks = _ceil(rows, tiles.bm) * _ceil(spec.n, tiles.bn) * batch * spec.groups
    return _ceil(blocks, sms) * tiles.bm * tiles.bn / tiles.efficiency


def _has_mma(target: Target) -> bool:
    """m16n8k16 for f16 and bf16, ldmatrix and cp.async: sm_80 and later."""
    arch = target.name.partition(":sm_")[2]
    return target.kind == "cuda" and arch.isdigit() and int(arch) >= 80


def choose(spec: Contraction, dtypes: dict[str, DType], target: Target) -> MmaPlan | None:
    """The mma plan for `spec` (`dtypes`: the kernel's parameter types), or None where the
    CUDA-core template computes it."""
    a, b = dtypes.get(spec.a.param), dtypes.get(spec.b.param)
    if a not in MMA_TYPES or a != b or spec.k < MIN_K or not _has_mma(target):
        return None
    if not isinstance(spec.a, (Dense, Im2colRows)) or not isinstance(spec.b, (Dense, Im2col)):
        return None
    sms = target.limit("sms")
    costs = [_cost(spec, tiles, sms) for tiles in CANDIDATES]
    tiles = CANDIDATES[costs.index(min(costs))]
    loaders = (a_loader(spec, tiles.bm, BK, tiles.threads), b_loader(spec, tiles.bn, BK, tiles.threads))
    return MmaPlan(tiles, MMA_TYPES[a], any(not loader.kind.startswith("cp.async") for loader in loaders))


# Printed once in model.cu when any kernel uses the mma template.
SUPPORT = """\
/* Tensor-core GEMM helpers (sm_80+): cp.async staging, ldmatrix, mma.sync m16n8k16. */
template <int BYTES>
__device__ __forceinline__ void aotc_mma_cp_async(void* shared, const void* global, bool inside, const void* fallback) {
    const unsigned to = (unsigned)__cvta_generic_to_shared(shared);
    const void* from = inside ? global : fallback;
    const int size = inside ? BYTES : 0;   /* 0: nothing is read, the chunk is zero-filled */
    if (BYTES == 16)
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\\n" :: "r"(to), "l"(from), "r"(size));
    else
        asm volatile("cp.async.ca.shared.global [%0], [%1], %2, %3;\\n" :: "r"(to), "l"(from), "n"(BYTES), "r"(size));
}
__device__ __forceinline__ void aotc_mma_commit() { asm volatile("cp.async.commit_group;\\n" ::); }
template <int N>
__device__ __forceinline__ void aotc_mma_wait() { asm volatile("cp.async.wait_group %0;\\n" :: "n"(N)); }
__device__ __forceinline__ void aotc_mma_ldmatrix(unsigned* r, const void* shared) {
    const unsigned at = (unsigned)__cvta_generic_to_shared(shared);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(at));
}
__device__ __forceinline__ void aotc_mma_ldmatrix_trans(unsigned* r, const void* shared) {
    const unsigned at = (unsigned)__cvta_generic_to_shared(shared);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\\n"
                 : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3]) : "r"(at));
}
__device__ __forceinline__ void aotc_mma_f16(float* c, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
__device__ __forceinline__ void aotc_mma_bf16(float* c, const unsigned* a, const unsigned* b) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
                 "{%0, %1, %2, %3};\\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/* Two consecutive elements of C (callers keep the pair aligned). */
__device__ __forceinline__ void aotc_mma_put2(float* p, float x, float y) { *(float2*)p = make_float2(x, y); }
__device__ __forceinline__ void aotc_mma_put2(__half* p, float x, float y) { *(__half2*)p = __floats2half2_rn(x, y); }
__device__ __forceinline__ void aotc_mma_put2(__nv_bfloat16* p, float x, float y) {
    *(__nv_bfloat162*)p = __floats2bfloat162_rn(x, y);
}
/* Raw bits of element (m = (oy, ox), k = (ky, kx, ci)) of a channels-last convolution's window rows. */
__device__ __forceinline__ uint16_t aotc_window_rows_bits(const uint16_t* image, int64_t m, int64_t k, int64_t cg,
        int kw, int64_t out_width, int sh, int sw, int ph, int pw, int dh, int dw, int64_t height, int64_t width,
        int64_t channels) {
    const int64_t tap = k / cg, ci = k % cg, ky = tap / kw, kx = tap % kw;
    const int64_t iy = (m / out_width) * sh - ph + ky * dh, ix = (m % out_width) * sw - pw + kx * dw;
    if (iy < 0 || iy >= height || ix < 0 || ix >= width) return 0;
    return image[(iy * width + ix) * channels + ci];
}
"""


def _dim(d: "int | str") -> str:
    return str(d) if isinstance(d, int) else d


def _fragment_loads(name: str, loader: MmaLoader, count: int, warp_offset: str) -> list[str]:
    """ldmatrix.x4 reads of `count` x4 groups for this warp at k offset `kk`. A's group i is
    one m16 x k16 fragment; B's is two n8 x k16 fragments (n 0-7 and 8-15 of 16 columns).
    Lane l addresses row l % 8 of matrix l / 8."""
    if name == "a":   # matrices: (m 0-7, k 0-7), (m 8-15, k 0-7), (m 0-7, k 8-15), (m 8-15, k 8-15)
        mn, k = "(lane % 16)", "(lane / 16) * 8"
        mn_t, k_t = "(lane / 8 % 2) * 8", "(lane / 16) * 8 + lane % 8"
    else:             # matrices: (n 0-7, k 0-7), (n 0-7, k 8-15), (n 8-15, k 0-7), (n 8-15, k 8-15)
        mn, k = "(lane / 16) * 8 + lane % 8", "(lane / 8 % 2) * 8"
        mn_t, k_t = "(lane / 16) * 8", "(lane / 8 % 2) * 8 + lane % 8"
    frag = f"{name}_frag[i]" if name == "a" else f"{name}_frag[2 * i]"
    if loader.k_inner:
        at = f"&{name}_shared[stage][{warp_offset} + i * 16 + {mn}][kk + {k}]"
        call = f"aotc_mma_ldmatrix({frag}, {at});"
    else:
        at = f"&{name}_shared[stage][kk + {k_t}][{warp_offset} + i * 16 + {mn_t}]"
        call = f"aotc_mma_ldmatrix_trans({frag}, {at});"
    return ["#pragma unroll", f"for (int i = 0; i < {count}; ++i) {call}"]


def _store(spec: Contraction, tiles: MmaTiles) -> list[str]:
    """Each accumulator through the epilogue into C: fragment (i, j)'s elements h = 0..3 sit at
    row group + (h / 2) * 8, column 2 * (lane % 4) + h % 2."""
    pairs = (spec.n % 2 == 0 and spec.out_row_stride % 2 == 0 and spec.out_batch_stride % 2 == 0
             and spec.out_group_stride % 2 == 0)
    out = f"{spec.out_param} + gb * (int64_t){spec.out_batch_stride} + gg * (int64_t){spec.out_group_stride} + m * (int64_t){spec.out_row_stride}"
    epilogue = [f"        {line}" for line in epilogue_lines(spec)]
    lines = ["#pragma unroll",
             f"for (int i = 0; i < {tiles.mi}; ++i)",
             "    #pragma unroll",
             "    for (int row8 = 0; row8 < 2; ++row8) {",
             f"        const int64_t m = m0 + warp_m * {tiles.bm // tiles.warps_m} + i * 16 + row8 * 8 + lane / 4;",
             "        if (m >= gemm_m) continue;",
             "        #pragma unroll",
             f"        for (int j = 0; j < {tiles.ni}; ++j) {{",
             f"            const int64_t n2 = n0 + warp_n * {tiles.bn // tiles.warps_n} + j * 8 + (lane % 4) * 2;",
             "            float v2[2] = {0.0f, 0.0f};",
             "            #pragma unroll",
             "            for (int e = 0; e < 2; ++e) {",
             "                const int64_t n = n2 + e;",
             "                if (n >= gemm_n) break;",
             "                float v = acc[i][j][row8 * 2 + e];",
             *[f"        {line}" for line in epilogue],
             "                v2[e] = v;",
             "            }"]
    if pairs:
        lines.append(f"            if (n2 < gemm_n) aotc_mma_put2({out} + n2, v2[0], v2[1]);")
    else:
        lines += [f"            if (n2 < gemm_n) aotc_put({out} + n2, v2[0]);",
                  f"            if (n2 + 1 < gemm_n) aotc_put({out} + n2 + 1, v2[1]);"]
    return lines + ["        }", "    }"]


def render(spec: Contraction, plan: MmaPlan, signature: str) -> str:
    tiles = plan.tiles
    a, b = a_loader(spec, tiles.bm, BK, tiles.threads), b_loader(spec, tiles.bn, BK, tiles.threads)
    stages = plan.stages(a, b)
    a_rows, a_cols = a.shape(tiles.bm, BK)
    b_rows, b_cols = b.shape(tiles.bn, BK)
    g = f"((int64_t){_dim(spec.batch)} * {spec.groups})"

    def block(lines, depth):
        return "\n".join("    " * depth + line for line in lines)

    load = ["{", *[f"    {line}" for line in a.issue + b.issue], "}"]
    return f"""\
/* contraction: g={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}; tensor cores (mma.sync m16n8k16 {plan.mma_type}),
   {tiles.bm}x{tiles.bn}x{BK} tiles, {tiles.warps_m}x{tiles.warps_n} warps, {stages} shared stages; A {a.kind}, B {b.kind} */
{signature} {{
    __shared__ __align__(16) uint16_t a_shared[{stages}][{a_rows}][{a_cols}];
    __shared__ __align__(16) uint16_t b_shared[{stages}][{b_rows}][{b_cols}];
    const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
    const int warp_m = warp / {tiles.warps_n}, warp_n = warp % {tiles.warps_n};
    const int64_t gemm_m = {_dim(spec.m)};
    const int64_t gemm_n = {spec.n};
    const int gemm_k = {spec.k};
    const int k_tiles = (gemm_k + {BK - 1}) / {BK};
    for (int64_t g = blockIdx.z; g < {g}; g += gridDim.z) {{
        const int64_t gb = g / {spec.groups}, gg = g % {spec.groups};
        (void)gb; (void)gg;
        for (int64_t m0 = (int64_t)blockIdx.y * {tiles.bm}; m0 < gemm_m; m0 += (int64_t)gridDim.y * {tiles.bm}) {{
            const int64_t n0 = (int64_t)blockIdx.x * {tiles.bn};
{block(a.declare + b.declare, 3)}
            float acc[{tiles.mi}][{tiles.ni}][4];
            #pragma unroll
            for (int i = 0; i < {tiles.mi}; ++i)
                #pragma unroll
                for (int j = 0; j < {tiles.ni}; ++j)
                    #pragma unroll
                    for (int h = 0; h < 4; ++h) acc[i][j][h] = 0.0f;
            /* The first {stages - 1} slices in flight. */
            #pragma unroll
            for (int stage = 0; stage < {stages - 1}; ++stage) {{
                if (stage < k_tiles) {{
                    const int k_next = stage * {BK};
{block(load + list(a.store + b.store), 5)}
                }}
                aotc_mma_commit();
            }}
            for (int kt = 0; kt < k_tiles; ++kt) {{
                aotc_mma_wait<{stages - 2}>();
                __syncthreads();
                /* Slice kt is in shared memory and every warp is done with slice kt - 1, whose
                   stage now takes slice kt + {stages - 1}. */
                const bool prefetch = kt + {stages - 1} < k_tiles;
                if (prefetch) {{
                    const int stage = (kt + {stages - 1}) % {stages}, k_next = (kt + {stages - 1}) * {BK};
                    (void)stage;
{block(load, 5)}
                }}
                aotc_mma_commit();
                {{
                    const int stage = kt % {stages};
                    #pragma unroll
                    for (int kk = 0; kk < {BK}; kk += 16) {{
                        unsigned a_frag[{tiles.mi}][4], b_frag[{tiles.ni}][2];
{block(_fragment_loads("a", a, tiles.mi, f"warp_m * {tiles.bm // tiles.warps_m}"), 6)}
{block(_fragment_loads("b", b, tiles.ni // 2, f"warp_n * {tiles.bn // tiles.warps_n}"), 6)}
                        #pragma unroll
                        for (int i = 0; i < {tiles.mi}; ++i)
                            #pragma unroll
                            for (int j = 0; j < {tiles.ni}; ++j) aotc_mma_{plan.mma_type}(acc[i][j], a_frag[i], b_frag[j]);
                    }}
                }}
                if (prefetch) {{
                    const int stage = (kt + {stages - 1}) % {stages};
                    (void)stage;
{block(list(a.store + b.store), 5)}
                }}
            }}
            aotc_mma_wait<0>();
            __syncthreads();   /* the next tile's first slices overwrite the stages */
{block(_store(spec, tiles), 3)}
        }}
    }}
}}
"""


def grid(spec: Contraction, plan: MmaPlan) -> tuple[Expr, Expr, Expr]:
    """Blocks in x (N tiles), y (M tiles, capped; the kernel strides) and z (batch x groups, capped)."""
    index = Var("i").dtype

    def dim(d):
        return Const(d, index) if isinstance(d, int) else Var(d)
    tiles = plan.tiles
    m_tiles = Binary("div", Binary("add", dim(spec.m), Const(tiles.bm - 1, index)), Const(tiles.bm, index))
    groups = Binary("mul", dim(spec.batch), Const(spec.groups, index))
    cap = Const(MAX_GRID_YZ, index)
    return (Const(-(-spec.n // tiles.bn), index), Binary("min", m_tiles, cap), Binary("min", groups, cap))
