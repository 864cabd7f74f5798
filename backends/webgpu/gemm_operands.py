"""What both WebGPU GEMM templates (gemm.py, unrolled; gemm_compact.py, loops) share: operand
addressing (dense strides, im2col window gathers), the epilogue, and the workgroup grid."""
from __future__ import annotations

from compiler.errors import UnsupportedError
from compiler.ir.contraction import Contraction, Dense, EpilogueAdd, EpilogueClamp, EpilogueGelu, Im2col, Im2colRows
from compiler.ir.dtypes import DType
from compiler.ir.loops import INDEX, Binary, Const, Expr, Var
from backends.contraction_text import clamp_lines, strided_index, window_rows_args
from backends.webgpu.gemm_space import GemmConfig
from backends.webgpu.printer import WgslPrinter

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


def dim_text(d: "int | str", printer: WgslPrinter) -> str:
    return f"{d}i" if isinstance(d, int) else printer.expr(Var(d))


def _literal(value: float) -> str:
    return f"{float(value)!r}f" if value >= 0 else f"({float(value)!r}f)"


def operand_index(operand, printer: WgslPrinter, row: str, col: str, wi: str = "wi") -> tuple[str, str]:
    """(index expression, the line computing it) of element (row, col) of an operand; a window
    gather names its image index `wi` (-1 in the zero padding)."""
    if isinstance(operand, Dense):
        return strided_index(operand, row, col), ""
    if isinstance(operand, Im2colRows):
        window = f"aotc_window_rows({row}, {col}, {window_rows_args(operand)})"
        return f"gb * {operand.image_stride} + gg * {operand.channels_per_group} + {wi}", f"let {wi} = {window};"
    if isinstance(operand, Im2col):
        kh, kw = operand.kernel
        (sh, sw), (ph, pw), (dh, dw) = operand.stride, operand.pad, operand.dilation
        window = (f"aotc_window_cols({row}, {col}, {kh}, {kw}, {operand.out_width}, {sh}, {sw}, {ph}, {pw}, "
                  f"{dh}, {dw}, {operand.height}, {operand.width})")
        base = f"gb * {operand.image_stride} + gg * {operand.channel_offset_per_group * operand.height * operand.width}"
        return f"{base} + {wi}", f"let {wi} = {window};"
    raise UnsupportedError(f"webgpu GEMM: operand of type {type(operand).__name__}")


def epilogue_lines(spec: Contraction, printer: WgslPrinter) -> list[str]:
    lines = [f"v = v * {_literal(spec.alpha)};"] if spec.alpha != 1.0 else []
    for op in spec.epilogue:
        if isinstance(op, EpilogueAdd):
            scale = "" if op.scale == 1.0 else f"{_literal(op.scale)} * "
            lines.append(f"v = v + {scale}{printer.load(op.param, strided_index(op, 'm', 'n'), DType.float32)};")
        elif isinstance(op, EpilogueClamp):
            lines += clamp_lines(op, "v", "aotc_maxf", "aotc_minf")
        elif isinstance(op, EpilogueGelu):
            lines.append("v = aotc_gelu_tanh(v);" if op.approximate == "tanh" else "v = aotc_gelu(v);")
        else:
            raise UnsupportedError(f"webgpu GEMM: epilogue {type(op).__name__}")
    return lines


def k_contiguous(operand, which: str) -> bool:
    """Whether neighbouring k elements of the operand are neighbours in memory."""
    if isinstance(operand, Im2colRows):
        return True
    if isinstance(operand, Dense):
        return (operand.col_stride if which == "a" else operand.row_stride) == 1
    return False


def workgroups(spec: Contraction, cfg: GemmConfig) -> tuple[Expr, Expr, Expr]:
    """x: N tiles; y: M tiles and z: batch x groups, both capped (the shader strides over them)."""
    def dim(d):
        return Const(d, INDEX) if isinstance(d, int) else Var(d)
    m_tiles = Binary("div", Binary("add", dim(spec.m), Const(cfg.bm - 1, INDEX)), Const(cfg.bm, INDEX))
    groups = Binary("mul", dim(spec.batch), Const(spec.groups, INDEX))
    cap = Const(MAX_WORKGROUPS, INDEX)
    return (Const(-(-spec.n // cfg.bn), INDEX), Binary("min", m_tiles, cap), Binary("min", groups, cap))


__all__ = ["MAX_WORKGROUPS", "WINDOWS_WGSL", "dim_text", "epilogue_lines", "k_contiguous", "operand_index", "workgroups"]
