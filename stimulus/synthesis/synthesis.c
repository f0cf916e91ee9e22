/* synthesis.c: most exciting inputs by preconditioned, constrained gradient
 * ascent on the image, every target's every start one image of one batch
 * through the model.
 *
 * Each image b has a latent z_b, free of the constraints, and is shown as
 * x_b = constrain(z_b) (see stimulus_constrain). One step (all images at once):
 *   x_in = shift(x_b) by a random jitter            (when jitter > 0)
 *   g    = ∇ J_b(x_in), unshifted   (model_input_gradient, or _objective for
 *                                     single neurons and groups)
 *   d    = blur_σ(t)(g)   or   A² g                   (pixel or Fourier space)
 *   z_b  = z_b + η d / mean|d|,   x_b = constrain(z_b)
 * The gradient at x is applied to z as it is (straight through the map).
 * Why the latent: the map clips, and a clipped pixel forgets how far the
 * gradient pushed it, so the fixed points of projected ascent on x need not
 * be the optimum; on z, a linear objective g·x drives z along g and
 * constrain(z) to clip(a + s·g), the exact optimum in the space. (On the
 * simulated population the two gave nearly the same true responses: 0.853
 * and 0.851 of the optimum's, top 20 neurons.) z's growth also anneals the step: a fixed η
 * turns the direction of a longer z less and less. Normalizing by mean|d|
 * makes η the mean latent pixel change per step whatever the gradient's
 * scale, which differs by orders of magnitude between neurons.
 *
 * An ensemble (mei_options.ensemble): J is a function of the models' mean
 * rates r̄ = (1/M) Σ_m r_m, so ∇ₓJ = (1/M) Σ_m ∇ₓ(w · r_m) with w = ∂J/∂r̄.
 * The models are run one after another, each through its own fast path, the
 * gradients summed into one buffer. An image that exploits one model's
 * errors gains in that model alone, a share 1/M of the objective. With
 * mei_options.disagreement the models' objectives' spread is computed at each
 * step as well, and an image whose spread passes it is not updated again.
 *
 * A least exciting input (mei_options.least) is the same ascent on −J: the
 * weights ∂J/∂r negated, so every step, the normalization, the budget map
 * and the choice of the kept start work unchanged. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PROGRESS_EVERY 50

void mei_options_default(mei_options *o)
{
    memset(o, 0, sizeof *o);
    o->steps = 1000;
    o->patience = 0;
    o->tolerance = 1e-3f;
    o->step_size = 0.01f;
    o->space = MEI_SPACE_PIXEL;
    /* No blur by default. On the simulated population (model fitted to 2,000
     * images) the MEIs' true responses as a share of the true optimum's were,
     * top 10 neurons × 400 steps: σ 0 0.90, 0.75 0.83, 1.5 0.82, 3 0.63, the
     * Fourier space 0.59; top 50 × 1,000 steps: σ 0 0.86, 1.5 0.85. The
     * model's own first-layer smoothness is prior enough, and wide blur holds
     * back the sharp, clipped edges of the optimum at a fixed contrast. */
    o->blur_sigma = 0.0f;
    o->blur_sigma_end = 0.0f;
    o->init_contrast = 0.01f;
    o->jitter = 0;
    o->starts = 1;
    o->temperature = 1.0f;
    o->budget.mean_luminance = 0.5f;
    o->budget.contrast = 0.15f;
    o->threads = 2;
    o->seed = 1;
    /* On the small random model of tests/test_synthesis.c (neuron 3, 4
     * images, 200 steps) the set's lowest response as a share of the MEI's
     * and its mean pairwise correlation (plain starts: 1.00) were: λ 0.1
     * 0.99, 0.92; 0.2 0.94, 0.50; 0.3 0.87, 0.24; 0.5 0.82, −0.12. Against
     * the simulated cells' true responses (test_diverse_truth: a model
     * fitted to 10 simple and complex cells, 6 neurons) λ 0.3 kept every
     * image of the set ≥ 0.8 of the MEI's true response for 2 of 6 neurons,
     * λ 0.15 for 5 of 6 (median set correlation 0.63, plain starts 1.00). */
    o->diversity = 0.15f;
}

