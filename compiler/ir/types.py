"""Tensor types: shapes whose dimensions are ints or named symbols, a dtype and a layout."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Mapping, Union

from compiler.ir.dtypes import DType


@dataclass(frozen=True, slots=True, order=True)
class Sym:
    """A named dimension whose value is known only at run time (e.g. the batch)."""

    name: str

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise ValueError(f"symbol name '{self.name}' must be an identifier")

    def __str__(self) -> str:
        return self.name


Dim = Union[int, Sym]

# Layout names. "" means the plain row-major layout the model declared (NCHW for images);
# layout conversion passes set the others explicitly.
ROW_MAJOR = ""
KNOWN_LAYOUTS = ("", "NCHW", "NHWC", "NCHW8c", "NCHW16c")


@dataclass(frozen=True, slots=True)
class TensorType:
    shape: tuple[Dim, ...]
    dtype: DType
    layout: str = ROW_MAJOR

    def __post_init__(self) -> None:
        for dim in self.shape:
            if not isinstance(dim, Sym) and (not isinstance(dim, int) or isinstance(dim, bool) or dim < 0):
                raise ValueError(f"bad dimension {dim!r} in shape {self.shape}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_static(self) -> bool:
        return all(isinstance(d, int) for d in self.shape)

    @property
    def symbols(self) -> tuple[Sym, ...]:
        return tuple(sorted({d for d in self.shape if isinstance(d, Sym)}))

    def static_shape(self) -> tuple[int, ...]:
        if not self.is_static:
            raise ValueError(f"shape {format_shape(self.shape)} is symbolic")
        return tuple(int(d) for d in self.shape)  # type: ignore[arg-type]

    def numel(self) -> "SymSize":
        return SymSize.of_shape(self.shape)

    def nbytes(self) -> "SymSize":
        return self.numel().scaled(self.dtype.itemsize)

    def with_shape(self, shape: tuple[Dim, ...]) -> "TensorType":
        return TensorType(tuple(shape), self.dtype, self.layout)

    def __str__(self) -> str:
        text = f"{self.dtype.value}[{format_shape(self.shape)}]"
        return f"{text}@{self.layout}" if self.layout else text


@dataclass(frozen=True, slots=True, order=True)
class SymSize:
    """A size of the form coef * product(symbols): what any shape's element count is."""

    coef: int
    symbols: tuple[str, ...] = ()

    @staticmethod
    def of_shape(shape: tuple[Dim, ...]) -> "SymSize":
        coef = math.prod(d for d in shape if isinstance(d, int))
        syms = tuple(sorted(d.name for d in shape if isinstance(d, Sym)))
        return SymSize(coef, syms if coef else ())

    def scaled(self, factor: int) -> "SymSize":
        return SymSize(self.coef * factor, self.symbols)

    def evaluate(self, bindings: Mapping[str, int]) -> int:
        return self.coef * math.prod(bindings[s] for s in self.symbols)

    @property
    def is_static(self) -> bool:
        return not self.symbols

    def __str__(self) -> str:
        return "*".join([str(self.coef), *self.symbols])


def format_dim(dim: Dim) -> str:
    return str(dim)


def format_shape(shape: tuple[Dim, ...]) -> str:
    return ",".join(format_dim(d) for d in shape)


def parse_dim(text: str) -> Dim:
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else Sym(text)


def parse_tensor_type(text: str) -> TensorType:
    match = re.fullmatch(r"(\w+)\[([^\]]*)\](?:@(\w+))?", text.strip())
    if not match:
        raise ValueError(f"bad tensor type '{text}'")
    dtype, dims, layout = match.groups()
    shape = tuple(parse_dim(d) for d in dims.split(",")) if dims.strip() else ()
    return TensorType(shape, DType.parse(dtype), layout or ROW_MAJOR)


def bind_symbols(declared: tuple[Dim, ...], actual: tuple[int, ...], bindings: dict[str, int],
                 what: str) -> None:
    """Check `actual` against `declared`, recording each symbol's value in `bindings`.

    Raises ValueError naming `what` when ranks, fixed dims or repeated symbols disagree.
    """
    if len(declared) != len(actual):
        raise ValueError(f"{what}: expected rank {len(declared)} shape ({format_shape(declared)}), "
                         f"got shape {tuple(actual)}")
    for axis, (want, got) in enumerate(zip(declared, actual)):
        if isinstance(want, Sym):
            seen = bindings.setdefault(want.name, int(got))
            if seen != got:
                raise ValueError(f"{what}: dimension {axis} is symbol '{want.name}', bound to {seen} "
                                 f"elsewhere but {got} here")
        elif want != got:
            raise ValueError(f"{what}: expected shape ({format_shape(declared)}), got {tuple(actual)}")


def substitute(shape: tuple[Dim, ...], bindings: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(bindings[d.name] if isinstance(d, Sym) else d for d in shape)
