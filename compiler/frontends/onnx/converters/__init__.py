"""The converter table: ONNX op type -> convert(NodeView) -> Emit | Fold | Alias."""
from __future__ import annotations

from types import MappingProxyType

from compiler.frontends.onnx.converters import arith, constants, elementwise, index, nn, quantize, reduce, resize, select, shape


def _merge(*tables: dict) -> dict:
    merged: dict = {}
    for table in tables:
        for op, fn in table.items():
            if op in merged:
                raise ValueError(f"ONNX op '{op}' has two converters")
            merged[op] = fn
    return merged


CONVERTERS = MappingProxyType(_merge(arith.CONVERTERS, constants.CONVERTERS, elementwise.CONVERTERS, index.CONVERTERS, nn.CONVERTERS, quantize.CONVERTERS,
                                     reduce.CONVERTERS, resize.CONVERTERS, select.CONVERTERS, shape.CONVERTERS))

__all__ = ["CONVERTERS"]
