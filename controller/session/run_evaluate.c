/* run_evaluate.c: the evaluation phase of `inception run`: each target's
 * recorded responses to its MEI and controls with their intervals, the
 * comparisons and their medians (the record's evaluations, which the report
 * reads back), and, against the virtual rig, the ground truth: the
 * simulated cells' expected responses to the same stimuli (images or
 * sounds), the search's best included. */
#include "run_internal.h"
#include "stimulus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float median_of(const float *v, int n)
{
    metric_summary m;
    metrics_summarize(v, n, &m);
    return m.median;
}

int run_record_value(run_state *s, int64_t neuron, const char *kind, double value)
{
    record_evaluation e = {.neuron = neuron, .kind = kind, .mean = value, .ci_low = value,
                           .ci_high = value, .repeats = 0};
    return session_record_evaluation(s->rec, &e, s->err);
}

/* The closed-loop stimulus id of target j's `kind`, -1 if none. */
static int stimulus_of(const run_state *s, int neuron, int kind)
{
    /* many per target: the search phase's own results, the diverse set's (evaluate_diverse) */
    if (kind == STIMULUS_KIND_SEARCH || kind == STIMULUS_KIND_DIVERSE)
        return -1;
    for (int i = 0; i < s->images.count; i++)
        if (s->images.kind[i] == kind && s->images.neuron[i] == neuron)
            return i;
    return -1;
}

/* Each target's mean response to each closed-loop stimulus and its interval,
 * from the unflagged trials: stats_evaluation_interval, the call the report
 * makes over the same trials, so that record and report agree to the bit. */
_Static_assert(KIND_COUNT == STATS_EVALUATION_KINDS, "the kinds the intervals are seeded by");
static int evaluate_recorded(run_state *s, stats_interval *ci_out /* targets × KIND_COUNT */)
{
    double *v = malloc((size_t)(s->closed.count ? s->closed.count : 1) * sizeof *v);
    if (!v)
        return run_fail(s, "out of memory for %s", "the evaluation");
    for (int j = 0; j < s->n_targets; j++)
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            int neuron = s->targets[j], id = stimulus_of(s, neuron, kind), n = 0;
            stats_interval ci = {NAN, NAN, NAN}; /* no trials: no mean, recorded as such */
            ci_out[j * KIND_COUNT + kind] = ci;
            if (id < 0)
                continue;
            for (int r = 0; r < s->closed.count; r++)
                if (s->closed.image_id[r] == id)
                    v[n++] = s->closed.counts[(size_t)r * s->N + neuron];
            char why[CONTROLLER_ERR_SIZE];
            if (n && stats_evaluation_interval(v, n, neuron, kind, &ci, why)) {
                free(v);
                return run_fail(s, "evaluation: %s", why);
            }
            ci_out[j * KIND_COUNT + kind] = ci;
            record_evaluation e = {.neuron = neuron, .kind = stimulus_kind_name(kind), .mean = ci.mean,
                                   .ci_low = ci.low, .ci_high = ci.high, .repeats = n};
            if (session_record_evaluation(s->rec, &e, s->err)) {
                free(v);
                return 1;
            }
        }
    free(v);
    return 0;
}

/* mei.kinds diverse (docs/run.md): per target each image of its set
 * evaluated as the kinds are (mean, interval), with its mean over the
 * MEI's (over_mei), the share of the set at 0.8 of the MEI or more (the
 * offline ground truth's criterion, `inception mei --kind diverse`) and the
 * set's mean pairwise image correlation (mei_set_correlation, the diversity
 * term's own measure); neuron -1 the share over every target's images.
 * `truth`: the simulated cell's expected response per image (NULL: none),
 * recorded the same way as truth_diverse. The images are the table's, in
 * its order (the order they were recorded in). */
