/* session_fit.c: the end of a session's analysis (final fit, evaluation,
 * targets, budget, MEIs, controls) and what is recorded of it: one path,
 * deterministic, that `inception run`'s fit and synthesis phases and
 * `inception replay` both take, so a replay gives the run's model bit for bit. */
#include "session/session.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void session_fit_settings_from_protocol(const protocol *p, int height, int width, int neurons,
                                        session_fit_settings *out)
{
    memset(out, 0, sizeof *out);
    const protocol_model *pm = &p->model;
    model_config *mc = &out->model;
    model_config_default(mc);
    mc->kind = MODEL_CNN;
    mc->height = height;
    mc->width = width;
    mc->neurons = neurons;
    mc->layers = pm->layers;
    mc->channels = pm->channels;
    for (int l = 0; l < pm->layers && l < MODEL_MAX_LAYERS; l++)
        mc->kernel[l] = pm->kernels[l];
    mc->readout = pm->readout == PROTOCOL_READOUT_FACTORIZED ? READOUT_FACTORIZED
                                                            : READOUT_GAUSSIAN;
    mc->normalization_pool = pm->normalization;
    mc->seed = p->seed;

    fit_options *fo = &out->fit;
    fit_options_default(fo);
    fo->batch_size = pm->batch_size;
    fo->max_epochs = pm->epochs;
    fo->learning_rate = pm->learning_rate;
    fo->patience = pm->patience;
    fo->threads = pm->threads;
    fo->seed = p->seed;

    const protocol_mei *pe = &p->mei;
    mei_options *o = &out->mei;
    mei_options_default(o);
    o->steps = pe->steps;
    o->starts = pe->starts;
    o->step_size = 0.01f * pe->step_size; /* 1: the synthesis' default step */
    o->space = pe->preconditioning == PROTOCOL_PRECONDITION_FOURIER ? MEI_SPACE_FOURIER
                                                                    : MEI_SPACE_PIXEL;
    o->blur_sigma = pe->preconditioning == PROTOCOL_PRECONDITION_BLUR ? pe->blur_sigma : 0.0f;
    o->blur_sigma_end = 0.0f;
    o->jitter = (int)pe->jitter_px;
    o->threads = pm->threads;
    o->seed = p->seed;
    out->objective = pe->objective == PROTOCOL_OBJECTIVE_ONE_HOT ? MEI_ONE_HOT_MEAN : MEI_SINGLE;
    out->contrast = pe->contrast;
    out->target_count = p->targets.count;
    out->min_correlation = p->targets.min_correlation;
    out->controls = pe->controls;
    out->kinds = pe->kinds;
    out->diverse_count = pe->diverse_count;
    out->pattern_count = pe->pattern_count;
    out->control_seed = p->seed;
    out->ensemble = p->model.ensemble < 1 ? 1 : p->model.ensemble;
}

/* The trials of one tier gathered: images, responses, ids. */
typedef struct tier_rows {
    int n;
    float *images, *responses, *predicted;
    int64_t *ids;
} tier_rows;

static void tier_rows_free(tier_rows *t)
{
    free(t->images);
    free(t->responses);
    free(t->predicted);
    free(t->ids);
}

static int tier_rows_gather(const dataset *d, int tier, tier_rows *t, char *err)
{
    memset(t, 0, sizeof *t);
    size_t P = (size_t)d->height * (size_t)d->width, N = (size_t)d->neurons;
    t->n = dataset_count_tier(d, tier);
    size_t n = t->n ? (size_t)t->n : 1;
    t->images = malloc(n * P * sizeof(float));
    t->responses = malloc(n * N * sizeof(float));
    t->predicted = malloc(n * N * sizeof(float));
    t->ids = malloc(n * sizeof(int64_t));
    if (!t->images || !t->responses || !t->predicted || !t->ids) {
        tier_rows_free(t);
        return controller_fail(err, "out of memory for the tier's trials");
    }
    for (int i = 0, k = 0; i < d->trials; i++) {
        if (d->tiers[i] != tier)
            continue;
        memcpy(t->images + (size_t)k * P, d->images + (size_t)i * P, P * sizeof(float));
        memcpy(t->responses + (size_t)k * N, d->responses + (size_t)i * N, N * sizeof(float));
        t->ids[k++] = d->image_ids[i];
    }
    return 0;
}

/* The models' mean prediction (one model: its own, to the bit). */
static int predict_mean(model *const *models, int count, const float *images, int n,
                        float *rates, char *err)
{
    char serr[STIMULUS_ERR_SIZE];
    return ensemble_predict(models, count, images, n, rates, serr) ? controller_fail(err, "%s", serr) : 0;
}

