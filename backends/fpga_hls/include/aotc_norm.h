// Row-wise softmax and layer normalisation over the last axis: CFG: rows, cols (and epsilon).
// A row is buffered on chip, as both need two passes over it.
#ifndef AOTC_NORM_H
#define AOTC_NORM_H
#include "aotc_common.h"

namespace aotc {

template <class TI, class TO, class CFG>
void softmax(hls::stream<TI> &in, hls::stream<TO> &out) {
rows:
    for (unsigned r = 0; r < CFG::rows; r++) {
        float row[CFG::cols];
        float peak = -INFINITY, total = 0.0f;
    read:
        for (unsigned i = 0; i < CFG::cols; i++) {
#pragma HLS PIPELINE II = 1
            row[i] = to_float(in.read());
            peak = row[i] > peak ? row[i] : peak;
        }
    exps:
        for (unsigned i = 0; i < CFG::cols; i++) {
#pragma HLS PIPELINE II = CFG::ii
            row[i] = std::exp(row[i] - peak);
            total += row[i];
        }
    write:
        for (unsigned i = 0; i < CFG::cols; i++) {
#pragma HLS PIPELINE II = 1
            out.write((TO)(row[i] / total));
        }
    }
}

template <class TI, class TO, class CFG>
void layernorm(hls::stream<TI> &in, hls::stream<TO> &out, const typename CFG::store_t gamma[CFG::cols],
               const typename CFG::store_t beta[CFG::cols]) {
rows:
    for (unsigned r = 0; r < CFG::rows; r++) {
        float row[CFG::cols];
        float sum = 0.0f, sq = 0.0f;
    read:
        for (unsigned i = 0; i < CFG::cols; i++) {
#pragma HLS PIPELINE II = CFG::ii
            row[i] = to_float(in.read());
            sum += row[i];
        }
        const float mean = sum / CFG::cols;
    variance:
        for (unsigned i = 0; i < CFG::cols; i++) {
#pragma HLS PIPELINE II = CFG::ii
            const float d = row[i] - mean;
            sq += d * d;
        }
        const float inv = 1.0f / std::sqrt(sq / CFG::cols + CFG::epsilon);
    write:
        for (unsigned i = 0; i < CFG::cols; i++) {
#pragma HLS PIPELINE II = 1
            out.write((TO)((row[i] - mean) * inv * to_float(weight<CFG>(gamma[i])) + to_float(weight<CFG>(beta[i]))));
        }
    }
}

} // namespace aotc
#endif
