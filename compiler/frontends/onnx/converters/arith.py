"""ONNX elementwise math beyond the basics: trigonometry, Round, IsInf, Mod, bit operations,
Sum and Mean."""
from __future__ import annotations

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.arith import BITWISE, FLOAT_UNARY, BitShiftAttrs, IsInfAttrs, ModAttrs

PLAIN = (*FLOAT_UNARY, *BITWISE, "BitwiseNot", "Sum", "Mean")


def _plain(node: NodeView) -> Emit:
    return Emit(node.op_type, NoAttrs())


def _mod(node: NodeView) -> Emit:
    return Emit("Mod", ModAttrs(fmod=bool(node.int_attr("fmod", 0))))


def _bitshift(node: NodeView) -> Emit:
    direction = node.attr("direction")
    if direction not in ("LEFT", "RIGHT"):
        raise node.invalid(f"attribute 'direction' must be LEFT or RIGHT, got '{direction}'")
    return Emit("BitShift", BitShiftAttrs(left=direction == "LEFT"))


def _isinf(node: NodeView) -> Emit:
    return Emit("IsInf", IsInfAttrs(detect_negative=bool(node.int_attr("detect_negative", 1)),
                                    detect_positive=bool(node.int_attr("detect_positive", 1))))


CONVERTERS = {
    **{op: _plain for op in PLAIN},
    "Mod": _mod,
    "BitShift": _bitshift,
    "IsInf": _isinf,
}
