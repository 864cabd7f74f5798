"""The WebGPU contraction template: a workgroup-memory tiled fp32 GEMM (implicit GEMM for
convolutions) with register blocking and the contraction's epilogue applied at the store.

One config (gemm_space.GemmConfig) shapes a shader: a workgroup of (BM/TM)(BN/TN) invocations
computes a BM x BN tile of C for one (batch, group), walking k in steps of BK. Operand tiles
live in workgroup memory k-major (A transposed) as vec4 rows, so the inner loop reads an
invocation's 4 rows of A and 4 columns of B as one vec4 each and does TM x TN/4 vec4 FMAs per
k; an invocation's rows (columns) are TM/4 groups of 4 strided by BM/(TM/4), so neighbouring
invocations read neighbouring 16-byte words. The next k-tile is read from global memory into
registers before the current one is consumed (double-buffered tiles take one barrier per k
step, single ones two). Every k step, register block and store is unrolled in the text with
constant offsets: accumulators are plain vec4 variables (no dynamic indexing that could push
them to memory). Tiles are [k row][vec4 column] arrays and the k loop is unrolled by two for
the double buffer, so a workgroup read's row is a constant and its column a loop-invariant
per-invocation value: naga's index clamping (on unless shaders are trusted) costs a few
instructions per k tile instead of one per read in the FMA block — that clamping, not the
FMAs, held checked shaders at ~85% of trusted ones on an H100.

Edges: loads are predicated (zero outside the matrix, and in im2col padding), stores too; a
predicate is printed only where the static shape needs it (M, N, K not multiples of the tile),
and none is inside the k-inner FMA block. A config with `unroll` off is the loop-form
template instead (gemm_compact.py). Operands are gathered through the spec's addressing
(dense strides, im2col windows), 4 neighbours along the operand's contiguous axis per load.
Barriers sit under bounds that depend only on workgroup ids and uniforms (uniform control flow).
"""
from __future__ import annotations

from compiler.errors import UnsupportedError
from compiler.ir.contraction import Contraction
from compiler.ir.dtypes import DType
from compiler.ir.loops import Expr
from compiler.target import Target
from backends.webgpu import gemm_compact
from backends.webgpu.gemm_operands import WINDOWS_WGSL, dim_text, epilogue_lines, k_contiguous, operand_index, workgroups
from backends.webgpu.gemm_space import VECTOR, GemmConfig
from backends.webgpu.printer import WgslPrinter


def _swizzle(i: int) -> str:
    return "xyzw"[i]


class _TileLoads:
    """An invocation's share of one operand tile: vec4 chunks read into registers `p<a|b><c>`,
    then stored into workgroup buffer `nxt`. Chunk placement depends only on the invocation."""

    def __init__(self, spec: Contraction, printer: WgslPrinter, which: str, cfg: GemmConfig):
        self.spec, self.printer, self.which, self.cfg = spec, printer, which, cfg
        self.operand = spec.a if which == "a" else spec.b
        self.wide = cfg.bm if which == "a" else cfg.bn
        self.chunks = self.wide * cfg.bk // VECTOR // cfg.threads
        self.k_fast = k_contiguous(self.operand, which)
        if which == "a":
            self.x_exact = isinstance(spec.m, int) and spec.m % cfg.bm == 0
        else:
            self.x_exact = spec.n % cfg.bn == 0

    def placement(self) -> list[str]:
        cfg, w, lines = self.cfg, self.which, []
        for c in range(self.chunks):
            q = f"(tid + {c * cfg.threads})"
            if self.k_fast:
                lines += [f"let {w}x{c} = {q} / {cfg.bk // VECTOR};", f"let {w}k{c} = ({q} % {cfg.bk // VECTOR}) * 4;"]
            else:
                lines += [f"let {w}k{c} = {q} / {self.wide // VECTOR};", f"let {w}x{c} = ({q} % {self.wide // VECTOR}) * 4;"]
            lines.append(f"var p{w}{c}: vec4<f32>;")
        return lines

    def load(self) -> list[str]:
        """Global reads of the tile at k0 (zeros outside the matrix or in window padding)."""
        spec, w = self.spec, self.which
        origin, extent = ("m0", "rows") if w == "a" else ("n0", f"{spec.n}i")
        lines = []
        for c in range(self.chunks):
            reg = f"p{w}{c}"
            values, guarded = [], []
            for j in range(VECTOR):
                x, k = (f"{w}x{c}", f"{w}k{c} + {j}") if self.k_fast else (f"{w}x{c} + {j}", f"{w}k{c}")
                row, col = (f"{origin} + {x}", f"k0 + {k}") if w == "a" else (f"k0 + {k}", f"{origin} + {x}")
                index, setup = operand_index(self.operand, self.printer, row, col, f"wi{j}")
                guards = ([] if self.x_exact else [f"{origin} + {x} < {extent}"])
                guards += [] if spec.k % self.cfg.bk == 0 else [f"k0 + {k} < {spec.k}i"]
                value = self.printer.load(self.operand.param, index, DType.float32)
                values.append(value)
                if setup:
                    guarded.append(f"{{ {setup} if (wi{j} >= 0) {{ {reg}.{_swizzle(j)} = {value}; }} }}")
                    if guards:
                        guarded[-1] = f"if ({' && '.join(guards)}) {guarded[-1]}"
                elif guards:
                    guarded.append(f"if ({' && '.join(guards)}) {{ {reg}.{_swizzle(j)} = {value}; }}")
                else:
                    guarded.append("")
            if all(not g for g in guarded):
                lines.append(f"{reg} = vec4<f32>({', '.join(values)});")
            else:
                lines.append(f"{reg} = vec4<f32>(0.0f);")
                lines += [g or f"{reg}.{_swizzle(j)} = {values[j]};" for j, g in enumerate(guarded)]
        return lines

    def store(self, nxt: int) -> list[str]:
        """The registers into workgroup buffer `nxt` (a constant: the k loop is unrolled by two)."""
        cfg, w = self.cfg, self.which
        lines = []
        for c in range(self.chunks):
            row = f"{nxt * cfg.bk} + {w}k{c}"
            if self.k_fast:
                lines += [f"{w}_tile[{row} + {j}][{w}x{c} / 4][{w}x{c} % 4] = p{w}{c}.{_swizzle(j)};"
                          for j in range(VECTOR)]
            else:
                lines.append(f"{w}_tile[{row}][{w}x{c} / 4] = p{w}{c};")
        return lines


