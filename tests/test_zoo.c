/* test_zoo.c: the zoo of simulated cell families (docs/ground-truth.md).
 * For every cell type, the simulator's analytic gradient of the true rate
 * against central finite differences of sim_population_rates (computed
 * independently, through the batch sgemm path); for the zoo's families, the
 * searched optimum against what it must beat at the same budget: natural
 * images, white noise, the cell's preferred pattern and random perturbations
 * of itself. */
#include "stimulus.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define H 36
#define W 64
#define P (H * W)

static sim_population *zoo_population(int neurons, uint64_t seed, int all_types)
{
    sim_config c;
    sim_config_default(&c);
    c.neurons = neurons;
    c.seed = seed;
    float share = 1.0f / (all_types ? SIM_CELL_TYPES : SIM_CELL_TYPES - SIM_END_STOPPED);
    for (int t = 0; t < SIM_CELL_TYPES; t++) {
        float *f = sim_config_fraction(&c, t);
        if (f)
            *f = all_types || t >= SIM_END_STOPPED ? share : 0.0f;
    }
    sim_population *p = NULL;
    char err[MODEL_ERR_SIZE];
    if (sim_population_create(&p, &c, err))
        printf("# sim_population_create: %s\n", err);
    return p;
}

static float rate_of(const sim_population *p, int n, const float *image)
{
    float *r = malloc(sizeof(float) * (size_t)sim_population_neurons(p));
    sim_population_rates(p, image, 1, r);
    float v = r[n];
    free(r);
    return v;
}

/* The cell's preferred pattern at the budget plus noise: a point where every
 * rectifier of the cell is usually open, so the rate is differentiable. */
static void active_point(const sim_population *p, int n, const stimulus_budget *b,
                         model_rng *rng, float *x)
{
    sim_population_preferred_pattern(p, n, x);
    for (int i = 0; i < P; i++)
        x[i] += 0.02f * (float)model_rng_normal(rng);
    for (int i = 0; i < P; i++)
        x[i] += b->mean_luminance;
    stimulus_render_at_budget(x, P, b);
}

/* Directional derivatives along random directions: (f(x + hv) − f(x − hv)) / 2h
 * against ∇f·v, with the step h·|v| 0.5% of the image's contrast norm (small
 * enough that the O(h²) curvature term of these smooth drives, away from
 * their kinks, is below 1e-3 of the derivative; large enough that the rates'
 * float rounding, ~1e-6 relative over 2,304 pixels, is too). 2% leaves room
 * for a direction that passes near a kink. */
static void test_gradients(void)
{
    sim_population *p = zoo_population(50, 3, 1); /* five of each type */
    CHECK(p != NULL, "a population of all ten types");
    if (!p)
        return;
    stimulus_budget b = {0.5f, 0.15f};
    model_rng rng;
    model_rng_seed(&rng, 11);
    int checked[SIM_CELL_TYPES] = {0}, bad[SIM_CELL_TYPES] = {0};
    float x[P], g[P], v[P], xp[P], xm[P];
    for (int n = 0; n < sim_population_neurons(p); n++) {
        int type = sim_population_cell(p, n)->type;
        active_point(p, n, &b, &rng, x);
        float rate = sim_population_gradient(p, n, x, g);
        float batch_rate = rate_of(p, n, x);
        if (fabsf(rate - batch_rate) > 1e-4f * fmaxf(1.0f, batch_rate)) {
            bad[type]++;
            printf("# neuron %d (%s): gradient path rate %g, batch %g\n", n,
                   sim_cell_type_name(type), rate, batch_rate);
        }
        if (!(rate > sim_population_cell(p, n)->offset * 1.001f))
            continue; /* not driven here: nothing to differentiate */
        for (int k = 0; k < 3; k++) {
            double dot = 0.0, gn = 0.0;
            for (int i = 0; i < P; i++) {
                v[i] = (float)model_rng_normal(&rng);
                gn += (double)g[i] * g[i];
            }
            /* half a random direction, half the gradient's, so the step
             * is not orthogonal to the gradient in 2,304 dimensions */
            for (int i = 0; i < P; i++)
                v[i] = (float)(0.5 * v[i] / sqrt((double)P) + 0.5 * g[i] / sqrt(gn));
            for (int i = 0; i < P; i++)
                dot += (double)g[i] * v[i];
            double xn = 0.0, vn = 0.0;
            for (int i = 0; i < P; i++) {
                xn += (x[i] - b.mean_luminance) * (x[i] - b.mean_luminance);
                vn += (double)v[i] * v[i];
            }
            double h = 0.005 * sqrt(xn / vn);
            for (int i = 0; i < P; i++) {
                xp[i] = x[i] + (float)(h * v[i]);
                xm[i] = x[i] - (float)(h * v[i]);
            }
            double fd = (rate_of(p, n, xp) - rate_of(p, n, xm)) / (2.0 * h);
            if (fabs(fd - dot) > 0.02 * fabs(dot)) {
                bad[type]++;
                printf("# neuron %d (%s): finite difference %g, gradient %g\n", n,
                       sim_cell_type_name(type), fd, dot);
            }
        }
        checked[type]++;
    }
    for (int t = 0; t < SIM_CELL_TYPES; t++)
        CHECK(checked[t] >= 2 && !bad[t],
              "%s: analytic gradient of the true rate = finite differences (%d cells, %d "
              "mismatches)", sim_cell_type_name(t), checked[t], bad[t]);
    sim_population_destroy(p);
}