static int evaluate_tier(model *const *models, int count, const dataset *d, int tier,
                         neuron_metrics *out, int *trials, char *err)
{
    tier_rows t;
    if (tier_rows_gather(d, tier, &t, err))
        return 1;
    *trials = t.n;
    char merr[MODEL_ERR_SIZE];
    int status = 0;
    if (t.n >= 2 && (predict_mean(models, count, t.images, t.n, t.predicted, err) ||
                     (metrics_evaluate(t.predicted, t.responses, t.ids, t.n, d->neurons, out,
                                       merr) && controller_fail(err, "%s", merr))))
        status = 1;
    tier_rows_free(&t);
    return status;
}

int session_fit_evaluate_tier(model *m, const dataset *d, int tier, neuron_metrics *out,
                              int *trials, char *err)
{
    return evaluate_tier(&m, 1, d, tier, out, trials, err);
}

static int evaluate(const dataset *d, session_fit_result *r, char *err)
{
    model *const *m = r->members;
    int N = d->neurons;
    tier_rows v;
    if (tier_rows_gather(d, TIER_VALIDATION, &v, err))
        return 1;
    neuron_metrics *nm = malloc((size_t)N * sizeof *nm);
    int status = nm ? 0 : controller_fail(err, "out of memory for the metrics");
    char why[CONTROLLER_ERR_SIZE];
    if (!status && v.n >= 2) {
        if (predict_mean(m, r->n_models, v.images, v.n, v.predicted, why))
            status = controller_fail(err, "validation prediction: %s", why);
        else
            metrics_correlation(v.predicted, v.responses, v.n, N, r->validation_corr);
    }
    int n_test = 0;
    if (!status && evaluate_tier(m, r->n_models, d, TIER_TEST, nm, &n_test, why))
        status = controller_fail(err, "test evaluation: %s", why);
    if (!status && n_test >= 2) {
        for (int n = 0; n < N; n++) {
            r->test_corr[n] = nm[n].corr_to_average;
            r->test_feve[n] = nm[n].feve;
            r->test[n] = nm[n];
        }
        r->test_trials = n_test;
    }
    /* Fewer than 2 test trials leave r->test NaN: none kept, the figures NaN. */
    metrics_feve_summarize(r->test, N, &r->test_feve_summary);
    r->test_corr_mean = stats_finite_mean(r->test_corr, N);
    free(nm);
    tier_rows_free(&v);
    return status;
}

/* Top `want` neurons by validation correlation, none below `min`. */
static int choose_targets(const float *corr, int N, int want, float min, int *out)
{
    uint8_t *taken = calloc((size_t)N, 1);
    int n = 0;
    for (int k = 0; taken && k < want; k++) {
        int best = -1;
        for (int i = 0; i < N; i++)
            if (!taken[i] && isfinite(corr[i]) && (best < 0 || corr[i] > corr[best]))
                best = i;
        if (best < 0 || corr[best] < min)
            break;
        taken[best] = 1;
        out[n++] = best;
    }
    free(taken);
    return n;
}

int session_fit_budget(const dataset *d, float contrast, stimulus_budget *b, char *err)
{
    tier_rows t;
    if (tier_rows_gather(d, TIER_TRAIN, &t, err))
        return 1;
    size_t P = (size_t)d->height * (size_t)d->width;
    double sum = 0;
    for (size_t i = 0; i < (size_t)t.n * P; i++)
        sum += t.images[i];
    b->mean_luminance = t.n ? (float)(sum / ((double)t.n * (double)P)) : 0.5f;
    b->contrast = contrast > 0 ? contrast
                : t.n      ? stimulus_median_contrast(t.images, t.n, (int)P)
                           : 0.15f;
    tier_rows_free(&t);
    return 0;
}

/* Every target's objective (the settings'), and the synthesis options every
 * kind starts from: the protocol's, at the session's budget, on the models. */
static void targets_of(const session_fit_settings *s, const session_fit_result *r,
                       mei_target *t)
{
    for (int j = 0; j < r->n_targets; j++)
        t[j] = (mei_target){s->objective, r->targets[j], NULL};
}

static mei_options synthesis_options(const session_fit_settings *s, const session_fit_result *r)
{
    mei_options o = s->mei;
    o.budget = r->budget;
    o.ensemble = r->members + 1;
    o.ensemble_size = r->n_models - 1;
    return o;
}

static int synthesize(const session_fit_settings *s, session_fit_result *r, char *err)
{
    mei_target *t = malloc((size_t)r->n_targets * sizeof *t);
    if (!t)
        return controller_fail(err, "out of memory for the MEIs");
    targets_of(s, r, t);
    mei_options o = synthesis_options(s, r);
    char serr[STIMULUS_ERR_SIZE];
    int status = mei_synthesize(r->model, t, r->n_targets, &o, r->meis, r->mei, serr);
    free(t);
    return status ? controller_fail(err, "synthesis: %s", serr) : 0;
}

size_t session_fit_slot(const session_fit_result *r, int j, int kind)
{
    return session_fit_slot_at(r, j, kind, 0);
}

