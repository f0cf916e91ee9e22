/* surround_es.c: a model-free search for a neuron's surround (issue 16): an
 * evolution strategy on a ring code around the centre. Why not the genetic
 * search of search.c: a surround that truly raises a surround-suppressed
 * cell's response is a fine ring pattern hugging the centre's mask, a few
 * per cent of the count, which sums of a few Gabor primitives did not reach
 * (docs/search.md, "Measured: surround searches"). The cell's own best
 * surround keeps much of its gain in a polar Fourier code on an annulus
 * around the mask (14 numbers: a median +8 % of the +15 % in free pixels),
 * and an ES follows a gradient estimated from counts, which a small, smooth
 * gain needs more than a selection of lucky individuals does.
 *
 * The code: basis images B_k, unit-norm, nonzero on the annulus of `inner`
 * to `outer` mask radii around the mask's centre: a sine window across the
 * annulus times cos or sin of m·θ (m = 0..harmonics) times cos or sin of
 * 2π·n·u (u the place across the annulus, n = 1..radial). A surround is
 * mean + Σ a_k B_k held to at most the budget (stimulus_constrain).
 *
 * The strategy: antithetic pairs. Each generation draws `pairs` directions
 * u_i ~ N(0, I) and asks for the surrounds of a ± σ·u_i; told their counts
 * f±, it steps a += step · Σ_i (f+ − f−) u_i / (2 · pairs · f̄), f̄ the
 * generation's mean count (the step is blind to the cell's rate, as the
 * GA's ranks are). Least: minus that. The hand-over is the mean a itself,
 * never shown as such: no individual is picked by its lucky counts. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct surround_es {
    surround_es_config c;
    int P, K;          /* pixels, coefficients */
    float *basis;      /* K × P */
    float *a;          /* K: the mean */
    float *dirs;       /* pairs × K: this generation's directions */
    float *scratch;    /* K */
    model_rng rng;
    int asked, generation;
};

void surround_es_config_default(surround_es_config *c)
{
    memset(c, 0, sizeof *c);
    c->harmonics = 3;
    c->radial = 1;
    c->inner = 0.6f;
    c->outer = 1.8f;
    c->pairs = 20;
    c->sigma = 1.0f;
    c->step = 2.0f;
    c->seed = 1;
}

static int config_check(const surround_es_config *c, char *err)
{
    if (c->height < 1 || c->width < 1 || !(c->radius > 0.0f) || !isfinite(c->centre_x) ||
        !isfinite(c->centre_y))
        return stimulus_fail(err, "surround search: image %d x %d, mask radius %g at (%g, %g)",
                             c->height, c->width, (double)c->radius, (double)c->centre_x,
                             (double)c->centre_y);
    if (!(c->budget.mean_luminance > 0.0f && c->budget.mean_luminance < 1.0f) ||
        !(c->budget.contrast > 0.0f && c->budget.contrast < 0.5f))
        return stimulus_fail(err, "surround search: the budget needs a mean in (0,1) and a "
                                  "contrast in (0,0.5)");
    if (c->harmonics < 0 || c->harmonics > 32 || c->radial < 1 || c->radial > 16 ||
        !(c->inner >= 0.0f && c->outer > c->inner) || c->pairs < 1 || c->pairs > 512 ||
        !(c->sigma > 0.0f) || !(c->step > 0.0f))
        return stimulus_fail(err, "surround search: harmonics %d, radial %d, annulus %g..%g, "
                                  "pairs %d, sigma %g, step %g out of range", c->harmonics,
                             c->radial, (double)c->inner, (double)c->outer, c->pairs,
                             (double)c->sigma, (double)c->step);
    return 0;
}

/* Basis image k: its (m, angular phase, n, radial phase), unit-norm. A
 * function that the image's pixels do not reach (an annulus off the image)
 * stays zero. */
static void basis_render(surround_es *e, int m, int sine_m, int n, int sine_n, float *out)
{
    const surround_es_config *c = &e->c;
    double norm = 0.0;
    for (int p = 0; p < e->P; p++) {
        double dx = p % c->width - c->centre_x, dy = p / c->width - c->centre_y;
        double rho = sqrt(dx * dx + dy * dy) / c->radius, v = 0.0;
        if (rho >= c->inner && rho <= c->outer) {
            double u = (rho - c->inner) / (c->outer - c->inner), th = atan2(dy, dx);
            double angular = sine_m ? sin(m * th) : cos(m * th);
            double radial = sine_n ? sin(2.0 * M_PI * n * u) : cos(2.0 * M_PI * n * u);
            v = sin(M_PI * u) * angular * radial;
        }
        out[p] = (float)v;
        norm += v * v;
    }
    for (int p = 0; p < e->P && norm > 0.0; p++)
        out[p] = (float)(out[p] / sqrt(norm));
}

