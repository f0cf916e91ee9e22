/* test_simulate.c: the simulated population and its images. The stimuli that
 * probe the cells (Gabors, gratings, plaids) are drawn here from each cell's
 * ground-truth parameters with the formula documented in simulate.c, so the
 * tests also check that the published ground truth matches what the cells
 * actually compute. */
#include "model.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define H 36
#define W 64
#define PIX (H * W)

/* ------------------------------------------------------------------------ */
/* Stimuli. */

/* A Gabor (envelope × carrier) or, with sigma <= 0, a full-field grating,
 * added to `img` with amplitude `amp`. */
static void add_pattern(float *img, const sim_cell *c, double orientation, double phase,
                        double sigma, double amp)
{
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dx = x - c->x, dy = y - c->y;
            double u = dx * cos(orientation) + dy * sin(orientation);
            double env = sigma > 0 ? exp(-(dx * dx + dy * dy) / (2 * sigma * sigma)) : 1.0;
            img[y * W + x] += (float)(amp * env * cos(2 * M_PI * c->frequency * u + phase));
        }
}

static double pixel_std(const float *img, int n)
{
    double m = 0, s = 0;
    for (int i = 0; i < n; i++)
        m += img[i];
    m /= n;
    for (int i = 0; i < n; i++)
        s += (img[i] - m) * (img[i] - m);
    return sqrt(s / n);
}

/* Mean gray plus a pattern rescaled to RMS contrast `rms` (pixel std). */
static void gabor_image(float *img, const sim_cell *c, double orientation, double phase,
                        double rms)
{
    float pattern[PIX] = {0};
    add_pattern(pattern, c, orientation, phase, c->sigma, 1.0);
    double scale = rms / pixel_std(pattern, PIX);
    for (int i = 0; i < PIX; i++)
        img[i] = (float)(0.5 + scale * pattern[i]);
}

static int in_range(const float *img, int n)
{
    for (int i = 0; i < n; i++)
        if (!(img[i] >= 0.0f && img[i] <= 1.0f))
            return 0;
    return 1;
}

static float rate_of(const sim_population *p, const float *img, int n)
{
    int neurons = sim_population_neurons(p);
    float *r = malloc((size_t)neurons * sizeof(float));
    sim_population_rates(p, img, 1, r);
    float v = r[n];
    free(r);
    return v;
}

/* A population with these shares of simple, complex, conjunction and
 * energy-conjunction cells (the rest normalized). */
static sim_population *make_population_of(int neurons, uint64_t seed, float simple, float complex_,
                                          float conjunction, float energy)
{
    sim_config c;
    sim_config_default(&c);
    c.fraction_simple = simple;
    c.fraction_complex = complex_;
    c.fraction_conjunction = conjunction;
    c.fraction_energy_conjunction = energy;
    c.neurons = neurons;
    c.seed = seed;
    sim_population *p = NULL;
    char err[MODEL_ERR_SIZE];
    if (sim_population_create(&p, &c, err))
        printf("# sim_population_create: %s\n", err);
    return p;
}

/* The mixed population the earlier checks were written for; the default has
 * no conjunction cells (checked in check_types). */
static sim_population *make_population(int neurons, uint64_t seed)
{
    return make_population_of(neurons, seed, 0.3f, 0.3f, 0.2f, 0.0f);
}

/* Energy-conjunction cells beside every other type. */
static sim_population *make_energy_population(int neurons, uint64_t seed)
{
    return make_population_of(neurons, seed, 0.2f, 0.2f, 0.2f, 0.3f);
}

/* ------------------------------------------------------------------------ */

static void check_config_errors(void)
{
    sim_config c;
    sim_population *p;
    char err[MODEL_ERR_SIZE];
    sim_config_default(&c);
    CHECK(c.neurons == 200 && c.height == 36 && c.width == 64 && c.seed == 1,
          "default config: 200 neurons, 36×64, seed 1");
    c.neurons = 0;
    CHECK(sim_population_create(&p, &c, err) != 0 && strstr(err, "neurons") && p == NULL,
          "0 neurons refused: %s", err);
    sim_config_default(&c);
    c.fraction_simple = 0.7f;
    c.fraction_complex = 0.5f;
    CHECK(sim_population_create(&p, &c, err) != 0 && strstr(err, "fraction"),
          "fractions over 1 refused: %s", err);
    sim_config_default(&c);
    c.height = 2;
    CHECK(sim_population_create(&p, &c, err) != 0 && strstr(err, "size"),
          "tiny image refused: %s", err);
}

static void check_types(void)
{
    sim_population *p = make_population(200, 5);
    int counts[SIM_CELL_TYPES] = {0};
    int rf_inside = 1;
    for (int n = 0; n < 200; n++) {
        const sim_cell *c = sim_population_cell(p, n);
        counts[c->type]++;
        rf_inside &= c->x >= 0 && c->x <= W - 1 && c->y >= 0 && c->y <= H - 1 &&
                     c->sigma >= 1.9f && c->sigma <= 5.01f && c->frequency >= 0.059f &&
                     c->frequency <= 0.201f && c->gain > 0;
    }
    CHECK(counts[SIM_SIMPLE] == 60 && counts[SIM_COMPLEX] == 60 && counts[SIM_CONJUNCTION] == 40 &&
              counts[SIM_NORMALIZED] == 40,
          "30%% simple, 30%% complex, 20%% conjunction, 20%% normalized (%d, %d, %d, %d)",
          counts[SIM_SIMPLE], counts[SIM_COMPLEX], counts[SIM_CONJUNCTION],
          counts[SIM_NORMALIZED]);
    sim_config d;
    sim_config_default(&d);
    CHECK(d.fraction_simple == 0.4f && d.fraction_complex == 0.4f && d.fraction_conjunction == 0.0f &&
              d.fraction_energy_conjunction == 0.0f,
          "the default population: 40%% simple, 40%% complex, no conjunction, 20%% normalized");
    CHECK(!strcmp(sim_cell_type_name(SIM_CONJUNCTION), "conjunction") &&
              !strcmp(sim_cell_type_name(SIM_NORMALIZED), "normalized") &&
              !strcmp(sim_cell_type_name(SIM_DEEP), "deep") &&
              !strcmp(sim_cell_type_name(SIM_CELL_TYPES), "?"),
          "cell type names");
    CHECK(rf_inside, "RF centres inside the image, σ 2..5 px, 0.06..0.2 cycles/px, gain > 0");
    CHECK(sim_population_cell(p, 200) == NULL && sim_population_cell(p, -1) == NULL,
          "cell index out of range gives NULL");
    sim_population_destroy(p);
}