#define RUN_DIVERSE_HELD 0.8
static int diverse_one(run_state *s, int j, const char *kind, double mean, double mei,
                       stats_interval ci, int repeats, int id, int *held, int *rated)
{
    double over = isfinite(mean) && isfinite(mei) && mei > 0 ? mean / mei : NAN;
    *rated += isfinite(over);
    *held += isfinite(over) && over >= RUN_DIVERSE_HELD;
    record_evaluation e = {.neuron = s->targets[j], .kind = kind, .mean = mean,
                           .ci_low = ci.low, .ci_high = ci.high, .repeats = repeats,
                           .has_stimulus = 1, .stimulus_id = id, .over_mei = over};
    return session_record_evaluation(s->rec, &e, s->err);
}

/* Target j's set: `truth` NULL the recorded evaluation (ci: the kinds'
 * intervals), else the ground truth (truth: the kinds', image_truth: each
 * image's by id). counts: held and rated images, summed over the targets. */
static int diverse_target(run_state *s, int j, const stats_interval *ci, const float *truth,
                          const float *image_truth, double *v, float *set, float *grad,
                          int counts[2])
{
    int neuron = s->targets[j], size = 0, held = 0, rated = 0, cap = s->p->mei.diverse_count;
    double mei = truth ? truth[j * KIND_COUNT + STIMULUS_KIND_MEI]
                       : ci[j * KIND_COUNT + STIMULUS_KIND_MEI].mean;
    for (int id = 0; id < s->images.count; id++) {
        if (s->images.kind[id] != STIMULUS_KIND_DIVERSE || s->images.neuron[id] != neuron)
            continue;
        if (size == cap) { /* the synthesis makes exactly mei.diverse_count per target */
            snprintf(s->err, CONTROLLER_ERR_SIZE, "evaluation: neuron %d has more diverse "
                     "images than mei.diverse_count (%d)", neuron, cap);
            return 1;
        }
        memcpy(set + (size_t)size++ * s->P, run_image_at(s, id), (size_t)s->P * sizeof(float));
        int status;
        if (truth) {
            float t = image_truth[id];
            status = diverse_one(s, j, "truth_diverse", t, mei, (stats_interval){t, t, t}, 0,
                                 id, &held, &rated);
        } else {
            int n = 0;
            stats_interval c = {NAN, NAN, NAN}; /* no trials: no mean, recorded as such */
            for (int r = 0; r < s->closed.count; r++)
                if (s->closed.image_id[r] == id)
                    v[n++] = s->closed.counts[(size_t)r * s->N + neuron];
            char why[CONTROLLER_ERR_SIZE];
            if (n && stats_evaluation_interval(v, n, neuron, STIMULUS_KIND_DIVERSE, &c, why))
                return run_fail(s, "evaluation: %s", why);
            status = diverse_one(s, j, STIMULUS_KIND_NAME_DIVERSE, c.mean, mei, c, n, id, &held,
                                 &rated);
        }
        if (status)
            return 1;
    }
    if (!size)
        return 0;
    counts[0] += held;
    counts[1] += rated;
    if (truth)
        return rated && run_record_value(s, neuron, "truth_diverse_share_held",
                                         (double)held / rated);
    float corr = size >= 2 ? mei_set_correlation(set, size, s->P, grad) : NAN;
    return (rated && run_record_value(s, neuron, "diverse_share_held", (double)held / rated)) ||
           run_record_value(s, neuron, "diverse_set_corr", corr);
}

static int evaluate_diverse(run_state *s, const stats_interval *ci, const float *truth,
                            const float *image_truth)
{
    if (!(s->p->mei.kinds & PROTOCOL_KIND_DIVERSE))
        return 0;
    size_t S = (size_t)s->p->mei.diverse_count;
    double *v = malloc((size_t)(s->closed.count ? s->closed.count : 1) * sizeof *v);
    float *set = malloc(S * (size_t)s->P * sizeof *set);
    float *grad = malloc(S * (size_t)s->P * sizeof *grad);
    int status = !v || !set || !grad ? run_fail(s, "out of memory for %s", "the diverse sets") : 0;
    int counts[2] = {0}; /* held, rated */
    for (int j = 0; !status && j < s->n_targets; j++)
        status = diverse_target(s, j, ci, truth, image_truth, v, set, grad, counts);
    free(v);
    free(set);
    free(grad);
    return status || (counts[1] && run_record_value(s, -1, truth ? "truth_diverse_share_held"
                                                                 : "diverse_share_held",
                                                    (double)counts[0] / counts[1]));
}

