/* bench_conv.c: speed of the FFT convolution on the reference layer shapes
 * (36×64 maps; layer 1: 1→32, K=9; layers 2, 3: 32→32, K=7), for a training
 * batch (B=64) and a single image (B=1, as in MEI synthesis), on 1 and 2
 * threads. Prints figures; it is not a test.
 *
 * GFLOP/s are "effective": the FLOPs a direct convolution would need,
 * 2·B·Cin·Cout·H·W·K² per pass (a din+dweight backward counts two passes),
 * divided by the FFT layer's time. For scale it also prints OpenBLAS sgemm
 * on the im2col GEMM of one 32→32 K=7 image (2304×32×1568) and the direct
 * convolution's own speed. */
#include "layers.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define H 36
#define W 64

typedef struct layer_shape {
    int cin, cout, k;
} layer_shape;

static const layer_shape LAYERS[3] = {{1, 32, 9}, {32, 32, 7}, {32, 32, 7}};

static double now_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

static float *random_floats(size_t n, unsigned *seed)
{
    float *a = malloc(sizeof(float) * n);
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        a[i] = (float)(*seed >> 8) / 16777216.0f - 0.5f;
    }
    return a;
}

static double direct_flops(int B, layer_shape L)
{
    return 2.0 * B * L.cin * L.cout * H * W * L.k * L.k;
}

/* One FFT layer with its buffers. */
typedef struct bench_layer {
    layer_shape shape;
    conv_fft *c;
    float *in, *out, *w, *bias, *dout, *din, *dw, *db;
} bench_layer;

static bench_layer make_layer(layer_shape L, int B, int threads, unsigned *seed)
{
    bench_layer b = {.shape = L};
    size_t n_in = (size_t)B * L.cin * H * W, n_out = (size_t)B * L.cout * H * W;
    size_t n_w = (size_t)L.cout * L.cin * L.k * L.k;
    b.c = conv_fft_create(B, L.cin, L.cout, H, W, L.k);
    if (!b.c) {
        fprintf(stderr, "conv_fft_create failed\n");
        exit(1);
    }
    conv_fft_set_threads(b.c, threads);
    b.in = random_floats(n_in, seed);
    b.w = random_floats(n_w, seed);
    b.bias = random_floats(L.cout, seed);
    b.dout = random_floats(n_out, seed);
    b.out = malloc(sizeof(float) * n_out);
    b.din = malloc(sizeof(float) * n_in);
    b.dw = calloc(n_w, sizeof(float));
    b.db = calloc(L.cout, sizeof(float));
    conv_fft_set_weights(b.c, b.w);
    return b;
}

static void free_layer(bench_layer *b)
{
    conv_fft_destroy(b->c);
    free(b->in), free(b->out), free(b->w), free(b->bias), free(b->dout), free(b->din);
    free(b->dw), free(b->db);
}

enum { FORWARD, BACKWARD_FULL, BACKWARD_DIN, SET_WEIGHTS };