static void check_rates(void)
{
    sim_population *p = make_population(200, 1);
    int count = 500;
    float *img = malloc((size_t)count * PIX * sizeof(float));
    float *r = malloc((size_t)count * 200 * sizeof(float));
    sim_natural_images(img, count, H, W, 1234);
    sim_population_rates(p, img, count, r);
    int ok = 1, finite = 1;
    double lo = 1e9, hi = 0, peak = 0;
    for (int n = 0; n < 200; n++) {
        double m = 0;
        for (int b = 0; b < count; b++) {
            double v = r[b * 200 + n];
            finite &= isfinite(v) && v >= 0;
            m += v / count;
            peak = v > peak ? v : peak;
        }
        ok &= m >= 0.1 && m <= 20;
        lo = m < lo ? m : lo;
        hi = m > hi ? m : hi;
    }
    CHECK(finite, "rates finite and non-negative");
    CHECK(ok, "each cell's mean rate over natural images in 0.1..20 (%.2f..%.2f)", lo, hi);
    CHECK(peak < 200, "peak rate %.1f spikes per window stays realistic (< 200)", peak);

    /* The batch path (sgemm over chunks) agrees with one image at a time. */
    int same = 1;
    for (int b = 0; b < count; b += 97)
        for (int n = 0; n < 200; n += 13)
            same &= fabsf(rate_of(p, img + (size_t)b * PIX, n) - r[b * 200 + n]) <=
                    1e-4f * (1 + r[b * 200 + n]);
    CHECK(same, "rates of a batch equal rates image by image");

    /* Same seed: the same population; another seed: another. */
    sim_population *q = make_population(200, 1), *o = make_population(200, 2);
    float *r2 = malloc((size_t)count * 200 * sizeof(float));
    sim_population_rates(q, img, count, r2);
    CHECK(memcmp(r, r2, (size_t)count * 200 * sizeof(float)) == 0 &&
              memcmp(sim_population_cell(p, 7), sim_population_cell(q, 7), sizeof(sim_cell)) == 0,
          "same seed: identical cells and rates");
    CHECK(sim_population_cell(o, 7)->x != sim_population_cell(p, 7)->x,
          "another seed: other cells");
    free(r2);
    free(img);
    free(r);
    sim_population_destroy(p);
    sim_population_destroy(q);
    sim_population_destroy(o);
}

/* Small images (as the fit test uses): RFs shrink to fit, rates stay sane. */
static void check_small_images(void)
{
    sim_config c;
    sim_config_default(&c);
    c.neurons = 12;
    c.height = c.width = 16;
    sim_population *p;
    char err[MODEL_ERR_SIZE];
    if (sim_population_create(&p, &c, err)) {
        CHECK(0, "16×16 population: %s", err);
        return;
    }
    int count = 300, ok = 1, inside = 1;
    float *img = malloc((size_t)count * 256 * sizeof(float));
    float *r = malloc((size_t)count * 12 * sizeof(float));
    sim_natural_images(img, count, 16, 16, 3);
    sim_population_rates(p, img, count, r);
    for (int n = 0; n < 12; n++) {
        const sim_cell *cell = sim_population_cell(p, n);
        double m = 0;
        for (int b = 0; b < count; b++)
            m += r[b * 12 + n] / count;
        ok &= m >= 0.1 && m <= 20;
        inside &= cell->x - cell->sigma >= 0 && cell->x + cell->sigma <= 15 &&
                  cell->y - cell->sigma >= 0 && cell->y + cell->sigma <= 15;
    }
    CHECK(ok, "16×16 images: every mean rate in 0.1..20");
    CHECK(inside, "16×16 images: each RF's 1σ disc inside the image");
    free(img);
    free(r);
    sim_population_destroy(p);
}

/* Poisson counts: mean and variance both equal the rate. */
static void check_poisson(void)
{
    sim_population *p = make_population(6, 3);
    int reps = 4000;
    float img[PIX];
    sim_natural_images(img, 1, H, W, 9);
    float rate[6];
    sim_population_rates(p, img, 1, rate);
    float *batch = malloc((size_t)reps * PIX * sizeof(float));
    float *counts = malloc((size_t)reps * 6 * sizeof(float));
    for (int i = 0; i < reps; i++)
        memcpy(batch + (size_t)i * PIX, img, sizeof img);
    model_rng rng;
    model_rng_seed(&rng, 11);
    sim_population_sample(p, batch, reps, &rng, counts);
    int integers = 1;
    for (int i = 0; i < reps * 6; i++)
        integers &= counts[i] >= 0 && counts[i] == floorf(counts[i]);
    CHECK(integers, "spike counts are non-negative integers");
    for (int n = 0; n < 6; n++) {
        double m = 0, v = 0;
        for (int i = 0; i < reps; i++)
            m += counts[i * 6 + n] / reps;
        for (int i = 0; i < reps; i++)
            v += (counts[i * 6 + n] - m) * (counts[i * 6 + n] - m) / (reps - 1);
        /* Standard errors: of the mean √(λ/n), of the variance ≈ λ√(2/n) + ... */
        double se_mean = sqrt(rate[n] / reps);
        double se_var = sqrt((2 * rate[n] * rate[n] + rate[n]) / reps);
        CHECK(fabs(m - rate[n]) < 5 * se_mean + 1e-3 && fabs(v - rate[n]) < 5 * se_var + 1e-3,
              "cell %d: Poisson mean %.3f and variance %.3f match rate %.3f", n, m, v,
              (double)rate[n]);
    }
    model_rng a, b;
    model_rng_seed(&a, 5);
    model_rng_seed(&b, 5);
    float c1[6], c2[6];
    sim_population_sample(p, img, 1, &a, c1);
    sim_population_sample(p, img, 1, &b, c2);
    CHECK(memcmp(c1, c2, sizeof c1) == 0, "sampling is deterministic from the rng seed");
    free(batch);
    free(counts);
    sim_population_destroy(p);
}