/* Across targets, per comparison (session_comparison_at: the MEI against
 * each control, then the kinds of mei.kinds against theirs): the median of
 * kind / control and how many kinds beat it and fall below it beyond doubt
 * (stats_interval_verdict: the two intervals apart), all recorded;
 * verdict[j × SESSION_COMPARISONS + c] keeps each target's for the ground
 * truth's check. A ratio above 1 from noise alone is not a win: the counts
 * say how many comparisons were decided. */
static int evaluate_ratios(run_state *s, const stats_interval *ci, int *verdict)
{
    float *ratio = malloc((size_t)(s->n_targets ? s->n_targets : 1) * sizeof(float));
    if (!ratio)
        return run_fail(s, "out of memory for %s", "the ratios");
    s->res->median_ratio_recorded = NAN;
    int status = 0;
    for (int c = 0; c < SESSION_COMPARISONS && !status; c++) {
        const session_comparison *cmp = session_comparison_at(c);
        int n = 0, beat = 0, below = 0;
        for (int j = 0; j < s->n_targets; j++) {
            const stats_interval *m = &ci[j * KIND_COUNT + cmp->kind],
                                 *k = &ci[j * KIND_COUNT + cmp->control];
            verdict[j * SESSION_COMPARISONS + c] = 0;
            if (!(isfinite(k->mean) && isfinite(m->mean) && k->mean > 0))
                continue;
            ratio[n++] = (float)(m->mean / k->mean);
            int v = stats_interval_verdict(m, k);
            verdict[j * SESSION_COMPARISONS + c] = v;
            beat += v > 0;
            below += v < 0;
        }
        double median = n ? median_of(ratio, n) : NAN;
        if (c < RUN_CONTROLS) { /* the MEI against RUN_CONTROL_*, in that order */
            s->res->recorded_compared[c] = n;
            s->res->recorded_beat[c] = beat;
            s->res->recorded_below[c] = below;
            s->res->recorded_ratio[c] = median;
            if (n && cmp->control == STIMULUS_KIND_BEST_NATURAL)
                s->res->median_ratio_recorded = median;
        }
        if (!n)
            continue;
        char name[96];
        session_comparison_name(cmp, "median_ratio", name, sizeof name);
        status = run_record_value(s, -1, name, median);
        session_comparison_name(cmp, "targets_compared", name, sizeof name);
        status = status || run_record_value(s, -1, name, n);
        session_comparison_name(cmp, "targets_beats", name, sizeof name);
        status = status || run_record_value(s, -1, name, beat);
        session_comparison_name(cmp, "targets_below", name, sizeof name);
        status = status || run_record_value(s, -1, name, below);
    }
    free(ratio);
    return status;
}

/* The best natural image by the recording: per target its highest recorded
 * response to a training image, shown once at its own contrast (not a
 * closed-loop stimulus: the maximum of single noisy trials, biased upward,
 * so a control harder to beat, not easier), and the median of MEI mean /
 * that response. Recorded per target and as the median. */
