"""Elementwise ONNX ops: one-to-one maps, plus Cast, Clip, Identity and Dropout."""
from __future__ import annotations

from compiler.frontends.onnx.node import Alias, Emit, NodeView
from compiler.frontends.onnx.tensors import to_dtype
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.elementwise import AlphaAttrs, CastAttrs, GeluAttrs

# ONNX ops whose graph-IR op has the same name, inputs and no attributes.
PLAIN = (
    "Relu", "Sigmoid", "Tanh", "Exp", "Log", "Sqrt", "Erf", "Reciprocal", "Sin", "Cos", "Floor",
    "Ceil", "Neg", "Abs", "Sign", "Not", "IsNaN",
    "Add", "Sub", "Mul", "Div", "Pow", "Max", "Min",
    "Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "And", "Or", "Xor", "Where",
)


def _plain(node: NodeView) -> Emit:
    return Emit(node.op_type, NoAttrs())


def _clip(node: NodeView) -> Emit:
    # Since opset 11 min and max are optional inputs; "" marks a missing one.
    return Emit("Clip", NoAttrs(), inputs=(0, 1, 2)[:node.num_inputs])


def _cast(node: NodeView) -> Emit:
    return Emit("Cast", CastAttrs(to_dtype(node.int_attr("to"), f"{node.where}: attribute 'to'"),
                                  saturate=bool(node.int_attr("saturate", 1))), inputs=(0,))


def _bitcast(node: NodeView) -> Emit:
    return Emit("BitCast", CastAttrs(to_dtype(node.int_attr("to"), f"{node.where}: attribute 'to'")))


def _cast_like(node: NodeView) -> Emit:
    return Emit("Cast", CastAttrs(node.type(1).dtype, saturate=bool(node.int_attr("saturate", 1))), inputs=(0,))


def _leaky_relu(node: NodeView) -> Emit:
    return Emit("LeakyRelu", AlphaAttrs(node.float_attr("alpha", 0.01)))


def _elu(node: NodeView) -> Emit:
    return Emit("Elu", AlphaAttrs(node.float_attr("alpha", 1.0)))


def _gelu(node: NodeView) -> Emit:
    approximate = node.attr("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise node.invalid(f"attribute 'approximate' must be 'none' or 'tanh', got '{approximate}'")
    return Emit("Gelu", GeluAttrs(str(approximate)))


def _identity(node: NodeView) -> Alias:
    return Alias(0)


def _dropout(node: NodeView) -> Alias | Emit:
    # Inference: the data passes through (and a mask, when asked for, keeps everything).
    # Training mode (input 2) would need randomness.
    if node.has_input(2):
        training = node.value(2)
        if training is None:
            raise node.unsupported("input 2 (training_mode) is computed at run time; "
                                   "aotc compiles inference only")
        if bool(training.reshape(-1)[0]):
            raise node.unsupported("training_mode is true; aotc compiles inference only")
    if len(node.outputs_used) > 1 and node.outputs_used[1]:
        return Emit("Dropout", NoAttrs(), inputs=(0,), outputs=2)
    return Alias(0)


CONVERTERS = {
    **{op: _plain for op in PLAIN},
    "Clip": _clip,
    "Cast": _cast,
    "CastLike": _cast_like,
    "BitCast": _bitcast,
    "LeakyRelu": _leaky_relu,
    "Elu": _elu,
    "Gelu": _gelu,
    "Identity": _identity,
    "Dropout": _dropout,
}
