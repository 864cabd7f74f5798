"""Conversions between float and bfloat16 and the narrow types (float8 variants, float4 e2m1,
int4/uint4, int2/uint2), each narrow one held one element per byte as ml_dtypes holds them. Conversions to a narrow
float round to nearest even and, as ml_dtypes does, overflow to NaN (to infinity for e5m2;
float4 saturates); saturating casts clamp before converting (passes/lower/elementwise.py)."""
from __future__ import annotations

from compiler.ir.dtypes import DType

# dtype -> (exponent bits, mantissa bits, bias, kind, largest finite code).
# kind 0: NaN is all ones (e4m3fn); 1: NaN is 0x80, no -0 (fnuz); 2: IEEE-like with
# infinities (e5m2); 3: finite only (float4).
MINIFLOATS = {
    DType.float8e4m3fn: (4, 3, 7, 0, 0x7E),
    DType.float8e4m3fnuz: (4, 3, 8, 1, 0x7F),
    DType.float8e5m2: (5, 2, 15, 2, 0x7B),
    DType.float8e5m2fnuz: (5, 2, 16, 1, 0x7F),
    DType.float4e2m1: (2, 1, 1, 3, 0x7),
}
# dtype -> (bits, signed)
NARROW_INTS = {DType.int4: (4, True), DType.uint4: (4, False), DType.int2: (2, True), DType.uint2: (2, False)}

NARROW_C = r"""
/* bfloat16 travels as its 16 bits and computes as float: loads widen, stores round to
 * nearest even (NaN stays NaN). */
static inline float aotc_bf16_load(uint16_t b) { uint32_t u = (uint32_t)b << 16; float f; memcpy(&f, &u, 4); return f; }
static inline uint16_t aotc_bf16_store(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return (uint16_t)((u >> 16) | 0x40u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

static inline float aotc_minifloat_decode(uint32_t b, int ebits, int mbits, int bias, int kind) {
    const int nbits = 1 + ebits + mbits;
    const uint32_t sign = (b >> (nbits - 1)) & 1u, e = (b >> mbits) & ((1u << ebits) - 1u), m = b & ((1u << mbits) - 1u);
    if (kind == 1 && b == 0x80u) return NAN;
    if (kind == 0 && (b & 0x7Fu) == 0x7Fu) return NAN;
    if (kind == 2 && e == (1u << ebits) - 1u) return m ? NAN : (sign ? -INFINITY : INFINITY);
    const float v = e == 0 ? ldexpf((float)m, 1 - bias - mbits) : ldexpf((float)(m + (1u << mbits)), (int)e - bias - mbits);
    return sign ? -v : v;
}

static inline uint8_t aotc_minifloat_encode(float x, int ebits, int mbits, int bias, int kind, uint32_t largest) {
    const int nbits = 1 + ebits + mbits;
    const uint32_t sign = signbit(x) ? (1u << (nbits - 1)) : 0u;
    if (isnan(x)) return kind == 1 ? 0x80u : kind == 3 ? 0u : (uint8_t)(sign | 0x7Fu);
    const float a = fabsf(x);
    uint32_t code;
    if (isinf(a)) {
        code = 0xFFFFu;
    } else if (a == 0.0f) {
        code = 0u;
    } else {
        int e;
        frexpf(a, &e);
        const int exponent = e - 1;
        if (exponent < 1 - bias) {
            code = (uint32_t)nearbyintf(ldexpf(a, mbits + bias - 1));
        } else {
            const uint32_t m = (uint32_t)nearbyintf(ldexpf(a, mbits - exponent));
            code = ((uint32_t)(exponent + bias) << mbits) + (m - (1u << mbits));
        }
    }
    if (code > largest) {
        if (kind == 3) code = largest;
        else if (kind == 2) code = 0x7Cu;
        else return kind == 1 ? 0x80u : (uint8_t)(sign | 0x7Fu);
    }
    if (code == 0u && kind == 1) return 0u;
    return (uint8_t)(sign | code);
}

static inline float aotc_narrow_int_decode(uint32_t b, int bits, int is_signed) {
    const int32_t v = (int32_t)(b & ((1u << bits) - 1u));
    return (float)(is_signed && v >= (1 << (bits - 1)) ? v - (1 << bits) : v);
}

static inline uint8_t aotc_narrow_int_encode(double x, int bits) {
    return isnan(x) || isinf(x) ? 0u : (uint8_t)((uint64_t)(int64_t)x & ((1u << bits) - 1u));
}
"""


def from_narrow(dtype: DType, arg: str) -> str:
    """C for the float value of narrow element `arg`."""
    if dtype in MINIFLOATS:
        ebits, mbits, bias, kind, _ = MINIFLOATS[dtype]
        return f"aotc_minifloat_decode({arg}, {ebits}, {mbits}, {bias}, {kind})"
    bits, signed = NARROW_INTS[dtype]
    return f"aotc_narrow_int_decode({arg}, {bits}, {int(signed)})"


def to_narrow(dtype: DType, arg: str) -> str:
    """C for the narrow element nearest the float (or double) value `arg`."""
    if dtype in MINIFLOATS:
        ebits, mbits, bias, kind, largest = MINIFLOATS[dtype]
        return f"aotc_minifloat_encode((float)({arg}), {ebits}, {mbits}, {bias}, {kind}, {largest}u)"
    bits, _ = NARROW_INTS[dtype]
    return f"aotc_narrow_int_encode((double)({arg}), {bits})"