static int evaluate_recorded_natural(run_state *s, const stats_interval *ci)
{
    const dataset *d = &s->data;
    float *ratio = malloc((size_t)(s->n_targets ? s->n_targets : 1) * sizeof(float));
    if (!ratio)
        return run_fail(s, "out of memory for %s", "the ratios");
    int n = 0, status = 0;
    for (int j = 0; j < s->n_targets && !status; j++) {
        int neuron = s->targets[j];
        float best = -INFINITY;
        for (int t = 0; t < d->trials; t++)
            if (d->tiers[t] == TIER_TRAIN && d->responses[(size_t)t * d->neurons + neuron] > best)
                best = d->responses[(size_t)t * d->neurons + neuron];
        if (!isfinite(best))
            continue;
        double mei = ci[j * KIND_COUNT + STIMULUS_KIND_MEI].mean;
        if (isfinite(mei) && best > 0)
            ratio[n++] = (float)(mei / best);
        status = run_record_value(s, neuron, "best_natural_recorded_training", best);
    }
    s->res->recorded_natural_training_count = n;
    s->res->recorded_ratio_natural_training = n ? median_of(ratio, n) : NAN;
    free(ratio);
    return status || (n && run_record_value(s, -1, "median_ratio_mei_over_best_natural_recorded_"
                                        "training", s->res->recorded_ratio_natural_training)) ||
           (n && run_record_value(s, -1, "targets_compared_best_natural_recorded_training", n));
}

/* The natural training images, gathered in chunks, to the ground truth. */
static int truth_add_naturals(run_state *s, stimulus_truth *t)
{
    int chunk = 128, k = 0;
    float *batch = malloc((size_t)chunk * (size_t)s->P * sizeof(float));
    if (!batch)
        return run_fail(s, "out of memory for %s", "the ground truth");
    for (int i = 0; i < s->images.count; i++) {
        if (s->images.kind[i] >= 0 || s->images.tier[i] != TIER_TRAIN)
            continue;
        memcpy(batch + (size_t)k * s->P, run_image_at(s, i), (size_t)s->P * sizeof(float));
        if (++k == chunk) {
            stimulus_truth_add_naturals(t, batch, k);
            k = 0;
        }
    }
    stimulus_truth_add_naturals(t, batch, k);
    free(batch);
    return 0;
}

/* The ground truth of the comparisons mei.kinds adds (the MEI's have their
 * summary below): per comparison, over the targets with both stimuli, how
 * many kinds the simulated cell answers more strongly than their control and
 * how many less. */
static int record_truth_comparisons(run_state *s, const float *truth)
{
    int status = 0;
    for (int c = RUN_CONTROLS; c < SESSION_COMPARISONS && !status; c++) {
        const session_comparison *cmp = session_comparison_at(c);
        int n = 0, above = 0, below = 0;
        for (int j = 0; j < s->n_targets; j++) {
            float a = truth[j * KIND_COUNT + cmp->kind], b = truth[j * KIND_COUNT + cmp->control];
            if (!isfinite(a) || !isfinite(b))
                continue;
            n++;
            above += a > b;
            below += a < b;
        }
        if (!n)
            continue;
        char name[96], what[96];
        session_comparison_name(cmp, "targets_compared", name, sizeof name);
        snprintf(what, sizeof what, "truth_%s", name);
        status = run_record_value(s, -1, what, n);
        session_comparison_name(cmp, "targets_beats", name, sizeof name);
        snprintf(what, sizeof what, "truth_%s", name);
        status = status || run_record_value(s, -1, what, above);
        session_comparison_name(cmp, "targets_below", name, sizeof name);
        snprintf(what, sizeof what, "truth_%s", name);
        status = status || run_record_value(s, -1, what, below);
    }
    return status;
}

/* Whether record_baseline_least records target row r's truly least
 * exciting natural training image (truth_least_natural_training). */
static int baseline_least_recorded(const run_state *s, const truth_row *r)
{
    return s->p->virtual_rig.baseline_rate > 0.0f && (s->p->mei.kinds & PROTOCOL_KIND_LEAST) &&
           r->baseline > 0.0f && isfinite(r->shown[STIMULUS_KIND_LEAST]);
}

/* The search's handed-over images in the ground truth, beside the MEI's and
 * the truly best natural training image's (at the budget) for the same
 * targets: per target `truth_search_best`, and neuron -1 the median
 * search / best natural and how many beat each (docs/search.md). A search
 * for the least exciting image (search.direction least) is set beside the
 * least exciting input (mei.kinds least; NaN where not made) and the truly
 * least exciting natural training image instead, counted below them: per
 * target `truth_least_natural_training` too (unless record_baseline_least
 * records it), neuron -1 the `..._least_natural_training` and `..._least`
 * summaries. */
