"""The converter table: ATen overload name ("aten.addmm.default") -> convert(Call)."""
from __future__ import annotations

from types import MappingProxyType

from compiler.frontends.torch_export.converters import (attention, creation, elementwise, nn, normalization,
                                                        reduce, resize, shape)
from compiler.ir.ops.registry import merge_tables

CONVERTERS = MappingProxyType(merge_tables(
    attention.CONVERTERS, creation.CONVERTERS, elementwise.CONVERTERS, nn.CONVERTERS,
    normalization.CONVERTERS, reduce.CONVERTERS, resize.CONVERTERS, shape.CONVERTERS))

__all__ = ["CONVERTERS"]