size_t session_fit_slot_at(const session_fit_result *r, int j, int kind, int i)
{
    assert(kind >= 0 && kind < SESSION_KINDS && j >= 0 && j < r->n_targets);
    assert(r->slot_of[kind] >= 0 && i >= 0 && i < r->slots[kind]);
    assert(r->slot_of[kind] + i < r->n_kinds);
    return (size_t)j * (size_t)r->n_kinds + (size_t)(r->slot_of[kind] + i);
}

static float *stimulus_slot(const session_fit_result *r, int j, int kind, size_t P)
{
    return r->stimuli + session_fit_slot(r, j, kind) * P;
}

/* Whether target j's stimulus of `kind` was made (no slot: not asked for). */
static int stimulus_made(const session_fit_result *r, int j, int kind)
{
    return r->slot_of[kind] >= 0 && r->present[session_fit_slot(r, j, kind)];
}

/* The most driving training image (by the model) at the budget: every
 * training image is ranked as it will be shown, rendered at the budget. */
static int control_best(const dataset *d, session_fit_result *r, size_t P, char *err)
{
    tier_rows t;
    if (tier_rows_gather(d, TIER_TRAIN, &t, err))
        return 1;
    int *best = malloc((size_t)r->n_targets * sizeof(int));
    int *unused = malloc((size_t)r->n_targets * sizeof(int));
    char serr[STIMULUS_ERR_SIZE];
    int status = !best || !unused ? controller_fail(err, "out of memory for the controls") : 0;
    if (!status && control_best_natural_ensemble(r->members, r->n_models, t.images, t.n, NULL,
                                                 r->targets, r->n_targets, &r->budget, best,
                                                 unused, serr))
        status = controller_fail(err, "controls: %s", serr);
    for (int j = 0; !status && j < r->n_targets; j++) {
        float *x = stimulus_slot(r, j, STIMULUS_KIND_BEST_NATURAL, P);
        memcpy(x, t.images + (size_t)best[j] * P, P * sizeof(float));
        stimulus_render_at_budget(x, (int)P, &r->budget);
        r->present[session_fit_slot(r, j, STIMULUS_KIND_BEST_NATURAL)] = 1;
    }
    free(best);
    free(unused);
    tier_rows_free(&t);
    return status;
}

/* The matched Gabor and the receptive-field map of each target. */
static int control_made(const session_fit_settings *s, session_fit_result *r, int kind,
                        size_t P, char *err)
{
    int n = r->n_targets;
    float *img = malloc((size_t)n * P * sizeof(float));
    gabor_params *g = malloc((size_t)n * sizeof *g);
    char serr[STIMULUS_ERR_SIZE];
    int status = !img || !g ? controller_fail(err, "out of memory for the controls") : 0;
    if (!status && (kind == STIMULUS_KIND_GABOR
                        ? control_matched_gabor_ensemble(r->members, r->n_models, r->targets,
                                                         n, &r->budget, s->control_seed, g,
                                                         img, serr)
                        : control_rf_map_ensemble(r->members, r->n_models, r->targets, n,
                                                  &r->budget, img, serr)))
        status = controller_fail(err, "controls: %s", serr);
    for (int j = 0; !status && j < n; j++) {
        memcpy(stimulus_slot(r, j, kind, P), img + (size_t)j * P, P * sizeof(float));
        r->present[session_fit_slot(r, j, kind)] = 1;
    }
    free(img);
    free(g);
    return status;
}

/* mei.kinds masked and surround: each MEI under its learned soft disc (the
 * neuron's classical RF by the response it keeps), and with surround the
 * most and least exciting surrounds around it, as `inception mei --kind
 * surround` makes them (docs/mei.md). One model (the protocol refuses an
 * ensemble with them). */
static int kinds_region(const session_fit_settings *s, session_fit_result *r, size_t P,
                        char *err)
{
    const model_config *c = model_get_config(r->model);
    mei_mask_options mo;
    mei_mask_options_default(&mo);
    mei_options most = s->mei, least = s->mei;
    most.budget = least.budget = r->budget;
    least.least = 1;
    float *mask = malloc(P * sizeof(float)), *scratch = malloc(P * sizeof(float));
    char serr[STIMULUS_ERR_SIZE];
    int status = !mask || !scratch ? controller_fail(err, "out of memory for the masks") : 0;
    int surround = (s->kinds & PROTOCOL_KIND_SURROUND) != 0;
    for (int j = 0; !status && j < r->n_targets; j++) {
        int n = r->targets[j];
        const float *mei = r->meis + (size_t)j * P;
        float most_rate, least_rate;
        if (mei_mask_fit(r->model, n, mei, &r->budget, &mo, &r->masks[j],
                         stimulus_slot(r, j, STIMULUS_KIND_MASKED, P), serr))
            status = controller_fail(err, "masked MEI of neuron %d: %s", n, serr);
        r->present[session_fit_slot(r, j, STIMULUS_KIND_MASKED)] = !status;
        if (status || !surround)
            continue;
        mei_mask_render(&r->masks[j].mask, c->height, c->width, mask);
        if (mei_surround(r->model, n, mei, mask, &most,
                         stimulus_slot(r, j, STIMULUS_KIND_SURROUND_MOST, P), scratch,
                         &most_rate, serr) ||
            mei_surround(r->model, n, mei, mask, &least,
                         stimulus_slot(r, j, STIMULUS_KIND_SURROUND_LEAST, P), scratch,
                         &least_rate, serr))
            status = controller_fail(err, "surround MEI of neuron %d: %s", n, serr);
        r->present[session_fit_slot(r, j, STIMULUS_KIND_SURROUND_MOST)] = !status;
        r->present[session_fit_slot(r, j, STIMULUS_KIND_SURROUND_LEAST)] = !status;
    }
    free(mask);
    free(scratch);
    return status;
}

