/* truth_optimum.c: the optimum of a simulated cell whose optimum has no
 * closed form (the zoo's families, docs/ground-truth.md), found by
 * projected gradient ascent on the true cell at the contrast budget from
 * many starts. The gradient is the simulator's own analytic one
 * (sim_population_gradient, checked against finite differences in
 * tests/test_simulate.c); the projection is stimulus_render_at_budget, so
 * every iterate is a stimulus the MEIs could also have been. The result is a
 * lower bound on the true optimum: an MEI above it says the search fell
 * short, and the table shows it (MEI/optimum > 1). */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Starts: the cell's preferred pattern (sim_population_preferred_pattern),
 * then that pattern mixed with white noise of growing weight, then noise
 * alone: the rectified cells have flat regions where noise alone would not
 * climb, the mixtures explore around the pattern. */
#define SEARCH_STARTS 8
#define SEARCH_STEPS 300
/* Step length as a share of the budget's contrast norm, decaying linearly
 * from the first value to the second (a large first step leaves the start's
 * basin; a small last one settles). */
#define SEARCH_STEP_FIRST 0.15
#define SEARCH_STEP_LAST 0.002

static void start_image(const float *pattern, int start, int pixels, model_rng *rng,
                        float *x)
{
    double noise = start == 0 ? 0.0 : start >= SEARCH_STARTS - 2 ? 1.0
                                                                 : 0.1 * start;
    double pn = 0.0;
    for (int i = 0; i < pixels; i++)
        pn += (double)pattern[i] * pattern[i];
    double scale = pn > 0.0 ? sqrt(pn / pixels) : 1.0; /* noise of the pattern's RMS */
    for (int i = 0; i < pixels; i++)
        x[i] = (float)((1.0 - noise) * pattern[i] + noise * scale * model_rng_normal(rng));
}

int sim_search_optimum(const sim_population *p, int neuron, int height, int width,
                       const stimulus_budget *b, float *image, float *rate, char *err)
{
    int P = height * width;
    float *x = malloc((size_t)P * sizeof(float)), *g = malloc((size_t)P * sizeof(float));
    float *pattern = malloc((size_t)P * sizeof(float));
    if (!x || !g || !pattern) {
        free(x);
        free(g);
        free(pattern);
        return stimulus_fail(err, "optimum search: out of memory");
    }
    sim_population_preferred_pattern(p, neuron, pattern);
    model_rng rng;
    model_rng_seed(&rng, 0x5eedu + (uint64_t)neuron);
    double budget_norm = b->contrast * sqrt((double)P);
    *rate = -INFINITY;
    for (int s = 0; s < SEARCH_STARTS; s++) {
        start_image(pattern, s, P, &rng, x);
        for (int i = 0; i < P; i++)
            x[i] += b->mean_luminance;
        stimulus_render_at_budget(x, P, b);
        for (int step = 0; step <= SEARCH_STEPS; step++) {
            float v = sim_population_gradient(p, neuron, x, g);
            if (v > *rate) {
                *rate = v;
                memcpy(image, x, (size_t)P * sizeof(float));
            }
            if (step == SEARCH_STEPS)
                break;
            double mean = 0.0, norm = 0.0;
            for (int i = 0; i < P; i++)
                mean += g[i];
            mean /= P;
            for (int i = 0; i < P; i++)
                norm += (g[i] - mean) * (g[i] - mean);
            if (!(norm > 0.0))
                break; /* a flat region: this start cannot climb */
            double t = (double)step / SEARCH_STEPS;
            double eta = (SEARCH_STEP_FIRST + (SEARCH_STEP_LAST - SEARCH_STEP_FIRST) * t) *
                         budget_norm / sqrt(norm);
            for (int i = 0; i < P; i++)
                x[i] += (float)(eta * (g[i] - mean));
            stimulus_render_at_budget(x, P, b);
        }
    }
    free(x);
    free(g);
    free(pattern);
    if (!isfinite(*rate)) {
        return stimulus_fail(err, "optimum search: cell %d's rate is not finite", neuron);
    }
    return 0;
}
