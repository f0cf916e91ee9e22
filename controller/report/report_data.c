/* report_data.c: the session record read into the report's session_data.
 * Two passes over the record: the first gathers everything but trials'
 * counts (schedule, stimuli, timing, stream bins, alignment, model metrics,
 * the learning curve, the final model's bytes, the flags trials gained
 * later), the second picks each unflagged trial's onset for the PSTH and
 * each closed-loop trial's target-neuron count, so that trials need not
 * follow their schedule entries and natural-image trials are never held in
 * memory. Only the test predictions read the natural trials, through
 * session_dataset_load, as the fit does (report_final_model.c). The search
 * phase's records are report_data_search.c's, the display's, stream's and
 * alignment's report_data_timing.c's. */
#include "report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>

/* A closed-loop kind by name; -1 for any other kind or text. */
static int kind_index(const char *name)
{
    int k = stimulus_kind_parse(name);
    for (int i = 0; k >= 0 && i < SESSION_RUN_KINDS; i++)
        if (session_run_kind_at(i) == k)
            return k;
    return -1;
}

/* A kind's place in the order a run shows the kinds (session_kinds.c);
 * SESSION_RUN_KINDS for any other kind or text. */
static int kind_rank(const char *name)
{
    int k = stimulus_kind_parse(name), i = 0;
    while (i < SESSION_RUN_KINDS && session_run_kind_at(i) != k)
        i++;
    return i;
}

int report_compare_stimulus(const void *a, const void *b)
{
    const stimulus_image *x = a, *y = b;
    if (x->neuron != y->neuron)
        return (x->neuron > y->neuron) - (x->neuron < y->neuron);
    int kx = kind_rank(x->kind), ky = kind_rank(y->kind);
    return kx != ky ? kx - ky : (x->id > y->id) - (x->id < y->id);
}

/* ---- Growing arrays ---- */

int report_series_push(series *s, double value)
{
    if (grow_array(&s->v, &s->capacity, (size_t)s->n + 1, sizeof *s->v, 64))
        return 1;
    s->v[s->n++] = value;
    return 0;
}

void report_session_data_free(session_data *d)
{
    free(d->flip_ns.v), free(d->flip_missed.v), free(d->flip_frame.v);
    free(d->stream_received_ns.v), free(d->stream_timestamp_ms.v), free(d->stream_lost.v);
    free(d->align_time_ns.v), free(d->align_rms_ns.v), free(d->align_max_ns.v);
    free(d->align_slope.v);
    free(d->bin_start_ns.v), free(d->bin_width_ns.v), free(d->bin_mean.v);
    free(d->onset_acq_ns.v), free(d->onset_display_ns.v);
    free(d->gained);
    free(d->single_trial_corr), free(d->oracle);
    free(d->model_bytes), free(d->chosen);
    free(d->curve_final.v), free(d->curve_round.v), free(d->curve_trials.v);
    free(d->curve_loss.v), free(d->curve_validation.v);
    free(d->plan);
    for (int i = 0; i < d->stimulus_count; i++)
        free(d->stimuli[i].pixels), free(d->stimuli[i].target), free(d->stimuli[i].group_sum);
    free(d->stimuli);
    free(d->search_images);
    for (int i = 0; i < d->search_target_count; i++)
        free(d->search_targets[i].best.pixels);
    free(d->search_targets);
    for (int i = 0; i < d->target_count; i++)
        for (int k = 0; k < KIND_COUNT; k++)
            free(d->targets[i].responses[k].v);
    free(d->targets);
    free(d->correlation), free(d->feve), free(d->fev);
}

/* A float32 array copied out (the decoded one belongs to its record). */
float *report_copy_floats(const float *values, size_t count)
{
    float *copy = malloc(count * sizeof *copy + 1);
    if (copy && count)
        memcpy(copy, values, count * sizeof *copy);
    return copy;
}

