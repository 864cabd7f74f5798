"""What a converter sees of one ONNX node, and what it may answer.

A converter is `convert(node: NodeView) -> Emit | Fold | Alias`:
- `Emit`: one graph-IR node of an op in the op table, fed by some of the ONNX inputs;
- `Fold`: the node's outputs are already known constants (Constant, Shape of a static shape);
- `Alias`: the first output is one of the inputs (Identity, inference-mode Dropout).
The importer turns an `Emit` whose inputs are all constants into constants too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np

from compiler.errors import ModelError, UnsupportedError
from compiler.ir.types import TensorType


@dataclass(frozen=True)
class Emit:
    op: str
    attrs: object
    inputs: tuple[int, ...] | None = None   # ONNX input positions feeding the op; None: all
    outputs: int = 1                         # the op computes the node's first `outputs` outputs
    # Operands the converter computed (tables derived from attributes and static shapes),
    # appended after the ONNX inputs as graph constants.
    constants: tuple[np.ndarray, ...] = ()


@dataclass(frozen=True)
class Fold:
    arrays: tuple[np.ndarray, ...]


@dataclass(frozen=True)
class Alias:
    input: int = 0


_REQUIRED = object()


@dataclass(frozen=True)
class NodeView:
    op_type: str
    where: str                                   # "model.onnx: op Reshape (node 'r1')"
    opset: int
    attrs: Mapping[str, object]
    input_names: tuple[str, ...]                 # ONNX names; "" for an absent optional input
    input_types: tuple[TensorType | None, ...]   # None for absent inputs
    input_values: tuple[np.ndarray | None, ...]  # the value of constant inputs, else None
    output_names: tuple[str, ...]
    # Whether the model reads each output (a graph output or another node's input).
    outputs_used: tuple[bool, ...] = ()
    # Run-time graph inputs whose values the caller lets aotc specialise where, and only where,
    # they determine shapes (read through `static`); None elsewhere. See import_onnx.
    shape_values: tuple[np.ndarray | None, ...] = ()
    # Told the input position each time `static` takes one of `shape_values`.
    on_shape_value: Callable[[int], None] = lambda index: None

    @property
    def num_inputs(self) -> int:
        return len(self.input_names)

    @property
    def num_outputs(self) -> int:
        return len(self.output_names)

    def unsupported(self, message: str) -> UnsupportedError:
        return UnsupportedError(f"{self.where}: {message}")

    def invalid(self, message: str) -> ModelError:
        return ModelError(f"{self.where}: {message}")

    def attr(self, key: str, default: object = _REQUIRED) -> object:
        if key in self.attrs:
            return self.attrs[key]
        if default is _REQUIRED:
            raise self.invalid(f"required attribute '{key}' is missing")
        return default

    def int_attr(self, key: str, default: object = _REQUIRED) -> int:
        value = self.attr(key, default)
        if not isinstance(value, (int, np.integer)):
            raise self.invalid(f"attribute '{key}' must be an int, got {value!r}")
        return int(value)

    def ints_attr(self, key: str, default: object = _REQUIRED) -> tuple[int, ...]:
        value = self.attr(key, default)
        if not isinstance(value, tuple) or not all(isinstance(v, (int, np.integer)) for v in value):
            raise self.invalid(f"attribute '{key}' must be a list of ints, got {value!r}")
        return tuple(int(v) for v in value)

    def float_attr(self, key: str, default: object = _REQUIRED) -> float:
        value = self.attr(key, default)
        if not isinstance(value, (int, float, np.number)):
            raise self.invalid(f"attribute '{key}' must be a float, got {value!r}")
        return float(value)

    def has_input(self, index: int) -> bool:
        return index < len(self.input_names) and bool(self.input_names[index])

    def type(self, index: int) -> TensorType:
        if not self.has_input(index):
            raise self.invalid(f"input {index} is required")
        return self.input_types[index]  # type: ignore[return-value]

    def value(self, index: int) -> np.ndarray | None:
        return self.input_values[index] if self.has_input(index) else None

    def static(self, index: int, what: str) -> np.ndarray:
        """Input `index`, which determines shapes, as a compile-time constant."""
        self.type(index)
        value = self.input_values[index]
        if value is None and index < len(self.shape_values) and self.shape_values[index] is not None:
            value = self.shape_values[index]
            self.on_shape_value(index)
        if value is None:
            raise self.unsupported(
                f"input {index} ('{self.input_names[index]}', the {what}) is computed at run time; "
                f"aotc needs it to be a compile-time constant")
        return value

    def static_ints(self, index: int, what: str) -> tuple[int, ...]:
        value = self.static(index, what)
        if value.dtype.kind not in "iu" or value.ndim > 1:
            raise self.invalid(f"input {index} (the {what}) must be a 1-d integer tensor, "
                               f"got {value.dtype} of shape {value.shape}")
        return tuple(int(v) for v in value.reshape(-1))

    def static_scalar(self, index: int, what: str) -> float | int:
        return self._scalar(self.static(index, what), index, what)

    def constant_scalar(self, index: int, what: str) -> float | int:
        """Input `index`, which does not determine shapes, as a compile-time constant (never a
        specialised run-time input)."""
        self.type(index)
        value = self.input_values[index]
        if value is None:
            raise self.unsupported(f"input {index} ('{self.input_names[index]}', the {what}) is "
                                   f"computed at run time; aotc needs it to be a compile-time constant")
        return self._scalar(value, index, what)

    def _scalar(self, value: np.ndarray, index: int, what: str) -> float | int:
        if value.size != 1:
            raise self.invalid(f"input {index} (the {what}) must hold one element, got shape {value.shape}")
        return value.reshape(()).item()
