"""The CUDA Attention template: FlashAttention-2's schedule in fp32 FMA.

One block per (tile of BQ queries, batch x head); it walks the keys in tiles of BK. Each key
tile's K and V are staged in shared memory; the block computes the BQ x BK scores from shared
memory, each thread a TM x 4 patch in registers; the running row maximum and sum (fp32, the
online softmax) rescale the output accumulators, which stay in registers (each thread TM rows
x WIDTH/TXC columns); the probabilities go through shared memory to become the left operand of
P @ V. The S x T score matrix never reaches device memory, and K/V are read once per query
tile instead of once per query. Causal blocks stop at their last visible key tile, and the
heaviest query tiles are launched first. Operands are strided views (compiler/ir/
attention_spec.py), so the exporters' head-split layouts are read and written in place.

FMA only: no tensor cores, so no TF32 rounding. Shapes the template cannot hold in 48 KiB of
static shared memory return None from choose_tiles, and the loop-nest lowering prints instead.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from compiler.ir.attention_spec import AttentionSpec, StridedView
from backends.contraction_text import float_literal

THREADS = 128
SHARED_FLOATS = 48 * 1024 // 4          # static shared memory per block
ROW_PAD = 4                             # floats: keeps rows float4-aligned, staggers banks
# Resident blocks ptxas must leave room for (a register cap of 128 per thread).
MIN_BLOCKS_PER_SM = 4


@dataclass(frozen=True)
class AttentionTiles:
    bq: int         # queries per block
    bk: int         # keys per shared-memory tile

    @property
    def txc(self) -> int:
        """Threads sharing one query row (4 keys each); they are adjacent lanes of one warp,
        so the row's maximum and sum reduce with shuffles."""
        return self.bk // 4

    @property
    def tm(self) -> int:
        return self.bq // (THREADS // self.txc)

    def depth(self, spec: AttentionSpec) -> int:
        """q.k depth padded (with zeros) to whole float4s."""
        return -(-spec.depth // 4) * 4

    def width(self, spec: AttentionSpec) -> int:
        """Value width padded to whole 4-column groups of every thread of a row."""
        return -(-spec.width // (4 * self.txc)) * 4 * self.txc

    def shared_floats(self, spec: AttentionSpec) -> int:
        d, w = self.depth(spec), self.width(spec)
        return d * (self.bq + ROW_PAD) + d * (self.bk + ROW_PAD) + self.bk * (w + ROW_PAD) + self.bk * (self.bq + ROW_PAD)

    def blocks(self, spec: AttentionSpec) -> int:
        return math.prod(spec.batch) * -(-spec.rows // self.bq)


def tiles_problem(spec: AttentionSpec, tiles: AttentionTiles) -> str | None:
    """Why the template cannot run `tiles` for `spec`, or None when it can: a row's threads
    are a power-of-two group of lanes of one warp (4 keys each), every thread holds 1, 2 or 4
    rows, and the four tiles fit static shared memory."""
    txc = tiles.bk // 4
    if tiles.bk % 4 or txc > 32 or txc & (txc - 1) or THREADS % txc:
        return f"{tiles.bk}-key tiles: BKV must be 4 x a power of two, at most 128"
    if tiles.bq % (THREADS // txc) or tiles.tm not in (1, 2, 4):
        return f"{tiles.bq}-query tiles of {tiles.bk} keys give threads {tiles.bq * txc / THREADS:g} rows (1, 2 or 4)"
    if tiles.shared_floats(spec) > SHARED_FLOATS:
        return f"{tiles.shared_floats(spec) * 4} bytes of shared memory (at most {SHARED_FLOATS * 4})"
    return None


# Largest first. 64-query blocks reuse each K/V tile twice as often; 32-query blocks give
# small batches enough blocks; 16-key tiles leave room for head dims up to ~128.
CANDIDATES = (AttentionTiles(64, 32), AttentionTiles(32, 32), AttentionTiles(32, 16))
# A 64-query tiling needs this many blocks per SM to keep the SMs evenly busy.
BLOCKS_PER_SM_FOR_LARGE = 4


# What the tuner may try besides: every tiling tiles_problem accepts for some head size.
TUNABLE = CANDIDATES + (AttentionTiles(64, 16), AttentionTiles(128, 16), AttentionTiles(16, 32),
                        AttentionTiles(32, 64), AttentionTiles(16, 64), AttentionTiles(64, 8))


def choose_tiles(spec: AttentionSpec, sms: int) -> AttentionTiles | None:
    fitting = [t for t in CANDIDATES if t.shared_floats(spec) <= SHARED_FLOATS]
    if not fitting:
        return None
    for tiles in fitting[:-1]:
        if tiles.bq == 32 or tiles.blocks(spec) >= BLOCKS_PER_SM_FOR_LARGE * sms:
            return tiles
    return fitting[-1]


def _vector(view: StridedView, cols: int) -> bool:
    """float4 accesses along the columns: contiguous, and every row starts 16-byte aligned."""
    return (view.col_stride == 1 and cols % 4 == 0 and view.row_stride % 4 == 0
            and all(s % 4 == 0 for s in view.batch))


def _read4(view: StridedView, ptr: str, row: str, col: str, rows: int, cols: int) -> list[str]:
    """x = elements (row, col..col+3) of the view, zero outside it."""
    lines = ["float4 x = make_float4(0.0f, 0.0f, 0.0f, 0.0f);", f"if ({row} < {rows}) {{"]
    if _vector(view, cols):
        lines.append(f"    x = *(const float4*)({ptr} + {row} * {view.row_stride} + {col});")
    else:
        lines.append(f"    const float* src = {ptr} + {row} * {view.row_stride};")
        lines += [f"    if ({col} + {u} < {cols}) x.{f} = src[({col} + {u}) * {view.col_stride}];"
                  for u, f in enumerate("xyzw")]
    return lines + ["}"]


def _load_transposed(view: StridedView, ptr: str, tile: str, count: int, first: str, rows: int,
                     cols: int, padded: int) -> list[str]:
    """tile[c][r] = view(first + r, c) for r < count, c < padded: consecutive threads take
    consecutive rows, so the shared-memory stores of a warp hit distinct banks."""
    return [f"for (int idx = threadIdx.x; idx < {count * padded // 4}; idx += {THREADS}) {{",
            f"    const int r = idx % {count}, c = idx / {count} * 4;",
            f"    const int64_t row = {first} + r;",
            *("    " + line for line in _read4(view, ptr, "row", "c", rows, cols)),
            f"    {tile}[c][r] = x.x; {tile}[c + 1][r] = x.y; {tile}[c + 2][r] = x.z; {tile}[c + 3][r] = x.w;",
            "}"]


def _load_rows(view: StridedView, ptr: str, tile: str, count: int, first: str, rows: int, cols: int,
               padded: int) -> list[str]:
    """tile[r][c] = view(first + r, c): consecutive threads take consecutive columns."""
    return [f"for (int idx = threadIdx.x; idx < {count * padded // 4}; idx += {THREADS}) {{",
            f"    const int c = idx % {padded // 4} * 4, r = idx / {padded // 4};",
            f"    const int64_t row = {first} + r;",
            *("    " + line for line in _read4(view, ptr, "row", "c", rows, cols)),
            f"    *(float4*)&{tile}[r][c] = x;",
            "}"]


def _batch_offsets(spec: AttentionSpec) -> list[str]:
    """Each operand's pointer at this block's batch index `bh` (batch axes, last fastest)."""
    lines = ["int64_t rest = bh;"]
    names = []
    for axis in reversed(range(len(spec.batch))):
        lines.append(f"const int64_t b{axis} = rest % {spec.batch[axis]}; rest /= {spec.batch[axis]};")
        names.append(f"b{axis}")
    lines.append("(void)rest;")
    views = [("q", spec.q, "const float*"), ("k", spec.k, "const float*"), ("v", spec.v, "const float*"),
             ("o", spec.out, "float*")] + ([("mask", spec.mask, "const float*")] if spec.mask else [])
    for name, view, ctype in views:
        offset = " + ".join(f"b{a} * {s}" for a, s in enumerate(view.batch) if s) or "0"
        lines.append(f"{ctype} {name}_b = {view.param} + ({offset});")
    return lines


def _indent(lines: list[str], depth: int) -> str:
    return "\n".join("    " * depth + line for line in lines)


def render(spec: AttentionSpec, tiles: AttentionTiles, signature: str) -> str:
    """The kernel text; `signature` is the printer's (name, parameters)."""
    bq, bk, tm, txc = tiles.bq, tiles.bk, tiles.tm, tiles.txc
    dp, wp = tiles.depth(spec), tiles.width(spec)
    groups = wp // (4 * txc)            # 4-column groups of the output per thread
    n_tiles = -(-spec.rows // bq)
    batch = math.prod(spec.batch)
    key_end = f"min((int64_t){spec.keys}, r0 + {bq})" if spec.causal else f"{spec.keys}"
    mask = spec.mask
    mask_add = ([f"if (r < {spec.rows} && j < {spec.keys}) x += mask_b[r * {mask.row_stride} + j * {mask.col_stride}];"]
                if mask else [])
    hidden = f"j >= {spec.keys}" + (" || j > r" if spec.causal else "")
    q_read = ({4: "const float4 t = *(const float4*)&{0}; const float a[4] = {{t.x, t.y, t.z, t.w}};",
               2: "const float2 t = *(const float2*)&{0}; const float a[2] = {{t.x, t.y}};",
               1: "const float a[1] = {{{0}}};"})[tm]
    out, o_vector = spec.out, _vector(spec.out, spec.width)
    if o_vector:
        store = [f"if (e < {spec.width}) *(float4*)(o_b + r * {out.row_stride} + e) = "
                 "make_float4(y[0], y[1], y[2], y[3]);"]
    else:
        store = [f"for (int c = 0; c < 4; ++c) if (e + c < {spec.width}) o_b[r * {out.row_stride} + (e + c) * {out.col_stride}] = y[c];"]
    finish = "row_sum[i] > 0.0f ? acc[i][g * 4 + c] / row_sum[i] : 0.0f" if spec.zero_nan_rows else "acc[i][g * 4 + c] / row_sum[i]"
    return f"""\
/* attention: batch={spec.batch} rows={spec.rows} keys={spec.keys} depth={spec.depth} width={spec.width}{' causal' if spec.causal else ''}{' masked' if mask else ''};
   {bq}x{bk} tiles, {THREADS} threads of {tm}x4 scores and {tm}x{groups * 4} outputs, online softmax */
{signature} {{
    __shared__ __align__(16) float q_tile[{dp}][{bq + ROW_PAD}];
    __shared__ __align__(16) float k_tile[{dp}][{bk + ROW_PAD}];
    __shared__ __align__(16) float v_tile[{bk}][{wp + ROW_PAD}];
    __shared__ __align__(16) float p_tile[{bk}][{bq + ROW_PAD}];
    const int tx = threadIdx.x % {txc}, ty = threadIdx.x / {txc};
    /* Query tiles in reverse: under a causal mask the last tiles do the most work. */
    const int64_t bh = blockIdx.x % {batch};
    const int64_t r0 = (int64_t)({n_tiles - 1} - (int)(blockIdx.x / {batch})) * {bq};
{_indent(_batch_offsets(spec), 1)}
{_indent(_load_transposed(spec.q, "q_b", "q_tile", bq, "r0", spec.rows, spec.depth, dp), 1)}
    float acc[{tm}][{groups * 4}], row_max[{tm}], row_sum[{tm}];
    #pragma unroll
    for (int i = 0; i < {tm}; ++i) {{
        row_max[i] = -INFINITY;
        row_sum[i] = 0.0f;
        #pragma unroll
        for (int w = 0; w < {groups * 4}; ++w) acc[i][w] = 0.0f;
    }}
    const int64_t key_end = {key_end};
    for (int64_t j0 = 0; j0 < key_end; j0 += {bk}) {{
        __syncthreads();    /* the previous tile's K, V and P are consumed */
{_indent(_load_transposed(spec.k, "k_b", "k_tile", bk, "j0", spec.keys, spec.depth, dp), 2)}
{_indent(_load_rows(spec.v, "v_b", "v_tile", bk, "j0", spec.keys, spec.width, wp), 2)}
        __syncthreads();
        float s[{tm}][4];
        #pragma unroll
        for (int i = 0; i < {tm}; ++i) s[i][0] = s[i][1] = s[i][2] = s[i][3] = 0.0f;
        #pragma unroll 8
        for (int d = 0; d < {dp}; ++d) {{
            {q_read.format(f"q_tile[d][ty * {tm}]")}
            const float4 b = *(const float4*)&k_tile[d][tx * 4];
            #pragma unroll
            for (int i = 0; i < {tm}; ++i) {{
                s[i][0] = fmaf(a[i], b.x, s[i][0]); s[i][1] = fmaf(a[i], b.y, s[i][1]);
                s[i][2] = fmaf(a[i], b.z, s[i][2]); s[i][3] = fmaf(a[i], b.w, s[i][3]);
            }}
        }}
        #pragma unroll
        for (int i = 0; i < {tm}; ++i) {{
            const int64_t r = r0 + ty * {tm} + i;
            float tile_max = -INFINITY;
            #pragma unroll
            for (int c = 0; c < 4; ++c) {{
                const int64_t j = j0 + tx * 4 + c;
                float x = s[i][c] * {float_literal(spec.scale)};
{_indent(mask_add, 4)}
                if ({hidden}) x = -INFINITY;
                s[i][c] = x;
                tile_max = fmaxf(tile_max, x);
            }}
            #pragma unroll
            for (int lane = 1; lane < {txc}; lane <<= 1) tile_max = fmaxf(tile_max, __shfl_xor_sync(0xffffffffu, tile_max, lane));
            const float m_new = fmaxf(row_max[i], tile_max);
            /* A row that has seen only masked keys keeps exp() away from -inf - -inf. */
            const float m_use = m_new == -INFINITY ? 0.0f : m_new;
            const float correction = expf(row_max[i] - m_use);
            row_max[i] = m_new;
            row_sum[i] *= correction;
            #pragma unroll
            for (int w = 0; w < {groups * 4}; ++w) acc[i][w] *= correction;
            #pragma unroll
            for (int c = 0; c < 4; ++c) {{
                const float p = expf(s[i][c] - m_use);
                row_sum[i] += p;
                p_tile[tx * 4 + c][ty * {tm} + i] = p;
            }}
        }}
        __syncthreads();
        #pragma unroll 4
        for (int j = 0; j < {bk}; ++j) {{
            {q_read.format(f"p_tile[j][ty * {tm}]")}
            #pragma unroll
            for (int g = 0; g < {groups}; ++g) {{
                const float4 b = *(const float4*)&v_tile[j][g * {4 * txc} + tx * 4];
                #pragma unroll
                for (int i = 0; i < {tm}; ++i) {{
                    acc[i][g * 4] = fmaf(a[i], b.x, acc[i][g * 4]); acc[i][g * 4 + 1] = fmaf(a[i], b.y, acc[i][g * 4 + 1]);
                    acc[i][g * 4 + 2] = fmaf(a[i], b.z, acc[i][g * 4 + 2]); acc[i][g * 4 + 3] = fmaf(a[i], b.w, acc[i][g * 4 + 3]);
                }}
            }}
        }}
    }}
    /* Each thread summed its own columns' probabilities; the row's sum is theirs together. */
    #pragma unroll
    for (int i = 0; i < {tm}; ++i)
        #pragma unroll
        for (int lane = 1; lane < {txc}; lane <<= 1) row_sum[i] += __shfl_xor_sync(0xffffffffu, row_sum[i], lane);
    #pragma unroll
    for (int i = 0; i < {tm}; ++i) {{
        const int64_t r = r0 + ty * {tm} + i;
        if (r >= {spec.rows}) continue;
        #pragma unroll
        for (int g = 0; g < {groups}; ++g) {{
            const int e = g * {4 * txc} + tx * 4;
            float y[4];
            #pragma unroll
            for (int c = 0; c < 4; ++c) y[c] = {finish};
{_indent(store, 3)}
        }}
    }}
}}
"""

