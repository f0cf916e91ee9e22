/* run_pattern.c: mei.kinds pattern in `inception run` (docs/run.md):
 * population control (Bashivan, Kar & DiCarlo 2019) with the session's
 * targets, in order, as one group. The synthesis (session_fit.c,
 * kinds_pattern) makes per target pattern an image and its natural control;
 * here they are recorded (each stimulus record carries its pattern's index
 * and target, so a resume takes them from the record, never re-drawn) and
 * evaluated: the similarity (pattern_similarity, the offline measure: the
 * Pearson correlation across the group) of the group's mean counts over an
 * image's unflagged closed-loop trials to its target, with a bootstrap
 * interval over those trials. */
#include "run_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void run_patterns_free(run_patterns *p)
{
    free(p->ids);
    free(p->target);
    memset(p, 0, sizeof *p);
}

int run_patterns_keep(run_state *s, int64_t pattern, int control, int64_t id,
                      const float *target, int k)
{
    run_patterns *p = &s->patterns;
    if (pattern < 0 || pattern >= RUN_PATTERNS_MAX || k < 2 || (p->k && k != p->k))
        return run_fail(s, "a target-pattern stimulus has a malformed pattern or target (%s)",
                        "mei.kinds pattern");
    if (pattern >= p->count) {
        int n = (int)pattern + 1;
        int64_t *ids = realloc(p->ids, (size_t)n * 2 * sizeof *ids);
        if (ids)
            p->ids = ids;
        float *t = realloc(p->target, (size_t)n * (size_t)k * sizeof *t);
        if (t)
            p->target = t;
        if (!ids || !t)
            return run_fail(s, "out of memory for %s", "the target patterns");
        for (int q = p->count; q < n; q++)
            p->ids[2 * q] = p->ids[2 * q + 1] = -1;
        p->count = n;
    }
    p->k = k;
    float *mine = p->target + (size_t)pattern * k;
    int first = p->ids[2 * pattern] < 0 && p->ids[2 * pattern + 1] < 0;
    if (first) /* the pattern's first stimulus brings its target; the other must agree */
        memcpy(mine, target, (size_t)k * sizeof(float));
    if (p->ids[2 * pattern + control] >= 0 ||
        memcmp(mine, target, (size_t)k * sizeof(float)))
        return run_fail(s, "two stimuli claim the same target pattern, or an image and its "
                        "control disagree on the target (%s)", "mei.kinds pattern");
    p->ids[2 * pattern + control] = id;
    return 0;
}

int run_patterns_add_images(run_state *s, int64_t *ids, int *count)
{
    const session_fit_result *r = &s->fr;
    int k = s->n_targets;
    for (int q = 0; q < r->n_patterns; q++)
        for (int c = 0; c < 2; c++) {
            int kind = c ? STIMULUS_KIND_PATTERN_NATURAL : STIMULUS_KIND_PATTERN, id;
            const float *target = r->pattern_targets + (size_t)q * k;
            if (run_image_add(s, r->pattern_stimuli + (2 * (size_t)q + c) * s->P, NULL, kind, -1,
                              TIER_NONE, &id))
                return 1;
            record_stimulus rs = {.stimulus_id = id, .neuron = -1,
                                  .kind = stimulus_kind_name(kind), .height = s->H,
                                  .width = s->W, .pixels = run_image_at(s, id),
                                  .predicted = r->pattern_predicted[2 * q + c],
                                  .pattern_target = target, .pattern_k = k, .pattern = q};
            if (session_record_stimulus(s->rec, &rs, s->err) ||
                run_patterns_keep(s, q, c, id, target, k))
                return 1;
            ids[(*count)++] = id;
        }
    return 0;
}

/* One stimulus' unflagged closed-loop trials (s->closed holds only those):
 * their rows in s->closed, and the similarity of the group's mean counts
 * over any selection of them (`rows`: indices into trial) to the target. */
typedef struct pattern_trials {
    const run_state *s;
    int *trial; /* rows of s->closed */
    int n;
    const float *target;
    const int *group; /* 0..k-1: rates[] is the group's */
    float *rates;
} pattern_trials;

static double similarity_of(const int *rows, int n, void *ctx)
{
    const pattern_trials *t = ctx;
    const run_state *s = t->s;
    int k = s->n_targets;
    for (int i = 0; i < k; i++) {
        double sum = 0.0; /* over the rows in their order, then / n (bootstrap_reference.py) */
        for (int r = 0; r < n; r++)
            sum += s->closed.counts[(size_t)t->trial[rows[r]] * s->N + s->targets[i]];
        t->rates[i] = (float)(sum / n);
    }
    return pattern_similarity(t->rates, t->group, k, t->target, NULL);
}

