"""What a converter sees of one ATen call in an exported program, and how it adds graph ops.

A converter is `convert(call: Call) -> str | tuple[str | None, ...] | None`: the graph-IR value
of the call's result (a tuple for ops returning several tensors, None in place of an output
aotc does not compute, such as max_pool2d's indices), or None for a call without a result
(a metadata assertion). Arguments are bound to the ATen schema's names, so a converter reads
`call.arg("stride")` whether the program passed it by position, by keyword or by default.
Tensor arguments arrive as `Ref`s; symbolic sizes as graph-IR `Sym`s.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from compiler.errors import ModelError, UnsupportedError
from compiler.frontends.builder import GraphBuilder
from compiler.ir.dtypes import DType
from compiler.ir.ops import OpError
from compiler.ir.ops.elementwise import CastAttrs
from compiler.ir.types import Sym, TensorType


@dataclass(frozen=True, slots=True)
class Ref:
    """A tensor argument: the graph-IR value holding it."""
    name: str


MISSING = object()


class SizeExpr(str):
    """A size computed from symbols that the IR cannot hold as one dimension (4*s0): kept only
    so a converter that reads it as a number fails with a clear message."""


@dataclass(frozen=True)
class Call:
    target: str                                  # "aten.convolution.default"
    where: str                                   # "op aten.x.default (node 'x') at model.py:7 ..."
    label: str                                   # the exported node's name, for value names
    args: Mapping[str, object]                   # schema name -> value (Ref, Sym, python value)
    out_types: tuple[TensorType | None, ...]     # what torch says each result is
    builder: GraphBuilder

    # --- errors -----------------------------------------------------------------------------

    def unsupported(self, message: str) -> UnsupportedError:
        return UnsupportedError(f"{self.where}: {message}")

    def invalid(self, message: str) -> ModelError:
        return ModelError(f"{self.where}: {message}")

    # --- arguments --------------------------------------------------------------------------

    def arg(self, key: str) -> object:
        value = self.args.get(key, MISSING)
        if value is MISSING:
            raise self.invalid(f"argument '{key}' is missing")
        return value

    def tensor(self, key: str) -> str:
        value = self.arg(key)
        if not isinstance(value, Ref):
            raise self.invalid(f"argument '{key}' should be a tensor, got {value!r}")
        return value.name

    def optional_tensor(self, key: str) -> str:
        """The tensor, or "" (an absent optional graph-op input) for None."""
        return "" if self.arg(key) is None else self.tensor(key)

    def tensors(self, key: str) -> tuple[str, ...]:
        values = self.arg(key)
        if not isinstance(values, (list, tuple)) or not all(isinstance(v, Ref) for v in values):
            raise self.invalid(f"argument '{key}' should be a list of tensors, got {values!r}")
        return tuple(v.name for v in values)

    def int(self, key: str) -> int:
        value = self.arg(key)
        if isinstance(value, (Sym, SizeExpr)):
            raise self.unsupported(f"argument '{key}' is the symbolic size {value}; aotc needs a "
                                   f"static value here")
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.invalid(f"argument '{key}' should be an int, got {value!r}")
        return value

    def ints(self, key: str) -> tuple[int, ...]:
        values = self.arg(key)
        values = (values,) if isinstance(values, (int, Sym, SizeExpr)) else values
        if any(isinstance(v, (Sym, SizeExpr)) for v in values):
            raise self.unsupported(f"argument '{key}' holds symbolic sizes {list(map(str, values))}; "
                                   f"aotc needs static values here")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise self.invalid(f"argument '{key}' should be a list of ints, got {values!r}")
        return tuple(values)

    def number(self, key: str) -> float | int | bool:
        value = self.arg(key)
        if not isinstance(value, (int, float, bool)):
            raise self.invalid(f"argument '{key}' should be a number, got {value!r}")
        return value

    def type(self, name: str) -> TensorType:
        return self.builder.type_of(name)

    def out_type(self, index: int = 0) -> TensorType:
        type_ = self.out_types[index]
        if type_ is None:
            raise self.invalid(f"result {index} is not a tensor")
        return type_

    # --- building ---------------------------------------------------------------------------

    def emit(self, op: str, attrs: object, *inputs: str) -> str:
        (out,) = self.emit_outputs(op, attrs, inputs, 1)
        return out

    def emit_outputs(self, op: str, attrs: object, inputs: Sequence[str], count: int) -> tuple[str, ...]:
        try:
            outs = self.builder.emit(op, attrs, inputs, label=self.label, out_names=(self.label,) * count)
        except OpError as error:
            raise self.invalid(f"as {op}: {error}") from None
        if len(outs) != count:
            raise self.invalid(f"{op} computes {len(outs)} results, expected {count}")
        return outs

    def constant(self, array: np.ndarray) -> str:
        return self.builder.constant(f"{self.label}_const", array)

    def scalar(self, value: float | int | bool, dtype: DType) -> str:
        """A rank-0 constant; torch's Python scalars take the dtype of the tensor they meet."""
        return self.constant(np.array(value, dtype=dtype.to_numpy()))

    def cast(self, name: str, dtype: DType) -> str:
        return name if self.type(name).dtype is dtype else self.emit("Cast", CastAttrs(dtype), name)