/* Ground truth for MEIs: at equal RMS contrast a simple cell prefers its own
 * Gabor over the phase-reversed and the orthogonal one; a complex cell's
 * response to its Gabor hardly depends on phase. */
static void check_tuning(void)
{
    sim_population *p = make_population(200, 1);
    float own[PIX], reversed[PIX], orthogonal[PIX];
    int simple_ok = 1, simple = 0, complex_ok = 1, complex_ = 0, displayable = 1;
    double worst_spread = 0, worst_ratio = 0;
    for (int n = 0; n < 200; n++) {
        const sim_cell *c = sim_population_cell(p, n);
        double rms = 0.02; /* keeps the smallest Gabors inside [0,1] */
        if (c->type == SIM_SIMPLE) {
            simple++;
            gabor_image(own, c, c->orientation, c->phase, rms);
            gabor_image(reversed, c, c->orientation, c->phase + M_PI, rms);
            gabor_image(orthogonal, c, c->orientation + M_PI / 2, c->phase, rms);
            displayable &= in_range(own, PIX) && in_range(orthogonal, PIX);
            float r0 = rate_of(p, own, n), r1 = rate_of(p, reversed, n),
                  r2 = rate_of(p, orthogonal, n);
            simple_ok &= r0 > r1 && r0 > r2;
            double ratio = (r1 > r2 ? r1 : r2) / r0;
            worst_ratio = ratio > worst_ratio ? ratio : worst_ratio;
        } else if (c->type == SIM_COMPLEX) {
            complex_++;
            double lo = 1e9, hi = 0;
            for (int k = 0; k < 8; k++) {
                gabor_image(own, c, c->orientation, c->phase + k * M_PI / 4, rms);
                double r = rate_of(p, own, n) - c->offset;
                lo = r < lo ? r : lo;
                hi = r > hi ? r : hi;
            }
            gabor_image(orthogonal, c, c->orientation + M_PI / 2, c->phase, rms);
            complex_ok &= rate_of(p, orthogonal, n) - c->offset < lo;
            double spread = (hi - lo) / hi;
            worst_spread = spread > worst_spread ? spread : worst_spread;
        }
    }
    CHECK(displayable, "probe Gabors at RMS contrast 0.02 fit in [0,1]");
    CHECK(simple_ok, "all %d simple cells: own Gabor > phase-reversed and > orthogonal "
          "(worst other/own %.3f)", simple, worst_ratio);
    CHECK(complex_ok && worst_spread < 0.15,
          "all %d complex cells: phase-invariant within %.3f (< 0.15), orthogonal weaker",
          complex_, worst_spread);
    sim_population_destroy(p);
}

/* Normalized cells: an orthogonal mask suppresses the response to the
 * preferred grating, and the response saturates with contrast; simple cells
 * barely notice the mask (the control). */
static void check_normalization(void)
{
    sim_population *p = make_population(200, 1);
    int normalized = 0, suppressed = 0, saturating = 0, simple = 0, unmoved = 0;
    double worst = 0;
    for (int n = 0; n < 200; n++) {
        const sim_cell *c = sim_population_cell(p, n);
        if (c->type == SIM_COMPLEX || c->type == SIM_CONJUNCTION)
            continue;
        float grating[PIX], plaid[PIX], strong[PIX];
        for (int i = 0; i < PIX; i++)
            grating[i] = plaid[i] = strong[i] = 0.5f;
        add_pattern(grating, c, c->orientation, c->phase, 0, 0.2);
        add_pattern(plaid, c, c->orientation, c->phase, 0, 0.2);
        add_pattern(plaid, c, c->orientation + M_PI / 2, 0.3, 0, 0.2);
        add_pattern(strong, c, c->orientation, c->phase, 0, 0.4);
        double g = rate_of(p, grating, n) - c->offset, m = rate_of(p, plaid, n) - c->offset;
        double s = rate_of(p, strong, n) - c->offset;
        if (c->type == SIM_NORMALIZED) {
            normalized++;
            suppressed += m < 0.9 * g;
            saturating += s < 1.9 * g;
            worst = m / g > worst ? m / g : worst;
        } else {
            simple++;
            unmoved += fabs(m - g) < 0.1 * g;
        }
    }
    CHECK(normalized > 0 && suppressed == normalized,
          "cross-orientation suppression in %d of %d normalized cells (worst plaid/grating %.3f)",
          suppressed, normalized, worst);
    CHECK(saturating == normalized, "contrast saturation in %d of %d normalized cells",
          saturating, normalized);
    CHECK(unmoved >= simple * 9 / 10, "simple cells ignore the mask: %d of %d within 10%%",
          unmoved, simple);
    sim_population_destroy(p);
}

/* Conjunction cells, from the formula in model.h written out here: two
 * zero-mean, unit-norm Gabor subunits g₁ (x, y, orientation, phase) and g₂
 * (x2, y2, orientation2, phase2), same σ and f; rate = offset + gain ·
 * √([g₁·x]₊ [g₂·x]₊). */
static void unit_gabor(float *out, const sim_cell *c, double cx, double cy, double orientation,
                       double phase)
{
    double env[PIX], carrier[PIX], wsum = 0, csum = 0, norm = 0;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            double dx = x - cx, dy = y - cy;
            double u = dx * cos(orientation) + dy * sin(orientation);
            env[y * W + x] = exp(-(dx * dx + dy * dy) / (2.0 * c->sigma * c->sigma));
            carrier[y * W + x] = cos(2 * M_PI * c->frequency * u + phase);
            wsum += env[y * W + x];
            csum += env[y * W + x] * carrier[y * W + x];
        }
    for (int i = 0; i < PIX; i++) {
        double g = env[i] * (carrier[i] - csum / wsum);
        out[i] = (float)g;
        norm += g * g;
    }
    for (int i = 0; i < PIX; i++)
        out[i] = (float)(out[i] / sqrt(norm));
}

static double dot(const float *a, const float *b)
{
    double s = 0;
    for (int i = 0; i < PIX; i++)
        s += (double)a[i] * b[i];
    return s;
}

static void subunits(const sim_cell *c, float *g1, float *g2)
{
    unit_gabor(g1, c, c->x, c->y, c->orientation, c->phase);
    unit_gabor(g2, c, c->x2, c->y2, c->orientation2, c->phase2);
}

