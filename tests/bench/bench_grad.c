/* bench_grad.c: input-gradient steps on the reference model alone, for
 * run_bench_grad.py, which alternates it with the PyTorch twin so that both
 * sides see the same load on a shared machine. --batch images per step
 * (default 1), --objective one (image b ascends neuron b, as MEI synthesis
 * does: the sparse backward) or all (every neuron weighted: the FFT
 * backward), --threads, --seconds. Prints one JSON line: steps/s, and the
 * process CPU seconds per step (less sensitive to other jobs than wall time). */
#include "network.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double seconds_of(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int threads = 2, batch = 1, all = 0;
    double seconds = 3.0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
            batch = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--objective") && i + 1 < argc)
            all = !strcmp(argv[++i], "all");
        else {
            fprintf(stderr, "usage: bench_grad [--threads N] [--batch B] [--seconds S] "
                            "[--objective one|all]\n");
            return 2;
        }
    }
    model_config c;
    model_config_default(&c); /* the defaults are the reference workload */
    model *m;
    char err[MODEL_ERR_SIZE];
    if (batch < 1 || threads < 1 || model_create(&m, &c, err)) {
        fprintf(stderr, "bench_grad: bad arguments or %s\n", err);
        return 1;
    }
    model_set_threads(m, threads);
    model_set_standardization(m, 0.5f, 0.2f);
    int HW = c.height * c.width, N = c.neurons;
    float *images = malloc((size_t)batch * HW * sizeof(float));
    float *weights = calloc((size_t)batch * N, sizeof(float));
    float *grad = malloc((size_t)batch * HW * sizeof(float));
    if (!images || !weights || !grad)
        return 1;
    model_rng rng;
    model_rng_seed(&rng, 1);
    for (int i = 0; i < batch * HW; i++)
        images[i] = (float)model_rng_uniform(&rng);
    for (int b = 0; b < batch; b++)
        for (int n = 0; n < N; n++)
            weights[(size_t)b * N + n] =
                all ? (float)model_rng_normal(&rng) : (float)(n == b % N);
    for (int warm = 0; warm < 2; warm++)
        model_input_gradient(m, images, batch, weights, grad, NULL, err);
    double t0 = seconds_of(CLOCK_MONOTONIC), c0 = seconds_of(CLOCK_PROCESS_CPUTIME_ID);
    long steps = 0;
    while (seconds_of(CLOCK_MONOTONIC) - t0 < seconds || steps == 0) {
        if (model_input_gradient(m, images, batch, weights, grad, NULL, err)) {
            fprintf(stderr, "bench_grad: %s\n", err);
            return 1;
        }
        images[0] += 1e-3f * grad[0]; /* an image update, as MEI synthesis does */
        steps++;
    }
    double wall = seconds_of(CLOCK_MONOTONIC) - t0;
    double cpu = seconds_of(CLOCK_PROCESS_CPUTIME_ID) - c0;
    printf("{\"steps_per_s\": %.2f, \"cpu_ms_per_step\": %.4f}\n", steps / wall,
           1e3 * cpu / steps);
    model_destroy(m);
    free(images);
    free(weights);
    free(grad);
    return 0;
}
