/* Just enough CUDA to run one block-synchronous kernel on the CPU, for tests of a template's
   logic where no GPU is: each block's threads are std::threads, __syncthreads() a barrier,
   a shuffle an exchange through memory between two barriers (so every thread of the block
   must shuffle together, as the templates do), and __shared__ arrays are static: blocks run
   one after another. Numerics follow the host's libm, not CUDA's; timing means nothing. */
#pragma once
#include <barrier>
#include <cstdint>
#include <functional>
#include <math.h>
#include <thread>
#include <vector>
#include <algorithm>

struct aotc_uint3 { unsigned x, y, z; };
inline thread_local aotc_uint3 threadIdx, blockIdx;
inline aotc_uint3 blockDim, gridDim;
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) float2 { float x, y; };
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
using std::min;
using std::max;

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __restrict__ __restrict
#define __shared__ static
#define __align__(n) __attribute__((aligned(n)))

inline std::barrier<>* aotc_block_barrier;
inline std::vector<float>* aotc_exchange;

inline void __syncthreads() { aotc_block_barrier->arrive_and_wait(); }

inline float __shfl_xor_sync(unsigned, float value, int lane_mask) {
    const unsigned self = threadIdx.x;
    (*aotc_exchange)[self] = value;
    __syncthreads();
    const float other = (*aotc_exchange)[self ^ lane_mask];
    __syncthreads();
    return other;
}

/* Runs body() as every thread of a 3-d grid of 1-d blocks (x fastest). */
inline void aotc_emulate_launch3(const std::function<void()>& body, unsigned gx, unsigned gy, unsigned gz,
                                 unsigned threads) {
    gridDim = {gx, gy, gz};
    blockDim = {threads, 1, 1};
    for (unsigned b = 0; b < gx * gy * gz; ++b) {
        const aotc_uint3 block = {b % gx, b / gx % gy, b / (gx * gy)};
        std::barrier<> barrier(threads);
        std::vector<float> exchange(threads);
        aotc_block_barrier = &barrier;
        aotc_exchange = &exchange;
        std::vector<std::thread> pool;
        for (unsigned t = 0; t < threads; ++t)
            pool.emplace_back([&body, block, t] { blockIdx = block; threadIdx = {t, 0, 0}; body(); });
        for (auto& thread : pool) thread.join();
    }
}

/* Runs body() as every thread of a 1-d grid of 1-d blocks. */
inline void aotc_emulate_launch(const std::function<void()>& body, unsigned blocks, unsigned threads) {
    aotc_emulate_launch3(body, blocks, 1, 1, threads);
}
