"""The WebGPU contraction template: a workgroup-memory tiled fp32 GEMM (implicit GEMM for
convolutions) with register blocking and the contraction's epilogue applied at the store.

A workgroup of 256 invocations computes a 64 x 64 tile of C for one (batch, group): operand
tiles of 16 along k are staged in workgroup memory (2 x 4 KiB, within the 16 KiB limit), and
each invocation accumulates a 4 x 4 block in registers (four vec4s), its rows and columns
strided by 16 so neighbouring invocations read neighbouring workgroup words. Operands are
gathered through the spec's addressing (dense strides, im2col windows with zero padding), the
load order making the operand's contiguous axis the fast one across invocations. Barriers sit
in loops whose bounds depend only on workgroup ids and uniforms (uniform control flow).
"""
from __future__ import annotations

from compiler.errors import UnsupportedError
from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, EpilogueClamp, EpilogueGelu, Im2col, Im2colRows
from compiler.ir.dtypes import DType
from compiler.ir.loops import INDEX, Binary, Const, Expr, Var
from compiler.target import Target
from backends.contraction_text import strided_index
from backends.webgpu.printer import WgslPrinter

BM = BN = 64
BK = 16
THREADS = 256
MAX_WORKGROUPS = 65535

# Window gathers: the element's index in the image, or -1 in the zero padding.
WINDOWS_WGSL = """\
// Element (k = (ci, ky, kx), n = (oy, ox)) of a channels-first convolution's im2col matrix.
fn aotc_window_cols(k: i32, n: i32, kh: i32, kw: i32, ow: i32, sh: i32, sw: i32, ph: i32, pw: i32,
                    dh: i32, dw: i32, h: i32, w: i32) -> i32 {
    let ci = k / (kh * kw);
    let ky = (k / kw) % kh;
    let kx = k % kw;
    let iy = (n / ow) * sh - ph + ky * dh;
    let ix = (n % ow) * sw - pw + kx * dw;
    if (iy < 0 || iy >= h || ix < 0 || ix >= w) { return -1; }
    return (ci * h + iy) * w + ix;
}
// Element (m = (oy, ox), k = (ky, kx, ci)) of a channels-last convolution's window rows.
fn aotc_window_rows(m: i32, k: i32, cg: i32, kw: i32, ow: i32, sh: i32, sw: i32, ph: i32, pw: i32,
                    dh: i32, dw: i32, h: i32, w: i32, c: i32) -> i32 {
    let tap = k / cg;
    let ci = k % cg;
    let ky = tap / kw;
    let kx = tap % kw;
    let iy = (m / ow) * sh - ph + ky * dh;
    let ix = (m % ow) * sw - pw + kx * dw;
    if (iy < 0 || iy >= h || ix < 0 || ix >= w) { return -1; }
    return (iy * w + ix) * c + ci;
}
"""


def _dim(d: "int | str", printer: WgslPrinter) -> str:
    return f"{d}i" if isinstance(d, int) else printer.expr(Var(d))


def _literal(value: float) -> str:
    return f"{float(value)!r}f" if value >= 0 else f"({float(value)!r}f)"


def _operand(operand, printer: WgslPrinter, row: str, col: str) -> tuple[str, str]:
    """(index expression, the lines computing it) of element (row, col) of an operand."""
    if isinstance(operand, Dense):
        return strided_index(operand, row, col), ""
    if isinstance(operand, Im2colRows):
        kw = operand.kernel[1]
        (sh, sw), (ph, pw), (dh, dw) = operand.stride, operand.pad, operand.dilation
        cg = operand.channels_per_group
        window = (f"aotc_window_rows({row}, {col}, {cg}, {kw}, {operand.out_width}, {sh}, {sw}, {ph}, {pw}, "
                  f"{dh}, {dw}, {operand.height}, {operand.width}, {operand.channels})")
        return f"gb * {operand.image_stride} + gg * {cg} + wi", f"let wi = {window};"
    if isinstance(operand, Im2col):
        kh, kw = operand.kernel
        (sh, sw), (ph, pw), (dh, dw) = operand.stride, operand.pad, operand.dilation
        window = (f"aotc_window_cols({row}, {col}, {kh}, {kw}, {operand.out_width}, {sh}, {sw}, {ph}, {pw}, "
                  f"{dh}, {dw}, {operand.height}, {operand.width})")
        base = f"gb * {operand.image_stride} + gg * {operand.channel_offset_per_group * operand.height * operand.width}"
        return f"{base} + wi", f"let wi = {window};"
    raise UnsupportedError(f"webgpu GEMM: operand of type {type(operand).__name__}")


def _tile_load(spec: Contraction, printer: WgslPrinter, which: str) -> str:
    """The loop filling one operand tile of workgroup memory (zeros outside the matrix)."""
    operand = spec.a if which == "a" else spec.b
    rows, wide = ("m", BM) if which == "a" else ("n", BN)
    k_fast = (isinstance(operand, Dense) and (operand.col_stride if which == "a" else operand.row_stride) == 1
              or isinstance(operand, Im2colRows))
    order = (f"let kk = e % {BK}; let xx = e / {BK};" if k_fast else f"let xx = e % {wide}; let kk = e / {wide};")
    bound = "rows" if which == "a" else f"{spec.n}i"
    row, col = ("x", "k") if which == "a" else ("k", "x")
    index, setup = _operand(operand, printer, row, col)
    guard = "wi >= 0" if setup else "true"
    return f"""\
            for (var e: i32 = tid; e < {BK * wide}; e += {THREADS}) {{
                {order}
                let x = {'m0' if which == 'a' else 'n0'} + xx;
                let k = k0 + kk;
                var value = 0.0f;
                if (x < {bound} && k < {spec.k}i) {{
                    {setup}
                    if ({guard}) {{ value = {printer.load(operand.param, index, DType.float32)}; }}
                }}
                {which}_tile[kk * {wide} + xx] = value;
            }}"""


