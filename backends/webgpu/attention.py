"""The WebGPU Attention template: a workgroup per tile of query rows, the row of scores in
workgroup memory, the softmax by tree reductions, P @ V with coalesced reads of V.

One workgroup of THREADS invocations takes BQ query rows of one batch index (batch, heads):
the q rows are staged in workgroup memory; invocation `tid` computes the scores of keys
tid, tid + THREADS, ... for all BQ rows (each K element it reads serves BQ queries), scaled,
plus the mask, causal keys -inf, into the BQ x keys score tile; each row's max and then its sum
of exponentials reduce through a tree in workgroup memory; then invocation `tid` owns output
columns tid, tid + THREADS, ... and sums p_j * v[j, e] over the keys (neighbouring invocations
read neighbouring elements of a V row), dividing by the row's sum at its one write. The output
never takes a read-modify-write in global memory (the loop nest's form).

Everything stays within the WebGPU spec-default limits (64 invocations, at most 16 KiB of
workgroup storage); shapes whose tile does not fit (too many keys or too deep), or whose value
width needs more than MAX_COLUMNS accumulators per invocation and row, return None and print as
the loop nest. Operands are strided views (compiler/ir/attention_spec.py), so the exporters'
head-split layouts are read and written in place. Barriers sit only where control flow depends
on workgroup ids and constants (uniform control flow, which Tint and naga check).
"""
from __future__ import annotations

import math

from compiler.ir.attention_spec import AttentionSpec
from compiler.ir.dtypes import DType
from compiler.ir.loops import INDEX, Const, Expr
from compiler.target import Target
from backends.webgpu.printer import WgslPrinter

THREADS = 64
# Query rows per workgroup, largest first: more rows reuse each K and V read more often,
# fewer give small problems more workgroups.
TILE_ROWS = (4, 2, 1)
# Workgroups a tiling should leave for the GPU to spread (else the next smaller tiling).
MIN_WORKGROUPS = 256
# Output columns per invocation and row, each an accumulator register (value width <= 256).
MAX_COLUMNS = 4
MAX_WORKGROUPS = 65535
MARK = "// aotc webgpu attention template"
NEG_INF_BITS = "0xff800000u"


def storage_floats(spec: AttentionSpec, bq: int) -> int:
    """Workgroup memory of a BQ-row tile: the q rows, the score rows, the reduction rows."""
    return bq * (spec.depth + spec.keys + THREADS)