/* mei.kinds least: the least exciting input (the MEI's synthesis run
 * downhill, exactly at the budget) and its control, the training image the
 * models predict lowest once rendered at the budget. */
static int kinds_least(const dataset *d, const session_fit_settings *s, session_fit_result *r,
                       size_t P, char *err)
{
    int n = r->n_targets;
    mei_target *t = malloc((size_t)n * sizeof *t);
    mei_result *res = malloc((size_t)n * sizeof *res);
    float *img = malloc((size_t)n * P * sizeof(float));
    int *lowest = malloc((size_t)n * sizeof(int));
    tier_rows train = {0};
    char serr[STIMULUS_ERR_SIZE];
    int status = !t || !res || !img || !lowest
                     ? controller_fail(err, "out of memory for the least exciting inputs")
                     : tier_rows_gather(d, TIER_TRAIN, &train, err);
    if (!status)
        targets_of(s, r, t);
    mei_options o = synthesis_options(s, r);
    o.least = 1;
    if (!status && mei_synthesize(r->model, t, n, &o, img, res, serr))
        status = controller_fail(err, "least exciting inputs: %s", serr);
    if (!status && control_least_natural_ensemble(r->members, r->n_models, train.images, train.n,
                                                  r->targets, n, &r->budget, lowest, serr))
        status = controller_fail(err, "least natural images: %s", serr);
    for (int j = 0; !status && j < n; j++) {
        memcpy(stimulus_slot(r, j, STIMULUS_KIND_LEAST, P), img + (size_t)j * P,
               P * sizeof(float));
        float *x = stimulus_slot(r, j, STIMULUS_KIND_LEAST_NATURAL, P);
        memcpy(x, train.images + (size_t)lowest[j] * P, P * sizeof(float));
        stimulus_render_at_budget(x, (int)P, &r->budget);
        r->present[session_fit_slot(r, j, STIMULUS_KIND_LEAST)] = 1;
        r->present[session_fit_slot(r, j, STIMULUS_KIND_LEAST_NATURAL)] = 1;
    }
    free(t);
    free(res);
    free(img);
    free(lowest);
    tier_rows_free(&train);
    return status;
}

/* mei.kinds diverse: per target a set of diverse_count images that all
 * drive it near its maximum, pushed apart by the diversity term
 * (mei_synthesize_diverse, the call `inception mei --kind diverse` makes,
 * with the synthesis' default diversity weight), each at the budget. */
static int kinds_diverse(const session_fit_settings *s, session_fit_result *r, size_t P,
                         char *err)
{
    int n = r->n_targets, S = s->diverse_count;
    mei_target *t = malloc((size_t)n * sizeof *t);
    mei_result *res = malloc((size_t)n * (size_t)S * sizeof *res);
    float *img = malloc((size_t)n * (size_t)S * P * sizeof(float));
    char serr[STIMULUS_ERR_SIZE];
    int status = !t || !res || !img ? controller_fail(err, "out of memory for the diverse MEIs")
                                    : 0;
    if (!status)
        targets_of(s, r, t);
    mei_options o = synthesis_options(s, r);
    o.starts = S;      /* the set ascends together, one image per start */
    o.patience = 0;    /* what mei_synthesize_diverse needs: every image to the last step */
    o.disagreement = 0.0f;
    if (!status && mei_synthesize_diverse(r->model, t, n, &o, img, res, serr))
        status = controller_fail(err, "diverse MEIs: %s", serr);
    for (int j = 0; !status && j < n; j++)
        for (int i = 0; i < S; i++) {
            size_t slot = session_fit_slot_at(r, j, STIMULUS_KIND_DIVERSE, i);
            memcpy(r->stimuli + slot * P, img + ((size_t)j * S + i) * P, P * sizeof(float));
            r->present[slot] = 1;
        }
    free(t);
    free(res);
    free(img);
    return status;
}

/* mei.kinds pattern: population control (Bashivan, Kar & DiCarlo 2019) with
 * the targets, in order, as one group. pattern_count target patterns, each
 * neuron's uniform in [0, 1) from the session's seed (the stream
 * `inception mei --kind pattern` draws from its seed); per pattern the image
 * of mei_pattern (the offline command's call, the first model) and its
 * control, the training image whose predicted pattern at the budget is
 * closest (control_pattern_natural); pattern_predicted: their predicted
 * similarities (Pearson correlation across the group). */