static target_summary *find_target(session_data *d, int64_t neuron, int create)
{
    for (int i = 0; i < d->target_count; i++)
        if (d->targets[i].neuron == neuron)
            return &d->targets[i];
    if (!create)
        return NULL;
    if (grow_array(&d->targets, &d->target_capacity, (size_t)d->target_count + 1,
                        sizeof *d->targets, 16))
        return NULL;
    target_summary *t = &d->targets[d->target_count++];
    memset(t, 0, sizeof *t);
    t->neuron = neuron;
    return t;
}

static void append_text(char *buffer, size_t size, const char *text)
{
    size_t used = strlen(buffer);
    if (used + 1 < size)
        snprintf(buffer + used, size - used, "%s", text);
}

/* ---- First pass: everything but trials ---- */

static int gather_start(session_data *d, const record_view *v)
{
    record_session_start start;
    char err[CONTROLLER_ERR_SIZE];
    if (record_session_start_read(v, &start, err))
        return 0; /* no start to relate clocks by: said on the page */
    snprintf(d->protocol_name, sizeof d->protocol_name, "%s", start.protocol_name);
    double unix_ns = (double)start.unix_ns;
    d->have_start = 1;
    d->clock_offset_ns = unix_ns - (double)v->time_ns;
    /* The counting window as the protocol set it: read back, not run (no
     * input file is looked for); a protocol that does not parse leaves the
     * PSTH without its window, said on the page. */
    protocol *p = NULL;
    if (!protocol_parse(start.protocol_text, start.protocol_size, "session_start", NULL, &p,
                        err)) {
        d->have_window = 1;
        d->window_start_ms = p->response.latency_ms;
        d->window_end_ms = (double)p->response.latency_ms + p->response.duration_ms;
        if (p->search.enabled) {
            d->search_population = p->search.population_size;
            d->search_generations = p->search.generations;
            d->search_repeats = p->search.repeats;
            d->search_least = p->search.direction == PROTOCOL_SEARCH_LEAST;
        }
        protocol_destroy(p);
    }
    free(start.decoded);
    return 0;
}

static int gather_phase(session_data *d, const record_view *v)
{
    record_phase ph;
    char err[CONTROLLER_ERR_SIZE], item[96];
    if (record_phase_read(v, &ph, err))
        return 0;
    snprintf(item, sizeof item, "%s%.63s %.15s", d->phases[0] ? ", " : "", ph.phase, ph.event);
    d->search_ended |= !strcmp(ph.phase, "search") && !strcmp(ph.event, "end");
    free(ph.decoded);
    append_text(d->phases, sizeof d->phases, item);
    return 0;
}

static int gather_schedule(session_data *d, const record_view *v)
{
    record_schedule_entry e;
    char err[CONTROLLER_ERR_SIZE];
    if (record_schedule_read(v, &e, err))
        return 0;
    int kind = kind_index(e.kind);
    free(e.decoded);
    if (grow_array(&d->plan, &d->plan_capacity, (size_t)d->plan_count + 1, sizeof *d->plan,
                        16))
        return 1;
    planned_trial *p = &d->plan[d->plan_count++];
    p->trial = e.trial;
    p->target = e.target_neuron;
    p->kind = kind;
    return 0;
}