static int record_search_truth(run_state *s, const stimulus_truth *t, const float *truth,
                               const float *search_truth)
{
    int least = s->p->search.direction == PROTOCOL_SEARCH_LEAST;
    int n = s->n_targets, scored = 0, beats_natural = 0, beats_mei = 0;
    float *ratio = malloc((size_t)(n ? n : 1) * sizeof *ratio);
    if (!ratio)
        return run_fail(s, "out of memory for %s", "the search's ground truth");
    int status = 0;
    for (int j = 0; j < n && !status; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        float model = truth[j * KIND_COUNT + (least ? STIMULUS_KIND_LEAST : STIMULUS_KIND_MEI)];
        float natural = least ? r->natural_least : r->natural, got = search_truth[j];
        status = run_record_value(s, r->neuron, "truth_search_best", got) ||
                 (least && !baseline_least_recorded(s, r) &&
                  run_record_value(s, r->neuron, "truth_least_natural_training", natural));
        beats_natural += least ? got < natural : got > natural;
        beats_mei += least ? got < model : got > model;
        if (natural > 0.0f)
            ratio[scored++] = got / natural;
    }
    double median = scored ? median_of(ratio, scored) : NAN;
    free(ratio);
    s->res->truth_search_least = least;
    s->res->truth_search_scored = n;
    s->res->truth_search_beats_natural = beats_natural;
    s->res->truth_search_beats_mei = beats_mei;
    s->res->median_ratio_truth_search = median;
    if (least)
        return status ||
               run_record_value(s, -1, "truth_median_ratio_search_over_least_natural_training",
                                median) ||
               run_record_value(s, -1, "truth_targets_search_below_least_natural_training",
                                beats_natural) ||
               run_record_value(s, -1, "truth_targets_search_below_least", beats_mei);
    return status ||
           run_record_value(s, -1, "truth_median_ratio_search_over_best_natural", median) ||
           run_record_value(s, -1, "truth_targets_search_beats_best_natural", beats_natural) ||
           run_record_value(s, -1, "truth_targets_search_beats_mei", beats_mei);
}

/* Issue 16's criterion in the session, the one `inception mei --kind least
 * --ground-truth` counts (stimulus_truth_summarize): of the targets whose
 * simulated cell has a baseline rate and whose least exciting input was
 * made, how many that input drives below the truly least exciting natural
 * training image at the budget. Recorded only with a baseline population
 * (virtual_rig.baseline_rate), so a session without one is unchanged: per
 * target that image's rate, neuron -1 the count, of how many, the median. */
static int record_baseline_least(run_state *s, const stimulus_truth *t, const truth_summary *all)
{
    if (!(s->p->virtual_rig.baseline_rate > 0.0f) || !(s->p->mei.kinds & PROTOCOL_KIND_LEAST))
        return 0;
    for (int j = 0; j < s->n_targets; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        if (baseline_least_recorded(s, r) &&
            run_record_value(s, r->neuron, "truth_least_natural_training", r->natural_least))
            return 1;
    }
    s->res->truth_baseline_scored = all->with_baseline;
    s->res->truth_baseline_least_below = all->baseline_below_natural;
    s->res->median_ratio_truth_baseline_least = all->baseline_least_over_natural;
    return run_record_value(s, -1, "truth_targets_baseline_scored", all->with_baseline) ||
           run_record_value(s, -1, "truth_targets_baseline_least_below_least_natural_training",
                            all->baseline_below_natural) ||
           run_record_value(s, -1, "truth_median_ratio_baseline_least_over_least_natural_training",
                            all->baseline_least_over_natural);
}

/* The simulated population's expected response to each MEI and control, to
 * the neuron's truly best natural training image and to its known optimum,
 * all at the same budget (stimulus_truth, shared with `inception mei`). */
