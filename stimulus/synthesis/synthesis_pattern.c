/* synthesis_pattern.c: population control with a target pattern (Bashivan,
 * Kar & DiCarlo 2019): one image for a group of neurons whose predicted
 * rates, across the group, come as close as possible to a target pattern.
 *
 * "Close" is the Pearson correlation across the group's neurons between the
 * rates and the target: a pattern is relative (which neurons fire more than
 * which), so neither an offset nor a gain of the whole group counts, and a
 * recorded pattern is scored the same way. Its gradient with respect to the
 * rates, with u the centred, unit-norm rates, t̂ the centred, unit-norm target
 * and c = u · t̂: ∂c/∂r_i = (t̂_i − c u_i) / |r − r̄| (the centring's term
 * vanishes because Σ t̂ = Σ u = 0). */
#include "synthesis/synthesis.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double pattern_centre_normalize(const double *values, int k, double *out)
{
    assert(k >= 1);
    double mean = 0.0, squares = 0.0;
    for (int i = 0; i < k; i++)
        mean += values[i];
    mean /= k;
    for (int i = 0; i < k; i++) {
        out[i] = values[i] - mean;
        squares += out[i] * out[i];
    }
    double norm = sqrt(squares);
    for (int i = 0; norm > 0.0 && i < k; i++)
        out[i] /= norm;
    return norm;
}

/* t̂: the target centred and scaled to unit norm; 1 when it is flat. */
static int unit_target(const float *target, int k, double *out)
{
    for (int i = 0; i < k; i++)
        out[i] = target[i];
    return !(pattern_centre_normalize(out, k, out) > 0.0);
}

float pattern_similarity(const float *rates, const int *group, int k, const float *target,
                         float *grad)
{
    double t[PATTERN_MAX_GROUP], u[PATTERN_MAX_GROUP], c = 0.0;
    if (k < 2 || k > PATTERN_MAX_GROUP || unit_target(target, k, t))
        return NAN;
    for (int i = 0; i < k; i++)
        u[i] = rates[group[i]];
    double norm = pattern_centre_normalize(u, k, u);
    for (int i = 0; i < k; i++) {
        u[i] = norm > 0.0 ? u[i] : 0.0; /* a flat pattern (or a non-finite rate): no direction */
        c += u[i] * t[i];
    }
    /* A flat pattern has no direction: its gradient is the target's (the
     * limit of the formula from any side scaled by |r − r̄|). */
    for (int i = 0; grad && i < k; i++)
        grad[group[i]] = (float)(norm > 0.0 ? (t[i] - c * u[i]) / norm : t[i]);
    return (float)c;
}

/* model_weights_fn of a pattern step: the similarity's gradient from the
 * rates of the pass itself, and the similarity (the image's score). */
typedef struct pattern_step {
    const int *group;
    int k, neurons;
    const float *target;
    float similarity;
} pattern_step;

static void pattern_weights(const float *rates, int first, int count, float *weights, void *ctx)
{
    pattern_step *p = ctx;
    assert(first == 0 && count == 1); /* one image a pass */
    (void)first;
    (void)count;
    memset(weights, 0, (size_t)p->neurons * sizeof(float));
    p->similarity = pattern_similarity(rates, p->group, p->k, p->target, weights);
}

/* One step's similarity of x and its gradient. A group that the receptive-
 * field path serves (few neurons) is predicted, then its windows ascended;
 * a larger one takes one full pass whose weights come from its own rates
 * (a prediction first would run the forward pass twice). */
static int pattern_gradient(model *m, const float *x, pattern_step *p, int windows, float *rates,
                            float *w, float *grad, char *err)
{
    if (!windows)
        return model_input_gradient_by(m, x, 1, pattern_weights, p, grad, rates, err);
    float objective;
    if (model_predict(m, x, 1, rates, err))
        return 1;
    p->similarity = pattern_similarity(rates, p->group, p->k, p->target, w);
    return isfinite(p->similarity) &&
           model_input_gradient_objective(m, x, 1, w, grad, &objective, err);
}

