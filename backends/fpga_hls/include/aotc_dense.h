// Dense (Gemm/MatMul with a constant right operand): y[o] = b[o] + sum_i x[i] * w[o][i].
// CFG: n_in, n_out; pi inputs x po outputs multiplied per cycle (pi | n_in, po | n_out);
// ii, the initiation interval that keeps the accumulator's add latency off the critical path
// (the pipelined loop walks output blocks, so one accumulator is revisited every n_out/po cycles).
// Weights come packed as [n_out/po][n_in/pi][po][pi], so one cyclic partition by po*pi puts
// every multiplier's operand in its own bank.
#ifndef AOTC_DENSE_H
#define AOTC_DENSE_H
#include "aotc_common.h"

namespace aotc {

template <class TI, class TO, class CFG>
void dense(hls::stream<TI> &in, hls::stream<TO> &out, const typename CFG::store_t w[CFG::n_in * CFG::n_out],
           const typename CFG::store_t b[CFG::n_out]) {
    typedef typename CFG::acc_t acc_t;
    TI x[CFG::n_in];
#pragma HLS ARRAY_PARTITION variable = x cyclic factor = CFG::pi
    acc_t acc[CFG::n_out];
#pragma HLS ARRAY_PARTITION variable = acc cyclic factor = CFG::po
    read_frame<TI, CFG::n_in>(in, x);
init:
    for (unsigned o = 0; o < CFG::n_out; o++) {
#pragma HLS PIPELINE II = 1
        acc[o] = weight<CFG>(b[o]);
    }
reduce:
    for (unsigned ib = 0; ib < CFG::n_in / CFG::pi; ib++) {
    outputs:
        for (unsigned ob = 0; ob < CFG::n_out / CFG::po; ob++) {
#pragma HLS PIPELINE II = CFG::ii
        lanes_o:
            for (unsigned p = 0; p < CFG::po; p++) {
#pragma HLS UNROLL
                acc_t sum = acc[ob * CFG::po + p];
            lanes_i:
                for (unsigned q = 0; q < CFG::pi; q++) {
#pragma HLS UNROLL
                    sum += (acc_t)x[ib * CFG::pi + q] *
                           weight<CFG>(w[((ob * (CFG::n_in / CFG::pi) + ib) * CFG::po + p) * CFG::pi + q]);
                }
                acc[ob * CFG::po + p] = sum;
            }
        }
    }
write:
    for (unsigned o = 0; o < CFG::n_out; o++) {
#pragma HLS PIPELINE II = 1
        out.write((TO)acc[o]);
    }
}

} // namespace aotc
#endif
