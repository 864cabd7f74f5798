"""torch dtypes, sizes and tensors as aotc dtypes, dimensions and numpy arrays."""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from compiler.errors import UnsupportedError
from compiler.frontends.builder import frozen
from compiler.ir.dtypes import DType
from compiler.ir.types import Dim, Sym, TensorType

# torch dtype name (str(torch.float32) without "torch.") -> aotc dtype
_DTYPES = {
    "float32": DType.float32, "float64": DType.float64, "float16": DType.float16,
    "bfloat16": DType.bfloat16, "int8": DType.int8, "int16": DType.int16, "int32": DType.int32,
    "int64": DType.int64, "uint8": DType.uint8, "uint16": DType.uint16, "uint32": DType.uint32,
    "uint64": DType.uint64, "bool": DType.bool,
}


def to_dtype(torch_dtype, what: str) -> DType:
    name = str(torch_dtype).removeprefix("torch.")
    try:
        return _DTYPES[name]
    except KeyError:
        raise UnsupportedError(f"{what} has dtype {name}, which aotc does not support") from None


def to_torch_dtype(dtype: DType):
    import torch
    return getattr(torch, dtype.name)


def to_array(tensor, what: str) -> np.ndarray:
    """A real (not fake) CPU tensor's data as a frozen numpy array."""
    dtype = to_dtype(tensor.dtype, what)
    if dtype is DType.bfloat16:
        raise UnsupportedError(f"{what} is a bfloat16 tensor, which aotc cannot hold as a constant yet")
    return frozen(tensor.detach().cpu().contiguous().numpy().copy())


# Names the frontend gives sympy symbols: str(symbol) -> Sym name.
SymbolNames = Mapping[str, str]


def to_dim(size, symbols: Callable[[str], str], what: str) -> Dim:
    """An int or torch.SymInt size as a graph-IR dimension. The IR's symbolic dims are single
    symbols (the batch); an expression such as 4*s0 has no IR spelling."""
    if isinstance(size, int):
        return size
    expr = size.node.expr
    if expr.is_Integer:
        return int(expr)
    if expr.is_Symbol:
        return Sym(symbols(str(expr)))
    raise UnsupportedError(f"{what} has the symbolic size {spell(expr, symbols)}; aotc keeps a dimension "
                           f"symbolic only when it is one symbol (such as the batch), not an expression of it")


def spell(expr, symbols: Callable[[str], str]) -> str:
    """A sympy size expression with torch's symbols (s77) under their graph names (batch)."""
    import sympy
    return str(expr.subs({s: sympy.Symbol(symbols(str(s))) for s in expr.free_symbols}))


def to_type(fake, symbols: Callable[[str], str], what: str) -> TensorType:
    """The type of an exported value from its FakeTensor (node.meta["val"])."""
    shape = tuple(to_dim(d, symbols, what) for d in fake.shape)
    return TensorType(shape, to_dtype(fake.dtype, what))
