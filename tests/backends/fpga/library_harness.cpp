// Unit-test harness for the FPGA layer library: each entry point pushes an input through one
// template (fixed small configurations, chosen to exercise partial tiles, groups, padding and
// strides) and returns its output, so test_fpga_library.py compares it with numpy.
#include "aotc_common.h"
#include "aotc_conv.h"
#include "aotc_dense.h"
#include "aotc_eltwise.h"
#include "aotc_engine.h"
#include "aotc_norm.h"
#include "aotc_pool.h"

template <unsigned N> static void push(hls::stream<float> &s, const float *x) { for (unsigned i = 0; i < N; i++) s.write(x[i]); }
template <unsigned N> static void pull(hls::stream<float> &s, float *y) { for (unsigned i = 0; i < N; i++) y[i] = s.read(); }

#define FLOAT_TYPES typedef float weight_t; typedef float acc_t; typedef float store_t;
struct dense_cfg { FLOAT_TYPES static const unsigned n_in = 12, n_out = 6, pi = 4, po = 3, ii = 2; };
struct fixed_dense_cfg { typedef ap_fixed<16, 6> weight_t; typedef ap_fixed<40, 14> acc_t; typedef short store_t;
    static const unsigned n_in = 12, n_out = 6, pi = 4, po = 3, ii = 1; };
struct conv_cfg {   // grouped, strided, padded, dilated
    FLOAT_TYPES
    static const unsigned c_in = 4, h_in = 7, w_in = 6, c_out = 6, h_out = 4, w_out = 2, k_h = 3, k_w = 3;
    static const unsigned s_h = 2, s_w = 2, p_t = 1, p_l = 1, d_h = 1, d_w = 2, groups = 2, pi = 2, po = 3, ii = 1;
};
struct dw_cfg {     // depthwise 3x3, pad 1
    FLOAT_TYPES
    static const unsigned c_in = 4, h_in = 5, w_in = 5, c_out = 4, h_out = 5, w_out = 5, k_h = 3, k_w = 3;
    static const unsigned s_h = 1, s_w = 1, p_t = 1, p_l = 1, d_h = 1, d_w = 1, groups = 4, pi = 1, po = 1, ii = 1;
};
struct maxpool_cfg {
    FLOAT_TYPES
    static const unsigned c = 4, h_in = 7, w_in = 7, h_out = 4, w_out = 4, k_h = 3, k_w = 3, s_h = 2, s_w = 2;
    static const unsigned p_t = 1, p_l = 1, d_h = 1, d_w = 1, is_max = 1, count_pad = 0, pc = 2, ii = 5;
};
struct avgpool_cfg {
    FLOAT_TYPES
    static const unsigned c = 4, h_in = 7, w_in = 7, h_out = 4, w_out = 4, k_h = 3, k_w = 3, s_h = 2, s_w = 2;
    static const unsigned p_t = 1, p_l = 1, d_h = 1, d_w = 1, is_max = 0, count_pad = 1, pc = 4, ii = 5;
};
struct gap_cfg { FLOAT_TYPES static const unsigned c = 5, hw = 9, ii = 4; };
struct act_cfg { static const unsigned n = 64; static constexpr float alpha = 0.1f; static constexpr float beta = 0.5f; };
struct bin_cfg { FLOAT_TYPES static const unsigned n = 64, swap = 1; };
struct norm_cfg { FLOAT_TYPES static const unsigned rows = 3, cols = 10, ii = 4; static constexpr float epsilon = 1e-5f; };
struct engine_cfg { static const unsigned tm = 4, tn = 3, tr = 2, max_k = 3, max_s = 2, max_w_in = 9, max_w_out = 4; };