static int gather_stimulus(session_data *d, const record_view *v)
{
    /* The gallery shows what the closed loop synthesized or chose (MEIs and
     * their controls); the natural image set, recorded image by image, is not
     * gallery material and would be thousands of tiles. */
    record_stimulus st;
    char err[CONTROLLER_ERR_SIZE];
    if (record_stimulus_read(v, &st, err))
        return 0; /* nothing to show */
    size_t count = (size_t)st.height * (size_t)st.width;
    int status = 0;
    if (!strcmp(st.kind, STIMULUS_KIND_NAME_SEARCH)) {
        status =
            report_gather_search_image(d, &st); /* its pixels in the second pass, if handed over */
    } else if ((kind_index(st.kind) >= 0 || !strcmp(st.kind, STIMULUS_KIND_NAME_DIVERSE) ||
                (st.pattern_target && (!strcmp(st.kind, STIMULUS_KIND_NAME_PATTERN) ||
                                       !strcmp(st.kind, STIMULUS_KIND_NAME_PATTERN_NATURAL)))) &&
               count > 0) { /* diverse: many per target, their own gallery (report_diverse.c);
                               the target patterns' too (report_pattern.c) */
        status = grow_array(&d->stimuli, &d->stimulus_capacity,
                                 (size_t)d->stimulus_count + 1, sizeof *d->stimuli, 16);
        stimulus_image *s = status ? NULL : &d->stimuli[d->stimulus_count];
        if (s) {
            memset(s, 0, sizeof *s);
            s->id = st.stimulus_id;
            s->neuron = st.neuron;
            s->predicted = st.predicted;
            snprintf(s->kind, sizeof s->kind, "%s", st.kind);
            s->height = st.height, s->width = st.width;
            s->pixels = report_copy_floats(st.pixels, count);
            status = !s->pixels;
            if (st.pattern_target && !status) {
                s->pattern = st.pattern;
                s->target_k = st.pattern_k;
                s->target = report_copy_floats(st.pattern_target, (size_t)st.pattern_k);
                s->group_sum = calloc((size_t)st.pattern_k + 1, sizeof *s->group_sum);
                status = !s->target || !s->group_sum;
                if (status)
                    free(s->pixels), free(s->target), free(s->group_sum);
            }
            d->stimulus_count += !status;
        }
    }
    free(st.decoded);
    return status;
}

/* The final fit's test metrics (RECORD.md: an `evaluation` of kind
 * `test_metrics`): each neuron's single-trial correlation and its oracle. */
static int gather_test_metrics(session_data *d, const record_evaluation *e)
{
    if (!e->single_trial_corr || !e->oracle || e->n == 0)
        return 0;
    float *single = report_copy_floats(e->single_trial_corr, (size_t)e->n);
    float *oracle = report_copy_floats(e->oracle, (size_t)e->n);
    if (!single || !oracle) {
        free(single), free(oracle);
        return 1;
    }
    free(d->single_trial_corr), free(d->oracle);
    d->single_trial_corr = single, d->oracle = oracle;
    d->oracle_neurons = e->n;
    return 0;
}

/* The ground truth's session-wide summaries (neuron -1, RECORD.md) the
 * report shows: the search phase's (run_search.c) and the baseline cells'
 * (run_evaluate.c's record_baseline_least); a resumed evaluation's later
 * records win. */
static const struct {
    const char *kind;
    size_t field; /* offsetof(session_data, a double) */
} summary_fields[] = {
    {"truth_median_ratio_search_over_best_natural", offsetof(session_data, search_truth_median)},
    {"truth_targets_search_beats_best_natural", offsetof(session_data, search_truth_beats_natural)},
    {"truth_targets_search_beats_mei", offsetof(session_data, search_truth_beats_mei)},
    /* search.direction least: the same three (a session has one direction) */
    {"truth_median_ratio_search_over_least_natural_training",
     offsetof(session_data, search_truth_median)},
    {"truth_targets_search_below_least_natural_training",
     offsetof(session_data, search_truth_beats_natural)},
    {"truth_targets_search_below_least", offsetof(session_data, search_truth_beats_mei)},
    {"truth_targets_baseline_scored", offsetof(session_data, truth_baseline_scored)},
    {"truth_targets_baseline_least_below_least_natural_training",
     offsetof(session_data, truth_baseline_least_below)},
    {"truth_median_ratio_baseline_least_over_least_natural_training",
     offsetof(session_data, truth_baseline_median)},
};