uint64_t mei_start_seed(uint64_t seed, int neuron, int start)
{
    uint64_t z = seed ^ (0x9e3779b97f4a7c15ULL * (uint64_t)(neuron + 1)) ^
                 (0xd1b54a32d192ed03ULL * (uint64_t)(start + 1));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Stopping where an ensemble disagrees (mei_options.disagreement): the
 * models' relative spread is large at the low-contrast starting noise, where
 * every rate is near its floor (measured on the zoo: a stop at the first
 * spread above the threshold left 70 of 70 MEIs at step 0 or 1), so the rule
 * is armed only once the models first agree within the threshold. */
enum { DISAGREE_NOT_YET = 0, DISAGREE_AGREED = 1, DISAGREE_STOPPED = 2 };

/* Everything one synthesis run holds, image b = target b / starts, start
 * b % starts. */
typedef struct ascent {
    int images, starts, pixels, height, width, neurons, threads;
    const mei_target *targets;
    const mei_options *o;
    model **models;   /* m, then the options' ensemble */
    int n_models;
    float *grad_part; /* active × pixels: one further model's gradient (ensembles) */
    float *rates_part;/* images × neurons: its rates */
    float *objective_part; /* images: its objective */
    float *spread;    /* active: the models' objectives' standard deviation / |mean|
                         (mei_options.disagreement only) */
    unsigned char *disagreed; /* images: DISAGREE_* */
    float *z;         /* images × pixels: the latent images the ascent moves */
    float *x;         /* images × pixels: the images shown, x = constrain(z) */
    float *x_in;      /* active × pixels: what the model sees (jittered) */
    float *grad;      /* active × pixels */
    float *weights;   /* active × neurons */
    float *rates;     /* active × neurons (images × neurons at the end) */
    float *scratch;   /* threads × 2 × pixels */
    int *shift;       /* active × 2: this step's jitter */
    int *active;      /* indices of images still ascending */
    int *steps, *since;
    float *best;
    float *last;      /* images: the previous step's objective (least only) */
    float *eta_scale; /* images: its step's share of η (least only) */
    int keep_all;     /* diverse MEIs: each target's starts are one set, all kept */
    float *diverse_grad; /* images × pixels: −λ R̄ n ∂D/∂x of each set (keep_all) */
    model_rng *rng;   /* one stream per image */
    fourier_param *fourier;
} ascent;

static void ascent_free(ascent *a)
{
    free(a->z);
    free(a->x);
    free(a->x_in);
    free(a->grad);
    free(a->weights);
    free(a->rates);
    free(a->scratch);
    free(a->shift);
    free(a->active);
    free(a->steps);
    free(a->since);
    free(a->best);
    free(a->last);
    free(a->eta_scale);
    free(a->rng);
    free(a->models);
    free(a->grad_part);
    free(a->rates_part);
    free(a->objective_part);
    free(a->spread);
    free(a->disagreed);
    free(a->diverse_grad);
    fourier_param_destroy(a->fourier);
}

static int ascent_alloc(ascent *a, model *m, const mei_target *targets, int count,
                        const mei_options *o, int keep_all, char *err)
{
    const model_config *c = model_get_config(m);
    memset(a, 0, sizeof *a);
    a->keep_all = keep_all;
    a->starts = o->starts;
    a->images = count * o->starts;
    a->height = c->height;
    a->width = c->width;
    a->pixels = c->height * c->width;
    a->neurons = c->neurons;
    a->threads = o->threads;
    a->targets = targets;
    a->o = o;
    size_t B = (size_t)a->images, P = (size_t)a->pixels, N = (size_t)a->neurons;
    a->z = malloc(B * P * sizeof(float));
    a->x = malloc(B * P * sizeof(float));
    a->x_in = malloc(B * P * sizeof(float));
    a->grad = malloc(B * P * sizeof(float));
    a->weights = malloc(B * N * sizeof(float));
    a->rates = calloc(B * N, sizeof(float)); /* read by the first step's weights */
    a->scratch = malloc((size_t)a->threads * 2 * P * sizeof(float));
    a->shift = calloc(2 * B, sizeof(int));
    a->active = malloc(B * sizeof(int));
    a->steps = calloc(B, sizeof(int));
    a->since = calloc(B, sizeof(int));
    a->best = malloc(B * sizeof(float));
    a->last = malloc(B * sizeof(float));
    a->eta_scale = malloc(B * sizeof(float));
    a->rng = malloc(B * sizeof(model_rng));
    a->n_models = 1 + o->ensemble_size;
    a->models = malloc((size_t)a->n_models * sizeof *a->models);
    if (a->models) {
        a->models[0] = m;
        for (int k = 1; k < a->n_models; k++)
            a->models[k] = o->ensemble[k - 1];
    }
    if (a->n_models > 1) {
        a->grad_part = malloc(B * P * sizeof(float));
        a->rates_part = malloc(B * N * sizeof(float));
        a->objective_part = malloc(B * sizeof(float));
    }
    int parts_ok = a->n_models == 1 || (a->grad_part && a->rates_part && a->objective_part);
    if (o->disagreement > 0.0f &&
        (!(a->spread = malloc(B * sizeof(float))) || !(a->disagreed = calloc(B, 1))))
        parts_ok = 0;
    if (keep_all && !(a->diverse_grad = malloc(B * P * sizeof(float))))
        parts_ok = 0;
    if (!a->z || !a->x || !a->x_in || !a->grad || !a->weights || !a->rates || !a->scratch ||
        !a->shift || !a->active || !a->steps || !a->since || !a->best || !a->last || !a->eta_scale || !a->rng || !a->models ||
        !parts_ok) {
        return stimulus_fail(err, "MEI synthesis: out of memory for %d images", a->images);
    }
    if (o->space == MEI_SPACE_FOURIER &&
        fourier_param_create(&a->fourier, a->height, a->width, a->threads, o->wisdom_path, err))
        return 1;
    return 0;
}

/* The image shown for a latent: in the space (an MEI), or at exactly the
 * budget's contrast (a least exciting input: with the contrast only bounded,
 * the uniform gray image, which drives no filter, would be the answer to
 * every least-exciting question, and the comparison with natural images at
 * the budget would be one of contrast, not content). The least exciting
 * input's latent is its image after every step (projected descent): a
 * latent of lower contrast than the budget would be scaled up at every
 * rendering, and with it each step (by 20 times for the starting noise),
 * and the descent would bounce instead of descending. Without the latent's
 * growth to anneal it, a fixed step of mean size η, all of it within the
 * receptive field where the gradient lives, ends in a two-step cycle around
 * the minimum (seen: predicted rates alternating 3.06 and 4.73); so each
 * step that raises the objective halves the image's later steps. */
static void place_in_space(const mei_options *o, float *x, int pixels)
{
    if (o->least)
        stimulus_render_at_budget(x, pixels, &o->budget);
    else
        stimulus_constrain(x, pixels, &o->budget);
}

/* Low-contrast white noise around the mean, in the space; or a start image
 * given for the target's first start (mei_options.init_images). */
static void ascent_init(ascent *a)
{
    for (int b = 0; b < a->images; b++) {
        const mei_target *t = &a->targets[b / a->starts];
        model_rng_seed(&a->rng[b], mei_start_seed(a->o->seed, t->neuron, b % a->starts));
        float *z = a->z + (size_t)b * a->pixels, *x = a->x + (size_t)b * a->pixels;
        if (a->o->init_images && b % a->starts == 0)
            memcpy(z, a->o->init_images + (size_t)(b / a->starts) * a->pixels,
                   (size_t)a->pixels * sizeof(float));
        else
            for (int i = 0; i < a->pixels; i++)
                z[i] = a->o->budget.mean_luminance +
                       a->o->init_contrast * (float)model_rng_normal(&a->rng[b]);
        memcpy(x, z, (size_t)a->pixels * sizeof(float));
        place_in_space(a->o, x, a->pixels);
        if (a->o->least)
            memcpy(z, x, (size_t)a->pixels * sizeof(float));
        a->best[b] = a->last[b] = -INFINITY;
        a->eta_scale[b] = 1.0f;
        a->active[b] = b;
    }
}

/* Circular shift by (dy, dx): out[y][x] = in[y - dy][x - dx]. */
static void roll(const float *in, float *out, int height, int width, int dy, int dx)
{
    for (int y = 0; y < height; y++) {
        int sy = ((y - dy) % height + height) % height;
        for (int x = 0; x < width; x++)
            out[y * width + x] = in[sy * width + ((x - dx) % width + width) % width];
    }
}

static void gather_inputs(ascent *a, int n_active)
{
    int J = a->o->jitter;
    for (int i = 0; i < n_active; i++) {
        int b = a->active[i];
        const float *x = a->x + (size_t)b * a->pixels;
        float *in = a->x_in + (size_t)i * a->pixels;
        if (J > 0) {
            a->shift[2 * i] = (int)(model_rng_next(&a->rng[b]) % (uint64_t)(2 * J + 1)) - J;
            a->shift[2 * i + 1] = (int)(model_rng_next(&a->rng[b]) % (uint64_t)(2 * J + 1)) - J;
            roll(x, in, a->height, a->width, a->shift[2 * i], a->shift[2 * i + 1]);
        } else {
            memcpy(in, x, (size_t)a->pixels * sizeof(float));
        }
    }
}

/* The objective's value and its gradient with respect to the rates. */
float mei_objective_weights(const mei_target *t, const float *rates, int N, float temperature,
                            float *w)
{
    int n = t->neuron;
    if (t->objective == MEI_GROUP) {
        double J = 0.0;
        for (int k = 0; k < N; k++) {
            w[k] = t->weights[k];
            J += (double)t->weights[k] * rates[k];
        }
        return (float)J;
    }
    for (int k = 0; k < N; k++)
        w[k] = 0.0f;
    w[n] = 1.0f;
    if (t->objective == MEI_SINGLE || N < 2)
        return rates[n];
    if (t->objective == MEI_ONE_HOT_MEAN) {
        double others = 0.0;
        for (int k = 0; k < N; k++)
            if (k != n) {
                w[k] = -1.0f / (N - 1);
                others += rates[k];
            }
        return (float)(rates[n] - others / (N - 1));
    }
    /* Soft max of the others, T·log Σ exp(r/T), shifted by the max for range. */
    double top = -INFINITY, sum = 0.0;
    for (int k = 0; k < N; k++)
        if (k != n && rates[k] > top)
            top = rates[k];
    for (int k = 0; k < N; k++)
        if (k != n)
            sum += exp((rates[k] - top) / temperature);
    for (int k = 0; k < N; k++)
        if (k != n)
            w[k] = (float)(-exp((rates[k] - top) / temperature) / sum);
    return (float)(rates[n] - (top + temperature * log(sum)));
}

/* The objective as the ascent sees it: J, or −J for a least exciting input
 * (o->least), so that everything downstream maximizes. */
static float ascended_objective(const mei_options *o, const mei_target *t, const float *rates,
                                int N, float *w)
{
    float J = mei_objective_weights(t, rates, N, o->temperature, w);
    if (!o->least)
        return J;
    for (int k = 0; k < N; k++)
        w[k] = -w[k];
    return -J;
}

static float target_response(const mei_target *t, const float *rates, int N)
{
    if (t->objective != MEI_GROUP)
        return rates[t->neuron];
    double J = 0.0;
    for (int k = 0; k < N; k++)
        J += (double)t->weights[k] * rates[k];
    return (float)J;
}

static float sigma_at(const mei_options *o, int step)
{
    if (o->steps < 2)
        return o->blur_sigma;
    float f = (float)step / (float)(o->steps - 1);
    return o->blur_sigma + f * (o->blur_sigma_end - o->blur_sigma);
}

/* Precondition, normalize and apply one image's gradient, then constrain. */
static void update_image(ascent *a, int i, int step, float *dir, float *scratch)
{
    int b = a->active[i], P = a->pixels;
    float *g = a->grad + (size_t)i * P, *z = a->z + (size_t)b * P, *x = a->x + (size_t)b * P;
    if (a->o->jitter > 0) { /* the gradient of x ↦ J(shift(x)) is the unshifted gradient */
        roll(g, scratch, a->height, a->width, -a->shift[2 * i], -a->shift[2 * i + 1]);
        memcpy(g, scratch, (size_t)P * sizeof(float));
    }
    if (a->keep_all) /* the set's diversity term, at the unshifted images */
        for (int k = 0; k < P; k++)
            g[k] += a->diverse_grad[(size_t)b * P + k];
    if (a->o->space == MEI_SPACE_FOURIER)
        fourier_param_precondition(a->fourier, omp_get_thread_num(), g, dir);
    else
        stimulus_blur(g, dir, scratch, a->height, a->width, sigma_at(a->o, step));
    double mean_abs = 0.0;
    for (int k = 0; k < P; k++)
        mean_abs += fabsf(dir[k]);
    mean_abs /= P;
    if (mean_abs > 0.0) {
        float eta = (float)(a->o->step_size * a->eta_scale[b] / mean_abs);
        for (int k = 0; k < P; k++)
            z[k] += eta * dir[k];
    }
    memcpy(x, z, (size_t)P * sizeof(float));
    place_in_space(a->o, x, P);
    if (a->o->least) /* projected descent: see place_in_space */
        memcpy(z, x, (size_t)P * sizeof(float));
    a->steps[b]++;
}

/* Record each image's best objective so far and how long ago it improved.
 * Returns the mean objective over the active images. */
static double track_progress(ascent *a, int n_active, const float *objective)
{
    double sum = 0.0;
    for (int i = 0; i < n_active; i++) {
        int b = a->active[i];
        sum += objective[i];
        /* Least: a step that made things worse was too long (see
         * place_in_space); the following ones are halved. */
        if (a->o->least && objective[i] < a->last[b])
            a->eta_scale[b] *= 0.5f;
        a->last[b] = objective[i];
        if (a->best[b] == -INFINITY ||
            objective[i] > a->best[b] + a->o->tolerance * fabsf(a->best[b])) {
            a->best[b] = objective[i];
            a->since[b] = 0;
        } else {
            a->since[b]++;
        }
    }
    return n_active ? sum / n_active : 0.0;
}

static int compact_active(ascent *a, int n_active)
{
    int kept = 0;
    for (int i = 0; i < n_active; i++) {
        int b = a->active[i];
        if ((a->o->patience > 0 && a->since[b] >= a->o->patience) ||
            (a->disagreed && a->disagreed[b] == DISAGREE_STOPPED))
            continue;
        a->active[kept++] = b;
    }
    return kept;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) + 1e-9 * (double)(t.tv_nsec - t0->tv_nsec);
}

