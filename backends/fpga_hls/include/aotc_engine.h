// The sequential streaming engine: one shared compute array that every layer runs on in turn,
// for networks whose weights do not fit on chip. Activations and weights stay in DDR/HBM and
// move through on-chip tile buffers; the layer's shape is a run-time argument, so one hardware
// instance serves every layer (compile-time CFG fixes only the array and the buffer sizes).
//
// CFG: tm x tn multiply-adds per cycle (output x input channels), tr output rows per tile,
// max_k, max_s, max_w_in (padded), max_w_out: the largest of any layer the engine runs.
#ifndef AOTC_ENGINE_H
#define AOTC_ENGINE_H
#include "aotc_common.h"

namespace aotc {

struct conv_args {
    unsigned c_in, h_in, w_in, c_out, h_out, w_out, k, s, pad;
    bool relu;          // epilogue: max(0, .) after the residual
    bool has_residual;  // epilogue: + residual[i] (a ResNet shortcut)
};

template <class T, class CFG>
void engine_conv(const T *x, T *y, const T *w, const T *b, const T *residual, conv_args a) {
    const unsigned rows_in = (CFG::tr - 1) * CFG::max_s + CFG::max_k;
    T wbuf[CFG::tm][CFG::tn][CFG::max_k * CFG::max_k];
#pragma HLS ARRAY_PARTITION variable = wbuf complete dim = 1
#pragma HLS ARRAY_PARTITION variable = wbuf complete dim = 2
    T ibuf[CFG::tn][rows_in][CFG::max_w_in];
#pragma HLS ARRAY_PARTITION variable = ibuf complete dim = 1
    T obuf[CFG::tm][CFG::tr][CFG::max_w_out];
#pragma HLS ARRAY_PARTITION variable = obuf complete dim = 1
    const unsigned kk = a.k * a.k, hw_in = a.h_in * a.w_in, hw_out = a.h_out * a.w_out;
row_tiles:
    for (unsigned r0 = 0; r0 < a.h_out; r0 += CFG::tr) {
        const unsigned tr = a.h_out - r0 < CFG::tr ? a.h_out - r0 : CFG::tr;
        const unsigned tr_in = (tr - 1) * a.s + a.k;
    out_tiles:
        for (unsigned m0 = 0; m0 < a.c_out; m0 += CFG::tm) {
        bias:
            for (unsigned r = 0; r < tr; r++)
                for (unsigned c = 0; c < a.w_out; c++) {
#pragma HLS PIPELINE II = 1
                    for (unsigned m = 0; m < CFG::tm; m++) {
#pragma HLS UNROLL
                        obuf[m][r][c] = m0 + m < a.c_out ? b[m0 + m] : (T)0;
                    }
                }
        in_tiles:
            for (unsigned n0 = 0; n0 < a.c_in; n0 += CFG::tn) {
            load_w:  // a burst per output channel; zeros past the layer's edges keep the array uniform
                for (unsigned m = 0; m < CFG::tm; m++)
                    for (unsigned n = 0; n < CFG::tn; n++)
                        for (unsigned t = 0; t < kk; t++) {
#pragma HLS PIPELINE II = 1
                            const bool ok = m0 + m < a.c_out && n0 + n < a.c_in;
                            wbuf[m][n][t] = ok ? w[((m0 + m) * a.c_in + n0 + n) * kk + t] : (T)0;
                        }
            load_x:  // input rows of this tile, zero padding materialised on chip
                for (unsigned n = 0; n < CFG::tn; n++)
                    for (unsigned r = 0; r < tr_in; r++)
                        for (unsigned c = 0; c < (a.w_out - 1) * a.s + a.k; c++) {
#pragma HLS PIPELINE II = 1
                            const int ih = (int)(r0 * a.s + r) - (int)a.pad, iw = (int)c - (int)a.pad;
                            const bool ok = n0 + n < a.c_in && ih >= 0 && ih < (int)a.h_in && iw >= 0 &&
                                            iw < (int)a.w_in;
                            ibuf[n][r][c] = ok ? x[(n0 + n) * hw_in + ih * a.w_in + iw] : (T)0;
                        }
            compute:
                for (unsigned t = 0; t < kk; t++)
                    for (unsigned r = 0; r < tr; r++)
                        for (unsigned c = 0; c < a.w_out; c++) {
#pragma HLS PIPELINE II = 1
                            const unsigned kh = t / a.k, kw = t % a.k;
                        lanes_o:
                            for (unsigned m = 0; m < CFG::tm; m++) {
#pragma HLS UNROLL
                                T sum = obuf[m][r][c];
                            lanes_i:
                                for (unsigned n = 0; n < CFG::tn; n++) {
#pragma HLS UNROLL
                                    sum += ibuf[n][r * a.s + kh][c * a.s + kw] * wbuf[m][n][t];
                                }
                                obuf[m][r][c] = sum;
                            }
                        }
            }
        store:
            for (unsigned m = 0; m < CFG::tm; m++)
                for (unsigned r = 0; r < tr; r++)
                    for (unsigned c = 0; c < a.w_out; c++) {
#pragma HLS PIPELINE II = 1
                        if (m0 + m >= a.c_out) continue;
                        const unsigned at = (m0 + m) * hw_out + (r0 + r) * a.w_out + c;
                        T v = obuf[m][r][c];
                        if (a.has_residual) v += residual[at];
                        if (a.relu && v < (T)0) v = (T)0;
                        y[at] = v;
                    }
        }
    }
}

struct pool_args {
    unsigned c, h_in, w_in, h_out, w_out, k_h, k_w, s_h, s_w, p_t, p_l;
    bool is_max, count_pad;
};

// Pooling straight from DDR: a window per cycle is out of reach for a shared engine, and
// pooling is a small share of a CNN's time, so it runs as plain pipelined loops.
template <class T>
void engine_pool(const T *x, T *y, pool_args a) {
channels:
    for (unsigned c = 0; c < a.c; c++)
        for (unsigned oh = 0; oh < a.h_out; oh++)
            for (unsigned ow = 0; ow < a.w_out; ow++) {
                T best = 0, sum = 0;
                bool first = true;
                unsigned count = 0;
                for (unsigned kh = 0; kh < a.k_h; kh++)
                    for (unsigned kw = 0; kw < a.k_w; kw++) {
#pragma HLS PIPELINE II = 1
                        const int ih = (int)(oh * a.s_h + kh) - (int)a.p_t, iw = (int)(ow * a.s_w + kw) - (int)a.p_l;
                        if (ih < 0 || ih >= (int)a.h_in || iw < 0 || iw >= (int)a.w_in) {
                            count += a.count_pad;
                            continue;
                        }
                        const T v = x[(c * a.h_in + ih) * a.w_in + iw];
                        best = (first || v > best) ? v : best;
                        first = false;
                        sum += v;
                        count++;
                    }
                y[(c * a.h_out + oh) * a.w_out + ow] = a.is_max ? best : (T)(sum / (T)count);
            }
}

template <class T>
void engine_global_avg_pool(const T *x, T *y, unsigned c, unsigned hw) {
channels:
    for (unsigned i = 0; i < c; i++) {
        T sum = 0;
        for (unsigned j = 0; j < hw; j++) {
#pragma HLS PIPELINE II = 1
            sum += x[i * hw + j];
        }
        y[i] = sum / (T)hw;
    }
}

// y = relu?(a + b) or relu?(a) (has_b false): residual adds and activations the conv could not absorb.
template <class T>
void engine_add_relu(const T *a, const T *b, T *y, unsigned n, bool has_b, bool relu) {
elements:
    for (unsigned i = 0; i < n; i++) {
#pragma HLS PIPELINE II = 1
        T v = has_b ? a[i] + b[i] : a[i];
        y[i] = (relu && v < (T)0) ? (T)0 : v;
    }
}

} // namespace aotc
#endif
