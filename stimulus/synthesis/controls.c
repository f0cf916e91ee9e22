/* controls.c: the control stimuli that show whether an MEI is special (best
 * natural image, matched Gabor, receptive-field map), and the simulated
 * population's true optimal stimuli to check MEIs against. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PREDICT_CHUNK 256
#define GABOR_GRID_STEP 6
#define GABOR_ORIENTATIONS 8
#define GABOR_PHASES 4
#define GABOR_REFINE_ROUNDS 3
#define GABOR_REFINE_CANDIDATES 64
#define GABOR_SCREEN_KEEP 32   /* per neuron, from the moved-readout screen */
#define GABOR_SCREEN_CHUNK 32  /* centred Gabors per translated pass */
#define OPTIMUM_PHASES 64
#define OPTIMUM_PHASE_GRID 8 /* per subunit: 8 × 8 = OPTIMUM_PHASES candidates */

static const float gabor_frequencies[] = {0.05f, 0.09f, 0.16f};
static const float gabor_cycles[] = {0.4f, 0.7f}; /* envelope σ in carrier periods */

/* Predicted rates of `count` images in chunks, each image rendered at the
 * budget first when `budget` is given (as it would be shown); calls
 * visit(first, chunk, rates) for each chunk. */
typedef void (*chunk_visitor)(int first, int chunk, const float *rates, int N, void *user);