static int kinds_pattern(const dataset *d, const session_fit_settings *s, session_fit_result *r,
                         size_t P, char *err)
{
    int k = r->n_targets, n = s->pattern_count;
    if (k < 2 || k > PATTERN_MAX_GROUP)
        return controller_fail(err, "mei.kinds pattern: the targets are its group, 2..%d "
                                "neurons; this session has %d", PATTERN_MAX_GROUP, k);
    assert(n >= 1);
    r->pattern_targets = malloc((size_t)n * (size_t)k * sizeof(float));
    r->pattern_stimuli = malloc(2 * (size_t)n * P * sizeof(float));
    r->pattern_predicted = malloc(2 * (size_t)n * sizeof(float));
    tier_rows train = {0};
    char serr[STIMULUS_ERR_SIZE];
    int status = !r->pattern_targets || !r->pattern_stimuli || !r->pattern_predicted
                     ? controller_fail(err, "out of memory for the target patterns")
                     : tier_rows_gather(d, TIER_TRAIN, &train, err);
    model_rng rng;
    model_rng_seed(&rng, s->control_seed ^ 0x7061747465726eull); /* "pattern" */
    for (int i = 0; !status && i < n * k; i++)
        r->pattern_targets[i] = (float)model_rng_uniform(&rng);
    mei_options o = synthesis_options(s, r); /* mei_pattern ascends r->model alone */
    for (int q = 0; !status && q < n; q++) {
        float *x = r->pattern_stimuli + 2 * (size_t)q * P, *y = x + P;
        const float *target = r->pattern_targets + (size_t)q * k;
        int closest;
        if (mei_pattern(r->model, r->targets, k, target, &o, x, &r->pattern_predicted[2 * q],
                        serr) ||
            control_pattern_natural(r->model, train.images, train.n, r->targets, k, target,
                                    &r->budget, &closest, &r->pattern_predicted[2 * q + 1], serr))
            status = controller_fail(err, "target pattern %d: %s", q, serr);
        else {
            memcpy(y, train.images + (size_t)closest * P, P * sizeof(float));
            stimulus_render_at_budget(y, (int)P, &r->budget);
        }
    }
    if (!status)
        r->n_patterns = n;
    tier_rows_free(&train);
    return status;
}

/* The target's predicted rate for each stimulus made. */
static int predict_stimuli(const dataset *d, session_fit_result *r, size_t P, char *err)
{
    float *rates = malloc((size_t)d->neurons * sizeof(float));
    if (!rates)
        return controller_fail(err, "out of memory for the predictions");
    char why[CONTROLLER_ERR_SIZE];
    int status = 0;
    for (int j = 0; !status && j < r->n_targets; j++)
        for (int k = 0; !status && k < r->n_kinds; k++) {
            size_t slot = (size_t)j * (size_t)r->n_kinds + (size_t)k;
            r->predicted[slot] = NAN;
            if (!r->present[slot])
                continue;
            if (predict_mean(r->members, r->n_models, r->stimuli + slot * P, 1, rates, why))
                status = controller_fail(err, "prediction: %s", why);
            else
                r->predicted[slot] = rates[r->targets[j]];
        }
    free(rates);
    return status;
}

/* The kinds the settings ask for, each its slots in STIMULUS_KIND_* order
 * (session_fit_synthesize and session_sound_synthesize make no others): one
 * per kind, the diverse set's diverse_count. */
static void kinds_slots(const session_fit_settings *s, session_fit_result *r)
{
    int wanted[SESSION_KINDS] = {0};
    wanted[STIMULUS_KIND_MEI] = 1;
    wanted[STIMULUS_KIND_BEST_NATURAL] = (s->controls & PROTOCOL_CONTROL_BEST_NATURAL) != 0;
    wanted[STIMULUS_KIND_GABOR] = (s->controls & PROTOCOL_CONTROL_GABOR) != 0;
    wanted[STIMULUS_KIND_RF] = (s->controls & PROTOCOL_CONTROL_RF) != 0;
    wanted[STIMULUS_KIND_TONE] = (s->controls & PROTOCOL_CONTROL_TONE) != 0; /* audio only */
    wanted[STIMULUS_KIND_MASKED] = (s->kinds & (PROTOCOL_KIND_MASKED | PROTOCOL_KIND_SURROUND)) != 0;
    wanted[STIMULUS_KIND_SURROUND_MOST] = wanted[STIMULUS_KIND_SURROUND_LEAST] =
        (s->kinds & PROTOCOL_KIND_SURROUND) != 0;
    wanted[STIMULUS_KIND_LEAST] = wanted[STIMULUS_KIND_LEAST_NATURAL] =
        (s->kinds & PROTOCOL_KIND_LEAST) != 0;
    wanted[STIMULUS_KIND_DIVERSE] = (s->kinds & PROTOCOL_KIND_DIVERSE) ? s->diverse_count : 0;
    assert(!wanted[STIMULUS_KIND_DIVERSE] || wanted[STIMULUS_KIND_DIVERSE] >= 2);
    r->n_kinds = 0;
    for (int k = 0; k < SESSION_KINDS; k++) {
        r->slot_of[k] = wanted[k] ? r->n_kinds : -1;
        r->slots[k] = wanted[k];
        r->n_kinds += wanted[k];
    }
}