static int evaluate_truth(run_state *s, const int *verdict)
{
    const protocol_virtual_rig *v = &s->p->virtual_rig;
    sim_config c;
    sim_config_default(&c);
    c.neurons = v->neurons;
    c.height = s->H;
    c.width = s->W;
    c.fraction_simple = v->fraction_simple;
    c.fraction_complex = v->fraction_complex;
    c.fraction_conjunction = v->fraction_conjunction;
    c.fraction_energy_conjunction = v->fraction_energy_conjunction;
    c.fraction_end_stopped = v->fraction_end_stopped;
    c.fraction_surround = v->fraction_surround;
    c.fraction_curvature = v->fraction_curvature;
    c.fraction_texture = v->fraction_texture;
    /* the rig's (virtual-rig --baseline-rate): no rate, no share */
    c.baseline_rate = v->baseline_rate;
    c.baseline_share = v->baseline_rate > 0.0f ? v->baseline_share : 0.0f;
    c.seed = v->seed;
    stimulus_truth *t;
    char err[STIMULUS_ERR_SIZE];
    if (stimulus_truth_create(&t, &c, s->targets, s->n_targets, &s->budget, err))
        return run_fail(s, "ground truth: %s", err);
    int status = 1;
    float *truth = malloc((size_t)(s->n_targets ? s->n_targets : 1) * KIND_COUNT * sizeof *truth);
    float *search_truth = malloc((size_t)(s->n_targets ? s->n_targets : 1) * sizeof *search_truth);
    float *image_truth = malloc((size_t)(s->images.count ? s->images.count : 1) *
                                sizeof *image_truth);
    if (!truth || !search_truth || !image_truth) {
        run_fail(s, "out of memory for %s", "the ground truth");
        goto done;
    }
    if (truth_add_naturals(s, t))
        goto done;
    for (int j = 0; j < s->n_targets; j++)
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            int id = stimulus_of(s, s->targets[j], kind);
            /* stimulus_truth keeps the kinds below TRUTH_KINDS; the others only computed */
            truth[j * KIND_COUNT + kind] =
                id >= 0 ? stimulus_truth_score(t, j, kind < TRUTH_KINDS ? kind : -1,
                                               run_image_at(s, id))
                        : NAN;
        }
    for (int j = 0; s->search_best && j < s->n_targets; j++)
        search_truth[j] = stimulus_truth_score(t, j, -1, run_image_at(s, s->search_best[j]));
    for (int id = 0; id < s->images.count; id++) { /* the diverse sets' images, only computed */
        image_truth[id] = NAN;
        for (int j = 0; s->images.kind[id] == STIMULUS_KIND_DIVERSE && j < s->n_targets; j++)
            if (s->images.neuron[id] == s->targets[j])
                image_truth[id] = stimulus_truth_score(t, j, -1, run_image_at(s, id));
    }
    if (stimulus_truth_finish(t, err)) {
        run_fail(s, "ground truth: %s", err);
        goto done;
    }
    if (s->search_best && record_search_truth(s, t, truth, search_truth))
        goto done;
    for (int j = 0; j < s->n_targets; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            char name[64];
            snprintf(name, sizeof name, "truth_%s", stimulus_kind_name(kind));
            if (isfinite(truth[j * KIND_COUNT + kind]) &&
                run_record_value(s, r->neuron, name, truth[j * KIND_COUNT + kind]))
                goto done;
        }
        if (run_record_value(s, r->neuron, "truth_best_natural_training", r->natural) ||
            run_record_value(s, r->neuron, "truth_best_natural_training_own_contrast",
                         r->natural_raw) ||
            run_record_value(s, r->neuron, "truth_optimum", r->optimum))
            goto done;
    }
    /* The recording and the truth in one direction: a control the simulated
     * cell answers at least as strongly as the MEI must never have been
     * reported beaten. Counted, recorded and printed, never hidden. */
    int disagrees = 0;
    for (int j = 0; j < s->n_targets; j++)
        for (int c = 0; c < SESSION_COMPARISONS; c++) {
            const session_comparison *cmp = session_comparison_at(c);
            disagrees += verdict[j * SESSION_COMPARISONS + c] > 0 &&
                         !(truth[j * KIND_COUNT + cmp->kind] >
                           truth[j * KIND_COUNT + cmp->control]);
        }
    s->res->truth_disagrees = disagrees;
    truth_summary all;
    if (stimulus_truth_summarize(t, TRUTH_ALL_TYPES, &all)) {
        run_fail(s, "out of memory for %s", "the ground truth");
        goto done;
    }
    s->res->median_ratio_truth = all.over_natural;
    s->res->median_ratio_truth_own_contrast = all.over_natural_raw;
    s->res->truth_beats_gabor = all.beats_gabor;
    s->res->truth_beats_rf = all.beats_rf;
    s->res->truth_scored = all.with_gabor < all.with_rf ? all.with_gabor : all.with_rf;
    /* Issue 3's criterion, in the record beside the median: how many targets'
     * MEIs drive their cells more than the matched Gabor and the RF map. */
    status = run_record_value(s, -1, "truth_median_ratio_mei_over_best_natural",
                          s->res->median_ratio_truth) ||
             run_record_value(s, -1, "truth_targets_mei_beats_gabor", all.beats_gabor) ||
             run_record_value(s, -1, "truth_targets_mei_beats_rf", all.beats_rf) ||
             run_record_value(s, -1, "truth_targets_scored", s->res->truth_scored) ||
             run_record_value(s, -1, "truth_median_ratio_mei_over_best_natural_own_contrast",
                          all.over_natural_raw) ||
             run_record_value(s, -1, "truth_recorded_beaten_disagrees", disagrees) ||
             record_truth_comparisons(s, truth) || record_baseline_least(s, t, &all) ||
             evaluate_diverse(s, NULL, truth, image_truth) || run_patterns_evaluate(s, t);