static int predict_chunks(model *const *models, int n_models, const float *images, int count,
                          int pixels, const stimulus_budget *budget, chunk_visitor visit,
                          void *user, char *err)
{
    int N = model_get_config(models[0])->neurons;
    float *rates = malloc((size_t)PREDICT_CHUNK * N * sizeof(float));
    float *rendered = budget ? malloc((size_t)PREDICT_CHUNK * pixels * sizeof(float)) : NULL;
    if (!rates || (budget && !rendered)) {
        free(rates);
        free(rendered);
        return stimulus_fail(err, "controls: out of memory");
    }
    int status = 0;
    for (int first = 0; first < count && !status; first += PREDICT_CHUNK) {
        int chunk = count - first < PREDICT_CHUNK ? count - first : PREDICT_CHUNK;
        const float *x = images + (size_t)first * pixels;
        if (budget) {
            memcpy(rendered, x, (size_t)chunk * pixels * sizeof(float));
            for (int i = 0; i < chunk; i++)
                stimulus_render_at_budget(rendered + (size_t)i * pixels, pixels, budget);
            x = rendered;
        }
        status = ensemble_predict(models, n_models, x, chunk, rates, err);
        if (!status)
            visit(first, chunk, rates, N, user);
    }
    free(rates);
    free(rendered);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Best natural images. */

typedef struct argmax_state {
    const int *neurons;
    int n;
    int *best;
    float *best_value;
} argmax_state;

static void argmax_visit(int first, int chunk, const float *rates, int N, void *user)
{
    argmax_state *s = user;
    for (int i = 0; i < chunk; i++)
        for (int j = 0; j < s->n; j++) {
            float r = rates[(size_t)i * N + s->neurons[j]];
            if (r > s->best_value[j]) {
                s->best_value[j] = r;
                s->best[j] = first + i;
            }
        }
}

static int no_images(char *err)
{
    return stimulus_fail(err, "controls: no natural images to choose the best from");
}

static int no_best(char *err, const char *which, int neuron)
{
    return stimulus_fail(err, "controls: neuron %d has no finite %s response to any "
                         "natural image", neuron, which);
}

int control_best_natural(model *m, const float *images, int count, const float *responses,
                         const int *neurons, int n, const stimulus_budget *b,
                         int *best_predicted, int *best_recorded, char *err)
{
    return control_best_natural_ensemble(&m, 1, images, count, responses, neurons, n, b,
                                         best_predicted, best_recorded, err);
}

int control_best_natural_ensemble(model *const *models, int n_models, const float *images,
                                  int count, const float *responses, const int *neurons, int n,
                                  const stimulus_budget *b, int *best_predicted,
                                  int *best_recorded, char *err)
{
    if (ensemble_check(models, n_models, err))
        return 1;
    const model_config *c = model_get_config(models[0]);
    float *value = malloc((size_t)n * sizeof(float));
    if (!value) {
        return stimulus_fail(err, "controls: out of memory");
    }
    for (int j = 0; j < n; j++) {
        value[j] = -INFINITY;
        best_predicted[j] = -1;
    }
    argmax_state s = {neurons, n, best_predicted, value};
    int status = count < 1 ? no_images(err)
                           : predict_chunks(models, n_models, images, count,
                                            c->height * c->width, b, argmax_visit, &s, err);
    for (int j = 0; j < n; j++) {
        best_recorded[j] = -1;
        if (!responses)
            continue;
        float top = -INFINITY;
        for (int i = 0; i < count; i++)
            if (responses[(size_t)i * c->neurons + neurons[j]] > top) {
                top = responses[(size_t)i * c->neurons + neurons[j]];
                best_recorded[j] = i;
            }
    }
    /* Predictions are finite (model_predict refuses others), so every
     * neuron has a best image once there is one; recorded responses may
     * still all be NaN or -inf. No index asked for is handed back as -1. */
    for (int j = 0; !status && j < n; j++) {
        if (best_predicted[j] < 0)
            status = no_best(err, "predicted", neurons[j]);
        else if (responses && best_recorded[j] < 0)
            status = no_best(err, "recorded", neurons[j]);
    }
    free(value);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Matched Gabors. */

void gabor_render(const gabor_params *g, int height, int width, const stimulus_budget *b,
                  float *out)
{
    double c = cos(g->orientation), s = sin(g->orientation);
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double dx = x - g->x, dy = y - g->y, u = dx * c + dy * s;
            double envelope = exp(-(dx * dx + dy * dy) / (2.0 * g->sigma * g->sigma));
            out[y * width + x] =
                (float)(envelope * cos(2.0 * M_PI * g->frequency * u + g->phase));
        }
    stimulus_render_at_budget(out, height * width, b);
}

/* The bank's grid of positions (nx × ny) and its Gabors per position. */
static int gabor_bank_shape(int height, int width, int *nx, int *ny)
{
    *nx = (width + GABOR_GRID_STEP - 1) / GABOR_GRID_STEP;
    *ny = (height + GABOR_GRID_STEP - 1) / GABOR_GRID_STEP;
    int nf = (int)(sizeof gabor_frequencies / sizeof *gabor_frequencies);
    int nc = (int)(sizeof gabor_cycles / sizeof *gabor_cycles);
    return GABOR_ORIENTATIONS * nf * nc * GABOR_PHASES;
}

/* The bank, position by position (index = position · per_position + kernel,
 * position = iy · nx + ix), so that one position's Gabors are the others'
 * moved by whole multiples of the grid step. */
static int gabor_bank(int height, int width, gabor_params **out)
{
    int nx, ny, per_position = gabor_bank_shape(height, width, &nx, &ny);
    int nf = (int)(sizeof gabor_frequencies / sizeof *gabor_frequencies);
    int nc = (int)(sizeof gabor_cycles / sizeof *gabor_cycles);
    int count = nx * ny * per_position;
    gabor_params *bank = malloc((size_t)count * sizeof *bank);
    if (!bank)
        return -1;
    int k = 0;
    for (int iy = 0; iy < ny; iy++)
        for (int ix = 0; ix < nx; ix++)
            for (int o = 0; o < GABOR_ORIENTATIONS; o++)
                for (int f = 0; f < nf; f++)
                    for (int c = 0; c < nc; c++)
                        for (int p = 0; p < GABOR_PHASES; p++)
                            bank[k++] = (gabor_params){
                                GABOR_GRID_STEP * ix + 0.5f * (GABOR_GRID_STEP - 1),
                                GABOR_GRID_STEP * iy + 0.5f * (GABOR_GRID_STEP - 1),
                                (float)(M_PI * o / GABOR_ORIENTATIONS), gabor_frequencies[f],
                                (float)(2.0 * M_PI * p / GABOR_PHASES),
                                gabor_cycles[c] / gabor_frequencies[f]};
    *out = bank;
    return count;
}

/* Score a list of Gabors for every target neuron and keep each one's best. */
typedef struct gabor_search {
    const gabor_params *candidates;
    int offset;     /* index of the current chunk's first candidate */
    const int *neurons;
    int n;
    int per_neuron; /* 0: every candidate is scored for every neuron; else candidates
                       j·per_neuron .. (j+1)·per_neuron − 1 belong to neuron j */
    gabor_params *best;
    float *best_value; /* sign · rate of each neuron's best */
    float sign;        /* +1: the highest rate; −1: the lowest */
} gabor_search;

static void gabor_visit(int first, int chunk, const float *rates, int N, void *user)
{
    gabor_search *s = user;
    for (int i = 0; i < chunk; i++) {
        int k = s->offset + first + i;
        int lo = s->per_neuron ? k / s->per_neuron : 0, hi = s->per_neuron ? lo + 1 : s->n;
        for (int j = lo; j < hi; j++) {
            float r = s->sign * rates[(size_t)i * N + s->neurons[j]];
            if (r > s->best_value[j]) {
                s->best_value[j] = r;
                s->best[j] = s->candidates[k];
            }
        }
    }
}

static int score_gabors(model *const *models, int n_models, gabor_search *s, int count,
                        const stimulus_budget *b, char *err)
{
    const model_config *c = model_get_config(models[0]);
    int P = c->height * c->width;
    float *images = malloc((size_t)PREDICT_CHUNK * P * sizeof(float));
    if (!images) {
        return stimulus_fail(err, "controls: out of memory");
    }
    int status = 0;
    for (int first = 0; first < count && !status; first += PREDICT_CHUNK) {
        int chunk = count - first < PREDICT_CHUNK ? count - first : PREDICT_CHUNK;
        for (int i = 0; i < chunk; i++)
            gabor_render(&s->candidates[first + i], c->height, c->width, b,
                         images + (size_t)i * P);
        s->offset = first;
        status = predict_chunks(models, n_models, images, chunk, P, NULL, gabor_visit, s, err);
    }
    free(images);
    return status;
}

static float jitter_uniform(model_rng *rng, float spread)
{
    return spread * (2.0f * (float)model_rng_uniform(rng) - 1.0f);
}

static gabor_params perturb(const gabor_params *g, model_rng *rng, float spread, int height,
                            int width)
{
    gabor_params p = *g;
    p.x = fminf(fmaxf(p.x + jitter_uniform(rng, 3.0f * spread), 0.0f), (float)(width - 1));
    p.y = fminf(fmaxf(p.y + jitter_uniform(rng, 3.0f * spread), 0.0f), (float)(height - 1));
    p.orientation += jitter_uniform(rng, (float)(M_PI / 8) * spread);
    p.phase += jitter_uniform(rng, (float)(M_PI / 2) * spread);
    p.frequency *= expf(jitter_uniform(rng, 0.3f * spread));
    p.frequency = fminf(fmaxf(p.frequency, 0.02f), 0.5f);
    p.sigma *= expf(jitter_uniform(rng, 0.3f * spread));
    p.sigma = fminf(fmaxf(p.sigma, 1.0f), (float)(height > width ? height : width));
    return p;
}

/* Insert (value, index) into a neuron's list of the `keep` best, kept in
 * descending order (ties keep the earlier index first). */
static void keep_best(float *value, int *index, int keep, float v, int i)
{
    if (!(v > value[keep - 1]))
        return;
    int r = keep - 1;
    for (; r > 0 && v > value[r - 1]; r--) {
        value[r] = value[r - 1];
        index[r] = index[r - 1];
    }
    value[r] = v;
    index[r] = i;
}

/* The bank's first pass by translation: the Gabors of the grid position
 * nearest the centre go through the core once, and every other position is
 * read by moving each neuron's readout (ensemble_predict_translated): one
 * core pass per kernel instead of one per kernel and position (66 times
 * fewer on 36 × 64 images). Near the border that reading is an estimate
 * (the core's zero padding; a Gabor clipped by the edge is rendered at the
 * budget anew), so it only screens: each neuron's `keep` best-read Gabors
 * go to candidates (n × keep) to be rendered and predicted as shown. */
static int screen_by_translation(model *const *models, int n_models, const gabor_params *bank,
                                 const int *neurons, int n, const stimulus_budget *b,
                                 float sign, int keep, gabor_params *candidates, char *err)
{
    const model_config *c = model_get_config(models[0]);
    int nx, ny, K = gabor_bank_shape(c->height, c->width, &nx, &ny);
    int S = nx * ny, P = c->height * c->width, cx = nx / 2, cy = ny / 2;
    int chunk = GABOR_SCREEN_CHUNK < K ? GABOR_SCREEN_CHUNK : K;
    int *shifts = malloc((size_t)2 * S * sizeof(int));
    int *top_index = malloc((size_t)n * keep * sizeof(int));
    float *top_value = malloc((size_t)n * keep * sizeof(float));
    float *images = malloc((size_t)chunk * P * sizeof(float));
    float *rates = malloc((size_t)chunk * S * n * sizeof(float));
    int status = 1;
    if (!shifts || !top_index || !top_value || !images || !rates) {
        stimulus_fail(err, "controls: out of memory for the Gabor screen");
        goto done;
    }
    for (int iy = 0; iy < ny; iy++)
        for (int ix = 0; ix < nx; ix++) {
            shifts[2 * (iy * nx + ix)] = GABOR_GRID_STEP * (ix - cx);
            shifts[2 * (iy * nx + ix) + 1] = GABOR_GRID_STEP * (iy - cy);
        }
    for (int i = 0; i < n * keep; i++) {
        top_value[i] = -INFINITY;
        top_index[i] = -1;
    }
    const gabor_params *centred = bank + (size_t)(cy * nx + cx) * K;
    for (int first = 0; first < K; first += chunk) {
        int kernels = K - first < chunk ? K - first : chunk;
        for (int t = 0; t < kernels; t++)
            gabor_render(&centred[first + t], c->height, c->width, b, images + (size_t)t * P);
        if (ensemble_predict_translated(models, n_models, images, kernels, neurons, n, shifts,
                                        S, rates, err))
            goto done;
        for (int t = 0; t < kernels; t++)
            for (int p = 0; p < S; p++)
                for (int j = 0; j < n; j++) {
                    float r = rates[((size_t)t * S + p) * n + j];
                    if (r > -INFINITY) /* read on the map */
                        keep_best(top_value + (size_t)j * keep, top_index + (size_t)j * keep,
                                  keep, sign * r, p * K + first + t);
                }
    }
    /* The unmoved reading is always on the map, so every list has a first
     * entry; a short list (a tiny image) repeats it. */
    for (int j = 0; j < n; j++)
        for (int r = 0; r < keep; r++) {
            int i = top_index[(size_t)j * keep + r];
            candidates[(size_t)j * keep + r] = bank[i >= 0 ? i : top_index[(size_t)j * keep]];
        }
    status = 0;
done:
    free(shifts);
    free(top_index);
    free(top_value);
    free(images);
    free(rates);
    return status;
}

/* 1 when every model of the ensemble can be read by translation. */
static int ensemble_can_translate(model *const *models, int n_models)
{
    for (int k = 0; k < n_models; k++)
        if (!model_can_translate(models[k]))
            return 0;
    return 1;
}

int control_matched_gabor(model *m, const int *neurons, int n, const stimulus_budget *b,
                          uint64_t seed, gabor_params *out, float *images, char *err)
{
    return control_matched_gabor_ensemble(&m, 1, neurons, n, b, seed, out, images, err);
}

/* The Gabor search for the highest (sign +1) or lowest (−1) predicted rate. */
static int gabor_extreme(model *const *models, int n_models, const int *neurons, int n,
                         const stimulus_budget *b, uint64_t seed, float sign,
                         gabor_params *out, float *images, char *err)
{
    if (ensemble_check(models, n_models, err))
        return 1;
    const model_config *c = model_get_config(models[0]);
    gabor_params *bank = NULL, *candidates = NULL;
    float *value = malloc((size_t)n * sizeof(float));
    int count = gabor_bank(c->height, c->width, &bank), status = 1;
    int R = GABOR_REFINE_CANDIDATES, keep = GABOR_SCREEN_KEEP;
    int per_neuron = R > keep ? R : keep;
    candidates = malloc((size_t)n * per_neuron * sizeof *candidates);
    if (count < 0 || !value || !candidates) {
        stimulus_fail(err, "controls: out of memory for the Gabor search");
        goto done;
    }
    for (int j = 0; j < n; j++)
        value[j] = -INFINITY;
    if (ensemble_can_translate(models, n_models)) {
        if (screen_by_translation(models, n_models, bank, neurons, n, b, sign, keep, candidates,
                                  err))
            goto done;
        gabor_search s = {candidates, 0, neurons, n, keep, out, value, sign};
        if (score_gabors(models, n_models, &s, n * keep, b, err))
            goto done;
    } else {
        gabor_search s = {bank, 0, neurons, n, 0, out, value, sign};
        if (score_gabors(models, n_models, &s, count, b, err))
            goto done;
    }
    for (int j = 0; j < n; j++)
        if (!(value[j] > -INFINITY)) { /* out[j] never set: refused, not used */
            stimulus_fail(err, "controls: neuron %d has no finite predicted "
                          "response to any Gabor", neurons[j]);
            goto done;
        }
    model_rng rng;
    model_rng_seed(&rng, seed);
    for (int round = 0; round < GABOR_REFINE_ROUNDS; round++) {
        float spread = 1.0f / (float)(1 << round);
        for (int j = 0; j < n; j++)
            for (int k = 0; k < R; k++)
                candidates[j * R + k] = perturb(&out[j], &rng, spread, c->height, c->width);
        gabor_search r = {candidates, 0, neurons, n, R, out, value, sign};
        if (score_gabors(models, n_models, &r, n * R, b, err))
            goto done;
    }
    for (int j = 0; j < n; j++)
        gabor_render(&out[j], c->height, c->width, b,
                     images + (size_t)j * c->height * c->width);
    status = 0;
done:
    free(bank);
    free(candidates);
    free(value);
    return status;
}

int control_matched_gabor_ensemble(model *const *models, int n_models, const int *neurons,
                                   int n, const stimulus_budget *b, uint64_t seed,
                                   gabor_params *out, float *images, char *err)
{
    return gabor_extreme(models, n_models, neurons, n, b, seed, 1.0f, out, images, err);
}

int control_least_gabor_ensemble(model *const *models, int n_models, const int *neurons, int n,
                                 const stimulus_budget *b, uint64_t seed, gabor_params *out,
                                 float *images, char *err)
{
    return gabor_extreme(models, n_models, neurons, n, b, seed, -1.0f, out, images, err);
}

/* ------------------------------------------------------------------------ */
/* Receptive-field maps. */

int control_rf_map(model *m, const int *neurons, int n, const stimulus_budget *b,
                   float *images, char *err)
{
    return control_rf_map_ensemble(&m, 1, neurons, n, b, images, err);
}

int control_rf_map_ensemble(model *const *models, int n_models, const int *neurons, int n,
                            const stimulus_budget *b, float *images, char *err)
{
    if (ensemble_check(models, n_models, err))
        return 1;
    const model_config *c = model_get_config(models[0]);
    int P = c->height * c->width, N = c->neurons;
    float *gray = malloc((size_t)n * P * sizeof(float));
    float *weights = calloc((size_t)n * N, sizeof(float));
    int status = 1;
    if (!gray || !weights) {
        stimulus_fail(err, "controls: out of memory for RF maps");
        goto done;
    }
    for (size_t i = 0; i < (size_t)n * P; i++)
        gray[i] = b->mean_luminance;
    for (int j = 0; j < n; j++)
        weights[(size_t)j * N + neurons[j]] = 1.0f;
    if (ensemble_input_gradient(models, n_models, gray, n, weights, images, err))
        goto done;
    for (int j = 0; j < n; j++)
        stimulus_render_at_budget(images + (size_t)j * P, P, b);
    status = 0;
done:
    free(gray);
    free(weights);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Ground truth. */

/* The simulator's filter of a cell's subunit centred at (cx, cy), at a given
 * orientation and phase (see sim_cell), zero-mean and unit-norm. */
static void sim_filter(const sim_cell *cell, double cx, double cy, double orientation,
                       double phase, int height, int width, float *out)
{
    double c = cos(orientation), s = sin(orientation), wsum = 0.0, csum = 0.0, norm = 0.0;
    double two_s2 = 2.0 * (double)cell->sigma * cell->sigma;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double dx = x - cx, dy = y - cy, u = dx * c + dy * s;
            double env = exp(-(dx * dx + dy * dy) / two_s2);
            double carrier = cos(2.0 * M_PI * cell->frequency * u + phase);
            wsum += env;
            csum += env * carrier;
            out[y * width + x] = (float)carrier;
        }
    double dc = wsum > 0 ? csum / wsum : 0.0;
    for (int y = 0; y < height; y++)
        for (int x = 0; x < width; x++) {
            double dx = x - cx, dy = y - cy;
            double g = exp(-(dx * dx + dy * dy) / two_s2) * (out[y * width + x] - dc);
            out[y * width + x] = (float)g;
            norm += g * g;
        }
    float scale = norm > 0.0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int p = 0; p < height * width; p++)
        out[p] *= scale;
}

