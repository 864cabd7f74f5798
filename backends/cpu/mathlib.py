"""Vectorizable float math for the CPU backend's kernels.

libm's expf/tanhf/erff are scalar calls the compiler cannot vectorize (without -ffast-math,
which would break NaN/inf semantics), and softmax, GELU and tanh-GELU spend most of their time
in them. These branch-free versions inline into the loops and vectorize at the target's width;
each is within ~2 ulp of the correctly rounded result (tests/backends/cpu check them against
numpy on dense samples: test_cpu_mathlib.py). NaN propagates through every one of them.
"""

MATHLIB_C = r"""
typedef union { float f; int32_t i; } aotc_bits;

/* max/min that propagate a NaN from either side (as numpy and onnxruntime do): when neither
 * comparison holds, one operand is NaN and a + b is NaN. As functions each operand is
 * evaluated once; this form (unlike `(a > b) | isnan(a)`) vectorizes when nested. */
static inline float aotc_maxf(float a, float b) { return a > b ? a : (a <= b ? b : a + b); }
static inline float aotc_minf(float a, float b) { return a < b ? a : (a >= b ? b : a + b); }
static inline double aotc_max(double a, double b) { return a > b ? a : (a <= b ? b : a + b); }
static inline double aotc_min(double a, double b) { return a < b ? a : (a >= b ? b : a + b); }
/* The same against a bound c that is not NaN (Clip's, ReLU's): one compare and one select,
   where the general form's second test and add cost a dozen mask instructions per vector. */
static inline float aotc_maxcf(float a, float c) { return a <= c ? c : a; }
static inline float aotc_mincf(float a, float c) { return a >= c ? c : a; }
static inline double aotc_maxc(double a, double c) { return a <= c ? c : a; }
static inline double aotc_minc(double a, double c) { return a >= c ? c : a; }

/* exp(x) = p * 2^k for k = rint(x / ln 2): Cody-Waite reduction x - k ln 2 (in two parts),
 * then a degree-6 polynomial on [-ln2/2, ln2/2] (Cephes coefficients) gives p. */
static inline float aotc_exp_reduced(float x, float k) {
    float r = x - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    return p * r * r + r + 1.0f;
}

/* exp: p scaled by 2^k as two exponent-bit factors 2^(k/2) * 2^(k - k/2), so the whole float
 * range (subnormal results included) needs no special case. */
static inline float aotc_expf(float x) {
    const float hi = 88.72283935546875f, lo = -103.972084045410f;
    const float xc = x > hi ? hi : (x < lo ? lo : x);
    const float k = __builtin_rintf(xc * 1.44269504088896341f);
    const float p = aotc_exp_reduced(xc, k);
    const int32_t k1 = (int32_t)k >> 1, k2 = (int32_t)k - k1;
    aotc_bits s1, s2;
    s1.i = (k1 + 127) << 23;
    s2.i = (k2 + 127) << 23;
    const float y = p * s1.f * s2.f;
    return x > hi ? INFINITY : (x < lo ? 0.0f : (x != x ? x : y));
}

/* exp for callers that only add its result to 1 or take it from 1 (sigmoid, tanh, erf, GELU):
 * the argument clamped to [-87, 89], then one exponent-bit scale. Below -87, exp < 1.7e-38
 * vanishes beside 1 as the subnormal would; from 88.4 up, k = 128 makes the scale's bits +inf,
 * as exp's own overflow would (true results there are >= 2.5e38, which only divide 1 to ~0).
 * A NaN argument gives NaN. Half the cost of aotc_expf: no special-case selects, one scale. */
static inline float aotc_expf_bounded(float x) {
    const float xc = x > 89.0f ? 89.0f : (x < -87.0f ? -87.0f : x);
    const float k = __builtin_rintf(xc * 1.44269504088896341f);
    aotc_bits scale;
    scale.i = ((int32_t)k + 127) << 23;
    return aotc_exp_reduced(xc, k) * scale.f;
}

static inline float aotc_sigmoidf(float x) {
    return 1.0f / (1.0f + aotc_expf_bounded(-x));
}

/* tanh: odd Taylor series below 0.25 (no cancellation), 1 - 2 / (exp(2|x|) + 1) above. */
static inline float aotc_tanhf(float x) {
    const float t = x < 0.0f ? -x : x;
    const float s = x * x;
    float small = 2.18694885e-2f;            /* 62/2835 */
    small = small * s - 5.39682540e-2f;      /* 17/315 */
    small = small * s + 1.33333333e-1f;      /* 2/15 */
    small = small * s - 3.33333333e-1f;      /* 1/3 */
    small = small * s * x + x;
    const float e = aotc_expf_bounded(2.0f * (t > 9.0f ? 9.0f : t));
    const float large = 1.0f - 2.0f / (e + 1.0f);
    const float signed_large = x < 0.0f ? -large : large;
    return t < 0.25f ? small : (x != x ? x : signed_large);
}

/* erf (N. Juffa's single-precision approximation, < 1 ulp before our expf): a polynomial in
 * x^2 below 0.9277, 1 - exp(poly(|x|)) above. */
static inline float aotc_erff(float a) {
    const float t = a < 0.0f ? -a : a;
    const float s = a * a;
    float r = -1.72853470e-5f * t + 3.83197126e-4f;
    const float u = -3.88396438e-3f * t + 2.42546219e-2f;
    r = r * s + u;
    r = r * t - 1.06777877e-1f;
    r = r * t - 6.34846687e-1f;
    r = r * t - 1.28717512e-1f;
    r = r * t - t;
    float large = 1.0f - aotc_expf_bounded(r);
    large = a < 0.0f ? -large : large;
    float small = -5.96761703e-4f;
    small = small * s + 4.99119423e-3f;
    small = small * s - 2.67681349e-2f;
    small = small * s + 1.12819925e-1f;
    small = small * s - 3.76125336e-1f;
    small = small * s + 1.28379166e-1f;
    small = small * a + a;
    return t > 0.927734375f ? large : small;
}
"""

