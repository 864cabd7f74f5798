"""WGSL helper functions every shader carries: what WGSL lacks (erf, fmod, NaN tests) or
gives with weaker guarantees than numpy (max/min that propagate NaN, pow of a negative base).

Unused functions cost nothing (the shader compiler drops them), and one fixed prelude keeps
every shader's text independent of which helpers it happens to call.
"""
from __future__ import annotations

MATHLIB_WGSL = """\
// Infinity and NaN as run-time values: WGSL's constant expressions must be finite (Tint
// rejects bitcast<f32>(0x7f800000u) where naga accepts it).
var<private> aotc_inf_bits: u32 = 0x7f800000u;
var<private> aotc_nan_bits: u32 = 0x7fc00000u;
// NaN tested on the bits: a compiler may assume x == x for floats.
fn aotc_isnan(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn aotc_maxf(a: f32, b: f32) -> f32 { return select(b, a, a > b || aotc_isnan(a)); }
fn aotc_minf(a: f32, b: f32) -> f32 { return select(b, a, a < b || aotc_isnan(a)); }
fn aotc_signf(x: f32) -> f32 { return select(select(x, -1.0f, x < 0.0f), 1.0f, x > 0.0f); }
fn aotc_fmod(a: f32, b: f32) -> f32 { return a - b * trunc(a / b); }
// tanh through exp overflows to NaN on some drivers for large |x|; tanh is +-1 there in f32.
fn aotc_tanh(x: f32) -> f32 { return select(tanh(clamp(x, -15.0f, 15.0f)), x, aotc_isnan(x)); }
// C's powf: a negative base with an integral exponent is defined (WGSL's pow is not), and
// small integral exponents are exact products (integer Pow truncates a float result).
fn aotc_powf(a: f32, b: f32) -> f32 {
    if (b != trunc(b)) { return pow(a, b); }
    if (abs(b) <= 64.0f) {
        var result = 1.0f;
        var base = a;
        var e = u32(abs(b));
        while (e > 0u) {
            if ((e & 1u) != 0u) { result = result * base; }
            base = base * base;
            e = e >> 1u;
        }
        return select(result, 1.0f / result, b < 0.0f);
    }
    let magnitude = pow(abs(a), b);
    return select(magnitude, -magnitude, a < 0.0f && aotc_fmod(b, 2.0f) != 0.0f);
}
// erf(x) = 1 - erfc(x), erfc by Chebyshev fitting (Numerical Recipes' erfcc), fractional
// error below 1.2e-7 everywhere.
fn aotc_erf(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0f / (1.0f + 0.5f * z);
    let r = t * exp(-z * z - 1.26551223f + t * (1.00002368f + t * (0.37409196f + t * (0.09678418f +
        t * (-0.18628806f + t * (0.27886807f + t * (-1.13520398f + t * (1.48851587f +
        t * (-0.82215223f + t * 0.17087277f)))))))));
    return select(r - 1.0f, 1.0f - r, x >= 0.0f);
}
fn aotc_gelu(x: f32) -> f32 { return 0.5f * x * (1.0f + aotc_erf(x * 0.7071067811865476f)); }
fn aotc_gelu_tanh(x: f32) -> f32 {
    return 0.5f * x * (1.0f + aotc_tanh(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}
"""