int surround_es_create(surround_es **out, const surround_es_config *c, char *err)
{
    *out = NULL;
    if (config_check(c, err))
        return 1;
    surround_es *e = calloc(1, sizeof *e);
    if (!e)
        return stimulus_fail(err, "surround search: out of memory");
    e->c = *c;
    e->P = c->height * c->width;
    /* m = 0 has no sine: 2·harmonics + 1 angular functions, each with a
     * cosine and a sine across the annulus per radial frequency. */
    e->K = (2 * c->harmonics + 1) * 2 * c->radial;
    e->basis = malloc((size_t)e->K * e->P * sizeof(float));
    e->a = calloc((size_t)e->K, sizeof(float));
    e->dirs = malloc((size_t)c->pairs * e->K * sizeof(float));
    e->scratch = malloc((size_t)e->K * sizeof(float));
    if (!e->basis || !e->a || !e->dirs || !e->scratch) {
        surround_es_destroy(e);
        return stimulus_fail(err, "surround search: out of memory for %d basis images",
                             2 * c->harmonics + 1);
    }
    int k = 0;
    for (int m = 0; m <= c->harmonics; m++)
        for (int sine_m = 0; sine_m < (m ? 2 : 1); sine_m++)
            for (int n = 1; n <= c->radial; n++)
                for (int sine_n = 0; sine_n < 2; sine_n++, k++)
                    basis_render(e, m, sine_m, n, sine_n, e->basis + (size_t)k * e->P);
    model_rng_seed(&e->rng, c->seed);
    *out = e;
    return 0;
}

void surround_es_destroy(surround_es *e)
{
    if (!e)
        return;
    free(e->basis);
    free(e->a);
    free(e->dirs);
    free(e->scratch);
    free(e);
}

int surround_es_population(const surround_es *e) { return 2 * e->c.pairs; }
int surround_es_coefficients(const surround_es *e) { return e->K; }

/* The surround of coefficients `a`: mean + Σ a_k B_k, held to the budget. */
static void surround_render(const surround_es *e, const float *a, float *image)
{
    for (int p = 0; p < e->P; p++)
        image[p] = e->c.budget.mean_luminance;
    for (int k = 0; k < e->K; k++) {
        const float *b = e->basis + (size_t)k * e->P;
        for (int p = 0; p < e->P && a[k] != 0.0f; p++)
            image[p] += a[k] * b[p];
    }
    stimulus_constrain(image, e->P, &e->c.budget);
}

void surround_es_ask(surround_es *e, float *images)
{
    int K = e->K;
    for (int i = 0; i < e->c.pairs; i++) {
        float *u = e->dirs + (size_t)i * K;
        for (int k = 0; k < K; k++)
            u[k] = (float)model_rng_normal(&e->rng);
        for (int sign = 0; sign < 2; sign++) {
            for (int k = 0; k < K; k++)
                e->scratch[k] = e->a[k] + (sign ? -1.0f : 1.0f) * e->c.sigma * u[k];
            surround_render(e, e->scratch, images + (size_t)(2 * i + sign) * e->P);
        }
    }
    e->asked = 1;
}

int surround_es_tell(surround_es *e, const float *counts, char *err)
{
    if (!e->asked)
        return stimulus_fail(err, "surround search: told counts for generation %d before "
                                  "asking for its surrounds", e->generation);
    int n = 2 * e->c.pairs;
    double mean = 0.0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(counts[i]) || counts[i] < 0.0f)
            return stimulus_fail(err, "surround search: count %d of generation %d is %g: "
                                      "refused, nothing changed", i, e->generation,
                                 (double)counts[i]);
        mean += counts[i] / n;
    }
    /* No spike at all: no direction to take (a step of 0). */
    double scale = mean > 0.0 ? e->c.step / (n * mean) : 0.0;
    if (e->c.least)
        scale = -scale;
    for (int i = 0; i < e->c.pairs; i++) {
        double diff = (double)counts[2 * i] - counts[2 * i + 1];
        const float *u = e->dirs + (size_t)i * e->K;
        for (int k = 0; k < e->K; k++)
            e->a[k] += (float)(scale * diff * u[k]);
    }
    e->generation++;
    e->asked = 0;
    return 0;
}

void surround_es_mean(const surround_es *e, float *image) { surround_render(e, e->a, image); }