int mei_pattern(model *m, const int *group, int k, const float *target, const mei_options *o,
                float *image, float *similarity, char *err)
{
    const model_config *c = model_get_config(m);
    int N = c->neurons, P = c->height * c->width;
    double t[PATTERN_MAX_GROUP];
    if (k < 2 || k > PATTERN_MAX_GROUP || unit_target(target, k, t) || o->steps < 0 ||
        !(o->step_size > 0.0f)) {
        return stimulus_fail(err, "pattern: a group of 2..%d neurons with a target that "
                             "is not flat, and a positive step size", PATTERN_MAX_GROUP);
    }
    for (int i = 0; i < k; i++)
        if (group[i] < 0 || group[i] >= N) {
            return stimulus_fail(err, "pattern: neuron %d outside 0..%d", group[i], N - 1);
        }
    float *z = malloc((size_t)P * sizeof(float)), *x = malloc((size_t)P * sizeof(float));
    float *grad = malloc((size_t)P * sizeof(float)), *w = calloc((size_t)N, sizeof(float));
    float *rates = malloc((size_t)N * sizeof(float));
    int status = 1;
    if (!z || !x || !grad || !w || !rates) {
        stimulus_fail(err, "pattern: out of memory");
        goto done;
    }
    model_set_threads(m, o->threads); /* as mei_synthesize: the options' thread count */
    /* Low-contrast noise, seeded by the group's first neuron as MEIs are. */
    model_rng rng;
    model_rng_seed(&rng, mei_start_seed(o->seed, group[0], 0));
    for (int i = 0; i < P; i++)
        z[i] = o->budget.mean_luminance + o->init_contrast * (float)model_rng_normal(&rng);
    memcpy(x, z, (size_t)P * sizeof(float));
    stimulus_constrain(x, P, &o->budget);
    for (int i = 0; i < k; i++) /* the weights' support: the group, at every step */
        w[group[i]] = 1.0f;
    int windows = model_input_gradient_uses_windows(m, w, 1);
    pattern_step p = {group, k, N, target, NAN};
    float best = -INFINITY;
    for (int step = 0; step <= o->steps; step++) {
        /* The last step only scores the last image. */
        int scored_only = step == o->steps;
        if (scored_only ? model_predict(m, x, 1, rates, err)
                        : pattern_gradient(m, x, &p, windows, rates, w, grad, err))
            goto done;
        float s = scored_only ? pattern_similarity(rates, group, k, target, NULL) : p.similarity;
        if (!isfinite(s)) {
            stimulus_fail(err, "pattern: the predicted rates are not finite");
            goto done;
        }
        if (s > best) { /* the best image seen */
            best = s;
            memcpy(image, x, (size_t)P * sizeof(float));
        }
        if (scored_only)
            break;
        double mean_abs = 0.0;
        for (int i = 0; i < P; i++)
            mean_abs += fabsf(grad[i]);
        mean_abs /= P;
        if (!(mean_abs > 0.0))
            break;
        for (int i = 0; i < P; i++)
            z[i] += (float)(o->step_size * grad[i] / mean_abs);
        memcpy(x, z, (size_t)P * sizeof(float));
        stimulus_constrain(x, P, &o->budget);
    }
    *similarity = best;
    status = 0;
done:
    free(z);
    free(x);
    free(grad);
    free(w);
    free(rates);
    return status;
}

#define PATTERN_CHUNK 128

int control_pattern_natural(model *m, const float *images, int count, const int *group, int k,
                            const float *target, const stimulus_budget *b, int *index,
                            float *similarity, char *err)
{
    const model_config *c = model_get_config(m);
    int N = c->neurons, P = c->height * c->width;
    int chunk = count < PATTERN_CHUNK ? (count > 0 ? count : 1) : PATTERN_CHUNK;
    float *x = malloc((size_t)chunk * P * sizeof(float));
    float *rates = malloc((size_t)chunk * N * sizeof(float));
    int status = 1;
    *index = -1;
    *similarity = -INFINITY;
    if (!x || !rates) {
        stimulus_fail(err, "pattern control: out of memory");
        goto done;
    }
    for (int first = 0; first < count; first += chunk) {
        int n = count - first < chunk ? count - first : chunk;
        memcpy(x, images + (size_t)first * P, (size_t)n * P * sizeof(float));
        for (int i = 0; i < n; i++)
            stimulus_render_at_budget(x + (size_t)i * P, P, b);
        if (model_predict(m, x, n, rates, err))
            goto done;
        for (int i = 0; i < n; i++) {
            float s = pattern_similarity(rates + (size_t)i * N, group, k, target, NULL);
            if (isfinite(s) && s > *similarity) {
                *similarity = s;
                *index = first + i;
            }
        }
    }
    if (*index < 0) {
        stimulus_fail(err, "pattern control: no natural image with a finite "
                      "similarity");
        goto done;
    }
    status = 0;
done:
    free(x);
    free(rates);
    return status;
}