/* sum += part, n floats: one further model's share of an ensemble sum. */
static void accumulate(float *sum, const float *part, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sum[i] += part[i];
}

/* An ensemble's sums into means. One model: nothing to do, and nothing done,
 * so that a single model's ascent is the same to the bit. */
static void average(const ascent *a, float *v, size_t n)
{
    if (a->n_models == 1)
        return;
    float inv = 1.0f / (float)a->n_models;
    for (size_t i = 0; i < n; i++)
        v[i] *= inv;
}

/* Single-neuron and weighted-group objectives have fixed weights that name
 * few neurons: model_input_gradient_objective computes J_b and its gradient
 * over those neurons' receptive fields, without the other rates (the same
 * result up to float rounding, a fraction of the work). The one-hot
 * objectives weight every neuron, the soft max by the rates themselves.
 * These objectives are linear in the rates: J(r̄) is the models' mean J. */
static int fixed_weight_gradient(ascent *a, int n, float *objective, char *err)
{
    int N = a->neurons;
    size_t NP = (size_t)n * a->pixels;
    for (int i = 0; i < n; i++) /* weights only: these objectives ignore the rates */
        ascended_objective(a->o, &a->targets[a->active[i] / a->starts], a->rates + (size_t)i * N,
                           N, a->weights + (size_t)i * N);
    if (model_input_gradient_objective(a->models[0], a->x_in, n, a->weights, a->grad, objective,
                                       err))
        return 1;
    float *sq = a->spread; /* Σ_m J_m² while the models run, then the spread */
    for (int i = 0; sq && i < n; i++)
        sq[i] = objective[i] * objective[i];
    for (int k = 1; k < a->n_models; k++) {
        if (model_input_gradient_objective(a->models[k], a->x_in, n, a->weights, a->grad_part,
                                           a->objective_part, err))
            return 1;
        accumulate(a->grad, a->grad_part, NP);
        accumulate(objective, a->objective_part, (size_t)n);
        for (int i = 0; sq && i < n; i++)
            sq[i] += a->objective_part[i] * a->objective_part[i];
    }
    average(a, a->grad, NP);
    average(a, objective, (size_t)n);
    for (int i = 0; sq && i < n; i++) { /* var = mean J² − (mean J)², ≥ 0 up to rounding */
        double mean = objective[i], sd = sqrt(fmax((double)sq[i] / a->n_models - mean * mean, 0.0));
        sq[i] = mean != 0.0 ? (float)(sd / fabs(mean)) : sd > 0.0 ? INFINITY : 0.0f;
    }
    return 0;
}

