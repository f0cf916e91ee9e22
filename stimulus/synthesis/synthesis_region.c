/* synthesis_region.c: MEIs seen through a region of the image. A masked MEI
 * shows the MEI through a learned soft disc (gray outside); a surround MEI
 * keeps the MEI inside that disc (the neuron's classical receptive field,
 * found by the response it keeps) and optimizes the image outside it.
 *
 * The mask is m_p = sigmoid(MASK_EDGE · (1 − d_p² / R²)), d_p the distance
 * of pixel p from the centre (cx, cy), R = e^ρ: smooth in (cx, cy, ρ), one
 * at the centre, ½ at radius R, falling to 0.12 at 1.4 R. The masked image
 * x = μ + m ⊙ (x* − μ), μ the budget's mean luminance, is a pointwise convex
 * combination of the MEI x* and gray, so its pixels stay in [0, 1] and its
 * RMS contrast stays within the MEI's, hence within the budget. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MASK_EDGE 6.0
/* Adam on (cx, cy, ρ): step sizes in pixels and in log-radius. */
#define MASK_RATE_CENTRE 0.1
#define MASK_RATE_LOG_RADIUS 0.03
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8
/* Growing the radius until the mask keeps its share: steps in ρ, at most. */
#define MASK_GROW_STEP 0.03
#define MASK_GROW_MAX 200

void mei_mask_options_default(mei_mask_options *o)
{
    o->steps = 150;
    /* The share of the MEI's response traded per unit of the mask's mean
     * (the share of the image it opens): a mask over half the image must buy
     * 0.15 of the response. */
    o->area_weight = 0.3f;
    o->keep = 0.95f;
}

void mei_mask_render(const mei_mask *k, int height, int width, float *mask)
{
    double r2 = (double)k->radius * k->radius;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double dx = x - k->x, dy = y - k->y;
            double u = MASK_EDGE * (1.0 - (dx * dx + dy * dy) / r2);
            mask[y * width + x] = (float)(1.0 / (1.0 + exp(-u)));
        }
}

float mei_mask_area(const float *mask, int pixels)
{
    double s = 0.0;
    for (int i = 0; i < pixels; i++)
        s += mask[i];
    return (float)s;
}

void mei_mask_apply(const float *mei, const float *mask, int pixels, float mean_luminance,
                    float *out)
{
    for (int i = 0; i < pixels; i++)
        out[i] = mean_luminance + mask[i] * (mei[i] - mean_luminance);
}

/* One neuron's predicted rate and its image gradient. */
static int rate_and_gradient(model *m, int neuron, const float *image, float *weights, float *grad,
                             float *rate, char *err)
{
    int N = model_get_config(m)->neurons;
    memset(weights, 0, (size_t)N * sizeof(float));
    weights[neuron] = 1.0f;
    if (model_input_gradient_objective(m, image, 1, weights, grad, rate, err))
        return 1;
    if (!isfinite(*rate)) {
        return stimulus_fail(err, "region MEI: neuron %d's predicted rate is %g, not "
                             "finite", neuron, (double)*rate);
    }
    return 0;
}

typedef struct region_work {
    int height, width, pixels, neurons;
    float *mask, *image, *grad, *weights;
} region_work;

static void work_free(region_work *w)
{
    free(w->mask);
    free(w->image);
    free(w->grad);
    free(w->weights);
}

static int work_alloc(region_work *w, model *m, char *err)
{
    const model_config *c = model_get_config(m);
    w->height = c->height;
    w->width = c->width;
    w->pixels = c->height * c->width;
    w->neurons = c->neurons;
    w->mask = malloc((size_t)w->pixels * sizeof(float));
    w->image = malloc((size_t)w->pixels * sizeof(float));
    w->grad = malloc((size_t)w->pixels * sizeof(float));
    w->weights = malloc((size_t)w->neurons * sizeof(float));
    if (!w->mask || !w->image || !w->grad || !w->weights) {
        work_free(w);
        return stimulus_fail(err, "region MEI: out of memory");
    }
    return 0;
}

/* J(θ) = r(x(θ)) / r* − λ · mean(m) and ∂J/∂(cx, cy, ρ) into g. */
static int mask_objective(model *m, int neuron, const float *mei, const stimulus_budget *b,
                          float lambda, float reference, const mei_mask *k, region_work *w,
                          float *value, double g[3], char *err)
{
    mei_mask_render(k, w->height, w->width, w->mask);
    mei_mask_apply(mei, w->mask, w->pixels, b->mean_luminance, w->image);
    float rate;
    if (rate_and_gradient(m, neuron, w->image, w->weights, w->grad, &rate, err))
        return 1;
    double r2 = (double)k->radius * k->radius, area = 0.0;
    g[0] = g[1] = g[2] = 0.0;
    for (int p = 0; p < w->pixels; p++) {
        double dx = p % w->width - k->x, dy = p / w->width - k->y, mp = w->mask[p];
        area += mp;
        /* ∂J/∂m_p, then through m = sigmoid(u): ∂m/∂u = m(1 − m). */
        double dj_dm = w->grad[p] * (mei[p] - b->mean_luminance) / reference -
                       lambda / w->pixels;
        double dj_du = dj_dm * mp * (1.0 - mp);
        g[0] += dj_du * MASK_EDGE * 2.0 * dx / r2;
        g[1] += dj_du * MASK_EDGE * 2.0 * dy / r2;
        g[2] += dj_du * MASK_EDGE * 2.0 * (dx * dx + dy * dy) / r2;
    }
    *value = (float)(rate / reference - lambda * area / w->pixels);
    return 0;
}