done:
    free(truth);
    free(search_truth);
    free(image_truth);
    stimulus_truth_destroy(t);
    return status;
}

/* Audio: the simulated auditory population (the rig's: session_sound_config)
 * answers each MEI, its best natural clip as shown, and the cell's truly best
 * natural training clip, all at sounds.rms_dbfs; the median MEI / truly best
 * natural ratio over the targets is the session's ground-truth figure. */
static int evaluate_truth_audio(run_state *s, const int *verdict)
{
    auditory_config c;
    session_sound_config(s->p, &c);
    auditory_population *pop;
    char err[MODEL_ERR_SIZE];
    if (auditory_population_create(&pop, &c, err))
        return run_fail(s, "ground truth: %s", err);
    int N = c.neurons, n_t = s->n_targets;
    float *rates = malloc((size_t)N * sizeof(float));
    float *natural = malloc((size_t)N * sizeof(float)); /* best over training clips */
    float *ratio = malloc((size_t)(n_t ? n_t : 1) * sizeof(float));
    int status = 1, scored = 0, beats = 0, beats_strf = 0, beats_tone = 0, disagrees = 0;
    if (!rates || !natural || !ratio) {
        run_fail(s, "out of memory for %s", "the ground truth");
        goto done;
    }
    for (int n = 0; n < N; n++)
        natural[n] = -INFINITY;
    for (int i = 0; i < s->images.count; i++) {
        if (s->images.kind[i] >= 0 || s->images.tier[i] != TIER_TRAIN)
            continue;
        auditory_population_rates_image(pop, run_image_at(s, i), 1, rates);
        for (int n = 0; n < N; n++)
            natural[n] = fmaxf(natural[n], rates[n]);
    }
    for (int j = 0; j < n_t; j++) {
        int n = s->targets[j];
        double shown[KIND_COUNT];
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            int id = stimulus_of(s, n, kind);
            shown[kind] = NAN;
            if (id < 0)
                continue;
            auditory_population_rates_image(pop, run_image_at(s, id), 1, rates);
            shown[kind] = rates[n];
            char name[64];
            snprintf(name, sizeof name, "truth_%s", stimulus_kind_name(kind));
            if (run_record_value(s, n, name, shown[kind]))
                goto done;
        }
        if (run_record_value(s, n, "truth_best_natural_training", natural[n]))
            goto done;
        if (isfinite(shown[STIMULUS_KIND_MEI]) && natural[n] > 0) {
            ratio[scored++] = (float)(shown[STIMULUS_KIND_MEI] / natural[n]);
            beats += shown[STIMULUS_KIND_MEI] > natural[n];
        }
        beats_strf += shown[STIMULUS_KIND_MEI] > shown[STIMULUS_KIND_RF]; /* the STRF's optimum (NaN: none) */
        beats_tone += shown[STIMULUS_KIND_MEI] > shown[STIMULUS_KIND_TONE]; /* NaN: no tone */
        for (int c = 0; c < SESSION_COMPARISONS; c++) {
            const session_comparison *cmp = session_comparison_at(c);
            disagrees += verdict[j * SESSION_COMPARISONS + c] > 0 &&
                         !(shown[cmp->kind] > shown[cmp->control]);
        }
    }
    s->res->truth_disagrees = disagrees;
    s->res->median_ratio_truth = scored ? median_of(ratio, scored) : NAN;
    s->res->truth_scored = scored;
    s->res->truth_beats_best_natural = beats;
    s->res->truth_beats_rf = stimulus_of(s, s->targets[0], STIMULUS_KIND_RF) >= 0 ? beats_strf : -1;
    s->res->truth_beats_tone =
        stimulus_of(s, s->targets[0], STIMULUS_KIND_TONE) >= 0 ? beats_tone : -1;
    status = run_record_value(s, -1, "truth_median_ratio_mei_over_best_natural",
                          s->res->median_ratio_truth) ||
             run_record_value(s, -1, "truth_targets_mei_beats_best_natural", beats) ||
             (s->res->truth_beats_rf >= 0 &&
              run_record_value(s, -1, "truth_targets_mei_beats_rf", beats_strf)) ||
             (s->res->truth_beats_tone >= 0 &&
              run_record_value(s, -1, "truth_targets_mei_beats_tone", beats_tone)) ||
             run_record_value(s, -1, "truth_targets_scored", scored) ||
             run_record_value(s, -1, "truth_recorded_beaten_disagrees", disagrees);
