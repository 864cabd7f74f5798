/* Run an aotc CPU artifact from C, no Python involved.
 *
 *   cc -O2 -I ARTIFACT run_model.c -L ARTIFACT -lmodel -Wl,-rpath,ARTIFACT -lpthread -o run_model
 *   ./run_model ARTIFACT/weights.bin input.bin output.bin [--threads N] [--handles H]
 *
 * input.bin holds the first input's raw bytes (a static-shaped model, single input);
 * output.bin receives the first output's raw bytes. With --handles H > 1, H handles of the
 * same model run concurrently on H threads and every result must agree byte for byte.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aotc_model.h"

typedef struct {
    aotc_model* model;
    const void* input;
    void* output;
    int status;
} job;

static void* run_job(void* arg) {
    job* j = arg;
    const void* inputs[1] = {j->input};
    void* outputs[1] = {j->output};
    for (int repeat = 0; repeat < 3 && j->status == AOTC_OK; ++repeat)
        j->status = aotc_run(j->model, inputs, NULL, outputs);
    return NULL;
}

static void* read_file(const char* path, size_t* size) {
    FILE* f = fopen(path, "rb");
    if (!f) { fprintf(stderr, "run_model: cannot open %s\n", path); return NULL; }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    void* data = malloc(n > 0 ? (size_t)n : 1);
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n) { fclose(f); free(data); return NULL; }
    fclose(f);
    *size = (size_t)n;
    return data;
}

static size_t dtype_size(const char* dtype) {
    if (!strcmp(dtype, "f64") || !strcmp(dtype, "i64") || !strcmp(dtype, "u64")) return 8;
    if (!strcmp(dtype, "f32") || !strcmp(dtype, "i32") || !strcmp(dtype, "u32")) return 4;
    if (!strcmp(dtype, "f16") || !strcmp(dtype, "bf16") || !strcmp(dtype, "i16") || !strcmp(dtype, "u16")) return 2;
    return 1;
}

int main(int argc, char** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s weights.bin input.bin output.bin [--threads N] [--handles H]\n", argv[0]);
        return 2;
    }
    int threads = 1, handles = 1;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--handles")) handles = atoi(argv[i + 1]);
    }
    if (handles < 1 || handles > 16) { fprintf(stderr, "run_model: --handles must be 1..16\n"); return 2; }

    size_t weights_size = 0, input_size = 0;
    void* weights = read_file(argv[1], &weights_size);
    void* input = read_file(argv[2], &input_size);
    if (!weights || !input) return 1;

    int64_t dims[16];
    size_t in_bytes = dtype_size(aotc_input_dtype(0));
    aotc_input_dims(0, dims);
    for (int a = 0; a < aotc_input_rank(0); ++a) in_bytes *= (size_t)(dims[a] < 0 ? 0 : dims[a]);
    if (aotc_num_inputs() != 1 || input_size != in_bytes) {
        fprintf(stderr, "run_model: expects one static input of %zu bytes, %s has %zu\n", in_bytes, argv[2], input_size);
        return 1;
    }
    size_t out_bytes = dtype_size(aotc_output_dtype(0));
    if (aotc_output_shape(0, NULL, dims) != AOTC_OK) { fprintf(stderr, "run_model: %s\n", aotc_last_error()); return 1; }
    for (int a = 0; a < aotc_output_rank(0); ++a) out_bytes *= (size_t)dims[a];

    job jobs[16];
    pthread_t tids[16];
    for (int h = 0; h < handles; ++h) {
        jobs[h].input = input;
        jobs[h].output = calloc(1, out_bytes);
        jobs[h].status = aotc_create(weights, weights_size, &jobs[h].model);
        if (jobs[h].status != AOTC_OK) { fprintf(stderr, "run_model: %s\n", aotc_last_error()); return 1; }
        aotc_set_num_threads(jobs[h].model, threads);
    }
    for (int h = 0; h < handles; ++h) pthread_create(&tids[h], NULL, run_job, &jobs[h]);
    for (int h = 0; h < handles; ++h) pthread_join(tids[h], NULL);
    for (int h = 0; h < handles; ++h) {
        if (jobs[h].status != AOTC_OK) { fprintf(stderr, "run_model: handle %d: error %d\n", h, jobs[h].status); return 1; }
        if (memcmp(jobs[h].output, jobs[0].output, out_bytes) != 0) {
            fprintf(stderr, "run_model: handle %d disagrees with handle 0\n", h);
            return 1;
        }
    }
    FILE* out = fopen(argv[3], "wb");
    if (!out || fwrite(jobs[0].output, 1, out_bytes, out) != out_bytes) { fprintf(stderr, "run_model: cannot write %s\n", argv[3]); return 1; }
    fclose(out);
    printf("ran %s on %d handle(s), %d thread(s) each: output 0 '%s' is %zu bytes\n",
           aotc_input_name(0), handles, threads, aotc_output_name(0), out_bytes);
    for (int h = 0; h < handles; ++h) { aotc_destroy(jobs[h].model); free(jobs[h].output); }
    free(weights);
    free(input);
    return 0;
}
