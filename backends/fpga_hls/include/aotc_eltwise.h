// Elementwise layers: unary activations and binary arithmetic over streams, one element per
// cycle per lane. Each op is a small functor, so a new activation is one struct, not a branch.
#ifndef AOTC_ELTWISE_H
#define AOTC_ELTWISE_H
#include "aotc_common.h"

namespace aotc {

struct op_relu { template <class T> static T f(T x, float, float) { return x > (T)0 ? x : (T)0; } };
struct op_leaky_relu {
    template <class T> static T f(T x, float a, float) { return x >= (T)0 ? x : (T)(x * (T)a); }
};
struct op_clip {
    template <class T> static T f(T x, float lo, float hi) { return x < (T)lo ? (T)lo : (x > (T)hi ? (T)hi : x); }
};
struct op_sigmoid {
    template <class T> static T f(T x, float, float) { return (T)(1.0f / (1.0f + std::exp(-to_float(x)))); }
};
struct op_tanh { template <class T> static T f(T x, float, float) { return (T)std::tanh(to_float(x)); } };
struct op_exp { template <class T> static T f(T x, float, float) { return (T)std::exp(to_float(x)); } };
struct op_gelu {
    template <class T> static T f(T x, float, float) {
        const float v = to_float(x);
        return (T)(0.5f * v * (1.0f + std::erf(v * 0.70710678118654752f)));
    }
};
struct op_identity { template <class T> static T f(T x, float, float) { return x; } };

struct op_add { template <class T> static T f(T a, T b) { return a + b; } };
struct op_sub { template <class T> static T f(T a, T b) { return a - b; } };
struct op_mul { template <class T> static T f(T a, T b) { return a * b; } };
struct op_div { template <class T> static T f(T a, T b) { return a / b; } };
struct op_max { template <class T> static T f(T a, T b) { return a > b ? a : b; } };
struct op_min { template <class T> static T f(T a, T b) { return a < b ? a : b; } };

// CFG: n, alpha, beta (the op's two scalar parameters, e.g. Clip's bounds).
template <class TI, class TO, class OP, class CFG>
void activation(hls::stream<TI> &in, hls::stream<TO> &out) {
elements:
    for (unsigned i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = 1
        out.write((TO)OP::f(in.read(), CFG::alpha, CFG::beta));
    }
}

// Two streamed operands of the same size (a residual add), combined at CFG::acc_t precision.
template <class TA, class TB, class TO, class OP, class CFG>
void binary(hls::stream<TA> &a, hls::stream<TB> &b, hls::stream<TO> &out) {
    typedef typename CFG::acc_t acc_t;
elements:
    for (unsigned i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = 1
        out.write((TO)OP::f((acc_t)a.read(), (acc_t)b.read()));
    }
}

// One streamed operand and a constant broadcast to its size at compile time (a ROM).
// `swap` keeps the operand order of non-commutative ops (constant - x).
template <class TI, class TO, class OP, class CFG>
void binary_const(hls::stream<TI> &a, hls::stream<TO> &out, const typename CFG::store_t c[CFG::n]) {
    typedef typename CFG::acc_t acc_t;
elements:
    for (unsigned i = 0; i < CFG::n; i++) {
#pragma HLS PIPELINE II = 1
        const acc_t x = a.read(), k = weight<CFG>(c[i]);
        out.write((TO)(CFG::swap ? OP::f(k, x) : OP::f(x, k)));
    }
}

} // namespace aotc
#endif