static int stimuli_alloc(const session_fit_settings *s, session_fit_result *r, size_t P,
                         char *err)
{
    size_t n = r->n_targets ? (size_t)r->n_targets : 1;
    kinds_slots(s, r);
    size_t slots = n * (size_t)r->n_kinds;
    r->mei = calloc(n, sizeof *r->mei);
    r->meis = calloc(n * P, sizeof(float));
    r->stimuli = calloc(slots * P, sizeof(float));
    r->present = calloc(slots, 1);
    r->predicted = calloc(slots, sizeof(float));
    r->masks = calloc(n, sizeof *r->masks);
    return !r->mei || !r->meis || !r->stimuli || !r->present || !r->predicted || !r->masks
               ? controller_fail(err, "out of memory for the stimuli")
               : 0;
}

static int result_alloc(session_fit_result *r, int N, char *err)
{
    memset(r, 0, sizeof *r);
    r->validation_corr = calloc((size_t)N, sizeof(float));
    r->test_corr = malloc((size_t)N * sizeof(float));
    r->test_feve = malloc((size_t)N * sizeof(float));
    r->test = malloc((size_t)N * sizeof *r->test);
    r->targets = malloc((size_t)N * sizeof(int));
    if (!r->validation_corr || !r->test_corr || !r->test_feve || !r->test || !r->targets) {
        session_fit_result_free(r);
        return controller_fail(err, "out of memory");
    }
    for (int n = 0; n < N; n++) {
        r->test_corr[n] = r->test_feve[n] = NAN;
        r->test[n] = (neuron_metrics){NAN, NAN, NAN, NAN, NAN};
    }
    metrics_feve_summarize(NULL, 0, &r->test_feve_summary); /* none until evaluated */
    return 0;
}

static int check_tiers(const dataset *d, char *err)
{
    if (dataset_count_tier(d, TIER_TRAIN) < 1 || dataset_count_tier(d, TIER_VALIDATION) < 2)
        return controller_fail(err, "the data needs training trials and at least 2 validation trials "
                    "(%d and %d)", dataset_count_tier(d, TIER_TRAIN),
                    dataset_count_tier(d, TIER_VALIDATION));
    return 0;
}

int session_fit_adopt_ensemble(const dataset *d, model **models, int count,
                               session_fit_result *out, char *err)
{
    assert(count >= 1 && count <= SESSION_ENSEMBLE_MAX);
    memset(out, 0, sizeof *out);
    char serr[STIMULUS_ERR_SIZE];
    int status = check_tiers(d, err) || result_alloc(out, d->neurons, err);
    if (!status && ensemble_check(models, count, serr))
        status = controller_fail(err, "%s", serr);
    if (status) {
        for (int k = 0; k < count; k++)
            model_destroy(models[k]);
        return 1;
    }
    out->model = models[0];
    for (int k = 0; k < count; k++)
        out->members[k] = models[k];
    out->n_models = count;
    if (evaluate(d, out, err)) {
        session_fit_result_free(out);
        return 1;
    }
    return 0;
}

int session_fit_adopt(const dataset *d, model *m, session_fit_result *out, char *err)
{
    return session_fit_adopt_ensemble(d, &m, 1, out, err);
}

void session_fit_member_file(int k, char *out, size_t size)
{
    snprintf(out, size, "model_ensemble_%d.bin", k);
}

/* Ensemble member k >= 1: a new model of the settings' architecture,
 * initialized and fitted with seeds shifted by k (the fit's batches too),
 * so the members differ by their seeds alone. */
static int fit_member(const dataset *d, const session_fit_settings *s, int k, model **out,
                      char *err)
{
    model_config mc = s->model;
    mc.height = d->height;
    mc.width = d->width;
    mc.neurons = d->neurons;
    mc.seed += (uint64_t)k;
    fit_options fo = s->fit;
    fo.seed += (uint64_t)k;
    /* The recorded learning curve ("final" fit rounds) is model 0's: a
     * member's epochs are not reported into it. */
    fo.progress = NULL;
    fo.user = NULL;
    fit_report rep;
    char merr[MODEL_ERR_SIZE];
    *out = NULL;
    if (model_create(out, &mc, merr))
        return controller_fail(err, "ensemble member %d: %s", k, merr);
    model_set_threads(*out, fo.threads);
    if (model_fit(*out, d, &fo, &rep, merr) ||
        model_set_writer(*out, inception_version_string(), merr)) {
        model_destroy(*out);
        *out = NULL;
        return controller_fail(err, "ensemble member %d: fit: %s", k, merr);
    }
    return 0;
}