static void gather_summary(session_data *d, const record_evaluation *e)
{
    if (e->neuron >= 0)
        return;
    for (size_t i = 0; i < sizeof summary_fields / sizeof *summary_fields; i++)
        if (!strcmp(e->kind, summary_fields[i].kind))
            *(double *)((char *)d + summary_fields[i].field) = e->mean;
}

static int gather_evaluation(session_data *d, const record_view *v)
{
    record_evaluation e;
    char err[CONTROLLER_ERR_SIZE];
    if (record_evaluation_read(v, &e, err))
        return 0;
    int status = !strcmp(e.kind, "test_metrics") ? gather_test_metrics(d, &e)
                                                 : report_gather_search_evaluation(d, &e);
    gather_summary(d, &e);
    int k = kind_index(e.kind);
    target_summary *t = k < 0 || status ? NULL : find_target(d, e.neuron, 1);
    if (k >= 0 && !status && !t)
        status = 1;
    if (t) {
        t->have[k] = 1;
        t->interval[k].mean = e.mean;
        t->interval[k].low = e.ci_low;
        t->interval[k].high = e.ci_high;
        t->repeats[k] = e.repeats;
        d->evaluations++;
    }
    free(e.decoded);
    return status;
}

/* The last metrics win, and a "test" split over any other. */
static int gather_model_metrics(session_data *d, const record_view *v)
{
    record_model_metrics m;
    char err[CONTROLLER_ERR_SIZE];
    if (record_model_metrics_read(v, &m, err))
        return 0;
    int status = 0;
    if (!d->correlation || strcmp(d->metric_split, "test") || !strcmp(m.split, "test")) {
        size_t count = (size_t)m.neurons;
        free(d->correlation), free(d->feve), free(d->fev);
        d->correlation = report_copy_floats(m.correlation, count);
        d->feve = m.feve ? report_copy_floats(m.feve, count) : NULL;
        d->fev = m.fev ? report_copy_floats(m.fev, count) : NULL;
        status = !d->correlation || (m.feve && !d->feve) || (m.fev && !d->fev);
        d->metric_neurons = m.neurons;
        snprintf(d->metric_split, sizeof d->metric_split, "%s", m.split);
    }
    free(m.decoded);
    return status;
}

