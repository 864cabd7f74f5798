"""Split-K for WebGPU contractions with few output tiles and a long k: S partial GEMMs, each
over K/S of k, then one reduce pass that sums them and applies the epilogue.

A big GPU idles on such a contraction: ResNet-18's layer4 3x3 convolutions (M = 512, N = 49,
K = 4,608) ran as 32 workgroups walking 4,608 k each, 0.54 ms apiece on an H100 — 40% of the
model. The partial GEMM needs no template of its own: over a k range it is the same
contraction with S groups, each group reading its slice of k (a Dense operand's group stride,
a convolution's channel slice, as a grouped convolution reads its channels) and writing its
own M x N plane of a scratch region in the arena, with no epilogue; either GEMM template (and
every variant of the kernel) prints it. The reduce pass (`reduce_main`) sums the S planes per
element, applies alpha and the epilogue, and stores C. The scratch region is an arena item of
its own (plan.py), so nothing else lives there while the two dispatches run.
"""
from __future__ import annotations

from dataclasses import replace

from compiler.ir.contraction import Contraction, Dense, Im2col, Im2colRows
from compiler.ir.dtypes import DType
from compiler.ir.loops import INDEX, Const, Expr
from backends.webgpu.gemm_operands import epilogue_lines
from backends.webgpu.printer import WgslPrinter

SCRATCH_PARAM = "aotc_scratch"
SCRATCH_FIELD = "pscratch"
# Workgroups a contraction should offer before splitting stops (a large GPU has ~100+ SMs),
# counted in 64 x 64 output tiles; each split keeps at least MIN_K of k; at most MAX_SPLIT.
TARGET_TILES = 128
MIN_K = 256
MAX_SPLIT = 16
THREADS = 256
MAX_WORKGROUPS = 65535


def _slice(operand, which: str, parts: int, k_part: int):
    """The operand read as `parts` groups over consecutive k slices, or None if it can't be."""
    if isinstance(operand, Dense):
        step = operand.col_stride if which == "a" else operand.row_stride
        return replace(operand, group_stride=k_part * step)
    if isinstance(operand, Im2col) and operand.channels % parts == 0:
        channels = operand.channels // parts
        return replace(operand, channels=channels, channel_offset_per_group=channels)
    # Channels-last windows order k as (ky, kx, ci): a channel slice is a k slice only for a
    # 1x1 kernel (else the weight rows of a slice are not consecutive).
    if (isinstance(operand, Im2colRows) and operand.kernel == (1, 1)
            and operand.channels_per_group % parts == 0):
        return replace(operand, channels_per_group=operand.channels_per_group // parts)
    return None


def split_factor(spec: Contraction) -> int:
    """S for this contraction (1: no split): doubled while the output offers fewer than
    TARGET_TILES 64 x 64 tiles and every slice keeps MIN_K of k, for a static, ungrouped,
    unbatched contraction whose operands slice along k (S divides K and their channels)."""
    if not (spec.batch == 1 and spec.groups == 1 and isinstance(spec.m, int)):
        return 1
    tiles = -(-spec.m // 64) * -(-spec.n // 64)
    split = 1
    while (tiles * split < TARGET_TILES and split * 2 <= MAX_SPLIT and spec.k % (split * 2) == 0
           and spec.k // (split * 2) >= MIN_K and split_spec(spec, split * 2) is not None):
        split *= 2
    return split


def split_spec(spec: Contraction, parts: int) -> Contraction | None:
    """The partial GEMM: `parts` groups over K/parts each, C planes in the scratch region."""
    k_part = spec.k // parts
    a, b = _slice(spec.a, "a", parts, k_part), _slice(spec.b, "b", parts, k_part)
    if a is None or b is None:
        return None
    plane = spec.m * spec.n
    return replace(spec, groups=parts, k=k_part, a=a, b=b, out_param=SCRATCH_PARAM, out_row_stride=spec.n,
                   out_group_stride=plane, out_batch_stride=parts * plane, alpha=1.0, epilogue=())


def scratch_bytes(spec: Contraction, parts: int) -> int:
    return parts * spec.m * spec.n * 4


def reduce_main(spec: Contraction, printer: WgslPrinter, parts: int) -> tuple[str, tuple[Expr, Expr, Expr]]:
    """The reduce pass: C[m, n] = epilogue(alpha * sum_s scratch[s, m, n]), grid-stride."""
    plane = spec.m * spec.n
    scratch = printer.load(SCRATCH_PARAM, f"s * {plane} + e", DType.float32)
    lines = epilogue_lines(spec, printer)      # alpha first, then the epilogue ops
    out_index = f"m * {spec.out_row_stride} + n"
    store = printer.store(spec.out_param, out_index, "v", DType.float32, " " * 8)
    pad = "\n".join(" " * 8 + line for line in lines)
    text = f"""\
// split-K reduce: {parts} partial planes of m={spec.m} n={spec.n}
@compute @workgroup_size({THREADS})
fn main(@builtin(global_invocation_id) aotc_gid: vec3<u32>, @builtin(num_workgroups) aotc_groups: vec3<u32>) {{
    let gb = 0;
    let gg = 0;
    for (var e: i32 = i32(aotc_gid.x); e < {plane}; e += i32(aotc_groups.x) * {THREADS}) {{
        let m = e / {spec.n};
        let n = e % {spec.n};
        var v: f32 = 0.0f;
        for (var s: i32 = 0; s < {parts}; s++) {{
            v = v + {scratch};
        }}
{pad}
{chr(10).join(store)}
    }}
}}
"""
    groups = min(-(-plane // THREADS), MAX_WORKGROUPS)
    one = Const(1, INDEX)
    return text, (Const(groups, INDEX), one, one)


__all__ = ["SCRATCH_FIELD", "SCRATCH_PARAM", "reduce_main", "scratch_bytes", "split_factor", "split_spec"]
