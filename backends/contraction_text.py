"""C text for contraction operands and epilogues, shared by the CPU and CUDA GEMM templates."""
from __future__ import annotations

from compiler.ir.contraction import Dense, EpilogueAdd, EpilogueClamp


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
