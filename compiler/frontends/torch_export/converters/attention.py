"""aten.scaled_dot_product_attention, which the importer keeps whole (see export.decompose).

It becomes the decomposed form the ONNX exporters emit and `passes/simplify.py` recognises as one
Attention op: softmax(q*scale @ k^T + mask) @ v, with the Where(IsNaN(p), 0, p) guard that gives
torch's fully masked rows (all scores -inf) zeros instead of NaN.

    %s = MatMul(Mul(%q, scale), Transpose(%k)); %p = Softmax(Add(%s, %mask))
    %y = MatMul(Where(IsNaN(%p), 0, %p), %v)
"""
from __future__ import annotations

import math

import numpy as np

from compiler.frontends.torch_export.call import Call
from compiler.ir.dtypes import DType
from compiler.ir.ops import NoAttrs
from compiler.ir.ops.nn import AxisAttrs
from compiler.ir.ops.shape import PermAttrs


def _additive_mask(call: Call, rows, keys, dtype: DType) -> str:
    """attn_mask (bool: True attends; float: added) and is_causal as one additive mask, or ""."""
    masks = []
    mask = call.optional_tensor("attn_mask")
    if mask and call.type(mask).dtype is DType.bool:
        masks.append(call.emit("Where", NoAttrs(), mask, call.scalar(0.0, dtype), call.scalar(-np.inf, dtype)))
    elif mask:
        masks.append(call.cast(mask, dtype))
    if call.arg("is_causal"):
        if not (isinstance(rows, int) and isinstance(keys, int)):
            raise call.unsupported("causal attention over symbolic sequence lengths is not supported")
        allowed = np.tril(np.ones((rows, keys), bool))    # row i sees keys j <= i, as torch
        masks.append(call.constant(np.where(allowed, 0.0, -np.inf).astype(dtype.to_numpy())))
    if len(masks) == 2:
        return call.emit("Add", NoAttrs(), *masks)
    return masks[0] if masks else ""


def _scaled_dot_product_attention(call: Call) -> str:
    if call.number("dropout_p") != 0:
        raise call.unsupported("attention dropout is not supported; aotc compiles inference only")
    if call.arg("enable_gqa"):
        raise call.unsupported("grouped-query attention (enable_gqa) is not supported")
    q, k, v = call.tensor("query"), call.tensor("key"), call.tensor("value")
    q_type, k_type = call.type(q), call.type(k)
    depth = q_type.shape[-1]
    if call.arg("scale") is None and not isinstance(depth, int):
        raise call.unsupported("the default scale needs a static head dimension")
    scale = call.arg("scale") if call.arg("scale") is not None else 1.0 / math.sqrt(depth)
    dtype = q_type.dtype
    perm = tuple(range(k_type.rank - 2)) + (k_type.rank - 1, k_type.rank - 2)
    k_transposed = call.emit("Transpose", PermAttrs(perm), k)
    scores = call.emit("MatMul", NoAttrs(), call.emit("Mul", NoAttrs(), q, call.scalar(float(scale), dtype)),
                       k_transposed)
    mask = _additive_mask(call, q_type.shape[-2], k_type.shape[-2], dtype)
    if mask:
        scores = call.emit("Add", NoAttrs(), scores, mask)
    probabilities = call.emit("Softmax", AxisAttrs(-1), scores)
    guarded = call.emit("Where", NoAttrs(), call.emit("IsNaN", NoAttrs(), probabilities),
                        call.scalar(0.0, dtype), probabilities)
    return call.emit("MatMul", NoAttrs(), guarded, v)


CONVERTERS = {"aten.scaled_dot_product_attention.default": _scaled_dot_product_attention}