/* Mean gray plus `pattern` scaled to RMS contrast `rms`. */
static void at_contrast(float *img, const float *pattern, double rms)
{
    double scale = rms / pixel_std(pattern, PIX);
    for (int i = 0; i < PIX; i++)
        img[i] = (float)(0.5 + scale * pattern[i]);
}

static void check_conjunction_drive(void)
{
    sim_population *p = make_population(200, 1);
    int count = 40, cells = 0, geometry = 0, agree = 0;
    double worst = 0;
    float *img = malloc((size_t)count * PIX * sizeof(float));
    float *r = malloc((size_t)count * 200 * sizeof(float));
    float g1[PIX], g2[PIX];
    sim_natural_images(img, count, H, W, 77);
    sim_population_rates(p, img, count, r);
    for (int n = 0; n < 200; n++) {
        const sim_cell *c = sim_population_cell(p, n);
        if (c->type != SIM_CONJUNCTION)
            continue;
        cells++;
        double turn = fabs(c->orientation2 - c->orientation);
        double dist = hypot(c->x2 - c->x, c->y2 - c->y);
        geometry += turn >= M_PI / 3 - 1e-5 && turn <= M_PI / 2 + 1e-5 && dist <= 2 * c->sigma + 1e-4 &&
                    c->x2 >= 0 && c->x2 <= W - 1 && c->y2 >= 0 && c->y2 <= H - 1;
        subunits(c, g1, g2);
        int ok = 1;
        for (int b = 0; b < count; b++) {
            const float *x = img + (size_t)b * PIX;
            double l1 = dot(g1, x), l2 = dot(g2, x);
            double want = c->offset + c->gain * (l1 > 0 && l2 > 0 ? sqrt(l1 * l2) : 0.0);
            double err = fabs(r[b * 200 + n] - want) / (1 + want);
            worst = err > worst ? err : worst;
            ok &= err < 1e-3;
        }
        agree += ok;
    }
    CHECK(cells == 40 && geometry == cells,
          "%d conjunction cells: second subunit turned π/3..π/2, within 2σ, inside the image "
          "(%d)", cells, geometry);
    CHECK(agree == cells, "conjunction drive √([g₁·x]₊[g₂·x]₊) computed here agrees on %d of %d "
          "cells × %d natural images (worst relative error %.2g)", agree, cells, count, worst);
    free(img);
    free(r);
    sim_population_destroy(p);
}

/* A two-subunit cell's optimum at fixed contrast is g₁ + g₂ (for an
 * energy-conjunction cell, any phases of them; proofs at the top of
 * simulate.c): it beats either subunit alone, any single Gabor of the cell's σ
 * and f at either subunit's centre, 8 orientations × 8 phases, and any
 * weighting a g₁ + (1 − a) g₂ other than the equal one. */
static void check_two_subunit_optimum(sim_population *p, int type)
{
    int neurons = sim_population_neurons(p), cells = 0, beats_single = 0, beats_weighted = 0;
    double worst = 0;
    float g1[PIX], g2[PIX], pattern[PIX], img[PIX];
    double rms = 0.02;
    for (int n = 0; n < neurons; n++) {
        const sim_cell *c = sim_population_cell(p, n);
        if ((int)c->type != type)
            continue;
        cells++;
        subunits(c, g1, g2);
        for (int i = 0; i < PIX; i++)
            pattern[i] = g1[i] + g2[i];
        at_contrast(img, pattern, rms);
        double best = rate_of(p, img, n) - c->offset, single = 0;
        for (int k = 0; k < 128; k++) {
            double cx = k / 64 ? c->x2 : c->x, cy = k / 64 ? c->y2 : c->y;
            unit_gabor(pattern, c, cx, cy, c->orientation + (k / 8 % 8) * M_PI / 8,
                       (k % 8) * M_PI / 4);
            at_contrast(img, pattern, rms);
            double v = rate_of(p, img, n) - c->offset;
            single = v > single ? v : single;
        }
        beats_single += best > 1.2 * single;
        worst = single / best > worst ? single / best : worst;
        int ok = 1;
        for (int k = 1; k < 10; k++) {
            if (k == 5)
                continue;
            double a = k / 10.0;
            for (int i = 0; i < PIX; i++)
                pattern[i] = (float)(a * g1[i] + (1 - a) * g2[i]);
            at_contrast(img, pattern, rms);
            ok &= rate_of(p, img, n) - c->offset < best;
        }
        beats_weighted += ok;
    }
    CHECK(cells > 0 && beats_single == cells,
          "g₁ + g₂ beats the best single Gabor by > 20%% in %d of %d %s cells (worst "
          "single/optimum %.3f)", beats_single, cells, sim_cell_type_name(type), worst);
    CHECK(beats_weighted == cells, "g₁ + g₂ beats unequal weightings in %d of %d %s cells",
          beats_weighted, cells, sim_cell_type_name(type));
    sim_population_destroy(p);
}

/* A population without conjunction cells is the one a seed made before they
 * existed: the other cells do not depend on the conjunction share's draws. */
static void check_conjunction_share(void)
{
    sim_config c;
    sim_config_default(&c);
    c.fraction_simple = 0.5f;
    c.fraction_complex = 0.5f;
    c.fraction_conjunction = 0.0f;
    sim_population *p;
    char err[MODEL_ERR_SIZE];
    if (sim_population_create(&p, &c, err)) {
        CHECK(0, "no conjunction cells: %s", err);
        return;
    }
    int none = 1;
    for (int n = 0; n < c.neurons; n++)
        none &= sim_population_cell(p, n)->type != SIM_CONJUNCTION &&
                sim_population_cell(p, n)->x2 == 0.0f;
    CHECK(none, "fraction_conjunction 0: no conjunction cells, no second subunits");
    sim_population_destroy(p);
    c.fraction_conjunction = 0.2f;
    CHECK(sim_population_create(&p, &c, err) != 0 && strstr(err, "conjunction"),
          "three shares over 1 refused: %s", err);
}

/* ------------------------------------------------------------------------ */
/* Images. */

/* Slope of log radially averaged power against log frequency, from a naive
 * double-precision DFT of square side×side images. */
