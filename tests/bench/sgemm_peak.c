/* sgemm_peak.c: what OpenBLAS's sgemm reaches on this machine, in GFLOP/s.
 *
 * The yardstick for the benchmark note: a convolution's GFLOP/s means little
 * until it is set against the best the machine's BLAS does. Two shapes, each
 * with 1 and 2 threads: square 1024 (sgemm at its best), and the im2col
 * shape of one 7×7 layer of the reference core on a 36×64 image, 2304×32×1568
 * (M pixels × N output channels × K = 32 channels·49 taps), plus its transpose
 * 32×2304×1568 (weights · columns), since a library may use either.
 * Each figure is the median of 5 timed repeats after a warm-up.
 *
 * Build: gcc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror
 *            tests/bench/sgemm_peak.c -o sgemm_peak -lopenblas */
#include <cblas.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* OpenBLAS's own extensions; Debian's cblas.h declares them only when the
 * cblas alternative is OpenBLAS, so declare them here too (a compatible
 * redeclaration is harmless). */
void openblas_set_num_threads(int num_threads);
char *openblas_get_config(void);
char *openblas_get_corename(void);

#define REPEATS 5
#define SECONDS_PER_REPEAT 0.4

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static float *random_matrix(size_t count, unsigned *state)
{
    float *m = malloc(count * sizeof(float));
    if (!m)
        return NULL;
    for (size_t i = 0; i < count; i++) {
        *state = *state * 1664525u + 1013904223u; /* LCG: values only need to be finite */
        m[i] = (float)(*state >> 8) / (float)(1u << 24) - 0.5f;
    }
    return m;
}

/* Median GFLOP/s of C (M×N) = A (M×K) · B (K×N), row-major; -1 if out of memory. */
static double sgemm_gflops(int M, int N, int K, int threads)
{
    unsigned state = 12345u;
    float *a = random_matrix((size_t)M * K, &state);
    float *b = random_matrix((size_t)K * N, &state);
    float *c = calloc((size_t)M * N, sizeof(float));
    double median = -1.0;
    if (a && b && c) {
        openblas_set_num_threads(threads);
        double flops = 2.0 * M * N * K, rates[REPEATS];
        for (int w = 0; w < 3; w++) /* warm-up: thread start, page faults, caches */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N,
                        0.0f, c, N);
        for (int r = 0; r < REPEATS; r++) {
            long calls = 0;
            double start = now(), elapsed;
            do {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b,
                            N, 0.0f, c, N);
                calls++;
                elapsed = now() - start;
            } while (elapsed < SECONDS_PER_REPEAT);
            rates[r] = flops * calls / elapsed * 1e-9;
        }
        qsort(rates, REPEATS, sizeof rates[0], compare_doubles);
        median = rates[REPEATS / 2];
    }
    free(a);
    free(b);
    free(c);
    return median;
}

int main(void)
{
    static const int shapes[][3] = {{1024, 1024, 1024}, {2304, 32, 1568}, {32, 2304, 1568}};
    printf("OpenBLAS: %s; core %s\n", openblas_get_config(), openblas_get_corename());
    /* every label holds two '×', two bytes each in UTF-8: hence 26 bytes for 24 columns */
    printf("%-26s%12s%12s\n", "sgemm M×N×K", "1 thread", "2 threads");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int M = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        double one = sgemm_gflops(M, N, K, 1), two = sgemm_gflops(M, N, K, 2);
        if (one < 0 || two < 0) {
            fprintf(stderr, "sgemm_peak: out of memory for %d×%d×%d\n", M, N, K);
            return 1;
        }
        char label[32];
        snprintf(label, sizeof label, "%d×%d×%d", M, N, K);
        printf("%-26s%7.1f GF/s%7.1f GF/s\n", label, one, two);
    }
    return 0;
}