/* Σ_m ∇ₓ(w · r_m) / M into a->grad and the mean rates into a->rates, for
 * the weights already in a->weights. */
static int mean_input_gradient(ascent *a, int n, char *err)
{
    size_t NP = (size_t)n * a->pixels, NN = (size_t)n * a->neurons;
    if (model_input_gradient(a->models[0], a->x_in, n, a->weights, a->grad, a->rates, err))
        return 1;
    for (int k = 1; k < a->n_models; k++) {
        if (model_input_gradient(a->models[k], a->x_in, n, a->weights, a->grad_part,
                                 a->rates_part, err))
            return 1;
        accumulate(a->grad, a->grad_part, NP);
        accumulate(a->rates, a->rates_part, NN);
    }
    average(a, a->grad, NP);
    average(a, a->rates, NN);
    return 0;
}

/* model_weights_fn for one model: each image's weights from the rates of
 * the forward pass that the backward pass then uses. */
static void weights_from_rates(const float *rates, int first, int count, float *weights,
                               void *ctx)
{
    const ascent *a = ctx;
    int N = a->neurons;
    for (int i = 0; i < count; i++)
        ascended_objective(a->o, &a->targets[a->active[first + i] / a->starts],
                           rates + (size_t)i * N, N, weights + (size_t)i * N);
}