/* Candidate optima of a cell, `count` of them at most: a conjunction cell's
 * one, the sum of its two unit-norm subunits (the proof is at the top of
 * model/simulate.c); an energy-conjunction cell's the sums of its two
 * subunits' Gabors over a grid of both phases (the subunits overlap a little,
 * so their relative phase and the clipping decide); for the others its Gabor
 * at OPTIMUM_PHASES phases. */
static int optimum_candidates(const sim_cell *cell, int H, int W, float *cands, float *scratch)
{
    int P = H * W;
    if (cell->type == SIM_ENERGY_CONJUNCTION) {
        int k = 0;
        for (int a = 0; a < OPTIMUM_PHASE_GRID; a++)
            for (int b = 0; b < OPTIMUM_PHASE_GRID; b++, k++) {
                float *c = cands + (size_t)k * P;
                sim_filter(cell, cell->x, cell->y, cell->orientation,
                           cell->phase + 2.0 * M_PI * a / OPTIMUM_PHASE_GRID, H, W, c);
                sim_filter(cell, cell->x2, cell->y2, cell->orientation2,
                           cell->phase2 + 2.0 * M_PI * b / OPTIMUM_PHASE_GRID, H, W, scratch);
                for (int i = 0; i < P; i++)
                    c[i] += scratch[i];
            }
        return k;
    }
    if (cell->type == SIM_CONJUNCTION) {
        sim_filter(cell, cell->x, cell->y, cell->orientation, cell->phase, H, W, cands);
        sim_filter(cell, cell->x2, cell->y2, cell->orientation2, cell->phase2, H, W, scratch);
        for (int i = 0; i < P; i++)
            cands[i] += scratch[i];
        return 1;
    }
    for (int k = 0; k < OPTIMUM_PHASES; k++)
        sim_filter(cell, cell->x, cell->y, cell->orientation,
                   cell->phase + 2.0 * M_PI * k / OPTIMUM_PHASES, H, W, cands + (size_t)k * P);
    return OPTIMUM_PHASES;
}