done:
    free(rates);
    free(natural);
    free(ratio);
    auditory_population_destroy(pop);
    return status;
}

/* An external acquisition system records real neurons: there is no ground
 * truth to compare with, only the recorded responses. */
static int note_no_truth(run_state *s)
{
    const char *note = "no ground-truth evaluation: the stream comes from an external "
                       "acquisition system (virtual_rig.enabled false); the MEIs are evaluated "
                       "on the recorded responses only";
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

int run_phase_evaluation(run_state *s)
{
    size_t n = (size_t)(s->n_targets ? s->n_targets : 1);
    stats_interval *ci = malloc(n * KIND_COUNT * sizeof *ci);
    int *verdict = malloc(n * SESSION_COMPARISONS * sizeof *verdict);
    if (!ci || !verdict) {
        free(ci);
        free(verdict);
        return run_fail(s, "out of memory for %s", "the evaluation");
    }
    int status = run_phase(s, "evaluation", "begin") || evaluate_recorded(s, ci) ||
                 evaluate_diverse(s, ci, NULL, NULL) || run_patterns_evaluate(s, NULL) ||
                 evaluate_ratios(s, ci, verdict) || evaluate_recorded_natural(s, ci) ||
                 (!s->p->virtual_rig.enabled ? note_no_truth(s)
                  : s->audio                 ? evaluate_truth_audio(s, verdict)
                                             : evaluate_truth(s, verdict)) ||
                 run_phase(s, "evaluation", "end");
    free(ci);
    free(verdict);
    return status;
}