static double spectrum_slope(const float *images, int count, int side)
{
    int bins = side / 2;
    double *power = calloc((size_t)bins, sizeof(double));
    int *hits = calloc((size_t)bins, sizeof(int));
    double *re = malloc((size_t)side * side * sizeof(double));
    double *im = malloc((size_t)side * side * sizeof(double));
    for (int k = 0; k < count; k++) {
        const float *img = images + (size_t)k * side * side;
        double mean = 0;
        for (int i = 0; i < side * side; i++)
            mean += img[i] / (side * side);
        /* rows first, then columns */
        for (int y = 0; y < side; y++)
            for (int u = 0; u < side; u++) {
                double sr = 0, si = 0;
                for (int x = 0; x < side; x++) {
                    double a = -2 * M_PI * u * x / side, v = img[y * side + x] - mean;
                    sr += v * cos(a);
                    si += v * sin(a);
                }
                re[y * side + u] = sr;
                im[y * side + u] = si;
            }
        for (int u = 0; u < side; u++)
            for (int v = 0; v < side; v++) {
                double sr = 0, si = 0;
                for (int y = 0; y < side; y++) {
                    double a = -2 * M_PI * v * y / side;
                    sr += re[y * side + u] * cos(a) - im[y * side + u] * sin(a);
                    si += re[y * side + u] * sin(a) + im[y * side + u] * cos(a);
                }
                int fu = u <= side / 2 ? u : u - side, fv = v <= side / 2 ? v : v - side;
                int r = (int)lround(sqrt((double)fu * fu + fv * fv));
                if (r >= 1 && r < bins) {
                    power[r] += sr * sr + si * si;
                    hits[r]++;
                }
            }
    }
    /* least squares over radii 2 .. bins-1 */
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int m = 0;
    for (int r = 2; r < bins; r++) {
        double lx = log((double)r / side), ly = log(power[r] / hits[r]);
        sx += lx;
        sy += ly;
        sxx += lx * lx;
        sxy += lx * ly;
        m++;
    }
    free(power);
    free(hits);
    free(re);
    free(im);
    return (m * sxy - sx * sy) / (m * sxx - sx * sx);
}

static void check_images(void)
{
    int count = 200;
    float *img = malloc((size_t)count * PIX * sizeof(float));
    sim_natural_images(img, count, H, W, 42);
    double mean = 0;
    int clipped = in_range(img, count * PIX), contrast_ok = 1;
    double lo = 1, hi = 0;
    for (int k = 0; k < count; k++) {
        double s = pixel_std(img + (size_t)k * PIX, PIX);
        contrast_ok &= s > 0.1 && s < 0.26;
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
    }
    for (int i = 0; i < count * PIX; i++)
        mean += img[i] / ((double)count * PIX);
    CHECK(fabs(mean - 0.5) < 0.01, "natural-like images: mean %.4f ≈ 0.5", mean);
    CHECK(clipped, "pixels in [0,1]");
    CHECK(contrast_ok, "RMS contrast per image %.3f..%.3f inside 0.1..0.26", lo, hi);

    float *again = malloc((size_t)count * PIX * sizeof(float));
    sim_natural_images(again, 5, H, W, 42);
    CHECK(memcmp(img, again, (size_t)5 * PIX * sizeof(float)) == 0,
          "same seed: same images, whatever the count");
    sim_natural_images(again, 5, H, W, 43);
    CHECK(memcmp(img, again, (size_t)PIX * sizeof(float)) != 0, "another seed: other images");
    CHECK(memcmp(img, img + PIX, (size_t)PIX * sizeof(float)) != 0, "images differ");
    free(again);
    free(img);

    int side = 64, n = 24;
    float *sq = malloc((size_t)n * side * side * sizeof(float));
    sim_natural_images(sq, n, side, side, 7);
    double slope = spectrum_slope(sq, n, side);
    CHECK(slope > -2.6 && slope < -1.4, "power spectrum slope %.2f in [-2.6, -1.4] (1/f²)",
          slope);
    free(sq);
}

/* ------------------------------------------------------------------------ */
/* Datasets. */

static void small_options(simulate_options *o)
{
    simulate_options_default(o);
    o->population.neurons = 20;
    o->train_images = 50;
    o->test_images = 5;
    o->test_repeats = 4;
    o->seed = 8;
    o->population.seed = 8;
}