/* Any objective through every rate (the one-hot ones need them all). */
static int all_rates_gradient(ascent *a, int n, int softmax, float *objective, char *err)
{
    int N = a->neurons;
    if (softmax && a->n_models == 1) { /* weights from the pass's own rates */
        if (model_input_gradient_by(a->models[0], a->x_in, n, weights_from_rates, a, a->grad,
                                    a->rates, err))
            return 1;
        for (int i = 0; i < n; i++)
            objective[i] = ascended_objective(a->o, &a->targets[a->active[i] / a->starts],
                                              a->rates + (size_t)i * N, N,
                                              a->weights + (size_t)i * N);
        return 0;
    }
    /* The soft max's weights depend on the models' mean rates: predict first. */
    if (softmax && ensemble_predict(a->models, a->n_models, a->x_in, n, a->rates, err))
        return 1;
    for (int i = 0; i < n; i++) {
        const mei_target *t = &a->targets[a->active[i] / a->starts];
        objective[i] = ascended_objective(a->o, t, a->rates + (size_t)i * N, N,
                                          a->weights + (size_t)i * N);
    }
    if (mean_input_gradient(a, n, err))
        return 1;
    for (int i = 0; i < n; i++) /* the objective at this step's input */
        objective[i] = ascended_objective(a->o, &a->targets[a->active[i] / a->starts],
                                          a->rates + (size_t)i * N, N,
                                          a->weights + (size_t)i * N);
    return 0;
}