int mei_mask_objective(model *m, int neuron, const float *mei, const stimulus_budget *b,
                       float lambda, float reference, const mei_mask *k, float *value,
                       double grad[3], char *err)
{
    region_work w;
    if (work_alloc(&w, m, err))
        return 1;
    int status = mask_objective(m, neuron, mei, b, lambda, reference, k, &w, value, grad, err);
    work_free(&w);
    return status;
}

/* The start: centred on the MEI's contrast energy, twice its RMS spread. */
static void mask_start(const float *mei, int height, int width, float mu, mei_mask *k)
{
    double sw = 0.0, sx = 0.0, sy = 0.0;
    for (int p = 0; p < height * width; p++) {
        double e = (mei[p] - mu) * (mei[p] - mu);
        sw += e;
        sx += e * (p % width);
        sy += e * (p / width);
    }
    k->x = sw > 0.0 ? (float)(sx / sw) : (width - 1) / 2.0f;
    k->y = sw > 0.0 ? (float)(sy / sw) : (height - 1) / 2.0f;
    double spread = 0.0;
    for (int p = 0; p < height * width; p++) {
        double dx = p % width - k->x, dy = p / width - k->y;
        spread += (mei[p] - mu) * (mei[p] - mu) * (dx * dx + dy * dy);
    }
    spread = sw > 0.0 ? sqrt(spread / sw) : 0.5 * hypot(height, width);
    k->radius = (float)fmax(2.0 * spread, 1.0);
}

static int masked_rate(model *m, int neuron, const float *mei, const stimulus_budget *b,
                       const mei_mask *k, region_work *w, float *rate, char *err)
{
    mei_mask_render(k, w->height, w->width, w->mask);
    mei_mask_apply(mei, w->mask, w->pixels, b->mean_luminance, w->image);
    return rate_and_gradient(m, neuron, w->image, w->weights, w->grad, rate, err);
}

int mei_mask_fit(model *m, int neuron, const float *mei, const stimulus_budget *b,
                 const mei_mask_options *o, mei_mask_result *out, float *image, char *err)
{
    if (neuron < 0 || neuron >= model_get_config(m)->neurons || o->steps < 0 ||
        !(o->area_weight >= 0.0f) || !(o->keep > 0.0f && o->keep <= 1.0f)) {
        return stimulus_fail(err, "masked MEI: bad neuron %d, steps, area weight or kept "
                             "share (needs 0 < keep <= 1)", neuron);
    }
    region_work w;
    if (work_alloc(&w, m, err))
        return 1;
    int status = 1;
    float reference;
    memcpy(w.image, mei, (size_t)w.pixels * sizeof(float));
    if (rate_and_gradient(m, neuron, w.image, w.weights, w.grad, &reference, err))
        goto done;
    if (!(reference > 0.0f)) {
        stimulus_fail(err, "masked MEI: neuron %d's MEI is predicted at %g, not "
                      "above 0: nothing to keep", neuron, (double)reference);
        goto done;
    }
    mei_mask k;
    mask_start(mei, w.height, w.width, b->mean_luminance, &k);
    double theta[3] = {k.x, k.y, log(k.radius)}, m1[3] = {0}, m2[3] = {0};
    const double rate[3] = {MASK_RATE_CENTRE, MASK_RATE_CENTRE, MASK_RATE_LOG_RADIUS};
    for (int step = 1; step <= o->steps; step++) { /* Adam ascent on θ */
        double g[3];
        float value;
        if (mask_objective(m, neuron, mei, b, o->area_weight, reference, &k, &w, &value, g, err))
            goto done;
        for (int i = 0; i < 3; i++) {
            m1[i] = ADAM_B1 * m1[i] + (1 - ADAM_B1) * g[i];
            m2[i] = ADAM_B2 * m2[i] + (1 - ADAM_B2) * g[i] * g[i];
            double mh = m1[i] / (1 - pow(ADAM_B1, step)), vh = m2[i] / (1 - pow(ADAM_B2, step));
            theta[i] += rate[i] * mh / (sqrt(vh) + ADAM_EPS);
        }
        k.x = (float)theta[0];
        k.y = (float)theta[1];
        k.radius = (float)exp(theta[2]);
    }
    /* The response-drop criterion: grow the disc until it keeps o->keep of
     * the MEI's predicted response (the penalty may have cut into it). */
    float kept;
    if (masked_rate(m, neuron, mei, b, &k, &w, &kept, err))
        goto done;
    for (int i = 0; i < MASK_GROW_MAX && kept < o->keep * reference; i++) {
        k.radius *= (float)exp(MASK_GROW_STEP);
        if (masked_rate(m, neuron, mei, b, &k, &w, &kept, err))
            goto done;
    }
    out->mask = k;
    out->area = mei_mask_area(w.mask, w.pixels);
    out->response = kept;
    out->mei_response = reference;
    memcpy(image, w.image, (size_t)w.pixels * sizeof(float));
    status = 0;
done:
    work_free(&w);
    return status;
}

