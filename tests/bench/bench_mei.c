/* bench_mei.c: MEI synthesis on the reference model (36×64, 3 conv layers ×
 * 32 channels, kernels 9/7/7, Gaussian readout of 1,000 neurons; random
 * weights: the speed does not depend on them): MEIs for --neurons neurons
 * (default 100), --steps steps (default 1,000) as one batch, --threads
 * threads (default 2), --objective single (default), one-hot-mean,
 * one-hot-softmax or pattern (issue 16: the objectives that weight every
 * neuron; pattern: --neurons images, each a random target pattern over a
 * group of 256 neurons, ascended one after the other as mei_pattern does).
 * Prints the wall time of the whole synthesis (target < 60 s for 100 ×
 * 1,000 on 2 cores); --json for one JSON line. */
#include "stimulus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double clock_seconds(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* `count` target patterns (uniform in [0,1), seeded) over 256 neurons spread
 * over the population, one mei_pattern each; r[j].response its similarity. */
static int bench_patterns(model *m, int count, const mei_options *o, float *images,
                          mei_result *r, char *err)
{
    enum { GROUP = 256 };
    const model_config *c = model_get_config(m);
    int group[GROUP], P = c->height * c->width;
    float target[GROUP];
    for (int i = 0; i < GROUP; i++)
        group[i] = i * (c->neurons / GROUP);
    model_rng rng;
    model_rng_seed(&rng, 11);
    for (int j = 0; j < count; j++) {
        for (int i = 0; i < GROUP; i++)
            target[i] = (float)model_rng_uniform(&rng);
        if (mei_pattern(m, group, GROUP, target, o, images + (size_t)j * P, &r[j].response, err))
            return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int neurons = 100, steps = 1000, threads = 2, json = 0;
    const char *space = "pixel", *objective = "single";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--neurons") && i + 1 < argc)
            neurons = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--space") && i + 1 < argc)
            space = argv[++i];
        else if (!strcmp(argv[i], "--objective") && i + 1 < argc)
            objective = argv[++i];
        else if (!strcmp(argv[i], "--json"))
            json = 1;
        else {
            fprintf(stderr, "usage: bench_mei [--neurons N] [--steps N] [--threads N] "
                            "[--space pixel|fourier]\n"
                            "       [--objective single|one-hot-mean|one-hot-softmax|pattern] [--json]\n");
            return 2;
        }
    }
    int pattern = !strcmp(objective, "pattern");
    mei_objective kind = !strcmp(objective, "one-hot-mean")      ? MEI_ONE_HOT_MEAN
                         : !strcmp(objective, "one-hot-softmax") ? MEI_ONE_HOT_SOFTMAX
                         : !strcmp(objective, "single") || pattern ? MEI_SINGLE
                                                                   : (mei_objective)-1;
    if ((int)kind < 0) {
        fprintf(stderr, "bench_mei: unknown objective %s\n", objective);
        return 2;
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
        t[j] = (mei_target){kind, j * (c.neurons / neurons), NULL};
    mei_options o;
    mei_options_default(&o);
    o.steps = steps;
    o.threads = threads;
    o.space = strcmp(space, "fourier") ? MEI_SPACE_PIXEL : MEI_SPACE_FOURIER;
    o.budget = (stimulus_budget){0.5f, 0.2f};
    /* CPU time beside wall time: on a shared machine its ratio to the twin's
     * (one thread each) moves far less with the load than wall time's. */
    double t0 = clock_seconds(CLOCK_MONOTONIC), cpu0 = clock_seconds(CLOCK_PROCESS_CPUTIME_ID);
    if (pattern ? bench_patterns(m, neurons, &o, images, r, err)
                : mei_synthesize(m, t, neurons, &o, images, r, err)) {
        fprintf(stderr, "bench_mei: %s\n", err);
        return 1;
    }
    double seconds = clock_seconds(CLOCK_MONOTONIC) - t0;
    double cpu_seconds = clock_seconds(CLOCK_PROCESS_CPUTIME_ID) - cpu0;
    double mean_response = 0.0;
    for (int j = 0; j < neurons; j++)
        mean_response += r[j].response / neurons;
    if (json)
        printf("{\"impl\": \"inception\", \"neurons\": %d, \"steps\": %d, \"threads\": %d, "
               "\"space\": \"%s\", \"objective\": \"%s\", \"seconds\": %.2f, \"image_steps_per_s\": %.1f, "
               "\"cpu_seconds\": %.2f, \"mean_response\": %.4f}\n",
               neurons, steps, threads, space, objective, seconds,
               neurons * (double)steps / seconds, cpu_seconds, mean_response);
    else
        printf("MEIs: %d neurons × %d steps (%s space, %s), %d threads: %.2f s (%.1f image·steps/s), "
               "CPU %.2f s, mean predicted response %.3f\n",
               neurons, steps, space, objective, threads, seconds,
               neurons * (double)steps / seconds, cpu_seconds, mean_response);
    free(t);
    free(images);
    free(r);
    model_destroy(m);
    return 0;
}