def tile_rows(spec: AttentionSpec, target: Target) -> int | None:
    """Query rows per workgroup for `spec`, or None where the template cannot hold it."""
    batch = math.prod(spec.batch)
    if min(batch, spec.rows, spec.keys, spec.depth, spec.width) <= 0:
        return None
    if THREADS > target.limit("invocations_per_workgroup") or -(-spec.width // THREADS) > MAX_COLUMNS:
        return None
    floats = target.limit("workgroup_storage") // 4
    fitting = [bq for bq in TILE_ROWS if storage_floats(spec, bq) <= floats]
    if not fitting:
        return None
    for bq in fitting:
        if batch * -(-spec.rows // bq) >= MIN_WORKGROUPS:
            return bq
    return fitting[-1]


def _index(base: str, *terms: tuple[str, int]) -> str:
    """base + sum(var * stride) as i32 text, zero strides dropped."""
    parts = [base] + [var if stride == 1 else f"{var} * {stride}i" for var, stride in terms if stride]
    return " + ".join(parts)


def _batch_offsets(spec: AttentionSpec) -> list[str]:
    """Each view's element offset at batch index `bh` (batch axes, last fastest)."""
    lines = ["var rest: i32 = bh;"]
    for axis in reversed(range(len(spec.batch))):
        lines.append(f"let b{axis} = rest % {spec.batch[axis]}i; rest = rest / {spec.batch[axis]}i;")
    views = [("q_o", spec.q), ("k_o", spec.k), ("v_o", spec.v), ("o_o", spec.out)]
    views += [("m_o", spec.mask)] if spec.mask is not None else []
    for name, view in views:
        offset = _index("0i", *((f"b{a}", s) for a, s in enumerate(view.batch)))
        lines.append(f"let {name}: i32 = {offset};")
    return lines


def _tree(bq: int, combine: str) -> list[str]:
    """aotc_red[r * THREADS] = combine over aotc_red[r * THREADS + 0 .. THREADS), every row;
    each step's barrier outside its branch."""
    lines = ["workgroupBarrier();"]
    step = THREADS // 2
    while step:
        lines.append(f"if (tid < {step}) {{")
        for r in range(bq):
            cell = f"aotc_red[{r * THREADS} + tid]"
            lines.append(f"    {cell} = {combine.format(cell, f'aotc_red[{r * THREADS + step} + tid]')};")
        lines += ["}", "workgroupBarrier();"]
        step //= 2
    return lines


def _indent(lines: list[str], depth: int) -> str:
    return "\n".join("    " * depth + line for line in lines)


def _scores(spec: AttentionSpec, printer: WgslPrinter, bq: int) -> list[str]:
    """Scores of keys tid, tid + THREADS, ... for every row into aotc_p; row maxima m<r>."""
    k, mask = spec.k, spec.mask
    scale = printer.const(Const(spec.scale, DType.float32))
    lines = [f"var m{r}: f32 = neg_inf;" for r in range(bq)]
    lines += [f"for (var j: i32 = tid; j < key_end; j += {THREADS}) {{"]
    lines += [f"    var s{r}: f32 = 0.0f;" for r in range(bq)]
    lines += [f"    let k_j = {_index('k_o', ('j', k.row_stride))};",
              f"    for (var d: i32 = 0; d < {spec.depth}; d++) {{",
              f"        let kv = {printer.load(k.param, _index('k_j', ('d', k.col_stride)), DType.float32)};"]
    lines += [f"        s{r} = fma(aotc_q[{r * spec.depth}i + d], kv, s{r});" for r in range(bq)]
    lines.append("    }")
    for r in range(bq):
        lines.append(f"    var x{r}: f32 = s{r} * {scale};")
        if mask is not None:
            # Rows past the end (a partial last tile) read the last row's mask; they are never written.
            row = f"min(r0 + {r}, {spec.rows - 1}i)"
            index = _index("m_o", (f"{row}", mask.row_stride), ("j", mask.col_stride))
            lines.append(f"    x{r} = x{r} + {printer.load(mask.param, index, DType.float32)};")
        if spec.causal:
            lines.append(f"    if (j > r0 + {r}) {{ x{r} = neg_inf; }}")
        lines += [f"    aotc_p[{r * spec.keys}i + j] = x{r};", f"    m{r} = aotc_maxf(m{r}, x{r});"]
    return lines + ["}"]


def _softmax(spec: AttentionSpec, bq: int) -> list[str]:
    """Row maxima and sums reduced over the workgroup; aotc_p holds exp(score - max)."""
    lines = [f"aotc_red[{r * THREADS} + tid] = m{r};" for r in range(bq)]
    lines += _tree(bq, "aotc_maxf({0}, {1})")
    # A row whose every score is -inf takes 0 as its max: exp(-inf - 0) = 0, never -inf - -inf.
    lines += [f"let top{r} = select(aotc_red[{r * THREADS}], 0.0f, bitcast<u32>(aotc_red[{r * THREADS}]) == {NEG_INF_BITS});"
              for r in range(bq)]
    lines.append("workgroupBarrier();")
    lines += [f"var sum{r}: f32 = 0.0f;" for r in range(bq)]
    lines.append(f"for (var j: i32 = tid; j < key_end; j += {THREADS}) {{")
    for r in range(bq):
        cell = f"aotc_p[{r * spec.keys}i + j]"
        lines += [f"    let p{r} = exp({cell} - top{r});", f"    {cell} = p{r};", f"    sum{r} = sum{r} + p{r};"]
    lines.append("}")
    lines += [f"aotc_red[{r * THREADS} + tid] = sum{r};" for r in range(bq)]
    lines += _tree(bq, "{0} + {1}")
    return lines + [f"let total{r} = aotc_red[{r * THREADS}];" for r in range(bq)]


def _weighted_values(spec: AttentionSpec, printer: WgslPrinter, bq: int) -> list[str]:
    """out[r0 + r, e] = sum_j p[r, j] v[j, e] / total<r> for this invocation's columns e."""
    v, out = spec.v, spec.out
    columns = -(-spec.width // THREADS)
    lines = [f"var a{r}_{c}: f32 = 0.0f;" for r in range(bq) for c in range(columns)]
    # Columns past the width read the last column (inside the view) and are never written.
    lines += [f"let e{c} = min(tid + {c * THREADS}, {spec.width - 1}i);" for c in range(columns)]
    lines += ["for (var j: i32 = 0; j < key_end; j++) {", f"    let v_j = {_index('v_o', ('j', v.row_stride))};"]
    lines += [f"    let p{r} = aotc_p[{r * spec.keys}i + j];" for r in range(bq)]
    for c in range(columns):
        lines.append(f"    let w{c} = {printer.load(v.param, _index('v_j', (f'e{c}', v.col_stride)), DType.float32)};")
        lines += [f"    a{r}_{c} = fma(p{r}, w{c}, a{r}_{c});" for r in range(bq)]
    lines.append("}")
    for r in range(bq):
        lines.append(f"if (r0 + {r} < {spec.rows}i) {{")
        for c in range(columns):
            value = f"a{r}_{c} / total{r}"
            if spec.zero_nan_rows:
                value = f"select({value}, 0.0f, !(total{r} > 0.0f))"
            index = _index("o_o", (f"(r0 + {r})", out.row_stride), (f"e{c}", out.col_stride))
            store = printer.store(out.param, index, value, DType.float32, "")
            guard = "" if (c + 1) * THREADS <= spec.width else f"if (tid + {c * THREADS} < {spec.width}i) "
            lines += [f"    {guard}{{ {' '.join(store)} }}"]
        lines.append("}")
    return lines


def render(spec: AttentionSpec, printer: WgslPrinter, target: Target) -> tuple[str, tuple[Expr, Expr, Expr]] | None:
    """The shader's main function (after the header) and its workgroup counts; None where the
    template cannot hold the shape (the loop nest prints instead)."""
    bq = tile_rows(spec, target)
    if bq is None:
        return None
    batch = math.prod(spec.batch)
    n_tiles = -(-spec.rows // bq)
    tiles = batch * n_tiles
    key_end = f"min({spec.keys}i, r0 + {bq}i)" if spec.causal else f"{spec.keys}i"
    q = spec.q
    q_index = _index("q_o", ("row", q.row_stride), (f"(x % {spec.depth}i)", q.col_stride))
    text = f"""\
var<workgroup> aotc_q: array<f32, {bq * spec.depth}>;
var<workgroup> aotc_p: array<f32, {bq * spec.keys}>;
var<workgroup> aotc_red: array<f32, {bq * THREADS}>;

{MARK}: batch={spec.batch} rows={spec.rows} keys={spec.keys} depth={spec.depth} width={spec.width}\
{' causal' if spec.causal else ''}{' masked' if spec.mask is not None else ''}; {bq} query rows per workgroup
@compute @workgroup_size({THREADS})
fn main(@builtin(local_invocation_index) aotc_lid: u32, @builtin(workgroup_id) aotc_wid: vec3<u32>,
        @builtin(num_workgroups) aotc_groups: vec3<u32>) {{
    let tid = i32(aotc_lid);
    let neg_inf = -bitcast<f32>(aotc_inf_bits);
    for (var t: i32 = i32(aotc_wid.x); t < {tiles}i; t += i32(aotc_groups.x)) {{
        let bh = t % {batch}i;
        // Last query tiles first: under a causal mask they see the most keys.
        let r0 = ({n_tiles - 1}i - t / {batch}i) * {bq}i;
{_indent(_batch_offsets(spec), 2)}
        for (var x: i32 = tid; x < {bq * spec.depth}i; x += {THREADS}) {{
            let row = r0 + x / {spec.depth}i;
            var value: f32 = 0.0f;
            if (row < {spec.rows}i) {{ value = {printer.load(q.param, q_index, DType.float32)}; }}
            aotc_q[x] = value;
        }}
        workgroupBarrier();
        let key_end = {key_end};
{_indent(_scores(spec, printer, bq), 2)}
{_indent(_softmax(spec, bq), 2)}
{_indent(_weighted_values(spec, printer, bq), 2)}
        // The next tile rewrites the workgroup arrays.
        workgroupBarrier();
    }}
}}
"""
    one = Const(1, INDEX)
    return text, (Const(min(tiles, MAX_WORKGROUPS), INDEX), one, one)


__all__ = ["MARK", "THREADS", "render", "tile_rows"]