/* The searched optimum of each zoo cell beats, at the same budget: every one
 * of 300 natural images and 300 white-noise images, its own start (the
 * preferred pattern), and 10 random perturbations of itself. */
static void test_optima(void)
{
    sim_population *p = zoo_population(2 * (SIM_CELL_TYPES - SIM_END_STOPPED), 5, 0);
    CHECK(p != NULL, "a population of the zoo's families");
    if (!p)
        return;
    int N = sim_population_neurons(p), count = 300;
    stimulus_budget b = {0.5f, 0.15f};
    float *naturals = malloc(sizeof(float) * (size_t)count * P);
    float *noise = malloc(sizeof(float) * (size_t)count * P);
    float *rates = malloc(sizeof(float) * (size_t)count * N);
    float *noise_rates = malloc(sizeof(float) * (size_t)count * N);
    model_rng rng;
    model_rng_seed(&rng, 17);
    sim_natural_images(naturals, count, H, W, 99);
    for (int k = 0; k < count; k++) {
        stimulus_render_at_budget(naturals + (size_t)k * P, P, &b);
        for (int i = 0; i < P; i++)
            noise[(size_t)k * P + i] = 0.5f + (float)model_rng_normal(&rng);
        stimulus_render_at_budget(noise + (size_t)k * P, P, &b);
    }
    sim_population_rates(p, naturals, count, rates);
    sim_population_rates(p, noise, count, noise_rates);
    int beats[SIM_CELL_TYPES] = {0}, cells[SIM_CELL_TYPES] = {0};
    double margin[SIM_CELL_TYPES];
    for (int t = 0; t < SIM_CELL_TYPES; t++)
        margin[t] = INFINITY;
    char err[STIMULUS_ERR_SIZE];
    for (int n = 0; n < N; n++) {
        int type = sim_population_cell(p, n)->type;
        float best[P], rate, start[P], x[P];
        if (sim_optimal_stimulus(p, n, H, W, &b, best, &rate, err)) {
            printf("# neuron %d: %s\n", n, err);
            continue;
        }
        cells[type]++;
        float natural = 0.0f, white = 0.0f;
        for (int k = 0; k < count; k++) {
            natural = fmaxf(natural, rates[(size_t)k * N + n]);
            white = fmaxf(white, noise_rates[(size_t)k * N + n]);
        }
        sim_population_preferred_pattern(p, n, start);
        for (int i = 0; i < P; i++)
            start[i] += b.mean_luminance;
        stimulus_render_at_budget(start, P, &b);
        float pattern = rate_of(p, n, start);
        int ok = fabsf(stimulus_rms_contrast(best, P) - b.contrast) < 1e-3f &&
                 rate > natural && rate > white && rate >= pattern;
        for (int k = 0; k < 10; k++) {
            for (int i = 0; i < P; i++)
                x[i] = best[i] + 0.03f * (float)model_rng_normal(&rng);
            stimulus_render_at_budget(x, P, &b);
            ok = ok && rate_of(p, n, x) <= rate * (1 + 1e-3f);
        }
        beats[type] += ok;
        margin[type] = fmin(margin[type], rate / fmaxf(natural, 1e-6f));
        printf("# neuron %d (%s): optimum %.2f, best natural %.2f, best noise %.2f, preferred "
               "pattern %.2f\n", n, sim_cell_type_name(type), rate, natural, white, pattern);
    }
    for (int t = SIM_END_STOPPED; t < SIM_CELL_TYPES; t++)
        CHECK(cells[t] == 2 && beats[t] == cells[t],
              "%s: the searched optimum beats 300 natural and 300 noise images, its start and "
              "its perturbations at the budget (%d of %d cells; least optimum/best natural "
              "%.2f)", sim_cell_type_name(t), beats[t], cells[t], margin[t]);
    free(naturals);
    free(noise);
    free(rates);
    free(noise_rates);
    sim_population_destroy(p);
}

/* The rule of docs/ground-truth.md, as the evaluation table reads it. */
static void test_split(void)
{
    int held = 0;
    for (int t = 0; t < SIM_CELL_TYPES; t++)
        held += sim_family_held_out(t);
    CHECK(held == 3 && sim_family_held_out(SIM_SURROUND) && sim_family_held_out(SIM_TEXTURE) &&
              sim_family_held_out(SIM_DEEP),
          "held out: surround, texture and deep only");
    for (int t = 0; t < SIM_CELL_TYPES; t++)
        CHECK(sim_cell_type_of_name(sim_cell_type_name(t)) == t, "type name '%s' reads back",
              sim_cell_type_name(t));
}

int main(void)
{
    test_gradients();
    test_optima();
    test_split();
    return test_done();
}