static void check_dataset(void)
{
    simulate_options o;
    simulate_options_default(&o);
    CHECK(o.train_images == 4000 && fabsf(o.validation_fraction - 0.1f) < 1e-6f &&
              o.test_images == 100 && o.test_repeats == 10 && o.images == SIM_IMAGES_SYNTHETIC,
          "default options: 4000 train (10%% validation), 100 test × 10 repeats");
    small_options(&o);
    dataset d, e;
    char err[MODEL_ERR_SIZE];
    if (simulate_dataset(&o, &d, err)) {
        CHECK(0, "simulate_dataset: %s", err);
        return;
    }
    CHECK(d.trials == 70 && d.neurons == 20 && d.height == H && d.width == W,
          "70 trials of 20 neurons on 36×64 images");
    CHECK(dataset_count_tier(&d, TIER_TRAIN) == 45 &&
              dataset_count_tier(&d, TIER_VALIDATION) == 5 &&
              dataset_count_tier(&d, TIER_TEST) == 20,
          "tiers: 45 train, 5 validation, 20 test");

    /* Every test image shown 4 times with one id and identical pixels; every
     * other id unique. */
    int repeats_ok = 1, unique_ok = 1, pixels_ok = 1;
    for (int t = 0; t < d.trials; t++) {
        int same = 0;
        for (int u = 0; u < d.trials; u++)
            if (d.image_ids[u] == d.image_ids[t]) {
                same++;
                pixels_ok &= memcmp(d.images + (size_t)u * PIX, d.images + (size_t)t * PIX,
                                    PIX * sizeof(float)) == 0;
                repeats_ok &= d.tiers[u] == d.tiers[t];
            }
        if (d.tiers[t] == TIER_TEST)
            repeats_ok &= same == 4;
        else
            unique_ok &= same == 1;
    }
    CHECK(repeats_ok, "each test image repeated 4 times under one id");
    CHECK(unique_ok, "train and validation images each have their own id");
    CHECK(pixels_ok, "trials sharing an id show identical images");
    CHECK(memcmp(d.images, d.images + PIX, PIX * sizeof(float)) != 0,
          "distinct images differ");

    /* Responses are Poisson around the population's rates. */
    sim_population *p;
    sim_population_create(&p, &o.population, err);
    float *rates = malloc((size_t)d.trials * d.neurons * sizeof(float));
    sim_population_rates(p, d.images, d.trials, rates);
    double sum_rate = 0, sum_count = 0;
    int integers = 1;
    for (int i = 0; i < d.trials * d.neurons; i++) {
        sum_rate += rates[i];
        sum_count += d.responses[i];
        integers &= d.responses[i] >= 0 && d.responses[i] == floorf(d.responses[i]);
    }
    CHECK(integers, "responses are spike counts");
    CHECK(fabs(sum_count - sum_rate) < 5 * sqrt(sum_rate),
          "total spikes %.0f match total rate %.1f", sum_count, sum_rate);
    free(rates);
    sim_population_destroy(p);

    CHECK(simulate_dataset(&o, &e, err) == 0 &&
              memcmp(d.images, e.images, (size_t)d.trials * PIX * sizeof(float)) == 0 &&
              memcmp(d.responses, e.responses, (size_t)d.trials * 20 * sizeof(float)) == 0 &&
              memcmp(d.image_ids, e.image_ids, (size_t)d.trials * sizeof(int64_t)) == 0,
          "same options: identical dataset");
    dataset_free(&e);
    o.seed = 9;
    CHECK(simulate_dataset(&o, &e, err) == 0 &&
              memcmp(d.responses, e.responses, (size_t)d.trials * 20 * sizeof(float)) != 0,
          "another seed: another dataset");
    dataset_free(&e);
    dataset_free(&d);

    /* White noise: flat spectrum, same mean and contrast range. */
    small_options(&o);
    o.images = SIM_IMAGES_NOISE;
    o.population.height = o.population.width = 32;
    o.test_images = 0;
    o.train_images = 12;
    CHECK(simulate_dataset(&o, &e, err) == 0, "white-noise dataset builds");
    double slope = spectrum_slope(e.images, 12, 32);
    double s = pixel_std(e.images, 32 * 32);
    CHECK(fabs(slope) < 0.4 && in_range(e.images, 12 * 32 * 32) && s > 0.1 && s < 0.26,
          "white-noise images: spectrum slope %.2f ≈ 0, RMS contrast %.3f", slope, s);
    dataset_free(&e);

    small_options(&o);
    o.test_repeats = 0;
    CHECK(simulate_dataset(&o, &e, err) != 0 && strstr(err, "test_repeats") && e.trials == 0,
          "0 repeats refused: %s", err);
    small_options(&o);
    o.validation_fraction = 1.0f;
    CHECK(simulate_dataset(&o, &e, err) != 0 && strstr(err, "validation_fraction"),
          "validation fraction 1 refused: %s", err);
    small_options(&o);
    o.population.neurons = -3;
    CHECK(simulate_dataset(&o, &e, err) != 0 && strstr(err, "neurons"),
          "negative neuron count refused: %s", err);
}

/* ------------------------------------------------------------------------ */
/* Energy-conjunction cells. */

/* The energy of a subunit's quadrature pair (phases φ, φ + π/2) in image x. */
static double pair_energy(const sim_cell *c, double cx, double cy, double orientation,
                          double phase, const float *x)
{
    float g[PIX];
    double e = 0;
    for (int k = 0; k < 2; k++) {
        unit_gabor(g, c, cx, cy, orientation, phase + k * M_PI / 2);
        double l = dot(g, x);
        e += l * l;
    }
    return e;
}

/* Types, the drive (E E₂)^¼ recomputed here from the published parameters,
 * phase invariance, and a flat linear receptive field: the rate is an even
 * function of the contrast image, so gray + εv and gray − εv drive the cell
 * equally (a simple cell, for contrast, does not). */
static void check_energy_conjunction_drive(void)
{
    sim_population *p = make_energy_population(100, 3);
    int count = 30, counts[SIM_CELL_TYPES] = {0}, agree = 0, even = 0, odd_simple = 0, simple = 0;
    int invariant = 0, geometry = 0;
    double worst = 0;
    float *img = malloc((size_t)count * PIX * sizeof(float));
    float *r = malloc((size_t)count * 100 * sizeof(float));
    float plus[PIX], minus[PIX], shifted[PIX], v[PIX];
    sim_natural_images(img, count, H, W, 78);
    sim_population_rates(p, img, count, r);
    model_rng rng;
    model_rng_seed(&rng, 4);
    for (int n = 0; n < 100; n++) {
        const sim_cell *c = sim_population_cell(p, n);
        counts[c->type]++;
        for (int i = 0; i < PIX; i++)
            v[i] = (float)(0.05 * model_rng_normal(&rng));
        for (int i = 0; i < PIX; i++) {
            plus[i] = 0.5f + v[i];
            minus[i] = 0.5f - v[i];
        }
        double rp = rate_of(p, plus, n), rm = rate_of(p, minus, n);
        if (c->type == SIM_SIMPLE) {
            simple++;
            odd_simple += fabs(rp - rm) > 1e-3 * (1 + rp + rm);
        }
        if (c->type != SIM_ENERGY_CONJUNCTION)
            continue;
        even += fabs(rp - rm) <= 1e-4 * (1 + rp);
        double turn = fabs(c->orientation2 - c->orientation);
        double dist = hypot(c->x2 - c->x, c->y2 - c->y);
        geometry += turn >= M_PI / 3 - 1e-5 && turn <= M_PI / 2 + 1e-5 &&
                    dist >= c->sigma - 1e-4 && dist <= 2 * c->sigma + 1e-4;
        int ok = 1;
        for (int b = 0; b < count; b++) {
            const float *x = img + (size_t)b * PIX;
            double e1 = pair_energy(c, c->x, c->y, c->orientation, c->phase, x);
            double e2 = pair_energy(c, c->x2, c->y2, c->orientation2, c->phase2, x);
            double want = c->offset + c->gain * pow(e1 * e2, 0.25);
            double err = fabs(r[b * 100 + n] - want) / (1 + want);
            worst = err > worst ? err : worst;
            ok &= err < 1e-3;
        }
        agree += ok;
        /* Phase invariance: both subunits' Gabors at two phase pairs. */
        float g1[PIX], g2[PIX];
        double rates[2];
        for (int k = 0; k < 2; k++) {
            unit_gabor(g1, c, c->x, c->y, c->orientation, c->phase + k * 1.3);
            unit_gabor(g2, c, c->x2, c->y2, c->orientation2, c->phase2 - k * 2.1);
            for (int i = 0; i < PIX; i++)
                shifted[i] = g1[i] + g2[i];
            at_contrast(plus, shifted, 0.02);
            rates[k] = rate_of(p, plus, n);
        }
        invariant += fabs(rates[0] - rates[1]) < 0.15 * rates[0];
    }
    int e = counts[SIM_ENERGY_CONJUNCTION];
    CHECK(counts[SIM_SIMPLE] == 20 && counts[SIM_COMPLEX] == 20 && counts[SIM_CONJUNCTION] == 20 &&
              e == 30 && counts[SIM_NORMALIZED] == 10,
          "20%% simple, complex, conjunction, 30%% energy-conjunction, 10%% normalized (%d, %d, "
          "%d, %d, %d)", counts[SIM_SIMPLE], counts[SIM_COMPLEX], counts[SIM_CONJUNCTION], e,
          counts[SIM_NORMALIZED]);
    CHECK(!strcmp(sim_cell_type_name(SIM_ENERGY_CONJUNCTION), "energy-conjunction"),
          "type name energy-conjunction");
    CHECK(geometry == e, "%d of %d energy-conjunction cells: second subunit turned π/3..π/2, "
          "σ..2σ away", geometry, e);
    CHECK(agree == e, "energy-conjunction drive (E E₂)^¼ computed here agrees on %d of %d cells "
          "× %d natural images (worst relative error %.2g)", agree, e, count, worst);
    CHECK(even == e && simple > 0 && odd_simple == simple,
          "rate(gray + εv) = rate(gray − εv) for %d of %d energy-conjunction cells (a flat "
          "linear receptive field), and not for %d of %d simple cells", even, e, odd_simple,
          simple);
    /* Not exactly: the two subunits overlap a little, so their relative
     * phase adds or takes a few percent. */
    CHECK(invariant == e, "the subunits' phases change the response by < 15%% in %d of %d cells",
          invariant, e);
    free(img);
    free(r);
    sim_population_destroy(p);
}

