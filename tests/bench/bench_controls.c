/* bench_controls.c: the matched-Gabor control on the reference model (36×64,
 * 3 conv layers × 32 channels, kernels 9/7/7, Gaussian readout of 1,000
 * neurons; random weights: the speed does not depend on them). For --neurons
 * targets (default 8, a session's) it times control_matched_gabor (the bank
 * screened by translation, then each target's 32 best and three refinement
 * rounds predicted as shown) beside the exhaustive pass over the bank that it
 * replaced (all 12,672 Gabors rendered at the budget and predicted), twice
 * each, alternated, and checks that every target's match is predicted at
 * least as high as the best Gabor of the exhaustive pass. The bank is written
 * here from its definition (docs/mei.md, "How the matched Gabor is
 * searched"). --threads N (default 2). */
#include "stimulus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { CHUNK = 256 };

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The exhaustive pass: every Gabor of the bank at the budget, predicted in
 * chunks; best[j] the highest predicted rate of target j. */
static int exhaustive_bank(model *m, const int *targets, int n, const stimulus_budget *b,
                           float *best, int *count, char *err)
{
    static const float freq[3] = {0.05f, 0.09f, 0.16f}, cycles[2] = {0.4f, 0.7f};
    const model_config *c = model_get_config(m);
    int H = c->height, W = c->width, P = H * W, N = c->neurons;
    int nx = (W + 5) / 6, ny = (H + 5) / 6, per_position = 8 * 3 * 2 * 4;
    float *images = malloc((size_t)CHUNK * P * sizeof(float));
    float *rates = malloc((size_t)CHUNK * N * sizeof(float));
    if (!images || !rates) {
        free(images);
        free(rates);
        snprintf(err, MODEL_ERR_SIZE, "out of memory");
        return 1;
    }
    for (int j = 0; j < n; j++)
        best[j] = -INFINITY;
    *count = nx * ny * per_position;
    int filled = 0, status = 0;
    for (int k = 0; k < *count && !status; k++) {
        int pos = k / per_position, kernel = k % per_position;
        int o = kernel / 24, f = kernel / 8 % 3, cy = kernel / 4 % 2, ph = kernel % 4;
        gabor_params g = {6.0f * (float)(pos % nx) + 2.5f, 6.0f * (float)(pos / nx) + 2.5f,
                          (float)(M_PI * o / 8), freq[f], (float)(M_PI * ph / 2),
                          cycles[cy] / freq[f]};
        gabor_render(&g, H, W, b, images + (size_t)filled * P);
        if (++filled < CHUNK && k + 1 < *count)
            continue;
        status = model_predict(m, images, filled, rates, err);
        for (int i = 0; i < filled && !status; i++)
            for (int j = 0; j < n; j++)
                best[j] = fmaxf(best[j], rates[(size_t)i * N + targets[j]]);
        filled = 0;
    }
    free(images);
    free(rates);
    return status;
}

int main(int argc, char **argv)
{
    int n = 8, threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--neurons") && i + 1 < argc)
            n = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_controls [--neurons N] [--threads N]\n");
            return 2;
        }
    }
    model_config c;
    model_config_default(&c);
    model *m;
    char err[MODEL_ERR_SIZE];
    if (n < 1 || n > c.neurons || threads < 1 || model_create(&m, &c, err)) {
        fprintf(stderr, "bench_controls: bad arguments or %s\n", err);
        return 1;
    }
    model_set_standardization(m, 0.5f, 0.2f);
    model_set_threads(m, threads);
    stimulus_budget b = {0.5f, 0.2f};
    int P = c.height * c.width, *targets = malloc((size_t)n * sizeof(int));
    float *images = malloc((size_t)n * P * sizeof(float));
    float *rates = malloc((size_t)n * c.neurons * sizeof(float));
    float *bank_best = malloc((size_t)n * sizeof(float));
    gabor_params *g = malloc((size_t)n * sizeof *g);
    if (!targets || !images || !rates || !bank_best || !g)
        return 1;
    for (int j = 0; j < n; j++)
        targets[j] = j * (c.neurons / n);
    FILE *load = fopen("/proc/loadavg", "r");
    char line[64] = "?";
    if (load && fgets(line, sizeof line, load))
        line[strcspn(line, " ")] = 0; /* the 1-minute load */
    if (load)
        fclose(load);
    printf("matched Gabors of %d targets on the reference model, %d threads, load %s\n", n,
           threads, line);
    double screened[2], exhaustive[2], screened_cpu[2], exhaustive_cpu[2];
    int count = 0;
    for (int round = 0; round < 2; round++) {
        double t0 = clock_seconds(CLOCK_MONOTONIC), c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
        if (control_matched_gabor(m, targets, n, &b, 1, g, images, err)) {
            fprintf(stderr, "bench_controls: %s\n", err);
            return 1;
        }
        screened[round] = clock_seconds(CLOCK_MONOTONIC) - t0;
        screened_cpu[round] = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
        t0 = clock_seconds(CLOCK_MONOTONIC);
        c0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
        if (exhaustive_bank(m, targets, n, &b, bank_best, &count, err)) {
            fprintf(stderr, "bench_controls: %s\n", err);
            return 1;
        }
        exhaustive[round] = clock_seconds(CLOCK_MONOTONIC) - t0;
        exhaustive_cpu[round] = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - c0;
    }
    if (model_predict(m, images, n, rates, err)) {
        fprintf(stderr, "bench_controls: %s\n", err);
        return 1;
    }
    int beats = 0;
    for (int j = 0; j < n; j++)
        beats += rates[(size_t)j * c.neurons + targets[j]] >=
                 bank_best[j] - 1e-5f * (1.0f + fabsf(bank_best[j]));
    for (int round = 0; round < 2; round++)
        printf("round %d: control_matched_gabor %.2f s (CPU %.2f s); the exhaustive bank alone "
               "(%d Gabors) %.2f s (CPU %.2f s): %.1f times\n",
               round + 1, screened[round], screened_cpu[round], count, exhaustive[round],
               exhaustive_cpu[round], exhaustive[round] / screened[round]);
    printf("the match is predicted at least as high as the exhaustive bank's best for %d of %d "
           "targets\n", beats, n);
    free(targets);
    free(images);
    free(rates);
    free(bank_best);
    free(g);
    model_destroy(m);
    return beats == n ? 0 : 1;
}
