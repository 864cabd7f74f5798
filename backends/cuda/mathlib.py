"""Device helpers every kernel of a model may call, printed once at the top of model.cu.

NaN-propagating max/min/sign (as numpy; `a != a` is the NaN test that also compiles for
integers and __half), as functions so nested calls do not repeat their arguments, and a pow
that is exact for integral powers of integral bases.
"""

MATHLIB_CU = """\
template <typename T> __device__ __forceinline__ T aotc_max(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T aotc_min(T a, T b) { return (a < b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T aotc_sign(T a) { return a > T(0) ? T(1) : (a < T(0) ? T(-1) : a); }

/* pow with exact integral powers of integral bases. CUDA's pow is within 2 ulp, not correctly
 * rounded as glibc's, so 3^2 may come back as 8.999...; the integer Pow lowering (via double)
 * would then truncate it to 8. */
__device__ __forceinline__ double aotc_pow(double a, double b) {
    if (b == rint(b) && fabs(b) <= 64.0 && a == rint(a)) {
        double result = 1.0, base = a;
        for (long long e = (long long)fabs(b); e; e >>= 1) {
            if (e & 1) result *= base;
            base *= base;
        }
        return b < 0 ? 1.0 / result : result;
    }
    return pow(a, b);
}
"""
