/* truth.c: the ground truth of a session against the simulated population:
 * how the simulated cells themselves respond to their MEIs and controls, to
 * their truly best natural training images and to their known optima, all at
 * the same contrast budget. One scorer for `inception mei --ground-truth` and
 * the inception loop's evaluation, so both report the same numbers. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct stimulus_truth {
    sim_population *population;
    int height, width, pixels, neurons; /* neurons: the population's size */
    stimulus_budget budget;
    int count;
    truth_row *rows;
    float *rates;   /* TRUTH_CHUNK × neurons */
    float *scratch; /* TRUTH_CHUNK × pixels */
};

#define TRUTH_CHUNK 128

static void row_init(truth_row *r, int neuron, int type)
{
    r->neuron = neuron;
    r->type = type;
    for (int k = 0; k < TRUTH_KINDS; k++)
        r->shown[k] = NAN;
    r->natural = r->natural_raw = 0.0f; /* maxima: rates are >= 0 */
    r->natural_least = INFINITY;        /* a minimum; NaN at finish if none came */
    r->gray = NAN;
    r->optimum = r->best_control = NAN;
}

int stimulus_truth_create(stimulus_truth **out, const sim_config *c, const int *neurons,
                          int count, const stimulus_budget *b, char *err)
{
    *out = NULL;
    stimulus_truth *t = calloc(1, sizeof *t);
    if (!t) {
        return stimulus_fail(err, "ground truth: out of memory");
    }
    if (sim_population_create(&t->population, c, err)) {
        free(t);
        return 1;
    }
    t->height = c->height;
    t->width = c->width;
    t->pixels = c->height * c->width;
    t->neurons = c->neurons;
    t->budget = *b;
    t->count = count;
    t->rows = calloc((size_t)(count > 0 ? count : 1), sizeof *t->rows);
    t->rates = malloc((size_t)TRUTH_CHUNK * t->neurons * sizeof(float));
    t->scratch = malloc((size_t)TRUTH_CHUNK * t->pixels * sizeof(float));
    if (!t->rows || !t->rates || !t->scratch) {
        stimulus_truth_destroy(t);
        return stimulus_fail(err, "ground truth: out of memory for %d targets", count);
    }
    for (int j = 0; j < count; j++) {
        if (neurons[j] < 0 || neurons[j] >= t->neurons) {
            stimulus_fail(err, "ground truth: target %d is not one of the %d "
                          "simulated neurons", neurons[j], t->neurons);
            stimulus_truth_destroy(t);
            return 1;
        }
        const sim_cell *cell = sim_population_cell(t->population, neurons[j]);
        row_init(&t->rows[j], neurons[j], cell->type);
        t->rows[j].baseline = cell->baseline;
    }
    *out = t;
    return 0;
}

void stimulus_truth_destroy(stimulus_truth *t)
{
    if (!t)
        return;
    sim_population_destroy(t->population);
    free(t->rows);
    free(t->rates);
    free(t->scratch);
    free(t);
}

const sim_population *stimulus_truth_population(const stimulus_truth *t) { return t->population; }

/* Each target's maxima over one chunk: `raw` says which maximum; at the
 * budget (not raw) the minimum too. */
static void take_maxima(stimulus_truth *t, int n, int raw)
{
    for (int i = 0; i < n; i++)
        for (int j = 0; j < t->count; j++) {
            truth_row *r = &t->rows[j];
            float v = t->rates[(size_t)i * t->neurons + r->neuron];
            float *best = raw ? &r->natural_raw : &r->natural;
            if (v > *best)
                *best = v;
            if (!raw && v < r->natural_least)
                r->natural_least = v;
        }
}

void stimulus_truth_add_naturals(stimulus_truth *t, const float *images, int count)
{
    for (int first = 0; first < count; first += TRUTH_CHUNK) {
        int n = count - first < TRUTH_CHUNK ? count - first : TRUTH_CHUNK;
        const float *chunk = images + (size_t)first * t->pixels;
        sim_population_rates(t->population, chunk, n, t->rates);
        take_maxima(t, n, 1);
        memcpy(t->scratch, chunk, (size_t)n * t->pixels * sizeof(float));
        for (int i = 0; i < n; i++)
            stimulus_render_at_budget(t->scratch + (size_t)i * t->pixels, t->pixels, &t->budget);
        sim_population_rates(t->population, t->scratch, n, t->rates);
        take_maxima(t, n, 0);
    }
}