static int start_model(const dataset *d, const session_fit_settings *s,
                       const unsigned char *start, size_t start_size, model **m, char *err)
{
    char merr[MODEL_ERR_SIZE];
    if (start) {
        if (model_load_bytes(m, start, start_size, merr))
            return controller_fail(err, "the start model: %s", merr);
        return 0;
    }
    model_config mc = s->model;
    mc.height = d->height;
    mc.width = d->width;
    mc.neurons = d->neurons;
    return model_create(m, &mc, merr) ? controller_fail(err, "model: %s", merr) : 0;
}

int session_fit_model(const dataset *d, const session_fit_settings *s,
                      const unsigned char *start, size_t start_size, session_fit_result *out,
                      char *err)
{
    memset(out, 0, sizeof *out);
    model *m = NULL;
    fit_report rep;
    char merr[MODEL_ERR_SIZE];
    if (check_tiers(d, err) || start_model(d, s, start, start_size, &m, err))
        return 1;
    model_set_threads(m, s->fit.threads);
    /* The fitted model names this build as its writer; a model.file the
     * session adopts instead keeps the writer it was given. */
    if (model_fit(m, d, &s->fit, &rep, merr) ||
        model_set_writer(m, inception_version_string(), merr)) {
        model_destroy(m);
        return controller_fail(err, "fit: %s", merr);
    }
    int count = s->ensemble < 1 ? 1 : s->ensemble > SESSION_ENSEMBLE_MAX ? SESSION_ENSEMBLE_MAX
                                                                         : s->ensemble;
    model *models[SESSION_ENSEMBLE_MAX] = {m};
    for (int k = 1; k < count; k++)
        if (fit_member(d, s, k, &models[k], err)) {
            for (int i = 0; i < k; i++)
                model_destroy(models[i]);
            return 1;
        }
    if (session_fit_adopt_ensemble(d, models, count, out, err))
        return 1;
    out->fit = rep;
    return 0;
}

int session_fit_prepare(const dataset *d, const session_fit_settings *s, const int *targets,
                        int n_targets, session_fit_result *r, char *err)
{
    int N = d->neurons;
    size_t P = (size_t)d->height * (size_t)d->width;
    for (int j = 0; j < n_targets; j++)
        if (targets[j] < 0 || targets[j] >= N)
            return controller_fail(err, "target neuron %d outside 0..%d", targets[j], N - 1);
    if (n_targets > 0) {
        memcpy(r->targets, targets, (size_t)n_targets * sizeof(int));
        r->n_targets = n_targets;
    } else {
        r->n_targets = choose_targets(r->validation_corr, N, s->target_count,
                                      s->min_correlation, r->targets);
    }
    return session_fit_budget(d, s->contrast, &r->budget, err) || stimuli_alloc(s, r, P, err);
}

int session_fit_predict_stimuli(const dataset *d, session_fit_result *r, char *err)
{
    return predict_stimuli(d, r, (size_t)d->height * (size_t)d->width, err);
}

int session_fit_synthesize(const dataset *d, const session_fit_settings *s, const int *targets,
                           int n_targets, session_fit_result *r, char *err)
{
    size_t P = (size_t)d->height * (size_t)d->width;
    if (session_fit_prepare(d, s, targets, n_targets, r, err))
        return 1;
    if (r->n_targets == 0)
        return 0;
    if (synthesize(s, r, err))
        return 1;
    for (int j = 0; j < r->n_targets; j++) {
        memcpy(stimulus_slot(r, j, STIMULUS_KIND_MEI, P), r->meis + (size_t)j * P,
               P * sizeof(float));
        r->present[session_fit_slot(r, j, STIMULUS_KIND_MEI)] = 1;
    }
    if ((s->controls & PROTOCOL_CONTROL_BEST_NATURAL) && control_best(d, r, P, err))
        return 1;
    if ((s->controls & PROTOCOL_CONTROL_GABOR) && control_made(s, r, STIMULUS_KIND_GABOR, P, err))
        return 1;
    if ((s->controls & PROTOCOL_CONTROL_RF) && control_made(s, r, STIMULUS_KIND_RF, P, err))
        return 1;
    if ((s->kinds & (PROTOCOL_KIND_MASKED | PROTOCOL_KIND_SURROUND)) &&
        kinds_region(s, r, P, err))
        return 1;
    if ((s->kinds & PROTOCOL_KIND_LEAST) && kinds_least(d, s, r, P, err))
        return 1;
    if ((s->kinds & PROTOCOL_KIND_DIVERSE) && kinds_diverse(s, r, P, err))
        return 1;
    if ((s->kinds & PROTOCOL_KIND_PATTERN) && kinds_pattern(d, s, r, P, err))
        return 1;
    return predict_stimuli(d, r, P, err);
}