/* ------------------------------------------------------------------------ */
/* Baseline rates (simulate.c, "Baseline rates"). */

/* Two cells of each of the ten types, a `share` of them (the seed's choice)
 * with a baseline of `rate` spikes per window (0: none). */
static sim_population *make_baseline_population(float rate, float share)
{
    sim_config c;
    sim_config_default(&c);
    c.neurons = 20;
    c.seed = 7;
    for (int t = 0; t < SIM_CELL_TYPES; t++) {
        float *f = sim_config_fraction(&c, t);
        if (f)
            *f = 1.0f / SIM_CELL_TYPES;
    }
    c.baseline_rate = rate;
    c.baseline_share = share;
    sim_population *p = NULL;
    char err[MODEL_ERR_SIZE];
    if (sim_population_create(&p, &c, err))
        printf("# sim_population_create: %s\n", err);
    return p;
}

/* Descends the cell's true rate from `x` (mean 0.5, RMS contrast `rms`),
 * keeping the mean and the contrast: normalized gradient steps of a fifth of
 * the contrast, halved whenever one raised the rate. The rate reached. */
static float descend(const sim_population *p, int n, float *x, double rms, int steps)
{
    float g[PIX], trial[PIX];
    double step = 0.2;
    float rate = sim_population_gradient(p, n, x, g);
    for (int s = 0; s < steps; s++) {
        double gn = 0.0;
        for (int i = 0; i < PIX; i++)
            gn += (double)g[i] * g[i];
        if (!(gn > 0.0))
            break;
        for (int i = 0; i < PIX; i++)
            trial[i] = (float)(x[i] - 0.5 - step * rms * sqrt((double)PIX) * g[i] / sqrt(gn));
        double m = 0.0;
        for (int i = 0; i < PIX; i++)
            m += trial[i] / (double)PIX;
        for (int i = 0; i < PIX; i++)
            trial[i] -= (float)m;
        double scale = rms / pixel_std(trial, PIX);
        for (int i = 0; i < PIX; i++)
            trial[i] = (float)(0.5 + scale * trial[i]);
        float gt[PIX];
        float v = sim_population_gradient(p, n, trial, gt);
        if (v < rate) {
            memcpy(x, trial, sizeof trial);
            memcpy(g, gt, sizeof gt);
            rate = v;
        } else {
            step *= 0.5;
        }
    }
    return rate;
}

/* The gradient against a central finite difference along the gradient
 * itself, at a step of 0.05 % of the image's contrast norm: small, because
 * the drives' √(E + ε) bend sharply where a subunit is nearly blank (at
 * 0.5 % a texture cell's difference was 6 % off); the rates' float rounding,
 * ~1e-6 relative, still far below the 2 % allowed. 1 if they agree. */
static int gradient_agrees(const sim_population *p, int n, const float *x)
{
    float g[PIX], xp[PIX], xm[PIX];
    sim_population_gradient(p, n, x, g);
    double gn = 0.0, xn = 0.0;
    for (int i = 0; i < PIX; i++) {
        gn += (double)g[i] * g[i];
        xn += (x[i] - 0.5) * (x[i] - 0.5);
    }
    if (!(gn > 0.0))
        return 0;
    double h = 0.0005 * sqrt(xn / gn);
    for (int i = 0; i < PIX; i++) {
        xp[i] = x[i] + (float)(h * g[i]);
        xm[i] = x[i] - (float)(h * g[i]);
    }
    double fd = (rate_of(p, xp, n) - rate_of(p, xm, n)) / (2.0 * h);
    if (fabs(fd - gn) > 0.02 * gn)
        printf("# neuron %d: finite difference %g, gradient %g\n", n, fd, gn);
    return fabs(fd - gn) <= 0.02 * gn;
}

/* The same cell (type, tuning, gain) in two populations. */
/* The drawn parameters exactly (the same random streams); the gain within
 * 1e-5 relative: it is calibrated from the cells' responses to the
 * calibration images, one sgemm whose size grows with the baseline cells'
 * extra rows, and OpenBLAS may block a sum differently for another size
 * (with OPENBLAS_CORETYPE=Haswell one gain of 20 moved by an ulp). */