float mei_mask_rf_coverage(const sim_cell *c, const float *mask, int height, int width)
{
    int two = c->type == SIM_CONJUNCTION || c->type == SIM_ENERGY_CONJUNCTION;
    double in = 0.0, all = 0.0, s2 = (double)c->sigma * c->sigma;
    for (int p = 0; p < height * width; p++) {
        double dx = p % width - c->x, dy = p / width - c->y;
        double e = exp(-(dx * dx + dy * dy) / s2);
        if (two) {
            double dx2 = p % width - c->x2, dy2 = p / width - c->y2;
            e += exp(-(dx2 * dx2 + dy2 * dy2) / s2);
        }
        in += mask[p] * e;
        all += e;
    }
    return all > 0.0 ? (float)(in / all) : NAN;
}

/* The surround's full image s into the space: at most the budget (most
 * exciting), exactly the budget (least, as for least exciting inputs). */
static void place_surround(float *s, int pixels, const stimulus_budget *b, int least)
{
    if (least)
        stimulus_render_at_budget(s, pixels, b);
    else
        stimulus_constrain(s, pixels, b);
}

void mei_surround_compose(const float *centre, const float *mask, const float *surround,
                          int pixels, float *out)
{
    for (int i = 0; i < pixels; i++)
        out[i] = mask[i] * centre[i] + (1.0f - mask[i]) * surround[i];
}

int mei_surround(model *m, int neuron, const float *mei, const float *mask,
                 const mei_options *o, float *image, float *surround, float *response, char *err)
{
    if (neuron < 0 || neuron >= model_get_config(m)->neurons || o->steps < 0 ||
        !(o->step_size > 0.0f)) {
        return stimulus_fail(err, "surround MEI: bad neuron %d, steps or step size", neuron);
    }
    region_work w;
    if (work_alloc(&w, m, err))
        return 1;
    int status = 1, P = w.pixels;
    float *z = malloc((size_t)P * sizeof(float)), *s = malloc((size_t)P * sizeof(float));
    if (!z || !s) {
        stimulus_fail(err, "surround MEI: out of memory");
        goto done;
    }
    model_rng rng;
    model_rng_seed(&rng, mei_start_seed(o->seed, neuron, 0));
    for (int i = 0; i < P; i++)
        z[i] = o->budget.mean_luminance + o->init_contrast * (float)model_rng_normal(&rng);
    memcpy(s, z, (size_t)P * sizeof(float));
    place_surround(s, P, &o->budget, o->least);
    double sign = o->least ? -1.0 : 1.0, eta = o->step_size, last = NAN;
    float best = NAN;
    if (!o->least) { /* gray is in the space: the centre alone is the floor of the best */
        for (int i = 0; i < P; i++)
            surround[i] = o->budget.mean_luminance;
        mei_surround_compose(mei, mask, surround, P, w.image);
        if (rate_and_gradient(m, neuron, w.image, w.weights, w.grad, &best, err))
            goto done;
    }
    for (int step = 0; step <= o->steps; step++) {
        float rate;
        mei_surround_compose(mei, mask, s, P, w.image);
        if (rate_and_gradient(m, neuron, w.image, w.weights, w.grad, &rate, err))
            goto done;
        /* Keep the best surround seen (the last step only evaluates). */
        if (isnan(best) || sign * rate > sign * best) {
            best = rate;
            memcpy(surround, s, (size_t)P * sizeof(float));
        }
        if (step == o->steps)
            break;
        /* Least: projected descent, the step halved after one that made it
         * worse (a fixed step cycles around the minimum; see synthesis.c). */
        if (o->least && !isnan(last) && rate > last)
            eta *= 0.5;
        last = rate;
        double mean_abs = 0.0;
        for (int i = 0; i < P; i++) { /* ∂r/∂s = (1 − m) ⊙ ∂r/∂x */
            w.grad[i] *= 1.0f - mask[i];
            mean_abs += fabsf(w.grad[i]);
        }
        mean_abs /= P;
        if (!(mean_abs > 0.0))
            break;
        for (int i = 0; i < P; i++)
            z[i] += (float)(sign * eta * w.grad[i] / mean_abs);
        memcpy(s, z, (size_t)P * sizeof(float));
        place_surround(s, P, &o->budget, o->least);
        if (o->least)
            memcpy(z, s, (size_t)P * sizeof(float));
    }
    mei_surround_compose(mei, mask, surround, P, image);
    *response = best;
    status = 0;
done:
    free(z);
    free(s);
    work_free(&w);
    return status;
}