int session_fit_and_synthesize(const dataset *d, const session_fit_settings *s,
                               const unsigned char *start, size_t start_size,
                               const int *targets, int n_targets, session_fit_result *out,
                               char *err)
{
    if (session_fit_model(d, s, start, start_size, out, err))
        return 1;
    if (session_fit_synthesize(d, s, targets, n_targets, out, err)) {
        session_fit_result_free(out);
        return 1;
    }
    return 0;
}

void session_fit_result_free(session_fit_result *r)
{
    if (!r)
        return;
    model_destroy(r->model);
    for (int k = 1; k < r->n_models; k++)
        model_destroy(r->members[k]);
    free(r->validation_corr);
    free(r->test_corr);
    free(r->test_feve);
    free(r->test);
    free(r->targets);
    free(r->meis);
    free(r->mei);
    free(r->stimuli);
    free(r->present);
    free(r->predicted);
    free(r->masks);
    free(r->tone_hz);
    free(r->pattern_targets);
    free(r->pattern_stimuli);
    free(r->pattern_predicted);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------------ */
/* What is recorded of it */

int session_fit_record_model(session_record *w, const char *dir, const dataset *d,
                             const session_fit_result *r, char *err)
{
    char path[4096], merr[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/model.bin", dir);
    if (model_save(r->model, path, merr))
        return controller_fail(err, "%s", merr);
    if (session_record_checkpoint(w, path, r->fit.best_epoch, r->fit.best_validation_corr, err))
        return 1;
    for (int k = 1; k < r->n_models; k++) { /* the ensemble's further members */
        char name[64];
        session_fit_member_file(k, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (model_save(r->members[k], path, merr))
            return controller_fail(err, "%s", merr);
        if (session_record_checkpoint(w, path, -1, NAN, err))
            return 1;
    }
    if (r->test_trials < 2)
        return 0;
    int N = d->neurons;
    float *cols = malloc((size_t)N * 5 * sizeof(float));
    if (!cols)
        return controller_fail(err, "out of memory for the test metrics");
    for (int n = 0; n < N; n++) {
        cols[n] = r->test[n].feve;
        cols[N + n] = r->test[n].corr_to_average;
        cols[2 * N + n] = r->test[n].single_trial_corr;
        cols[3 * N + n] = r->test[n].oracle;
        cols[4 * N + n] = r->test[n].fev;
    }
    record_evaluation metrics = {
        .neuron = -1, .kind = "test_metrics", .mean = r->test_feve_summary.mean, .ci_low = NAN,
        .ci_high = NAN, .n = N, .feve = cols, .corr_to_average = cols + N,
        .single_trial_corr = cols + 2 * N, .oracle = cols + 3 * N, .fev = cols + 4 * N};
    /* The same in the report's own record type (its correlation histogram). */
    record_model_metrics mm = {"test", r->fit.best_epoch, N, cols + N, cols, cols + 4 * N, NULL};
    int status = session_record_evaluation(w, &metrics, err) ||
                 session_record_model_metrics(w, &mm, err);
    free(cols);
    return status;
}

int session_fit_record_targets(session_record *w, const dataset *d, const session_fit_result *r,
                               char *err)
{
    record_evaluation validation = {
        .neuron = -1, .kind = "validation_corr",
        .mean = stats_finite_mean(r->validation_corr, d->neurons), .ci_low = NAN, .ci_high = NAN,
        .n = d->neurons, .validation_corr = r->validation_corr};
    if (session_record_evaluation(w, &validation, err))
        return 1;
    record_note targets = {.text = "targets", .n_targets = r->n_targets, .targets = r->targets};
    int status = session_record_note_fields(w, &targets, err);
    char note[160];
    for (int j = 0; !status && r->tone_hz && j < r->n_targets; j++) { /* audio's tone control */
        snprintf(note, sizeof note, "tone control of neuron %d: %.2f Hz, the grid tone the "
                 "model predicts highest", r->targets[j], r->tone_hz[j]);
        status = session_record_note(w, note, err);
    }
    if (!isfinite(r->budget.contrast)) /* sounds: their level is the budget, noted apart */
        return status;
    snprintf(note, sizeof note, "contrast budget: RMS %.4f at mean luminance %.4f",
             r->budget.contrast, r->budget.mean_luminance);
    status = status || session_record_note(w, note, err);
    for (int j = 0; !status && j < r->n_targets; j++) { /* the masks' extent (mei.kinds) */
        const mei_mask_result *m = &r->masks[j];
        if (!stimulus_made(r, j, STIMULUS_KIND_MASKED))
            continue;
        snprintf(note, sizeof note, "mask of neuron %d: centre x %.2f y %.2f, radius %.2f px, "
                 "area %.1f px, keeps %.3f of the MEI's predicted rate", r->targets[j],
                 m->mask.x, m->mask.y, m->mask.radius, m->area,
                 m->mei_response > 0 ? m->response / m->mei_response : NAN);
        status = session_record_note(w, note, err);
    }
    return status;
}
