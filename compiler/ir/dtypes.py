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
    # Narrow types, one element per byte as ml_dtypes holds them in memory; only Cast (and
    # the run-time signature) handles them.
    float8e4m3fn = "f8e4m3fn"
    float8e4m3fnuz = "f8e4m3fnuz"
    float8e5m2 = "f8e5m2"
    float8e5m2fnuz = "f8e5m2fnuz"
    float4e2m1 = "f4e2m1"
    int4 = "i4"
    uint4 = "u4"
    int2 = "i2"
    uint2 = "u2"

    @property
    def itemsize(self) -> int:
        return _ITEMSIZE[self]

    @property
    def is_float(self) -> bool:
        return self in (DType.float32, DType.float64, DType.float16, DType.bfloat16)

    @property
    def is_narrow(self) -> bool:
        """A sub-byte or 8-bit float type (float8, float4, int4, int2...)."""
        return self in _NARROW

    @property
    def is_int(self) -> bool:
        return not self.is_float and self is not DType.bool and not self.is_narrow

    @property
    def is_signed(self) -> bool:
        return self.is_float or self in (DType.int8, DType.int16, DType.int32, DType.int64)

    def to_numpy(self) -> np.dtype:
        if self.is_narrow or self is DType.bfloat16:
            import ml_dtypes  # noqa: F401  (registers bfloat16 and the narrow types with numpy)
        return np.dtype(_NUMPY_NAME[self])

    @staticmethod
    def from_numpy(dtype: np.dtype | type) -> "DType":
        name = np.dtype(dtype).name if not isinstance(dtype, np.dtype) else dtype.name
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
    DType.float8e4m3fn: 1, DType.float8e4m3fnuz: 1, DType.float8e5m2: 1, DType.float8e5m2fnuz: 1,
    DType.float4e2m1: 1, DType.int4: 1, DType.uint4: 1, DType.int2: 1, DType.uint2: 1,
}

_NARROW = frozenset({DType.float8e4m3fn, DType.float8e4m3fnuz, DType.float8e5m2, DType.float8e5m2fnuz,
                     DType.float4e2m1, DType.int4, DType.uint4, DType.int2, DType.uint2})

_NUMPY_NAME = {
    DType.float32: "float32", DType.float64: "float64", DType.float16: "float16", DType.bfloat16: "bfloat16",
    DType.int8: "int8", DType.int16: "int16", DType.int32: "int32", DType.int64: "int64",
    DType.uint8: "uint8", DType.uint16: "uint16", DType.uint32: "uint32", DType.uint64: "uint64",
    DType.bool: "bool",
    DType.float8e4m3fn: "float8_e4m3fn", DType.float8e4m3fnuz: "float8_e4m3fnuz",
    DType.float8e5m2: "float8_e5m2", DType.float8e5m2fnuz: "float8_e5m2fnuz",
    DType.float4e2m1: "float4_e2m1fn", DType.int4: "int4", DType.uint4: "uint4",
    DType.int2: "int2", DType.uint2: "uint2",
}

# The largest finite value of each narrow float type (what a saturating cast clamps to).
NARROW_FLOAT_MAX = {DType.float8e4m3fn: 448.0, DType.float8e4m3fnuz: 240.0, DType.float8e5m2: 57344.0,
                    DType.float8e5m2fnuz: 57344.0, DType.float4e2m1: 6.0}
