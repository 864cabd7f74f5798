// 2-d convolution, grouped and depthwise included, on one NCHW sample.
// CFG: c_in, h_in, w_in, c_out, h_out, w_out, k_h, k_w, s_h, s_w, p_t, p_l (padding top/left),
// d_h, d_w, groups; po output channels x pi input channels per cycle (po | c_out/groups,
// pi | c_in/groups); ii (see dense: the pipelined loop walks output pixels, so an accumulator is
// revisited every h_out*w_out cycles). Weights are packed [c_out/po][c_in/groups/pi][k_h][k_w][po][pi].
#ifndef AOTC_CONV_H
#define AOTC_CONV_H
#include "aotc_common.h"

namespace aotc {

template <class TI, class TO, class CFG>
void conv2d(hls::stream<TI> &in, hls::stream<TO> &out, const typename CFG::store_t w[],
            const typename CFG::store_t b[CFG::c_out]) {
    typedef typename CFG::acc_t acc_t;
    typedef typename CFG::weight_t W;
    const unsigned icg = CFG::c_in / CFG::groups, ocg = CFG::c_out / CFG::groups;
    const unsigned hw_out = CFG::h_out * CFG::w_out;
    // Channel-major 2-d buffers, partitioned on the channel: lane q of a cycle reads bank q.
    TI x[CFG::c_in][CFG::h_in * CFG::w_in];
#pragma HLS ARRAY_PARTITION variable = x cyclic factor = CFG::pi dim = 1
    acc_t acc[CFG::c_out][CFG::h_out * CFG::w_out];
#pragma HLS ARRAY_PARTITION variable = acc cyclic factor = CFG::po dim = 1
    read_channels<TI, CFG::c_in, CFG::h_in * CFG::w_in>(in, x);
init:
    for (unsigned c = 0; c < CFG::c_out; c++)
        for (unsigned i = 0; i < hw_out; i++) {
#pragma HLS PIPELINE II = 1
            acc[c][i] = weight<CFG>(b[c]);
        }
out_blocks:
    for (unsigned ob = 0; ob < CFG::c_out / CFG::po; ob++) {
        const unsigned g = (ob * CFG::po) / ocg;
    in_blocks:
        for (unsigned ib = 0; ib < icg / CFG::pi; ib++) {
        taps_h:
            for (unsigned kh = 0; kh < CFG::k_h; kh++) {
            taps_w:
                for (unsigned kw = 0; kw < CFG::k_w; kw++) {
                pixels:
                    for (unsigned pix = 0; pix < hw_out; pix++) {
#pragma HLS PIPELINE II = CFG::ii
                        const int ih = (int)((pix / CFG::w_out) * CFG::s_h + kh * CFG::d_h) - CFG::p_t;
                        const int iw = (int)((pix % CFG::w_out) * CFG::s_w + kw * CFG::d_w) - CFG::p_l;
                        const bool inside = ih >= 0 && ih < (int)CFG::h_in && iw >= 0 && iw < (int)CFG::w_in;
                    lanes_o:
                        for (unsigned p = 0; p < CFG::po; p++) {
#pragma HLS UNROLL
                            acc_t sum = acc[ob * CFG::po + p][pix];
                        lanes_i:
                            for (unsigned q = 0; q < CFG::pi; q++) {
#pragma HLS UNROLL
                                const unsigned c = g * icg + ib * CFG::pi + q;
                                const W wv = weight<CFG>(w[((((ob * (icg / CFG::pi) + ib) * CFG::k_h + kh) * CFG::k_w + kw) *
                                                    CFG::po + p) * CFG::pi + q]);
                                if (inside) sum += (acc_t)x[c][ih * CFG::w_in + iw] * wv;
                            }
                            acc[ob * CFG::po + p][pix] = sum;
                        }
                    }
                }
            }
        }
    }
    write_channels<TO, acc_t, CFG::c_out, CFG::h_out * CFG::w_out>(acc, out);
}

} // namespace aotc
#endif
