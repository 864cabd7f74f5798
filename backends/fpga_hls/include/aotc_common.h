// aotc FPGA layer library: shared types and stream helpers (Vitis HLS C++).
// Layers keep one sample's tensor in row-major (NCHW) order; between layers it travels as an
// hls::stream of scalars in that order, so a layer's output stream is the next one's input.
#ifndef AOTC_COMMON_H
#define AOTC_COMMON_H

#include "ap_fixed.h"
#include "ap_int.h"
#include "hls_stream.h"
#include <cmath>

namespace aotc {

// Every layer template takes its input and output element types (TI, TO: float, or ap_fixed
// with per-layer widths) and reads its weight and accumulator types from its CFG
// (CFG::weight_t, CFG::acc_t), so one template serves float32 and fixed-point designs.
//
// Weight ROMs hold CFG::store_t words: float for float designs, the raw two's-complement bits
// (short / signed char) of a fixed-point weight otherwise. Reinterpreting bits costs no logic,
// and a ROM of plain integers compiles in a blink, where tens of thousands of ap_fixed
// constructors in a static initialiser take g++ minutes.
template <class W> struct weight_bits {
    template <class R> static W get(R raw) {
        W v;
        v.range() = raw;
        return v;
    }
};
template <> struct weight_bits<float> {
    template <class R> static float get(R raw) { return raw; }
};
template <class CFG, class R> inline typename CFG::weight_t weight(R raw) {
    return weight_bits<typename CFG::weight_t>::get(raw);
}

template <class T> inline float to_float(T x) { return (float)x; }

// A stream read into an on-chip frame buffer.
template <class T, unsigned N>
void read_frame(hls::stream<T> &in, T buf[N]) {
read_frame:
    for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        buf[i] = in.read();
    }
}

// A stream read into / written from a channel-major [C][HW] buffer (the caller partitions the
// channel dimension to match its lanes).
template <class T, unsigned C, unsigned HW>
void read_channels(hls::stream<T> &in, T buf[C][HW]) {
read_channels:
    for (unsigned c = 0; c < C; c++)
        for (unsigned i = 0; i < HW; i++) {
#pragma HLS PIPELINE II = 1
            buf[c][i] = in.read();
        }
}

template <class T, class ACC, unsigned C, unsigned HW>
void write_channels(ACC buf[C][HW], hls::stream<T> &out) {
write_channels:
    for (unsigned c = 0; c < C; c++)
        for (unsigned i = 0; i < HW; i++) {
#pragma HLS PIPELINE II = 1
            out.write((T)buf[c][i]);
        }
}

// Fan-out: a value consumed by two layers is copied onto two streams (a stream has one reader).
template <class T, unsigned N>
void clone(hls::stream<T> &in, hls::stream<T> &out0, hls::stream<T> &out1) {
clone:
    for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        T v = in.read();
        out0.write(v);
        out1.write(v);
    }
}

// AXI master -> stream and back (the top function's edges). T_IO is the port's element type.
template <class T_IO, class T, unsigned N>
void load_stream(const T_IO *src, hls::stream<T> &out) {
load:
    for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        out.write((T)src[i]);
    }
}

template <class T, class T_IO, unsigned N>
void store_stream(hls::stream<T> &in, T_IO *dst) {
store:
    for (unsigned i = 0; i < N; i++) {
#pragma HLS PIPELINE II = 1
        dst[i] = (T_IO)in.read();
    }
}

} // namespace aotc
#endif