static int same_cell(const sim_cell *a, const sim_cell *b)
{
    return a->type == b->type && a->x == b->x && a->y == b->y && a->sigma == b->sigma &&
           a->orientation == b->orientation && a->frequency == b->frequency &&
           a->phase == b->phase && fabsf(a->gain - b->gain) <= 1e-5f * fabsf(b->gain) &&
           a->x2 == b->x2 && a->y2 == b->y2 && a->orientation2 == b->orientation2 &&
           a->phase2 == b->phase2 && a->unit == b->unit;
}

static void check_baseline(void)
{
    const float rate = 2.0f;
    sim_population *p = make_baseline_population(rate, 0.5f);
    sim_population *plain = make_baseline_population(0.0f, 0.0f);
    CHECK(p && plain, "populations with and without baselines");
    if (!p || !plain)
        return;
    int n = sim_population_neurons(p), count = 64;
    float *img = malloc((size_t)count * PIX * sizeof(float));
    float *r = malloc((size_t)count * n * sizeof(float));
    float *r_plain = malloc((size_t)count * n * sizeof(float));
    sim_natural_images(img, count, H, W, 99);
    sim_population_rates(p, img, count, r);
    sim_population_rates(plain, img, count, r_plain);

    /* Off (the default config): no cell has a baseline. With it, the cells
     * without one are the same cells with the same rates: the choice comes
     * from its own stream. Only the sgemm's size differs (two more rows per
     * baseline cell), so a few float ulps are allowed. */
    int with = 0, same = 0, unchanged = 0, without = 0, plain_without = 0;
    for (int i = 0; i < n; i++)
        plain_without += sim_population_cell(plain, i)->baseline == 0.0f;
    CHECK(plain_without == n, "by default no cell has a baseline (%d of %d without)",
          plain_without, n);
    for (int i = 0; i < n; i++) {
        const sim_cell *c = sim_population_cell(p, i);
        same += same_cell(c, sim_population_cell(plain, i));
        if (c->baseline > 0.0f) {
            with++;
            continue;
        }
        without++;
        int ok = 1;
        for (int b = 0; b < count; b++) {
            float a = r[(size_t)b * n + i], e = r_plain[(size_t)b * n + i];
            ok &= fabsf(a - e) <= 1e-5f * fmaxf(1.0f, e);
        }
        unchanged += ok;
    }
    CHECK(same == n, "every cell keeps its type, tuning and gain (%d of %d)", same, n);
    CHECK(with >= 5 && with <= 15 && unchanged == without,
          "%d of %d cells have a baseline; the other %d keep their rates (%d)", with, n,
          without, unchanged);

    /* Each baseline cell: the baseline at gray, an orthogonal Gabor of
     * natural contrast below it, every rate finite and >= 0. */
    float gray[PIX], gabor[PIX], best[PIX];
    for (int i = 0; i < PIX; i++)
        gray[i] = 0.5f;
    int at_baseline = 0, suppressed = 0, below_naturals = 0, valid = 1, gradients = 0;
    for (int b = 0; b < count * n; b++)
        valid &= isfinite(r[b]) && r[b] >= 0.0f;
    for (int i = 0; i < n; i++) {
        const sim_cell *c = sim_population_cell(p, i);
        if (!(c->baseline > 0.0f))
            continue;
        /* gray's filter responses are float rounding (~1e-7 of a unit
         * filter), the rate's change a gain of at most tens times that */
        float g = rate_of(p, gray, i);
        at_baseline += fabsf(g - rate) <= 1e-4f * rate;
        /* at the phase that excites the cell least: a broad-band cell's
         * orthogonal Gabor overlaps its own filter at some phases */
        float orthogonal = INFINITY;
        for (int k = 0; k < 4; k++) {
            gabor_image(gabor, c, c->orientation + M_PI / 2, c->phase + k * M_PI / 2, 0.15);
            float v = rate_of(p, gabor, i);
            valid &= isfinite(v) && v >= 0.0f;
            if (v < orthogonal) {
                orthogonal = v;
                memcpy(best, gabor, sizeof best);
            }
        }
        /* from there, the true rate's descent (cells whose second subunit
         * or network the orthogonal Gabor excites) */
        /* the gradient where both the cell's own rectifiers (its preferred
         * pattern) and its suppression (that Gabor) are engaged */
        float mixed[PIX];
        sim_population_preferred_pattern(p, i, mixed);
        double scale = 0.1 / pixel_std(mixed, PIX);
        for (int k = 0; k < PIX; k++)
            mixed[k] = (float)(best[k] + scale * mixed[k]);
        gradients += gradient_agrees(p, i, mixed);
        float descended = descend(p, i, best, 0.15, 30);
        valid &= isfinite(descended) && descended >= 0.0f;
        suppressed += descended < 0.5f * rate;
        float lowest = INFINITY;
        for (int b = 0; b < count; b++)
            lowest = fminf(lowest, r[(size_t)b * n + i]);
        below_naturals += descended < lowest;
        printf("# %s cell %d: gray %.4f, orthogonal Gabor %.4f, descended %.4f, lowest natural "
               "%.4f\n", sim_cell_type_name(c->type), i, g, orthogonal, descended, lowest);
    }
    CHECK(at_baseline == with, "the rate at gray is the baseline for %d of %d cells",
          at_baseline, with);
    CHECK(gradients == with, "the true rate's gradient matches finite differences for %d of %d",
          gradients, with);
    CHECK(suppressed == with, "an image of natural contrast takes %d of %d below half the "
          "baseline", suppressed, with);
    CHECK(valid, "every rate finite and >= 0");
    CHECK(below_naturals == with, "that image is below the lowest of %d natural images for %d "
          "of %d", count, below_naturals, with);
    free(img);
    free(r);
    free(r_plain);
    sim_population_destroy(p);
    sim_population_destroy(plain);
}

int main(void)
{
    check_config_errors();
    check_types();
    check_rates();
    check_small_images();
    check_poisson();
    check_tuning();
    check_normalization();
    check_conjunction_drive();
    check_two_subunit_optimum(make_population(200, 1), SIM_CONJUNCTION);
    check_conjunction_share();
    check_energy_conjunction_drive();
    check_two_subunit_optimum(make_energy_population(100, 3), SIM_ENERGY_CONJUNCTION);
    check_images();
    check_dataset();
    check_baseline();
    return test_done();
}
