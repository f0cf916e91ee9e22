/* mei_batch_truth.c: a batch's stimuli shown to the simulated population it
 * was fitted to (mei_batch.h, mei_batch_truth_compute): the rows and
 * summaries of stimulus_truth, the family table of docs/ground-truth.md and
 * the diverse and region kinds' own comparisons. */
#include "mei_batch_internal.h"

#include <math.h>
#include <stdlib.h>

/* Median of the finite values among v[0..n), NaN if none (v is reordered). */
static float finite_median(float *v, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    metric_summary s;
    if (!m)
        return NAN;
    metrics_summarize(v, m, &s);
    return s.median;
}

static float quotient(float a, float b) { return isfinite(a) && isfinite(b) && b > 0 ? a / b : NAN; }

/* The evaluation table of docs/ground-truth.md, one row per family present
 * (and one over the held-out families, one over the rest): medians of the
 * MEI's true response over the truly best natural training image at the
 * budget and at its own contrast, the share of targets whose MEI beats the
 * former, the MEI over the cell's optimum, and the model's prediction for its
 * MEI over the cell's true response to it. */
static int family_table(mei_batch *b)
{
    const stimulus_truth *t = b->truth.t;
    int n = stimulus_truth_count(t);
    float *v = malloc((size_t)(n > 0 ? n : 1) * 5 * sizeof(float));
    if (!v)
        return 1;
    /* rows: each type, then the held-out ones together, then the tuning ones */
    for (int row = 0; row < SIM_CELL_TYPES + 2; row++) {
        int m = 0, above = 0;
        float *nat = v, *own = v + n, *opt = v + 2 * n, *pred = v + 3 * n;
        for (int j = 0; j < n; j++) {
            const truth_row *g = stimulus_truth_row(t, j);
            int held = sim_family_held_out(g->type);
            if (row < SIM_CELL_TYPES ? g->type != row : held != (row == SIM_CELL_TYPES))
                continue;
            float mei = g->shown[STIMULUS_KIND_MEI];
            nat[m] = quotient(mei, g->natural);
            own[m] = quotient(mei, g->natural_raw);
            opt[m] = quotient(mei, g->optimum);
            pred[m] = quotient(b->predicted[(size_t)j * b->K + MEI_BATCH_SLOT_MEI], mei);
            above += isfinite(nat[m]) && nat[m] > 1.0f;
            m++;
        }
        if (!m)
            continue;
        mei_batch_family *f = &b->truth.family[b->truth.families++];
        f->name = row < SIM_CELL_TYPES ? sim_cell_type_name(row)
                : row == SIM_CELL_TYPES ? "all held-out" : "all tuning";
        f->split = row < SIM_CELL_TYPES ? (sim_family_held_out(row) ? "held-out" : "tuning") : "";
        f->count = m;
        f->over_natural = finite_median(nat, m);
        f->over_own = finite_median(own, m);
        f->above_natural = (float)above / m;
        f->over_optimum = finite_median(opt, m);
        f->predicted_over_true = finite_median(pred, m);
    }
    free(v);
    return 0;
}

/* --kind diverse: each set's lowest true response against the MEI's, and
 * how much the set's images correlate against the MEI's random starts. */
static int diverse_truth(mei_batch *b)
{
    mei_batch_truth *d = &b->truth;
    int S = b->diverse;
    d->lowest = malloc((size_t)b->count * sizeof(float));
    d->set_corr = malloc((size_t)b->count * sizeof(float));
    d->start_corr = malloc((size_t)b->count * sizeof(float));
    if (!d->lowest || !d->set_corr || !d->start_corr)
        return 1;
    for (int j = 0; j < b->count; j++) {
        const truth_row *g = stimulus_truth_row(d->t, j);
        float lowest = INFINITY;
        for (int s = 0; s < S; s++)
            lowest = fminf(lowest, stimulus_truth_score(d->t, j, -1,
                                                        mei_batch_stimulus(b, j, MEI_BATCH_SLOTS + s)));
        d->lowest[j] = lowest;
        d->held += lowest >= 0.8f * g->shown[STIMULUS_KIND_MEI];
        d->set_corr[j] = b->diverse_results[(size_t)j * S].start_agreement;
        d->start_corr[j] = b->results[j].start_agreement;
    }
    metrics_summarize(d->set_corr, b->count, &d->set_summary);
    metrics_summarize(d->start_corr, b->count, &d->start_summary);
    return 0;
}

/* --kind masked|surround: the masked MEI's true response against the MEI's
 * and the share of the cell's true RF its mask covers; for surround the
 * surrounds' true responses against the centre alone. */