int sim_optimal_stimulus(const sim_population *p, int neuron, int height, int width,
                         const stimulus_budget *b, float *image, float *rate, char *err)
{
    if (neuron < 0 || neuron >= sim_population_neurons(p)) {
        return stimulus_fail(err, "simulated optimum: no neuron %d", neuron);
    }
    const sim_cell *cell = sim_population_cell(p, neuron);
    if (cell->type >= SIM_END_STOPPED)
        return sim_search_optimum(p, neuron, height, width, b, image, rate, err);
    int N = sim_population_neurons(p), H = height, W = width, P = H * W;
    float *cands = malloc((size_t)OPTIMUM_PHASES * P * sizeof(float));
    float *rates = malloc((size_t)OPTIMUM_PHASES * N * sizeof(float));
    float *scratch = malloc((size_t)P * sizeof(float));
    if (!cands || !rates || !scratch) {
        free(cands);
        free(rates);
        free(scratch);
        return stimulus_fail(err, "simulated optimum: out of memory");
    }
    int count = optimum_candidates(cell, H, W, cands, scratch);
    for (int k = 0; k < count; k++)
        stimulus_render_at_budget(cands + (size_t)k * P, P, b);
    sim_population_rates(p, cands, count, rates);
    int best = 0;
    for (int k = 1; k < count; k++)
        if (rates[(size_t)k * N + neuron] > rates[(size_t)best * N + neuron])
            best = k;
    memcpy(image, cands + (size_t)best * P, (size_t)P * sizeof(float));
    *rate = rates[(size_t)best * N + neuron];
    free(cands);
    free(rates);
    free(scratch);
    return 0;
}