def _inner(cfg: GemmConfig, cur: int) -> list[str]:
    """The k step's FMAs on workgroup buffer `cur`, unrolled over k and the register block. Tile
    rows are constant indices and an invocation's columns (`ac<g>`, `bc<h>`) loop-invariant, so
    naga's index clamps are hoisted out of the FMA block by the driver's compiler."""
    lines = []
    for kk in range(cfg.bk):
        row = cur * cfg.bk + kk
        lines.append("{")
        lines += [f"    let a{g} = a_tile[{row}][ac{g}];" for g in range(cfg.tm // VECTOR)]
        lines += [f"    let b{h} = b_tile[{row}][bc{h}];" for h in range(cfg.tn // VECTOR)]
        for r in range(cfg.tm):
            for h in range(cfg.tn // VECTOR):
                lines.append(f"    c{r}_{h} = fma(vec4<f32>(a{r // VECTOR}.{_swizzle(r % VECTOR)}), b{h}, c{r}_{h});")
        lines.append("}")
    return lines


def _columns(cfg: GemmConfig) -> list[str]:
    """An invocation's vec4 columns of the A and B tiles (TM/4 and TN/4 groups, strided so
    neighbouring invocations read neighbouring 16-byte words)."""
    ty_count, tx_count = cfg.bm // cfg.tm, cfg.bn // cfg.tn
    return ([f"let ac{g} = ty + {g * ty_count};" for g in range(cfg.tm // VECTOR)]
            + [f"let bc{h} = tx + {h * tx_count};" for h in range(cfg.tn // VECTOR)])


def _k_step(a: "_TileLoads", b: "_TileLoads", cfg: GemmConfig, t: str, k_tiles: int, cur: int, nxt: int) -> list[str]:
    """k tile `t` from buffer `cur`, with tile t + 1 read into registers first and stored into
    buffer `nxt` after (double-buffered tiles take one barrier per k step, single ones two)."""
    lines = ([f"if ({t} + 1 < {k_tiles}) {{", f"    let k0 = ({t} + 1) * {cfg.bk};"]
             + [f"    {line}" for line in a.load() + b.load()] + ["}"])
    lines += _inner(cfg, cur)
    lines += [] if cfg.double_buffer else ["workgroupBarrier();"]
    lines += [f"if ({t} + 1 < {k_tiles}) {{"] + [f"    {line}" for line in a.store(nxt) + b.store(nxt)]
    lines += ["}", "workgroupBarrier();"]
    return lines


def _stores(spec: Contraction, printer: WgslPrinter, cfg: GemmConfig) -> list[str]:
    """Each accumulator element through the epilogue to C (guarded where the tile can overhang)."""
    ty_count, tx_count = cfg.bm // cfg.tm, cfg.bn // cfg.tn
    exact = isinstance(spec.m, int) and spec.m % cfg.bm == 0 and spec.n % cfg.bn == 0
    epilogue = epilogue_lines(spec, printer)
    out_index = f"gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + m * {spec.out_row_stride} + n"
    store = printer.store(spec.out_param, out_index, "v", DType.float32, "    ")
    lines = []
    for r in range(cfg.tm):
        row = f"m0 + ty * 4 + {(r // VECTOR) * VECTOR * ty_count + r % VECTOR}"
        for h in range(cfg.tn // VECTOR):
            for j in range(VECTOR):
                col = f"n0 + tx * 4 + {h * VECTOR * tx_count + j}"
                lines.append(f"{{ let m = {row}; let n = {col};" + ("" if exact else f" if (m < rows && n < {spec.n}i)")
                             + " {")
                lines.append(f"    var v: f32 = c{r}_{h}.{_swizzle(j)};")
                lines += [f"    {line}" for line in epilogue] + store
                lines.append("} }")
    return lines


def _prologue(a: _TileLoads, b: _TileLoads) -> list[str]:
    """The first k tile into buffer 0 (none when K is 0: nothing to read)."""
    return (["{", "    let k0 = 0;"] + [f"    {line}" for line in a.load() + b.load() + a.store(0) + b.store(0)]
            + ["}", "workgroupBarrier();"])


def _k_loop(a: _TileLoads, b: _TileLoads, cfg: GemmConfig, k_tiles: int) -> list[str]:
    """The k loop. Double-buffered tiles alternate buffers 0 and 1, so the loop is unrolled by
    two and every tile index names its buffer as a constant (no dynamic `t % 2` in addresses);
    the guards depend only on `t`, a uniform, so the barriers stay in uniform control flow."""
    if not cfg.double_buffer:
        body = _k_step(a, b, cfg, "t", k_tiles, 0, 0)
        return [f"for (var t: i32 = 0; t < {k_tiles}; t++) {{"] + [f"    {line}" for line in body] + ["}"]
    second = _k_step(a, b, cfg, "(t + 1)", k_tiles, 1, 0)
    if k_tiles % 2:
        second = [f"if (t + 1 < {k_tiles}) {{"] + [f"    {line}" for line in second] + ["}"]
    body = _k_step(a, b, cfg, "t", k_tiles, 0, 1) + second
    return [f"for (var t: i32 = 0; t < {k_tiles}; t += 2) {{"] + [f"    {line}" for line in body] + ["}"]


def _indent(lines: list[str], depth: int) -> str:
    pad = "    " * depth
    return "\n".join(pad + line for line in lines)


def render(spec: Contraction, printer: WgslPrinter, target: Target,
           cfg: GemmConfig) -> tuple[str, tuple[Expr, Expr, Expr]]:
    """The shader's main function (after the header) and its workgroup counts."""
    limits = dict(target.limits)
    if not cfg.fits(limits):
        raise UnsupportedError(f"webgpu GEMM config {cfg.name} needs {cfg.storage} B of workgroup storage and "
                               f"{cfg.threads} invocations, over target {target.name}'s limits")
    if not cfg.unroll:
        return gemm_compact.render(spec, printer, cfg)
    a, b = _TileLoads(spec, printer, "a", cfg), _TileLoads(spec, printer, "b", cfg)
    buffers = 2 if cfg.double_buffer else 1
    k_tiles = -(-spec.k // cfg.bk)
    m, groups = dim_text(spec.m, printer), f"({dim_text(spec.batch, printer)} * {spec.groups}i)"
    accumulators = [f"var c{r}_{h} = vec4<f32>(0.0f);" for r in range(cfg.tm) for h in range(cfg.tn // VECTOR)]
    text = f"""\
{WINDOWS_WGSL}
var<workgroup> a_tile: array<array<vec4<f32>, {cfg.bm // VECTOR}>, {buffers * cfg.bk}>;
var<workgroup> b_tile: array<array<vec4<f32>, {cfg.bn // VECTOR}>, {buffers * cfg.bk}>;

// contraction: g={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}; config {cfg.name}
@compute @workgroup_size({cfg.threads})
fn main(@builtin(local_invocation_index) aotc_lid: u32, @builtin(workgroup_id) aotc_wid: vec3<u32>,
        @builtin(num_workgroups) aotc_groups: vec3<u32>) {{
    let tid = i32(aotc_lid);
    let tx = tid % {cfg.bn // cfg.tn};
    let ty = tid / {cfg.bn // cfg.tn};
    let rows: i32 = {m};
{_indent(a.placement() + b.placement() + _columns(cfg), 1)}
    for (var g: i32 = i32(aotc_wid.z); g < {groups}; g += i32(aotc_groups.z)) {{
        let gb = g / {spec.groups}i;
        let gg = g % {spec.groups}i;
        for (var m0: i32 = i32(aotc_wid.y) * {cfg.bm}; m0 < rows; m0 += i32(aotc_groups.y) * {cfg.bm}) {{
            let n0 = i32(aotc_wid.x) * {cfg.bn};
{_indent(accumulators, 3)}
{_indent(_prologue(a, b) if k_tiles else [], 3)}
{_indent(_k_loop(a, b, cfg, k_tiles) if k_tiles else [], 3)}
{_indent(_stores(spec, printer, cfg), 3)}
        }}
    }}
}}
"""
    return text, workgroups(spec, cfg)


__all__ = ["render"]