float mei_set_correlation(const float *images, int n, int pixels, float *grad)
{
    /* u_i = (x_i − x̄_i) / |x_i − x̄_i| into grad's rows first (0 if flat). */
    double *norm = malloc((size_t)n * sizeof(double));
    float *u = malloc((size_t)n * pixels * sizeof(float));
    if (!norm || !u) {
        free(norm);
        free(u);
        return NAN;
    }
    for (int i = 0; i < n; i++) {
        const float *x = images + (size_t)i * pixels;
        double mean = stimulus_mean(x, pixels), ss = 0.0;
        for (int k = 0; k < pixels; k++)
            ss += (x[k] - mean) * (x[k] - mean);
        norm[i] = sqrt(ss);
        for (int k = 0; k < pixels; k++)
            u[(size_t)i * pixels + k] = norm[i] > 0.0 ? (float)((x[k] - mean) / norm[i]) : 0.0f;
    }
    double total = 0.0, scale = 2.0 / ((double)n * (n - 1));
    memset(grad, 0, (size_t)n * pixels * sizeof(float));
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++) {
            const float *ui = u + (size_t)i * pixels, *uj = u + (size_t)j * pixels;
            double c = 0.0;
            for (int k = 0; k < pixels; k++)
                c += (double)ui[k] * uj[k];
            total += c;
            float *gi = grad + (size_t)i * pixels, *gj = grad + (size_t)j * pixels;
            double si = norm[i] > 0.0 ? scale / norm[i] : 0.0;
            double sj = norm[j] > 0.0 ? scale / norm[j] : 0.0;
            for (int k = 0; k < pixels; k++) {
                gi[k] += (float)(si * (uj[k] - c * ui[k]));
                gj[k] += (float)(sj * (ui[k] - c * uj[k]));
            }
        }
    free(norm);
    free(u);
    return (float)(total * scale);
}

/* Diverse MEIs: each set's −λ R̄ n ∂D/∂x_i, R̄ its images' mean objective at
 * this step (every image is active: patience is 0). */
static void diversity_gradients(ascent *a, const float *objective)
{
    int S = a->starts, P = a->pixels;
    for (int t = 0; t < a->images / S; t++) {
        float *g = a->diverse_grad + (size_t)t * S * P;
        double mean = 0.0;
        for (int s = 0; s < S; s++)
            mean += objective[t * S + s];
        mean /= S;
        mei_set_correlation(a->x + (size_t)t * S * P, S, P, g);
        float f = (float)(-a->o->diversity * fabs(mean) * S);
        for (size_t k = 0; k < (size_t)S * P; k++)
            g[k] *= f;
    }
}

