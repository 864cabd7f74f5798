/* The tensor-core GEMM's helpers (backends/cuda/gemm_mma.py SUPPORT) on the CPU, over
   emulate_cuda.h, to test the template's indexing where no GPU is: fragment layouts of ldmatrix
   (plain and .trans) and mma.sync m16n8k16 as the PTX ISA defines them, cp.async as a plain copy
   with zero fill (so the emulation checks the addressing, not the asynchrony), half types as
   16-bit patterns rounded to nearest even. A warp-collective op is an exchange through memory
   between two block barriers: every thread of the block must call it together, as the template
   does. 3-d grids: blocks run one after another. */
#pragma once
#include "emulate_cuda.h"
#include <cstring>

struct __half { uint16_t bits; };
struct __nv_bfloat16 { uint16_t bits; };

inline float aotc_bits_f16(uint16_t bits) { _Float16 h; std::memcpy(&h, &bits, 2); return (float)h; }
inline float aotc_bits_bf16(uint16_t bits) { const uint32_t w = (uint32_t)bits << 16; float f; std::memcpy(&f, &w, 4); return f; }
inline uint16_t aotc_f16_bits(float v) { const _Float16 h = (_Float16)v; uint16_t b; std::memcpy(&b, &h, 2); return b; }
inline uint16_t aotc_bf16_bits(float v) {
    uint32_t w; std::memcpy(&w, &v, 4);
    return (uint16_t)((w + 0x7FFFu + ((w >> 16) & 1u)) >> 16);
}

inline float aotc_f32(float x) { return x; }
inline float aotc_f32(__half x) { return aotc_bits_f16(x.bits); }
inline float aotc_f32(__nv_bfloat16 x) { return aotc_bits_bf16(x.bits); }
inline void aotc_put(float* p, float v) { *p = v; }
inline void aotc_put(__half* p, float v) { p->bits = aotc_f16_bits(v); }
inline void aotc_put(__nv_bfloat16* p, float v) { p->bits = aotc_bf16_bits(v); }
template <typename T> inline void aotc_mma_put2(T* p, float x, float y) { aotc_put(p, x); aotc_put(p + 1, y); }
template <typename T> inline T aotc_max(T a, T b) { return (a != a || a > b) ? a : b; }
template <typename T> inline T aotc_min(T a, T b) { return (a != a || a < b) ? a : b; }

template <int BYTES>
inline void aotc_mma_cp_async(void* shared, const void* global, bool inside, const void*) {
    if (inside) std::memcpy(shared, global, BYTES); else std::memset(shared, 0, BYTES);
}
inline void aotc_mma_commit() {}
template <int N> inline void aotc_mma_wait() {}

inline std::vector<const void*>* aotc_mma_addresses;
inline std::vector<uint32_t>* aotc_mma_registers;

/* Lane l gives the address of row l % 8 of matrix l / 8; register j of lane l holds matrix j's
   elements (l / 4, 2 (l % 4)) and (l / 4, 2 (l % 4) + 1), low half first; .trans transposes. */
inline void aotc_mma_ldmatrix_any(unsigned* r, const void* shared, bool trans) {
    const unsigned self = threadIdx.x, warp = self / 32 * 32, lane = self % 32;
    (*aotc_mma_addresses)[self] = shared;
    __syncthreads();
    for (int j = 0; j < 4; ++j) {
        uint16_t e[2];
        for (int h = 0; h < 2; ++h) {
            const unsigned row = trans ? 2 * (lane % 4) + h : lane / 4, col = trans ? lane / 4 : 2 * (lane % 4) + h;
            e[h] = ((const uint16_t*)(*aotc_mma_addresses)[warp + 8 * j + row])[col];
        }
        r[j] = (uint32_t)e[0] | ((uint32_t)e[1] << 16);
    }
    __syncthreads();
}
inline void aotc_mma_ldmatrix(unsigned* r, const void* shared) { aotc_mma_ldmatrix_any(r, shared, false); }
inline void aotc_mma_ldmatrix_trans(unsigned* r, const void* shared) { aotc_mma_ldmatrix_any(r, shared, true); }

