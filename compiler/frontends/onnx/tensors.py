"""ONNX element types, tensors and attributes as aotc dtypes, numpy arrays and Python values."""
from __future__ import annotations

from types import MappingProxyType
from typing import Mapping

import numpy as np
import onnx
import onnx.helper
from onnx import TensorProto, numpy_helper

from compiler.errors import UnsupportedError
from compiler.frontends.builder import frozen
from compiler.ir.dtypes import DType

DTYPES: Mapping[int, DType] = MappingProxyType({
    TensorProto.FLOAT: DType.float32, TensorProto.DOUBLE: DType.float64,
    TensorProto.FLOAT16: DType.float16, TensorProto.BFLOAT16: DType.bfloat16,
    TensorProto.INT8: DType.int8, TensorProto.INT16: DType.int16,
    TensorProto.INT32: DType.int32, TensorProto.INT64: DType.int64,
    TensorProto.UINT8: DType.uint8, TensorProto.UINT16: DType.uint16,
    TensorProto.UINT32: DType.uint32, TensorProto.UINT64: DType.uint64,
    TensorProto.BOOL: DType.bool,
    TensorProto.FLOAT8E4M3FN: DType.float8e4m3fn, TensorProto.FLOAT8E4M3FNUZ: DType.float8e4m3fnuz,
    TensorProto.FLOAT8E5M2: DType.float8e5m2, TensorProto.FLOAT8E5M2FNUZ: DType.float8e5m2fnuz,
    TensorProto.FLOAT4E2M1: DType.float4e2m1, TensorProto.INT4: DType.int4, TensorProto.UINT4: DType.uint4,
    TensorProto.INT2: DType.int2, TensorProto.UINT2: DType.uint2,
})


def elem_type_name(elem_type: int) -> str:
    try:
        return TensorProto.DataType.Name(elem_type)
    except ValueError:
        return f"#{elem_type}"


def to_dtype(elem_type: int, what: str) -> DType:
    """The aotc dtype of an ONNX element type; `what` names the value for the error."""
    try:
        return DTYPES[elem_type]
    except KeyError:
        raise UnsupportedError(f"{what} has element type {elem_type_name(elem_type)}, "
                               f"which aotc does not support") from None


def to_array(tensor: TensorProto, what: str) -> np.ndarray:
    """A TensorProto's data as a numpy array (ml_dtypes' for bfloat16 and the narrow types)."""
    dtype = to_dtype(tensor.data_type, what)
    if tensor.data_location == TensorProto.EXTERNAL:
        raise UnsupportedError(f"{what} keeps its data in an external file that was not loaded; "
                               f"import the model from its path instead of a ModelProto")
    return frozen(numpy_helper.to_array(tensor).astype(dtype.to_numpy(), copy=False))


def attribute_values(node: onnx.NodeProto, what: str) -> dict[str, object]:
    """A node's attributes as Python values: int, float, str, tuples, numpy arrays for tensors.

    Graph-valued attributes (If/Loop bodies) are left as protos; their ops are unsupported anyway.
    """
    values: dict[str, object] = {}
    for attr in node.attribute:
        if attr.ref_attr_name:
            raise UnsupportedError(f"{what}: attribute '{attr.name}' refers to a function attribute")
        value = onnx.helper.get_attribute_value(attr)
        if attr.type == onnx.AttributeProto.STRING:
            value = value.decode("utf-8", errors="replace")
        elif attr.type == onnx.AttributeProto.STRINGS:
            value = tuple(v.decode("utf-8", errors="replace") for v in value)
        elif attr.type == onnx.AttributeProto.TENSOR:
            value = to_array(value, f"{what}: attribute '{attr.name}'")
        elif attr.type in (onnx.AttributeProto.INTS, onnx.AttributeProto.FLOATS):
            value = tuple(value)
        values[attr.name] = value
    return values
