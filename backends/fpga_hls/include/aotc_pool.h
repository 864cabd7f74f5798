// Max and average pooling (count_include_pad either way) and global average pooling, NCHW.
// CFG: c, h_in, w_in, h_out, w_out, k_h, k_w, s_h, s_w, p_t, p_l, d_h, d_w, is_max,
// count_pad; pc channels per cycle (pc | c).
#ifndef AOTC_POOL_H
#define AOTC_POOL_H
#include "aotc_common.h"

namespace aotc {

template <class TI, class TO, class CFG>
void pool2d(hls::stream<TI> &in, hls::stream<TO> &out) {
    typedef typename CFG::acc_t acc_t;
    const unsigned hw_out = CFG::h_out * CFG::w_out;
    TI x[CFG::c][CFG::h_in * CFG::w_in];
#pragma HLS ARRAY_PARTITION variable = x cyclic factor = CFG::pc dim = 1
    TO y[CFG::c][CFG::h_out * CFG::w_out];
#pragma HLS ARRAY_PARTITION variable = y cyclic factor = CFG::pc dim = 1
    read_channels<TI, CFG::c, CFG::h_in * CFG::w_in>(in, x);
channels:
    for (unsigned cb = 0; cb < CFG::c / CFG::pc; cb++) {
    pixels:
        for (unsigned pix = 0; pix < hw_out; pix++) {
#pragma HLS PIPELINE II = CFG::ii
        lanes:
            for (unsigned p = 0; p < CFG::pc; p++) {
#pragma HLS UNROLL
                const unsigned c = cb * CFG::pc + p;
                acc_t best = 0, sum = 0;
                bool first = true;
                unsigned count = 0;
            taps_h:
                for (unsigned kh = 0; kh < CFG::k_h; kh++) {
                taps_w:
                    for (unsigned kw = 0; kw < CFG::k_w; kw++) {
                        const int ih = (int)((pix / CFG::w_out) * CFG::s_h + kh * CFG::d_h) - CFG::p_t;
                        const int iw = (int)((pix % CFG::w_out) * CFG::s_w + kw * CFG::d_w) - CFG::p_l;
                        if (ih < 0 || ih >= (int)CFG::h_in || iw < 0 || iw >= (int)CFG::w_in) {
                            count += CFG::count_pad;   // padding counts toward the mean when asked
                            continue;
                        }
                        const acc_t v = x[c][ih * CFG::w_in + iw];
                        best = (first || v > best) ? v : best;
                        first = false;
                        sum += v;
                        count++;
                    }
                }
                y[c][pix] = CFG::is_max ? (TO)best : (TO)(sum / (acc_t)count);
            }
        }
    }
    write_channels<TO, TO, CFG::c, CFG::h_out * CFG::w_out>(y, out);
}

// Mean over each channel's h*w values (GlobalAveragePool, and ReduceMean over spatial axes).
template <class TI, class TO, class CFG>
void global_avg_pool(hls::stream<TI> &in, hls::stream<TO> &out) {
    typedef typename CFG::acc_t acc_t;
channels:
    for (unsigned c = 0; c < CFG::c; c++) {
        acc_t sum = 0;
    pixels:
        for (unsigned i = 0; i < CFG::hw; i++) {
#pragma HLS PIPELINE II = CFG::ii
            sum += (acc_t)in.read();
        }
        out.write((TO)(sum / (acc_t)CFG::hw));
    }
}

} // namespace aotc
#endif