# Loop-IR function -> (float32, float64) spelling in the CPU backend (others come from
# cstyle's table); None keeps cstyle's spelling.
FLOAT_FUNCTIONS = {
    "exp": ("aotc_expf({0})", None),
    "tanh": ("aotc_tanhf({0})", None),
    "erf": ("aotc_erff({0})", None),
    "sigmoid": ("aotc_sigmoidf({0})", None),
    "max": ("aotc_maxf({0}, {1})", "aotc_max({0}, {1})"),
    "min": ("aotc_minf({0}, {1})", "aotc_min({0}, {1})"),
}

def vector_types_c(widths: tuple[int, ...], native: int) -> str:
    """GCC vector types of each width in `widths` (floats): aotc_vf<W>, aotc_vf<W>_unaligned,
    aotc_vi<W>, and max/min against a scalar for the GEMM epilogue: aotc_vmaxs<W> (NaN in
    either operand propagates) and aotc_vmaxc<W> (a bound that is not NaN: one compare and one
    select, as aotc_maxcf). The native width's types are also spelled without the suffix
    (aotc_vf: the attention and Winograd templates). A template may run narrower than the ISA:
    on Zen 4, whose 512-bit FMAs issue as two 256-bit halves, 8-wide panels cost nothing per
    FLOP and waste none of N = 24's lanes. C has no vector ?:, so the clamps select through
    bit masks; the bound is splatted as s - 0, which keeps a -0 bound's sign (0 + s would not)."""
    lines = []
    for w in widths:
        vf, vi = f"aotc_vf{w}", f"aotc_vi{w}"
        lines += [f"typedef float {vf} __attribute__((vector_size({4 * w})));",
                  f"typedef float {vf}_unaligned __attribute__((vector_size({4 * w}), aligned(4)));",
                  f"typedef int32_t {vi} __attribute__((vector_size({4 * w})));"]
        for name, test, bound_test in (("max", ">", "<="), ("min", "<", ">=")):
            lines.append(f"static inline {vf} aotc_v{name}s{w}({vf} a, float s) {{\n"
                         f"    const {vf} b = s - ({vf}){{0}};\n"
                         f"    const {vi} keep = (a {test} b) | (a != a);\n"
                         f"    return ({vf})((({vi})a & keep) | (({vi})b & ~keep));\n}}")
            lines.append(f"static inline {vf} aotc_v{name}c{w}({vf} a, float s) {{\n"
                         f"    const {vf} b = s - ({vf}){{0}};\n"
                         f"    const {vi} take = (a {bound_test} b);\n"
                         f"    return ({vf})((({vi})b & take) | (({vi})a & ~take));\n}}")
        if w == native:
            lines += [f"typedef {vf} aotc_vf;", f"typedef {vf}_unaligned aotc_vf_unaligned;", f"typedef {vi} aotc_vi;"]
    return "\n".join(lines)
