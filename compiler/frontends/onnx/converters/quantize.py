"""ONNX QuantizeLinear, DequantizeLinear and QLinearMatMul (integer types)."""
from __future__ import annotations

from compiler.frontends.onnx.node import Emit, NodeView
from compiler.frontends.onnx.tensors import to_dtype
from compiler.ir.dtypes import DType
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.quantize import QuantizeAttrs


def _quantize(node: NodeView) -> Emit:
    if node.has_input(2):
        dtype = node.type(2).dtype
    elif node.int_attr("output_dtype", 0):
        dtype = to_dtype(node.int_attr("output_dtype"), f"{node.where}: attribute 'output_dtype'")
    else:
        dtype = DType.uint8
    return Emit("QuantizeLinear", _attrs(node, dtype))


def _dequantize(node: NodeView) -> Emit:
    if node.int_attr("output_dtype", 0):
        dtype = to_dtype(node.int_attr("output_dtype"), f"{node.where}: attribute 'output_dtype'")
    else:
        dtype = node.type(1).dtype
    return Emit("DequantizeLinear", _attrs(node, dtype))


def _attrs(node: NodeView, dtype: DType) -> QuantizeAttrs:
    return QuantizeAttrs(dtype=dtype, axis=node.int_attr("axis", 1), block_size=node.int_attr("block_size", 0))


def _qlinear_matmul(node: NodeView) -> Emit:
    return Emit("QLinearMatMul", NoAttrs())


def _matmul_integer(node: NodeView) -> Emit:
    return Emit("MatMulInteger", NoAttrs())


CONVERTERS = {"QuantizeLinear": _quantize, "DequantizeLinear": _dequantize, "QLinearMatMul": _qlinear_matmul,
              "MatMulInteger": _matmul_integer}