static int ascent_step(ascent *a, int step, int *n_active, float *objective,
                       double *mean_objective, char *err)
{
    int n = *n_active;
    gather_inputs(a, n);
    int softmax = 0, one_hot = 0;
    for (int i = 0; i < n; i++) {
        mei_objective kind = a->targets[a->active[i] / a->starts].objective;
        softmax |= kind == MEI_ONE_HOT_SOFTMAX;
        one_hot |= kind == MEI_ONE_HOT_MEAN || kind == MEI_ONE_HOT_SOFTMAX;
    }
    if (one_hot ? all_rates_gradient(a, n, softmax, objective, err)
                : fixed_weight_gradient(a, n, objective, err))
        return 1;
    /* A non-finite objective would freeze track_progress (no comparison with
     * NaN is true) and carry NaN into every later image: refused. */
    for (int i = 0; i < n; i++)
        if (!isfinite(objective[i])) {
            stimulus_fail(err, "MEI synthesis: step %d: the objective of image %d "
                          "is %g, not finite", step, a->active[i], (double)objective[i]);
            return 1; /* not return stimulus_fail(): gcc cannot see it is 1 (mean_objective) */
        }
    *mean_objective = track_progress(a, n, objective);
    if (a->keep_all)
        diversity_gradients(a, objective);
    for (int i = 0; a->disagreed && i < n; i++) {
        unsigned char *d = &a->disagreed[a->active[i]];
        int agree = a->spread[i] <= a->o->disagreement;
        *d = agree ? (*d == DISAGREE_NOT_YET ? DISAGREE_AGREED : *d)
                   : (*d == DISAGREE_AGREED ? DISAGREE_STOPPED : *d);
    }
    int P = a->pixels;
#pragma omp parallel for num_threads(a->threads) schedule(static)
    for (int i = 0; i < n; i++) {
        float *s = a->scratch + (size_t)omp_get_thread_num() * 2 * P;
        if (!a->disagreed || a->disagreed[a->active[i]] != DISAGREE_STOPPED)
            update_image(a, i, step, s, s + P);
    }
    *n_active = compact_active(a, n);
    return 0;
}