/* The recorded similarity of stimulus `id` with its percentile bootstrap
 * interval over its trials (stats_bootstrap, the kinds' resamples and level,
 * seed 2⁶¹ + id); NaN with no unflagged trial. */
static int recorded_similarity(run_state *s, int64_t id, pattern_trials *t, stats_interval *c)
{
    t->n = 0;
    for (int r = 0; r < s->closed.count; r++)
        if (s->closed.image_id[r] == id)
            t->trial[t->n++] = r;
    *c = (stats_interval){NAN, NAN, NAN};
    if (!t->n)
        return 0;
    int *all = malloc((size_t)t->n * sizeof *all);
    if (!all)
        return run_fail(s, "out of memory for %s", "the target patterns");
    for (int i = 0; i < t->n; i++)
        all[i] = i;
    c->mean = similarity_of(all, t->n, t);
    free(all);
    char why[CONTROLLER_ERR_SIZE];
    if (stats_bootstrap(t->n, REPORT_BOOTSTRAP_RESAMPLES, REPORT_CONFIDENCE,
                        (1ull << 61) + (uint64_t)id, similarity_of, t, &c->low, &c->high, why))
        return run_fail(s, "evaluation: target pattern: %s", why);
    return 0;
}

static int record_similarity(run_state *s, const char *kind, int64_t id, stats_interval c,
                             int repeats)
{
    record_evaluation e = {.neuron = -1, .kind = kind, .mean = c.mean, .ci_low = c.low,
                           .ci_high = c.high, .repeats = repeats, .has_stimulus = 1,
                           .stimulus_id = id, .over_mei = NAN};
    return session_record_evaluation(s->rec, &e, s->err);
}

int run_patterns_evaluate(run_state *s, stimulus_truth *truth)
{
    run_patterns *p = &s->patterns;
    int k = s->n_targets;
    if (!(s->p->mei.kinds & PROTOCOL_KIND_PATTERN) || !p->count)
        return 0;
    if (p->k != k)
        return run_fail(s, "evaluation: the target patterns are not over the session's "
                        "targets (%s)", "mei.kinds pattern");
    int *group = malloc((size_t)k * sizeof *group);
    float *rates = malloc((size_t)k * sizeof *rates);
    int *trial = malloc((size_t)(s->closed.count ? s->closed.count : 1) * sizeof *trial);
    if (!group || !rates || !trial) {
        free(group), free(rates), free(trial);
        return run_fail(s, "out of memory for %s", "the target patterns");
    }
    for (int i = 0; i < k; i++)
        group[i] = i; /* rates below are the group's, in the targets' order */
    int status = 0, closer = 0, compared = 0;
    for (int q = 0; !status && q < p->count; q++) {
        float similarity[2];
        for (int c = 0; !status && c < 2; c++) {
            int64_t id = p->ids[2 * q + c];
            pattern_trials t = {s, trial, 0, p->target + (size_t)q * k, group, rates};
            stats_interval ci;
            if (id < 0) {
                status = run_fail(s, "evaluation: a target pattern lacks its image or its "
                                  "control (%s)", "mei.kinds pattern");
                break;
            }
            if (truth) {
                for (int i = 0; i < k; i++)
                    rates[i] = stimulus_truth_score(truth, i, -1, run_image_at(s, id));
                float v = pattern_similarity(rates, group, k, t.target, NULL);
                ci = (stats_interval){v, v, v};
            } else if (recorded_similarity(s, id, &t, &ci)) {
                status = 1;
                break;
            }
            similarity[c] = (float)ci.mean; /* NaN: no unflagged trial */
            const char *kind = c ? STIMULUS_KIND_NAME_PATTERN_NATURAL : STIMULUS_KIND_NAME_PATTERN;
            char name[64];
            snprintf(name, sizeof name, "truth_%s", kind);
            status = record_similarity(s, truth ? name : kind, id, ci, t.n);
        }
        if (!status && isfinite(similarity[0]) && isfinite(similarity[1])) {
            compared++;
            closer += similarity[0] > similarity[1];
        }
    }
    free(group), free(rates), free(trial);
    return status ||
           run_record_value(s, -1, truth ? "truth_patterns_compared" : "patterns_compared",
                            compared) ||
           run_record_value(s, -1, truth ? "truth_patterns_closer" : "patterns_closer", closer);
}