/* D = A (16 x 16, row) * B (16 x 8, col) + C. Lane l = 4 g + t holds A (g, 2t..), (g + 8, 2t..),
   (g, 2t + 8..), (g + 8, 2t + 8..); B (2t.., g), (2t + 8.., g); C (g, 2t..), (g + 8, 2t..). */
inline void aotc_mma_any(float* c, const unsigned* a, const unsigned* b, float (*widen)(uint16_t)) {
    const unsigned self = threadIdx.x, warp = self / 32 * 32, lane = self % 32;
    for (int i = 0; i < 4; ++i) (*aotc_mma_registers)[self * 6 + i] = a[i];
    for (int i = 0; i < 2; ++i) (*aotc_mma_registers)[self * 6 + 4 + i] = b[i];
    __syncthreads();
    float A[16][16], B[16][8];
    for (unsigned l = 0; l < 32; ++l) {
        const unsigned g = l / 4, t = l % 4;
        const uint32_t* regs = &(*aotc_mma_registers)[(warp + l) * 6];
        for (int h = 0; h < 2; ++h) {
            A[g][2 * t + h] = widen(regs[0] >> (16 * h));
            A[g + 8][2 * t + h] = widen(regs[1] >> (16 * h));
            A[g][2 * t + 8 + h] = widen(regs[2] >> (16 * h));
            A[g + 8][2 * t + 8 + h] = widen(regs[3] >> (16 * h));
            B[2 * t + h][g] = widen(regs[4] >> (16 * h));
            B[2 * t + 8 + h][g] = widen(regs[5] >> (16 * h));
        }
    }
    __syncthreads();
    const unsigned g = lane / 4, t = lane % 4;
    for (int h = 0; h < 4; ++h) {
        const unsigned row = g + (h / 2) * 8, col = 2 * t + h % 2;
        float sum = c[h];
        for (int k = 0; k < 16; ++k) sum += A[row][k] * B[k][col];
        c[h] = sum;
    }
}
inline void aotc_mma_f16(float* c, const unsigned* a, const unsigned* b) {
    aotc_mma_any(c, a, b, [](uint16_t bits) { return aotc_bits_f16(bits); });
}
inline void aotc_mma_bf16(float* c, const unsigned* a, const unsigned* b) {
    aotc_mma_any(c, a, b, [](uint16_t bits) { return aotc_bits_bf16(bits); });
}

inline uint16_t aotc_window_rows_bits(const uint16_t* image, int64_t m, int64_t k, int64_t cg, int kw,
        int64_t out_width, int sh, int sw, int ph, int pw, int dh, int dw, int64_t height, int64_t width,
        int64_t channels) {
    const int64_t tap = k / cg, ci = k % cg, ky = tap / kw, kx = tap % kw;
    const int64_t iy = (m / out_width) * sh - ph + ky * dh, ix = (m % out_width) * sw - pw + kx * dw;
    if (iy < 0 || iy >= height || ix < 0 || ix >= width) return 0;
    return image[(iy * width + ix) * channels + ci];
}

/* Runs body() as every thread of a 3-d grid of 1-d blocks. */
inline void aotc_emulate_launch3(const std::function<void()>& body, aotc_uint3 grid, unsigned threads) {
    gridDim = grid;
    blockDim = {threads, 1, 1};
    for (unsigned z = 0; z < grid.z; ++z)
        for (unsigned y = 0; y < grid.y; ++y)
            for (unsigned x = 0; x < grid.x; ++x) {
                std::barrier<> barrier(threads);
                std::vector<float> exchange(threads);
                std::vector<const void*> addresses(threads);
                std::vector<uint32_t> registers(threads * 6);
                aotc_block_barrier = &barrier;
                aotc_exchange = &exchange;
                aotc_mma_addresses = &addresses;
                aotc_mma_registers = &registers;
                std::vector<std::thread> pool;
                for (unsigned t = 0; t < threads; ++t)
                    pool.emplace_back([&body, x, y, z, t] { blockIdx = {x, y, z}; threadIdx = {t, 0, 0}; body(); });
                for (auto& thread : pool) thread.join();
            }
}