def _epilogue(spec: Contraction, printer: WgslPrinter) -> list[str]:
    lines = [f"v = v * {_literal(spec.alpha)};"] if spec.alpha != 1.0 else []
    for op in spec.epilogue:
        if isinstance(op, EpilogueAdd):
            scale = "" if op.scale == 1.0 else f"{_literal(op.scale)} * "
            lines.append(f"v = v + {scale}{printer.load(op.param, strided_index(op, 'm', 'n'), DType.float32)};")
        elif isinstance(op, EpilogueClamp):
            if op.low != float("-inf"):
                lines.append(f"v = aotc_maxf(v, {_literal(op.low)});")
            if op.high != float("inf"):
                lines.append(f"v = aotc_minf(v, {_literal(op.high)});")
        elif isinstance(op, EpilogueGelu):
            lines.append("v = aotc_gelu_tanh(v);" if op.approximate == "tanh" else "v = aotc_gelu(v);")
        else:
            raise UnsupportedError(f"webgpu GEMM: epilogue {type(op).__name__}")
    return lines


def render(spec: Contraction, printer: WgslPrinter, target: Target) -> tuple[str, tuple[Expr, Expr, Expr]]:
    """The shader's main function (after the header) and its workgroup counts."""
    storage = (BK * BM + BK * BN) * 4
    if storage > target.limit("workgroup_storage") or THREADS > target.limit("invocations_per_workgroup"):
        raise UnsupportedError(f"webgpu GEMM tiles need {storage} B of workgroup storage and {THREADS} "
                               f"invocations, over target {target.name}'s limits")
    m, groups = _dim(spec.m, printer), f"({_dim(spec.batch, printer)} * {spec.groups}i)"
    epilogue = "\n".join(f"                    {line}" for line in _epilogue(spec, printer))
    out_index = f"gb * {spec.out_batch_stride} + gg * {spec.out_group_stride} + m * {spec.out_row_stride} + n"
    store = printer.store(spec.out_param, out_index, "v", DType.float32, " " * 20)
    text = f"""\
{WINDOWS_WGSL}
var<workgroup> a_tile: array<f32, {BK * BM}>;
var<workgroup> b_tile: array<f32, {BK * BN}>;

// contraction: g={spec.batch}x{spec.groups} m={spec.m} n={spec.n} k={spec.k}; {BM}x{BN}x{BK} tiles, 4x4 per invocation
@compute @workgroup_size({THREADS})
fn main(@builtin(local_invocation_index) aotc_lid: u32, @builtin(workgroup_id) aotc_wid: vec3<u32>,
        @builtin(num_workgroups) aotc_groups: vec3<u32>) {{
    let tid = i32(aotc_lid);
    let tx = tid % 16;
    let ty = tid / 16;
    let rows: i32 = {m};
    for (var g: i32 = i32(aotc_wid.z); g < {groups}; g += i32(aotc_groups.z)) {{
        let gb = g / {spec.groups}i;
        let gg = g % {spec.groups}i;
        for (var m0: i32 = i32(aotc_wid.y) * {BM}; m0 < rows; m0 += i32(aotc_groups.y) * {BM}) {{
            let n0 = i32(aotc_wid.x) * {BN};
            var acc: array<vec4<f32>, 4>;
            for (var k0: i32 = 0; k0 < {spec.k}i; k0 += {BK}) {{
{_tile_load(spec, printer, "a")}
{_tile_load(spec, printer, "b")}
                workgroupBarrier();
                for (var kk: i32 = 0; kk < {BK}; kk++) {{
                    let a = vec4<f32>(a_tile[kk * {BM} + ty], a_tile[kk * {BM} + ty + 16],
                                      a_tile[kk * {BM} + ty + 32], a_tile[kk * {BM} + ty + 48]);
                    let b = vec4<f32>(b_tile[kk * {BN} + tx], b_tile[kk * {BN} + tx + 16],
                                      b_tile[kk * {BN} + tx + 32], b_tile[kk * {BN} + tx + 48]);
                    acc[0] = fma(vec4<f32>(a.x), b, acc[0]);
                    acc[1] = fma(vec4<f32>(a.y), b, acc[1]);
                    acc[2] = fma(vec4<f32>(a.z), b, acc[2]);
                    acc[3] = fma(vec4<f32>(a.w), b, acc[3]);
                }}
                workgroupBarrier();
            }}
            for (var i: i32 = 0; i < 4; i++) {{
                for (var j: i32 = 0; j < 4; j++) {{
                    let m = m0 + ty + 16 * i;
                    let n = n0 + tx + 16 * j;
                    if (m >= rows || n >= {spec.n}i) {{ continue; }}
                    var v: f32 = acc[i][j];
{epilogue}
{chr(10).join(store)}
                }}
            }}
        }}
    }}
}}
"""
    return text, _workgroups(spec)


def _workgroups(spec: Contraction) -> tuple[Expr, Expr, Expr]:
    """x: N tiles; y: M tiles and z: batch x groups, both capped (the shader strides over them)."""
    def dim(d):
        return Const(d, INDEX) if isinstance(d, int) else Var(d)
    m_tiles = Binary("div", Binary("add", dim(spec.m), Const(BM - 1, INDEX)), Const(BM, INDEX))
    groups = Binary("mul", dim(spec.batch), Const(spec.groups, INDEX))
    cap = Const(MAX_WORKGROUPS, INDEX)
    return (Const(-(-spec.n // BN), INDEX), Binary("min", m_tiles, cap), Binary("min", groups, cap))


__all__ = ["render"]
