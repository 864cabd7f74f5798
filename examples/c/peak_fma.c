/* Peak FP32 FMA throughput of this machine: independent vector FMA chains that stay in
 * registers (no memory traffic), on every thread. Built by examples/bench_gemm.py with the
 * same -march as the GEMM it compares against; VECTOR_BYTES is the vector width.
 *
 *   cc -O2 -fopenmp -march=x86-64-v4 -DVECTOR_BYTES=64 peak_fma.c -o peak_fma && ./peak_fma 2
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <omp.h>

#ifndef VECTOR_BYTES
#define VECTOR_BYTES 64
#endif
typedef float vf __attribute__((vector_size(VECTOR_BYTES)));
#define LANES (VECTOR_BYTES / 4)
#define CHAINS 12   /* independent FMA chains: enough to cover FMA latency x ports */

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

int main(int argc, char** argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    const long iterations = 100000000L;
    double best = 0.0;
    for (int trial = 0; trial < 3; ++trial) {
        float sink = 0.0f;
        double start = now();
        #pragma omp parallel num_threads(threads) reduction(+ : sink)
        {
            /* Twelve named accumulators (not an array) so they live in registers. */
            vf x = (vf){0} + 1.0000001f, y = (vf){0} + 1e-7f;
            vf a0 = x, a1 = x, a2 = x, a3 = x, a4 = x, a5 = x, a6 = x, a7 = x, a8 = x, a9 = x, a10 = x, a11 = x;
            for (long i = 0; i < iterations; ++i) {
                a0 = a0 * x + y; a1 = a1 * x + y; a2 = a2 * x + y; a3 = a3 * x + y;
                a4 = a4 * x + y; a5 = a5 * x + y; a6 = a6 * x + y; a7 = a7 * x + y;
                a8 = a8 * x + y; a9 = a9 * x + y; a10 = a10 * x + y; a11 = a11 * x + y;
                __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),
                                      "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
            }
            vf total = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;
            sink += total[0];
        }
        double seconds = now() - start;
        double gflops = 2.0 * LANES * CHAINS * (double)iterations * threads / seconds / 1e9;  /* each thread runs all iterations */
        if (gflops > best) best = gflops;
        if (sink == 12345.0f) printf("!");
    }
    printf("%.2f\n", best);
    return 0;
}