static int region_truth(mei_batch *b)
{
    mei_batch_truth *d = &b->truth;
    const sim_population *pop = stimulus_truth_population(d->t);
    size_t n = (size_t)b->count;
    float *mask = malloc((size_t)b->P * sizeof(float));
    d->masked = malloc(n * sizeof(float));
    d->cover = malloc(n * sizeof(float));
    d->sigma = malloc(n * sizeof(float));
    d->most = calloc(n, sizeof(float));
    d->least = calloc(n, sizeof(float));
    d->possible = calloc(n, sizeof(float));
    float *gains = malloc(n * sizeof(float)); /* possible / centre alone, surround cells */
    int status = !mask || !d->masked || !d->cover || !d->sigma || !d->most || !d->least ||
                 !d->possible || !gains;
    int n_gains = 0;
    for (int j = 0; j < b->count && !status; j++) {
        const truth_row *g = stimulus_truth_row(d->t, j);
        mei_mask_render(&b->masks[j].mask, b->H, b->W, mask);
        const sim_cell *cell = sim_population_cell(pop, g->neuron);
        d->cover[j] = mei_mask_rf_coverage(cell, mask, b->H, b->W);
        d->sigma[j] = cell->sigma;
        float mei = g->shown[STIMULUS_KIND_MEI];
        float masked = stimulus_truth_score(d->t, j, -1, mei_batch_stimulus(b, j, MEI_BATCH_SLOTS));
        d->masked[j] = masked;
        d->kept += masked >= 0.9f * mei;
        d->covered += d->cover[j] >= 0.8f;
        if (b->region != MEI_BATCH_SURROUND)
            continue;
        d->most[j] = stimulus_truth_score(d->t, j, -1, mei_batch_stimulus(b, j, MEI_BATCH_SLOTS + 1));
        d->least[j] = stimulus_truth_score(d->t, j, -1, mei_batch_stimulus(b, j, MEI_BATCH_SLOTS + 2));
        d->possible[j] = stimulus_true_best_surround(
            pop, g->neuron, b->H, b->W, mei_batch_stimulus(b, j, MEI_BATCH_SLOT_MEI), mask, NULL,
            &b->budget, 600, model_rng_stream(b->o.seed, (uint64_t)g->neuron));
        if (!isfinite(d->possible[j])) { /* out of memory */
            status = 1;
            break;
        }
        if (g->type == SIM_SURROUND) {
            d->suppressed++;
            d->raised += d->most[j] > masked;
            d->lowered += d->least[j] < masked;
            d->headroom += d->possible[j] > 1.01f * masked;
            gains[n_gains++] = d->possible[j] / masked;
        }
    }
    if (!status) {
        metrics_summarize(d->cover, b->count, &d->cover_summary);
        metric_summary m;
        metrics_summarize(gains, n_gains, &m);
        d->possible_median = m.median;
    }
    free(mask);
    free(gains);
    return status;
}

/* The summaries the tables print: over all neurons, the Gabor types and the
 * rest, and per type. */
static int summarize(mei_batch *b)
{
    mei_batch_truth *d = &b->truth;
    if (stimulus_truth_summarize(d->t, TRUTH_ALL_TYPES, &d->all))
        return 1;
    if (b->o.least)
        return 0;
    if (stimulus_truth_summarize(d->t, TRUTH_GABOR_TYPES, &d->gabor_types) ||
        stimulus_truth_summarize(d->t, ~TRUTH_GABOR_TYPES, &d->other))
        return 1;
    for (int type = 0; type < SIM_CELL_TYPES; type++)
        if (stimulus_truth_summarize(d->t, TRUTH_TYPE(type), &d->by_type[type]))
            return 1;
    return family_table(b) || (b->diverse && diverse_truth(b)) || (b->region && region_truth(b));
}

/* Every stimulus of the batch and the training images shown to the
 * simulated population. */
int mei_batch_truth_compute(mei_batch *b, const sim_config *c, char *err)
{
    if (b->c.kind == MEI_BATCH_PATTERN)
        return mei_batch_pattern_truth(b, c, err);
    if (c->neurons != b->N || c->height != b->H || c->width != b->W)
        return controller_fail(err, "--ground-truth: population.npy (%d neurons, %d×%d) does not "
                                    "match the model (%d neurons, %d×%d)", c->neurons, c->height,
                               c->width, b->N, b->H, b->W);
    if (stimulus_truth_create(&b->truth.t, c, b->neurons, b->count, &b->budget, err))
        return 1;
    stimulus_truth *t = b->truth.t;
    b->truth.with_controls = b->present[MEI_BATCH_SLOT_GABOR];
    stimulus_truth_add_naturals(t, b->train_images, b->n_train);
    for (int j = 0; b->o.least && j < b->count; j++) {
        stimulus_truth_score(t, j, STIMULUS_KIND_LEAST, mei_batch_stimulus(b, j, MEI_BATCH_SLOT_MEI));
        if (b->present[(size_t)j * b->K + MEI_BATCH_SLOT_NAT_PRED])
            stimulus_truth_score(t, j, STIMULUS_KIND_LEAST_NATURAL,
                                 mei_batch_stimulus(b, j, MEI_BATCH_SLOT_NAT_PRED));
    }
    for (int j = 0; !b->o.least && j < b->count; j++) {
        stimulus_truth_score(t, j, STIMULUS_KIND_MEI, mei_batch_stimulus(b, j, MEI_BATCH_SLOT_MEI));
        if (!b->truth.with_controls)
            continue;
        stimulus_truth_score(t, j, STIMULUS_KIND_BEST_NATURAL,
                             mei_batch_stimulus(b, j, MEI_BATCH_SLOT_NAT_PRED));
        stimulus_truth_score(t, j, STIMULUS_KIND_GABOR, mei_batch_stimulus(b, j, MEI_BATCH_SLOT_GABOR));
        stimulus_truth_score(t, j, STIMULUS_KIND_RF, mei_batch_stimulus(b, j, MEI_BATCH_SLOT_RF));
    }
    if (stimulus_truth_finish(t, err))
        return 1;
    return summarize(b) ? controller_fail(err, "out of memory for the ground truth") : 0;
}