extern "C" {
void t_dense(const float *x, const float *w, const float *b, float *y) {
    hls::stream<float> in, out; push<12>(in, x); aotc::dense<float, float, dense_cfg>(in, out, w, b); pull<6>(out, y);
}
void t_conv(const float *x, const float *w, const float *b, float *y) {
    hls::stream<float> in, out; push<4 * 7 * 6>(in, x);
    aotc::conv2d<float, float, conv_cfg>(in, out, w, b); pull<6 * 4 * 2>(out, y);
}
void t_depthwise(const float *x, const float *w, const float *b, float *y) {
    hls::stream<float> in, out; push<4 * 25>(in, x); aotc::conv2d<float, float, dw_cfg>(in, out, w, b); pull<4 * 25>(out, y);
}
void t_maxpool(const float *x, float *y) {
    hls::stream<float> in, out; push<4 * 49>(in, x); aotc::pool2d<float, float, maxpool_cfg>(in, out); pull<4 * 16>(out, y);
}
void t_avgpool(const float *x, float *y) {
    hls::stream<float> in, out; push<4 * 49>(in, x); aotc::pool2d<float, float, avgpool_cfg>(in, out); pull<4 * 16>(out, y);
}
void t_gap(const float *x, float *y) {
    hls::stream<float> in, out; push<45>(in, x); aotc::global_avg_pool<float, float, gap_cfg>(in, out); pull<5>(out, y);
}
// which: 0 relu, 1 leaky, 2 clip(0.1, 0.5), 3 sigmoid, 4 tanh, 5 gelu, 6 exp
void t_activation(int which, const float *x, float *y) {
    hls::stream<float> in, out; push<64>(in, x);
    switch (which) {
    case 0: aotc::activation<float, float, aotc::op_relu, act_cfg>(in, out); break;
    case 1: aotc::activation<float, float, aotc::op_leaky_relu, act_cfg>(in, out); break;
    case 2: aotc::activation<float, float, aotc::op_clip, act_cfg>(in, out); break;
    case 3: aotc::activation<float, float, aotc::op_sigmoid, act_cfg>(in, out); break;
    case 4: aotc::activation<float, float, aotc::op_tanh, act_cfg>(in, out); break;
    case 5: aotc::activation<float, float, aotc::op_gelu, act_cfg>(in, out); break;
    default: aotc::activation<float, float, aotc::op_exp, act_cfg>(in, out); break;
    }
    pull<64>(out, y);
}
void t_binary_add(const float *a, const float *b, float *y) {
    hls::stream<float> sa, sb, out; push<64>(sa, a); push<64>(sb, b);
    aotc::binary<float, float, float, aotc::op_add, bin_cfg>(sa, sb, out); pull<64>(out, y);
}
void t_const_sub(const float *a, const float *c, float *y) {   // c - a (swap)
    hls::stream<float> sa, out; push<64>(sa, a); aotc::binary_const<float, float, aotc::op_sub, bin_cfg>(sa, out, c); pull<64>(out, y);
}
void t_clone(const float *x, float *y0, float *y1) {
    hls::stream<float> in, o0, o1; push<64>(in, x); aotc::clone<float, 64>(in, o0, o1); pull<64>(o0, y0); pull<64>(o1, y1);
}
void t_softmax(const float *x, float *y) {
    hls::stream<float> in, out; push<30>(in, x); aotc::softmax<float, float, norm_cfg>(in, out); pull<30>(out, y);
}
void t_layernorm(const float *x, const float *g, const float *b, float *y) {
    hls::stream<float> in, out; push<30>(in, x); aotc::layernorm<float, float, norm_cfg>(in, out, g, b); pull<30>(out, y);
}
// The engine on a layer larger than its tiles in every direction: 5 -> 7 channels, 7x7 -> 4x4, k3 s2 p1.
void t_engine_conv(const float *x, const float *w, const float *b, const float *res, float *y, int relu, int residual) {
    aotc::conv_args a = {5, 7, 7, 7, 4, 4, 3, 2, 1, relu != 0, residual != 0};
    aotc::engine_conv<float, engine_cfg>(x, y, w, b, res, a);
}
void t_engine_pool(const float *x, float *y, int is_max) {
    aotc::pool_args a = {4, 7, 7, 4, 4, 3, 3, 2, 2, 1, 1, is_max != 0, false};
    aotc::engine_pool<float>(x, y, a);
}
void t_fixed_dense(const float *x, const float *w, const float *b, float *y) {
    typedef ap_fixed<16, 6> fx;
    fx xs[12];
    short ws[72], bs[6];   // raw bits, as the printer writes ROMs
    for (int i = 0; i < 12; i++) xs[i] = x[i];
    for (int i = 0; i < 72; i++) ws[i] = (short)fx(w[i]).range(15, 0).to_int();
    for (int i = 0; i < 6; i++) bs[i] = (short)fx(b[i]).range(15, 0).to_int();
    hls::stream<fx> in, out;
    for (int i = 0; i < 12; i++) in.write(xs[i]);
    aotc::dense<fx, fx, fixed_dense_cfg>(in, out, ws, bs);
    for (int i = 0; i < 6; i++) y[i] = out.read().to_float();
}
}
