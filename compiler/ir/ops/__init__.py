"""The op table of the graph IR (see registry.py)."""
from types import MappingProxyType

from compiler.ir.ops import arith, attention, conv_transpose, cumulative, einsum, elementwise, index, nn, quantize, reduce, resize, select, shape
from compiler.ir.ops.registry import NoAttrs, OpDef, OpError, merge_tables

OPS = MappingProxyType(merge_tables(elementwise.OPS, arith.OPS, conv_transpose.OPS, einsum.OPS, cumulative.OPS, index.OPS, nn.OPS, quantize.OPS, reduce.OPS, resize.OPS, select.OPS, shape.OPS, attention.OPS))


def op_def(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise OpError(f"unknown op '{name}'") from None


__all__ = ["OPS", "NoAttrs", "OpDef", "OpError", "op_def"]