static int compare_gained(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* A trial record's flags with those its trial gained later. */
static int64_t trial_flags(const session_data *d, const record_trial *t)
{
    int64_t flags = t->flags, trial = t->trial;
    const int64_t *g = d->gained_count ? bsearch(&trial, d->gained, (size_t)d->gained_count,
                                                 2 * sizeof *d->gained, compare_gained)
                                       : NULL;
    while (g && g > d->gained && g[-2] == trial)
        g -= 2; /* the first pair of the trial */
    for (; g && g < d->gained + 2 * d->gained_count && g[0] == trial; g += 2)
        flags |= g[1];
    return flags;
}

/* An unflagged trial's onset: on the acquisition clock where the trial
 * record has it (`onset_acq_ns`), else on the display clock, mapped later. */
static int gather_onset(session_data *d, const record_trial *t, int64_t flags)
{
    if (flags != 0)
        return 0; /* a flagged trial's bins may be missing or misplaced */
    return report_series_push(&d->onset_acq_ns, t->has_run ? (double)t->onset_acq_ns : NAN) ||
           report_series_push(&d->onset_display_ns, (double)t->onset_ns);
}

/* The final model's bytes (the last `checkpoint` of model.bin). */
static int gather_model(session_data *d, const record_view *v)
{
    record_checkpoint cp;
    char err[CONTROLLER_ERR_SIZE];
    if (record_checkpoint_read(v, &cp, err))
        return 0;
    d->checkpoints++;
    d->last_validation_corr = cp.validation_corr;
    int status = 0;
    if (!strcmp(cp.file_name, "model.bin")) {
        unsigned char *copy = malloc(cp.model_size + 1);
        status = !copy;
        if (copy) {
            memcpy(copy, cp.model, cp.model_size);
            free(d->model_bytes);
            d->model_bytes = copy, d->model_size = cp.model_size;
        }
    }
    free(cp.decoded);
    return status;
}

/* The chosen target neurons (the `note` with a `targets` array). */
static int gather_chosen(session_data *d, const record_note *n)
{
    if (!n->targets || n->n_targets > INT32_MAX / 4)
        return 0;
    int32_t *copy = malloc((size_t)n->n_targets * sizeof *copy + 1);
    if (!copy)
        return 1;
    memcpy(copy, n->targets, (size_t)n->n_targets * sizeof *copy);
    free(d->chosen);
    d->chosen = copy, d->chosen_count = n->n_targets;
    return 0;
}

/* A point of the learning curve (RECORD.md: the note with `fit`). */
static int gather_fit_round(session_data *d, const record_fit_round *r)
{
    int final = !strcmp(r->fit, "final");
    if (!final && strcmp(r->fit, "background"))
        return 0;
    return report_series_push(&d->curve_final, final) ||
           report_series_push(&d->curve_round, (double)r->round) ||
           report_series_push(&d->curve_trials, (double)r->trials) ||
           report_series_push(&d->curve_loss, r->train_loss) ||
           report_series_push(&d->curve_validation, r->validation_corr);
}

static int gather_note(session_data *d, const record_view *v)
{
    record_note n;
    char err[CONTROLLER_ERR_SIZE];
    if (record_note_read(v, &n, err))
        return 0;
    int status;
    if (n.fit_round.fit) {
        status = gather_fit_round(d, &n.fit_round); /* a curve point, not a note to read */
    } else {
        char text[512];
        snprintf(text, sizeof text, "%s", n.text);
        append_text(d->notes, sizeof d->notes, text);
        append_text(d->notes, sizeof d->notes, "\n");
        report_gather_display_block(d, &n);
        status = gather_chosen(d, &n);
    }
    free(n.decoded);
    return status;
}

static int gather_record(session_data *d, const record_view *v)
{
    if (d->summary.records++ == 0)
        d->first_ns = v->time_ns;
    d->last_ns = v->time_ns;
    switch (v->type) {
    case RECORD_SESSION_START:
        return gather_start(d, v);
    case RECORD_PHASE:
        return gather_phase(d, v);
    case RECORD_SCHEDULE:
        return gather_schedule(d, v);
    case RECORD_STIMULUS:
        return gather_stimulus(d, v);
    case RECORD_EVALUATION:
        return gather_evaluation(d, v);
    case RECORD_MODEL_METRICS:
        return gather_model_metrics(d, v);
    case RECORD_CHECKPOINT:
        return gather_model(d, v);
    case RECORD_NOTE:
        return gather_note(d, v);
    }
    return report_gather_timing(d, v);
}

/* ---- Second pass: closed-loop trials ---- */

static int compare_plan(const void *a, const void *b)
{
    int64_t x = ((const planned_trial *)a)->trial, y = ((const planned_trial *)b)->trial;
    return (x > y) - (x < y);
}

static int gather_trial(session_data *d, const record_view *v)
{
    record_trial r;
    char err[CONTROLLER_ERR_SIZE];
    if (record_trial_read(v, &r, err))
        return 0;
    int64_t flags = trial_flags(d, &r); /* with those it gained later */
    report_gather_search_trial(d, &r, flags);
    for (int i = 0; i < d->stimulus_count && flags == 0; i++) { /* a diverse set's image */
        stimulus_image *s = &d->stimuli[i];
        if (s->id == r.image_id && !strcmp(s->kind, STIMULUS_KIND_NAME_DIVERSE) &&
            s->neuron >= 0 && s->neuron < r.neurons && isfinite(r.counts[s->neuron])) {
            s->sum += r.counts[s->neuron];
            s->trials++;
        }
        /* a target pattern's: the group's counts, where the group is the targets note's */
        if (s->id == r.image_id && s->group_sum && s->target_k == d->chosen_count) {
            int inside = 1;
            for (int g = 0; g < s->target_k; g++)
                inside &= d->chosen[g] >= 0 && d->chosen[g] < r.neurons &&
                          isfinite(r.counts[d->chosen[g]]);
            for (int g = 0; inside && g < s->target_k; g++)
                s->group_sum[g] += r.counts[d->chosen[g]];
            s->trials += inside;
        }
    }
    int failed = gather_onset(d, &r, flags);
    if (failed || !d->plan_count) {
        free(r.decoded);
        return failed;
    }
    planned_trial key = {r.trial, 0, 0};
    const planned_trial *p = bsearch(&key, d->plan, (size_t)d->plan_count, sizeof *d->plan,
                                     compare_plan);
    /* A flagged trial is no evidence, as in the run's own evaluation. */
    int status = 0;
    if (p && p->kind >= 0 && p->target >= 0 && flags == 0 && p->target < r.neurons) {
        target_summary *t = find_target(d, p->target, 1);
        status = !t;
        if (t) {
            d->closed_loop_trials++;
            status = report_series_push(&t->responses[p->kind], r.counts[p->target]);
        }
    }
    free(r.decoded);
    return status;
}

/* The two passes over the record (session_record_each): a visitor fails
 * only when out of memory. */
static int visit_gather(const record_view *v, void *ctx, char *err)
{
    return gather_record(ctx, v) ? controller_fail(err, "out of memory reading the record") : 0;
}

static int visit_trial(const record_view *v, void *ctx, char *err)
{
    const session_data *d = ctx;
    if ((v->type == RECORD_TRIAL && gather_trial(ctx, v)) ||
        (v->type == RECORD_STIMULUS && d->search_target_count && report_gather_search_best(ctx, v)))
        return controller_fail(err, "out of memory reading the record");
    return 0;
}

/* Per-kind bootstrap intervals of each target's closed-loop responses; when
 * the record has closed-loop trials they replace its evaluation records. */
_Static_assert(KIND_COUNT == STATS_EVALUATION_KINDS, "the kinds the intervals are seeded by");
static int summarize_targets(session_data *d, char *err)
{
    for (int i = 0; i < d->target_count; i++) {
        target_summary *t = &d->targets[i];
        for (int k = 0; k < KIND_COUNT && d->closed_loop_trials; k++) {
            t->have[k] = 0;
            if (!t->responses[k].n)
                continue;
            if (stats_evaluation_interval(t->responses[k].v, t->responses[k].n, t->neuron, k,
                                          &t->interval[k], err))
                return 1;
            t->have[k] = 1;
            t->repeats[k] = t->responses[k].n;
        }
    }
    return 0;
}

static int compare_target(const void *a, const void *b)
{
    int64_t x = ((const target_summary *)a)->neuron, y = ((const target_summary *)b)->neuron;
    return (x > y) - (x < y);
}

int report_read_session(const char *session_dir, session_data *d, char *err)
{
    record_walk walk;
    if (session_record_each(session_dir, visit_gather, d, &walk, err))
        return 1;
    d->summary.damaged = walk.damaged;
    if (d->plan_count > 1)
        qsort(d->plan, (size_t)d->plan_count, sizeof *d->plan, compare_plan);
    if (d->gained_count > 1)
        qsort(d->gained, (size_t)d->gained_count, 2 * sizeof *d->gained, compare_gained);
    if (d->search_image_count > 1) /* their generations are set: record order is done with */
        qsort(d->search_images, (size_t)d->search_image_count, sizeof *d->search_images,
              report_compare_search_image);
    if (session_record_each(session_dir, visit_trial, d, NULL, err))
        return 1;
    if (d->target_count > 1)
        qsort(d->targets, (size_t)d->target_count, sizeof *d->targets, compare_target);
    return summarize_targets(d, err);
}
