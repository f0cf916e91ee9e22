/* bench_mei.c: MEI synthesis on the reference model (36×64, 3 conv layers ×
 * 32 channels, kernels 9/7/7, Gaussian readout of 1,000 neurons; random
 * weights: the speed does not depend on them): MEIs for --neurons neurons
 * (default 100), --steps steps (default 1,000) as one batch, --threads
 * threads (default 2). Prints the wall time of the whole synthesis (target
 * < 60 s for 100 × 1,000 on 2 cores); --json for one JSON line. */
#include "stimulus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    int neurons = 100, steps = 1000, threads = 2, json = 0;
    const char *space = "pixel";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--neurons") && i + 1 < argc)
            neurons = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--space") && i + 1 < argc)
            space = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: bench_mei [--neurons N] [--steps N] [--threads N] "
                            "[--space pixel|fourier] [--json]\n");
            return 2;
        }
    }
    model_config c;
    model_config_default(&c);
    model *m;
    char err[MODEL_ERR_SIZE];
    if (neurons < 1 || neurons > c.neurons || steps < 1 || threads < 1 ||
        model_create(&m, &c, err)) {
        fprintf(stderr, "bench_mei: bad arguments or %s\n", err);
        return 1;
    }
    model_set_standardization(m, 0.5f, 0.2f);
    mei_target *t = malloc((size_t)neurons * sizeof *t);
    float *images = malloc((size_t)neurons * c.height * c.width * sizeof(float));
    mei_result *r = malloc((size_t)neurons * sizeof *r);
    if (!t || !images || !r)
        return 1;
    for (int j = 0; j < neurons; j++)
        t[j] = (mei_target){MEI_SINGLE, j * (c.neurons / neurons), NULL};
    mei_options o;
    mei_options_default(&o);
    o.steps = steps;
    o.threads = threads;
    o.space = strcmp(space, "fourier") ? MEI_SPACE_PIXEL : MEI_SPACE_FOURIER;
    o.budget = (stimulus_budget){0.5f, 0.2f};
    double t0 = now();
    if (mei_synthesize(m, t, neurons, &o, images, r, err)) {
        fprintf(stderr, "bench_mei: %s\n", err);
        return 1;
    }
    double seconds = now() - t0;
    double mean_response = 0.0;
    for (int j = 0; j < neurons; j++)
        mean_response += r[j].response / neurons;
    if (json)
        printf("{\"impl\": \"inception\", \"neurons\": %d, \"steps\": %d, \"threads\": %d, "
               "\"space\": \"%s\", \"seconds\": %.2f, \"image_steps_per_s\": %.1f, "
               "\"mean_response\": %.4f}\n",
               neurons, steps, threads, space, seconds, neurons * (double)steps / seconds,
               mean_response);
    else
        printf("MEIs: %d neurons × %d steps (%s space), %d threads: %.2f s (%.1f image·steps/s), "
               "mean predicted response %.3f\n",
               neurons, steps, space, threads, seconds, neurons * (double)steps / seconds,
               mean_response);
    free(t);
    free(images);
    free(r);
    model_destroy(m);
    return 0;
}
