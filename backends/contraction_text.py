"""C-style text for contraction operands and epilogues, shared by the CPU, CUDA and WebGPU GEMM
templates."""
from __future__ import annotations

from compiler.ir.contraction import Dense, EpilogueAdd, EpilogueClamp, Im2colRows


def float_literal(value: float) -> str:
    if value == float("inf"):
        return "INFINITY"
    if value == float("-inf"):
        return "(-INFINITY)"
    return f"{float(value)!r}f"


def strided_index(op: "Dense | EpilogueAdd", row: str, col: str) -> str:
    """C index of element (gb, gg, row, col) of a strided operand; zero strides drop out."""
    terms = [(op.batch_stride, "gb"), (op.group_stride, "gg"), (op.row_stride, f"({row})"), (op.col_stride, f"({col})")]
    return " + ".join(f"{name} * {stride}" for stride, name in terms if stride) or "0"


def clamp_lines(op: EpilogueClamp, var: str, max_fn: str, min_fn: str) -> list[str]:
    """`var` clamped to the op's bounds (an infinite bound is no statement)."""
    lines = []
    if op.low != float("-inf"):
        lines.append(f"{var} = {max_fn}({var}, {float_literal(op.low)});")
    if op.high != float("inf"):
        lines.append(f"{var} = {min_fn}({var}, {float_literal(op.high)});")
    return lines


def window_rows_args(a: Im2colRows) -> str:
    """The geometry every backend's `aotc_window_rows` helper takes after (m, k): channels per
    group, kernel width, output width, strides, pads, dilations, image height, width, channels."""
    (sh, sw), (ph, pw), (dh, dw) = a.stride, a.pad, a.dilation
    return (f"{a.channels_per_group}, {a.kernel[1]}, {a.out_width}, {sh}, {sw}, {ph}, {pw}, {dh}, {dw}, "
            f"{a.height}, {a.width}, {a.channels}")