static float pearson(const float *x, const float *y, int n)
{
    double mx = 0, my = 0, sxy = 0, sxx = 0, syy = 0;
    for (int i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    for (int i = 0; i < n; i++) {
        sxy += (x[i] - mx) * (y[i] - my);
        sxx += (x[i] - mx) * (x[i] - mx);
        syy += (y[i] - my) * (y[i] - my);
    }
    return sxx > 0 && syy > 0 ? (float)(sxy / sqrt(sxx * syy)) : 0.0f;
}

/* The final images' predictions; per target the best start and how much the
 * starts agree. */
static int ascent_finish(ascent *a, int count, float *images, mei_result *results, char *err)
{
    int N = a->neurons, P = a->pixels, S = a->starts;
    if (ensemble_predict(a->models, a->n_models, a->x, a->images, a->rates, err))
        return 1;
    for (int t = 0; a->keep_all && t < count; t++) {
        const mei_target *tg = &a->targets[t];
        float *set = images + (size_t)t * S * P;
        memcpy(set, a->x + (size_t)t * S * P, (size_t)S * P * sizeof(float));
        float *grad = a->diverse_grad + (size_t)t * S * P; /* free now: scratch */
        float agreement = mei_set_correlation(set, S, P, grad);
        for (int s = 0; s < S; s++) {
            int b = t * S + s;
            mei_result *r = &results[b];
            r->objective = mei_objective_weights(tg, a->rates + (size_t)b * N, N,
                                                 a->o->temperature, a->weights);
            r->response = target_response(tg, a->rates + (size_t)b * N, N);
            r->contrast = stimulus_rms_contrast(a->x + (size_t)b * P, P);
            r->steps = a->steps[b];
            r->best_start = s;
            r->seed = mei_start_seed(a->o->seed, tg->neuron, s);
            r->start_agreement = agreement;
        }
    }
    for (int t = 0; !a->keep_all && t < count; t++) {
        const mei_target *tg = &a->targets[t];
        int best = 0;
        float best_j = -INFINITY;
        for (int s = 0; s < S; s++) {
            float j = ascended_objective(a->o, tg, a->rates + (size_t)(t * S + s) * N, N,
                                         a->weights);
            if (j > best_j) {
                best_j = j;
                best = s;
            }
        }
        double agree = 0.0;
        int pairs = 0;
        for (int s = 0; s < S; s++)
            for (int u = s + 1; u < S; u++, pairs++)
                agree += pearson(a->x + (size_t)(t * S + s) * P, a->x + (size_t)(t * S + u) * P, P);
        int b = t * S + best;
        memcpy(images + (size_t)t * P, a->x + (size_t)b * P, (size_t)P * sizeof(float));
        results[t].response = target_response(tg, a->rates + (size_t)b * N, N);
        results[t].objective = a->o->least ? -best_j : best_j;
        results[t].contrast = stimulus_rms_contrast(a->x + (size_t)b * P, P);
        results[t].steps = a->steps[b];
        results[t].best_start = best;
        results[t].seed = mei_start_seed(a->o->seed, tg->neuron, best);
        results[t].start_agreement = pairs ? (float)(agree / pairs) : 1.0f;
    }
    return 0;
}

static int check_targets(const model *m, const mei_target *targets, int count,
                         const mei_options *o, char *err)
{
    int N = model_get_config(m)->neurons;
    if (count < 1 || o->starts < 1 || o->steps < 0 || o->threads < 1 || o->step_size <= 0.0f) {
        return stimulus_fail(err, "MEI synthesis: bad count, starts, steps, threads or "
                             "step size");
    }
    if (!(o->budget.mean_luminance > 0.0f && o->budget.mean_luminance < 1.0f &&
          o->budget.contrast > 0.0f)) {
        return stimulus_fail(err, "MEI synthesis: the budget needs a mean luminance in "
                             "(0,1) and a positive contrast");
    }
    for (int t = 0; t < count; t++) {
        if (targets[t].objective == MEI_GROUP ? !targets[t].weights
                                              : (targets[t].neuron < 0 || targets[t].neuron >= N)) {
            return stimulus_fail(err, "MEI synthesis: target %d: neuron %d not in 0..%d "
                                 "or group without weights", t, targets[t].neuron, N - 1);
        }
    }
    if (o->ensemble_size < 0 || (o->ensemble_size > 0 && !o->ensemble)) {
        return stimulus_fail(err, "MEI synthesis: ensemble of %d further models without "
                             "the models", o->ensemble_size);
    }
    if (!(o->disagreement >= 0.0f && isfinite(o->disagreement))) {
        return stimulus_fail(err, "MEI synthesis: the disagreement %g is not a share >= 0",
                             (double)o->disagreement);
    }
    for (int t = 0; o->disagreement > 0.0f && t < count; t++)
        if (o->ensemble_size < 1 || (targets[t].objective != MEI_SINGLE &&
                                     targets[t].objective != MEI_GROUP)) {
            return stimulus_fail(err, "MEI synthesis: stopping where the models disagree "
                                 "needs an ensemble and single or group objectives");
        }
    return 0;
}

static int synthesize(model *m, const mei_target *targets, int count, const mei_options *o,
                      int keep_all, float *images, mei_result *results, char *err)
{
    if (check_targets(m, targets, count, o, err))
        return 1;
    ascent a;
    int status = 1;
    float *objective = NULL;
    if (ascent_alloc(&a, m, targets, count, o, keep_all, err) ||
        ensemble_check(a.models, a.n_models, err))
        goto done;
    objective = malloc((size_t)a.images * sizeof(float));
    if (!objective) {
        stimulus_fail(err, "MEI synthesis: out of memory");
        goto done;
    }
    for (int k = 0; k < a.n_models; k++)
        model_set_threads(a.models[k], o->threads);
    ascent_init(&a);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int n_active = a.images;
    for (int step = 0; step < o->steps && n_active > 0; step++) {
        double mean_objective;
        if (ascent_step(&a, step, &n_active, objective, &mean_objective, err))
            goto done;
        if (o->progress && ((step + 1) % PROGRESS_EVERY == 0 || step + 1 == o->steps)) {
            mei_progress p = {step + 1, o->steps, n_active, a.images, mean_objective,
                              seconds_since(&t0)};
            o->progress(&p, o->user);
        }
    }
    status = ascent_finish(&a, count, images, results, err);
done:
    free(objective);
    ascent_free(&a);
    return status;
}

int mei_synthesize(model *m, const mei_target *targets, int count, const mei_options *o,
                   float *images, mei_result *results, char *err)
{
    return synthesize(m, targets, count, o, 0, images, results, err);
}

int mei_synthesize_diverse(model *m, const mei_target *targets, int count, const mei_options *o,
                           float *images, mei_result *results, char *err)
{
    if (o->starts < 2 || o->patience != 0 || o->least || !(o->diversity >= 0.0f) ||
        o->disagreement != 0.0f) {
        return stimulus_fail(err, "diverse MEIs: need a set of at least 2 images (starts "
                             "%d), patience 0 (%d), no least exciting input, no "
                             "stop on disagreement and a diversity weight >= 0",
                             o->starts, o->patience);
    }
    return synthesize(m, targets, count, o, 1, images, results, err);
}