float stimulus_truth_score(stimulus_truth *t, int j, int kind, const float *image)
{
    sim_population_rates(t->population, image, 1, t->rates);
    float v = t->rates[t->rows[j].neuron];
    if (kind >= 0 && kind < TRUTH_KINDS)
        t->rows[j].shown[kind] = v;
    return v;
}

static float max_finite(float a, float b) { return !isfinite(a) ? b : !isfinite(b) ? a : fmaxf(a, b); }

int stimulus_truth_finish(stimulus_truth *t, char *err)
{
    float *image = t->scratch; /* one image's room is enough */
    for (int i = 0; i < t->pixels; i++)
        image[i] = t->budget.mean_luminance;
    sim_population_rates(t->population, image, 1, t->rates);
    for (int j = 0; j < t->count; j++) {
        truth_row *r = &t->rows[j];
        r->gray = t->rates[r->neuron];
        if (!(r->natural_least < INFINITY))
            r->natural_least = NAN;
        if (sim_optimal_stimulus(t->population, r->neuron, t->height, t->width, &t->budget,
                                 image, &r->optimum, err))
            return 1;
        float best = max_finite(r->shown[STIMULUS_KIND_GABOR], r->shown[STIMULUS_KIND_RF]);
        best = max_finite(best, r->shown[STIMULUS_KIND_BEST_NATURAL]);
        r->best_control = max_finite(best, r->natural);
    }
    return 0;
}

const truth_row *stimulus_truth_row(const stimulus_truth *t, int j)
{
    return j >= 0 && j < t->count ? &t->rows[j] : NULL;
}

int stimulus_truth_count(const stimulus_truth *t) { return t->count; }

/* ------------------------------------------------------------------------ */
/* Summaries. */

