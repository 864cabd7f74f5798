"""Einsum: the product of the operands summed over every subscript the output lacks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compiler.ir.ops.common import require, same_dtype
from compiler.ir.ops.registry import OpDef, OpError, table
from compiler.ir.types import TensorType

_ELLIPSIS_LETTERS = "ABCDEFGHIJ"


@dataclass(frozen=True, slots=True)
class EinsumAttrs:
    equation: str


def parse(equation: str, ranks: list[int]) -> tuple[list[str], str]:
    """Per operand its subscripts (an ellipsis spelled as capital letters), and the output's."""
    text = equation.replace(" ", "")
    lhs, arrow, rhs = text.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ranks):
        raise OpError(f"Einsum '{equation}' names {len(terms)} operands, got {len(ranks)}")
    ellipsis = 0
    expanded = []
    for term, rank in zip(terms, ranks):
        if "..." in term:
            count = rank - (len(term) - 3)
            ellipsis = max(ellipsis, count)
            term = term.replace("...", _ELLIPSIS_LETTERS[:count])
        if len(term) != rank:
            raise OpError(f"Einsum '{equation}': subscripts '{term}' for a rank-{rank} operand")
        expanded.append(term)
    if arrow:
        out = rhs.replace("...", _ELLIPSIS_LETTERS[:ellipsis])
    else:
        letters = "".join(expanded)
        out = _ELLIPSIS_LETTERS[:ellipsis] + "".join(sorted(c for c in set(letters) if letters.count(c) == 1
                                                            and c.islower()))
    return expanded, out


def sizes(terms: list[str], types) -> dict[str, int]:
    found: dict[str, int] = {}
    for term, t in zip(terms, types):
        for letter, dim in zip(term, t.shape):
            if not isinstance(dim, int) or found.setdefault(letter, dim) != dim:
                raise OpError(f"Einsum: subscript '{letter}' has sizes {found.get(letter)} and {dim}")
    return found


def _infer(types, values, attrs):
    require(types, 1, "Einsum", optional=16)
    dtype = same_dtype(types, "Einsum")
    terms, out = parse(attrs.equation, [t.rank for t in types])
    found = sizes(terms, types)
    return (TensorType(tuple(found[c] for c in out), dtype),)


def _reference(inputs, attrs):
    terms, out = parse(attrs.equation, [x.ndim for x in inputs])
    result = np.einsum(f"{','.join(terms)}->{out}", *(x.astype(np.float64) for x in inputs))
    return (np.asarray(result).astype(inputs[0].dtype),)


OPS = table(OpDef("Einsum", EinsumAttrs, _infer, _reference, doc="Einstein summation"))
