"""Element types shared by every IR level and backend."""
from __future__ import annotations

import enum

import numpy as np


class DType(enum.Enum):
    """A tensor element type. The value is the IR text spelling."""

    float32 = "f32"
    float64 = "f64"
    float16 = "f16"
    bfloat16 = "bf16"
    int8 = "i8"
    int16 = "i16"
    int32 = "i32"
    int64 = "i64"
    uint8 = "u8"
    uint16 = "u16"
    uint32 = "u32"
    uint64 = "u64"
    bool = "bool"

    @property
    def itemsize(self) -> int:
        return _ITEMSIZE[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.float32, DType.float64, DType.float16, DType.bfloat16)

    @property
    def is_int(self) -> bool:
        return not self.is_float and self is not DType.bool

    @property
    def is_signed(self) -> bool:
        return self.is_float or self in (DType.int8, DType.int16, DType.int32, DType.int64)

    def to_numpy(self) -> np.dtype:
        if self is DType.bfloat16:
            raise TypeError("bfloat16 has no numpy dtype; it is stored as uint16 bits")
        return np.dtype(_NUMPY_NAME[self])

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> "DType":
        name = np.dtype(dtype).name
        for member, numpy_name in _NUMPY_NAME.items():
            if numpy_name == name:
                return member
        raise TypeError(f"numpy dtype {name} has no aotc equivalent")

    @staticmethod
    def parse(text: str) -> "DType":
        try:
            return DType(text)
        except ValueError:
            raise ValueError(f"unknown dtype '{text}'") from None


_ITEMSIZE = {
    DType.float32: 4, DType.float64: 8, DType.float16: 2, DType.bfloat16: 2,
    DType.int8: 1, DType.int16: 2, DType.int32: 4, DType.int64: 8,
    DType.uint8: 1, DType.uint16: 2, DType.uint32: 4, DType.uint64: 8, DType.bool: 1,
}

_NUMPY_NAME = {
    DType.float32: "float32", DType.float64: "float64", DType.float16: "float16",
    DType.int8: "int8", DType.int16: "int16", DType.int32: "int32", DType.int64: "int64",
    DType.uint8: "uint8", DType.uint16: "uint16", DType.uint32: "uint32", DType.uint64: "uint64",
    DType.bool: "bool",
}