static int float_less(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Median of the finite values among v[0..n) (sorted in place); NaN if none. */
static float median_finite(float *v, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    if (!m)
        return NAN;
    qsort(v, (size_t)m, sizeof *v, float_less);
    return m % 2 ? v[m / 2] : 0.5f * (v[m / 2 - 1] + v[m / 2]);
}

static float ratio(float a, float b) { return isfinite(a) && isfinite(b) && b > 0 ? a / b : NAN; }

/* The denominators summarized: see truth_summary. */
enum { D_NATURAL, D_NATURAL_RAW, D_OPTIMUM, D_GABOR, D_RF, D_SHOWN_NATURAL, D_BEST_CONTROL,
       D_COUNT };

static float denominator(const truth_row *r, int d)
{
    switch (d) {
    case D_NATURAL:
        return r->natural;
    case D_NATURAL_RAW:
        return r->natural_raw;
    case D_OPTIMUM:
        return r->optimum;
    case D_GABOR:
        return r->shown[STIMULUS_KIND_GABOR];
    case D_RF:
        return r->shown[STIMULUS_KIND_RF];
    case D_SHOWN_NATURAL:
        return r->shown[STIMULUS_KIND_BEST_NATURAL];
    }
    return r->best_control;
}

/* A rate this close to the gray rate (relative) is at the floor. */
#define FLOOR_TOLERANCE 0.01f

/* The least exciting inputs' part of the summary; v holds 3 × count floats. */
static void summarize_least(const stimulus_truth *t, unsigned types, truth_summary *out, float *v)
{
    int n = 0, m = 0;
    float *base_nat = v + t->count, *base_gray = v + 2 * t->count;
    for (int j = 0; j < t->count; j++) {
        const truth_row *r = &t->rows[j];
        float least = r->shown[STIMULUS_KIND_LEAST], nat = r->natural_least;
        if (!(types & (1u << r->type)) || !isfinite(least) || !isfinite(nat) ||
            !isfinite(r->gray))
            continue;
        out->with_least++;
        v[n++] = ratio(least, nat);
        float floor_band = FLOOR_TOLERANCE * fabsf(r->gray);
        if (r->baseline > 0.0f) { /* the gray rate is no floor: count against the naturals */
            out->with_baseline++;
            out->baseline_below_natural += least < nat;
            base_nat[m] = ratio(least, nat);
            base_gray[m++] = ratio(least, r->gray);
        } else if (nat > r->gray + floor_band) {
            out->suppressible++;
            out->least_below_natural += least < nat;
        } else {
            out->least_at_floor += least <= r->gray + floor_band;
        }
    }
    out->least_over_natural = median_finite(v, n);
    out->baseline_least_over_natural = median_finite(base_nat, m);
    out->baseline_least_over_gray = median_finite(base_gray, m);
}

int stimulus_truth_summarize(const stimulus_truth *t, unsigned types, truth_summary *out)
{
    memset(out, 0, sizeof *out);
    float *v = malloc((size_t)(t->count > 0 ? t->count : 1) * 3 * sizeof(float));
    if (!v)
        return 1;
    float *medians[D_COUNT] = {&out->over_natural, &out->over_natural_raw, &out->over_optimum,
                               &out->over_gabor,   &out->over_rf, &out->over_shown_natural,
                               &out->over_best_control};
    int *wins[D_COUNT] = {&out->beats_natural, NULL, NULL, &out->beats_gabor, &out->beats_rf,
                          &out->beats_shown_natural, &out->beats_best_control};
    int *scored[D_COUNT] = {NULL, NULL, NULL, &out->with_gabor, &out->with_rf,
                            &out->with_shown_natural, NULL};
    for (int d = 0; d < D_COUNT; d++) {
        int n = 0;
        for (int j = 0; j < t->count; j++) {
            const truth_row *r = &t->rows[j];
            if (!(types & (1u << r->type)))
                continue;
            float mei = r->shown[STIMULUS_KIND_MEI], den = denominator(r, d);
            v[n++] = ratio(mei, den);
            if (wins[d] && isfinite(mei) && isfinite(den))
                *wins[d] += mei > den;
            if (scored[d] && isfinite(den))
                (*scored[d])++;
        }
        out->count = n;
        *medians[d] = median_finite(v, n);
    }
    summarize_least(t, types, out, v);
    free(v);
    return 0;
}

/* ---- The cell's own best surround ---------------------------------------- */

/* One ascent from the surround `z` (its iterate, updated in place; `s` its
 * projection onto the budget, the one shown); the best true rate of the
 * composition seen raises *best. Each step moves the pixels by 0.01 on
 * average: the gradient's scale is the cell's, not the image's. */
static void ascend_surround(const sim_population *p, int neuron, int P, const float *mei,
                            const float *mask, const stimulus_budget *b, int steps, float *z,
                            float *s, float *x, float *g, float *best)
{
    memcpy(s, z, (size_t)P * sizeof(float));
    stimulus_constrain(s, P, b);
    for (int step = 0; step < steps; step++) {
        mei_surround_compose(mei, mask, s, P, x);
        float rate = sim_population_gradient(p, neuron, x, g);
        *best = rate > *best ? rate : *best;
        double mean_abs = 0;
        for (int i = 0; i < P; i++) {
            g[i] *= 1.0f - mask[i]; /* the surround's part only */
            mean_abs += fabsf(g[i]) / P;
        }
        if (!(mean_abs > 0))
            break;
        for (int i = 0; i < P; i++)
            z[i] += (float)(0.01 * g[i] / mean_abs);
        memcpy(s, z, (size_t)P * sizeof(float));
        stimulus_constrain(s, P, b);
    }
}

float stimulus_true_best_surround(const sim_population *p, int neuron, int height, int width,
                                  const float *mei, const float *mask, const float *start,
                                  const stimulus_budget *b, int steps, uint64_t seed)
{
    int P = height * width;
    float *z = P > 0 ? calloc((size_t)P * 4, sizeof(float)) : NULL;
    if (!z)
        return NAN;
    float *s = z + P, *x = s + P, *g = x + P;
    /* The centre alone: gray is in the space, the floor of the best. */
    for (int i = 0; i < P; i++)
        s[i] = b->mean_luminance;
    mei_surround_compose(mei, mask, s, P, x);
    float best = sim_population_gradient(p, neuron, x, g);
    model_rng rng;
    model_rng_seed(&rng, seed);
    for (int i = 0; i < P; i++)
        z[i] = b->mean_luminance + 0.01f * (float)model_rng_normal(&rng);
    ascend_surround(p, neuron, P, mei, mask, b, steps, z, s, x, g, &best);
    if (start) {
        memcpy(z, start, (size_t)P * sizeof(float));
        ascend_surround(p, neuron, P, mei, mask, b, steps, z, s, x, g, &best);
    }
    free(z);
    return best;
}