static void run_once(bench_layer *b, int what, int B)
{
    switch (what) {
    case FORWARD:
        conv_fft_forward(b->c, b->out, b->in, b->bias, B);
        break;
    case BACKWARD_FULL:
        conv_fft_backward(b->c, b->din, b->dw, b->db, b->dout, B);
        break;
    case BACKWARD_DIN:
        conv_fft_backward(b->c, b->din, NULL, NULL, b->dout, B);
        break;
    default:
        conv_fft_set_weights(b->c, b->w);
    }
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one call, over enough repetitions for ~0.3 s. */
static double time_call(bench_layer *b, int what, int B)
{
    double t0 = now_seconds();
    run_once(b, what, B);
    double once = now_seconds() - t0;
    int reps = once > 0.1 ? 3 : (int)(0.3 / (once + 1e-6)) + 3;
    if (reps > 201)
        reps = 201;
    double *t = malloc(sizeof(double) * reps);
    for (int r = 0; r < reps; r++) {
        double s = now_seconds();
        run_once(b, what, B);
        t[r] = now_seconds() - s;
    }
    qsort(t, reps, sizeof(double), cmp_double);
    double median = t[reps / 2];
    free(t);
    return median;
}

static void bench_fft(int B, int threads)
{
    unsigned seed = 1;
    double train = 0.0, mei = 0.0;
    for (int l = 0; l < 2; l++) { /* layers 2 and 3 share a shape: time it once */
        layer_shape L = LAYERS[l];
        bench_layer b = make_layer(L, B, threads, &seed);
        run_once(&b, FORWARD, B);
        double fwd = time_call(&b, FORWARD, B);
        double full = time_call(&b, BACKWARD_FULL, B);
        double din = time_call(&b, BACKWARD_DIN, B);
        double setw = time_call(&b, SET_WEIGHTS, B);
        double fl = direct_flops(B, L);
        printf("  B=%-2d threads=%d  %2d->%-2d K=%d | forward %8.3f ms (%6.1f GF/s) | "
               "backward din+dw %8.3f ms (%6.1f GF/s) | din only %8.3f ms (%6.1f GF/s) | "
               "set_weights %6.3f ms\n",
               B, threads, L.cin, L.cout, L.k, fwd * 1e3, fl / fwd * 1e-9, full * 1e3,
               2 * fl / full * 1e-9, din * 1e3, fl / din * 1e-9, setw * 1e3);
        int copies = l == 0 ? 1 : 2;
        /* Training: layer 1 needs no input gradient. */
        double backward = full;
        if (l == 0) {
            float *keep = b.din;
            b.din = NULL;
            backward = time_call(&b, BACKWARD_FULL, B);
            b.din = keep;
        }
        train += copies * (fwd + backward + setw);
        mei += copies * (fwd + din);
        free_layer(&b);
    }
    printf("  => B=%d threads=%d: 3-layer training step (set_weights + forward + backward) "
           "%.2f ms = %.0f images/s; 3-layer input-gradient step %.3f ms\n",
           B, threads, train * 1e3, B / train, mei * 1e3);
}

static void bench_sgemm(int threads)
{
    int M = 2304, N = 32, K = 1568;
    unsigned seed = 2;
    float *a = random_floats((size_t)M * K, &seed), *b = random_floats((size_t)K * N, &seed);
    float *c = malloc(sizeof(float) * M * N);
    openblas_set_num_threads(threads);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    int reps = 50;
    double t0 = now_seconds();
    for (int r = 0; r < reps; r++)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f,
                    c, N);
    double t = (now_seconds() - t0) / reps;
    printf("  OpenBLAS sgemm %dx%dx%d, %d thread(s): %.3f ms, %.1f GFLOP/s\n", M, N, K, threads,
           t * 1e3, 2.0 * M * N * K / t * 1e-9);
    openblas_set_num_threads(1);
    free(a), free(b), free(c);
}

static void bench_direct(void)
{
    layer_shape L = LAYERS[1];
    unsigned seed = 3;
    int B = 1;
    float *in = random_floats((size_t)B * L.cin * H * W, &seed);
    float *w = random_floats((size_t)L.cout * L.cin * L.k * L.k, &seed);
    float *out = malloc(sizeof(float) * B * L.cout * H * W);
    double t0 = now_seconds();
    conv2d_forward(out, in, w, NULL, B, L.cin, L.cout, H, W, L.k);
    double t = now_seconds() - t0;
    printf("  direct conv2d_forward B=1 32->32 K=7 (OMP_NUM_THREADS threads): %.1f ms, "
           "%.2f GFLOP/s\n", t * 1e3, direct_flops(B, L) / t * 1e-9);
    free(in), free(w), free(out);
}

int main(void)
{
    openblas_set_num_threads(1);
    printf("FFT convolution on %dx%d maps (effective GFLOP/s = direct-convolution FLOPs / time)\n",
           H, W);
    for (int threads = 1; threads <= 2; threads++) {
        bench_fft(64, threads);
        bench_fft(1, threads);
    }
    printf("For comparison:\n");
    bench_sgemm(1);
    bench_sgemm(2);
    bench_direct();
    return 0;
}
