/* session_fit.c: the offline end of a session (fit, evaluate, choose
 * targets, synthesize MEIs) as one deterministic function, shared by
 * `inception replay` and meant for `inception run`'s final fit. */
#include "controller.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, CONTROLLER_ERR_SIZE, fmt, ap);
    va_end(ap);
    return 1;
}

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
        return fail(err, "out of memory for the tier's trials");
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

static int evaluate(model *m, const dataset *d, session_fit_result *r, char *err)
{
    int N = d->neurons;
    tier_rows v, t;
    if (tier_rows_gather(d, TIER_VALIDATION, &v, err))
        return 1;
    if (tier_rows_gather(d, TIER_TEST, &t, err)) {
        tier_rows_free(&v);
        return 1;
    }
    neuron_metrics *nm = malloc((size_t)N * sizeof *nm);
    int status = nm ? 0 : fail(err, "out of memory for the metrics");
    char merr[MODEL_ERR_SIZE];
    if (!status && v.n >= 2) {
        if (model_predict(m, v.images, v.n, v.predicted, merr))
            status = fail(err, "validation prediction: %s", merr);
        else
            metrics_correlation(v.predicted, v.responses, v.n, N, r->validation_corr);
    }
    if (!status && t.n >= 2) {
        if (model_predict(m, t.images, t.n, t.predicted, merr) ||
            metrics_evaluate(t.predicted, t.responses, t.ids, t.n, N, nm, merr))
            status = fail(err, "test evaluation: %s", merr);
        for (int n = 0; !status && n < N; n++) {
            r->test_corr[n] = nm[n].corr_to_average;
            r->test_feve[n] = nm[n].feve;
        }
    }
    free(nm);
    tier_rows_free(&v);
    tier_rows_free(&t);
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

/* Mean luminance and (unless given) the median RMS contrast of the training images. */
static int training_budget(const dataset *d, float contrast, stimulus_budget *b, char *err)
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

static int synthesize(const dataset *d, const session_fit_settings *s, session_fit_result *r,
                      char *err)
{
    size_t P = (size_t)d->height * (size_t)d->width;
    mei_target *t = malloc((size_t)r->n_targets * sizeof *t);
    r->mei = calloc((size_t)r->n_targets, sizeof *r->mei);
    r->meis = malloc((size_t)r->n_targets * P * sizeof(float));
    if (!t || !r->mei || !r->meis) {
        free(t);
        return fail(err, "out of memory for the MEIs");
    }
    for (int j = 0; j < r->n_targets; j++)
        t[j] = (mei_target){s->objective, r->targets[j], NULL};
    mei_options o = s->mei;
    o.budget = r->budget;
    char serr[STIMULUS_ERR_SIZE];
    int status = mei_synthesize(r->model, t, r->n_targets, &o, r->meis, r->mei, serr);
    free(t);
    return status ? fail(err, "synthesis: %s", serr) : 0;
}

int session_fit_and_synthesize(const dataset *d, const session_fit_settings *s,
                               const int *targets, int n_targets, session_fit_result *out,
                               char *err)
{
    memset(out, 0, sizeof *out);
    int N = d->neurons;
    if (dataset_count_tier(d, TIER_TRAIN) < 1 || dataset_count_tier(d, TIER_VALIDATION) < 2)
        return fail(err, "the data needs training trials and at least 2 validation trials "
                    "(%d and %d)", dataset_count_tier(d, TIER_TRAIN),
                    dataset_count_tier(d, TIER_VALIDATION));
    for (int j = 0; j < n_targets; j++)
        if (targets[j] < 0 || targets[j] >= N)
            return fail(err, "target neuron %d outside 0..%d", targets[j], N - 1);
    out->validation_corr = calloc((size_t)N, sizeof(float));
    out->test_corr = malloc((size_t)N * sizeof(float));
    out->test_feve = malloc((size_t)N * sizeof(float));
    out->targets = malloc((size_t)N * sizeof(int));
    if (!out->validation_corr || !out->test_corr || !out->test_feve || !out->targets) {
        session_fit_result_free(out);
        return fail(err, "out of memory");
    }
    for (int n = 0; n < N; n++)
        out->test_corr[n] = out->test_feve[n] = NAN;
    model_config mc = s->model;
    mc.height = d->height;
    mc.width = d->width;
    mc.neurons = N;
    char merr[MODEL_ERR_SIZE];
    int status = 0;
    if (model_create(&out->model, &mc, merr))
        status = fail(err, "model: %s", merr);
    if (!status) {
        model_set_threads(out->model, s->fit.threads);
        if (model_fit(out->model, d, &s->fit, &out->fit, merr))
            status = fail(err, "fit: %s", merr);
    }
    status = status || evaluate(out->model, d, out, err) ||
             training_budget(d, s->contrast, &out->budget, err);
    if (!status) {
        if (n_targets > 0) {
            memcpy(out->targets, targets, (size_t)n_targets * sizeof(int));
            out->n_targets = n_targets;
        } else {
            out->n_targets = choose_targets(out->validation_corr, N, s->target_count,
                                            s->min_correlation, out->targets);
        }
        if (out->n_targets > 0)
            status = synthesize(d, s, out, err);
    }
    if (status)
        session_fit_result_free(out);
    return status;
}

void session_fit_result_free(session_fit_result *r)
{
    if (!r)
        return;
    model_destroy(r->model);
    free(r->validation_corr);
    free(r->test_corr);
    free(r->test_feve);
    free(r->targets);
    free(r->meis);
    free(r->mei);
    memset(r, 0, sizeof *r);
}
