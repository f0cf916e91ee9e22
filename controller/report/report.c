/* report.c: `inception report DIR`: a session record read back into an HTML
 * page with PNG figures (controller.h, "Report"). Two passes over the record:
 * the first gathers everything but trials' counts (schedule, stimuli,
 * timing, stream bins, alignment, model metrics, the learning curve, the
 * final model's bytes, the flags trials gained later), the second picks each
 * unflagged trial's onset for the PSTH and each closed-loop trial's
 * target-neuron count, so that trials need not
 * follow their schedule entries and natural-image trials are never held in
 * memory. Only the test predictions read the natural trials, through
 * session_dataset_load, as the fit does. The newer figures write their
 * numbers beside them as CSV. */
#include "controller.h"
#include "plot.h"
#include "model.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FIGURE_WIDTH 560
#define FIGURE_HEIGHT 360
#define GALLERY_SIDE 96 /* stimuli are scaled up to at least this many pixels */
#define PATH_SIZE 4096

/* The stimulus kinds of the closed loop: the MEI, its controls and what
 * mei.kinds adds, indexed by stimulus kind (stimulus_base.h); which a run
 * shows and the comparisons are session_kinds.c's. */
#define KIND_COUNT SESSION_KINDS
#define KIND_MEI STIMULUS_KIND_MEI

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

/* ---- Growing arrays ---- */

typedef struct series {
    double *v;
    int n;
    size_t capacity;
} series;

static int series_push(series *s, double value)
{
    if (grow_array(&s->v, &s->capacity, (size_t)s->n + 1, sizeof *s->v, 64))
        return 1;
    s->v[s->n++] = value;
    return 0;
}

/* ---- What the record holds ---- */

typedef struct planned_trial {
    int64_t trial, target;
    int kind; /* KIND_*, or -1 for anything else */
} planned_trial;

typedef struct stimulus_image {
    int64_t id, neuron;
    char kind[32];
    double predicted;
    int height, width;
    float *pixels;
    double sum;     /* a diverse image's: its target's count over its unflagged trials */
    int64_t trials;
} stimulus_image;

/* One target neuron's closed-loop summary per kind, from trials or, when
 * the record has no closed-loop trials, from its evaluation records. */
typedef struct target_summary {
    int64_t neuron;
    series responses[KIND_COUNT];
    int have[KIND_COUNT];
    stats_interval interval[KIND_COUNT];
    int64_t repeats[KIND_COUNT];
} target_summary;

/* The display's account of one block (a `note` with `display_block`). */
typedef struct display_block {
    char name[32];
    int64_t flips, dropped, trials_shown, with_drops, flagged, lost;
    double mean_ms, sd_ms, max_ms;
} display_block;

#define REPORT_DISPLAY_BLOCKS 64 /* shown one by one; later ones only counted */

/* One image of the model-free search phase (docs/search.md: a `stimulus` of
 * kind `search`) and its target's counts over its unflagged trials. */
typedef struct search_image {
    int64_t id, neuron;
    int64_t generation; /* 0-based; -1 when the record cannot tell (below) */
    double sum;
    int64_t trials;
} search_image;

/* One target of the search: its images in record order, what the phase
 * handed over (`search_best_*` evaluations) and, with the virtual rig, the
 * ground truth the evaluation recorded beside it (`truth_*`; NaN absent). */
typedef struct search_target {
    int64_t neuron;
    int64_t images;
    int64_t best_id; /* -1: no search_best_stimulus */
    double best_mean;
    double truth_search, truth_mei, truth_natural;
    stimulus_image best; /* the handed-over image, read in the second pass */
} search_target;

typedef struct session_data {
    char protocol_name[256];
    int have_start;
    double clock_offset_ns; /* unix ns - monotonic ns, from session_start */
    uint64_t first_ns, last_ns;
    report_summary summary;
    series flip_ns, flip_missed, flip_frame;
    display_block blocks[REPORT_DISPLAY_BLOCKS];
    int block_count;        /* all of them, beyond REPORT_DISPLAY_BLOCKS too */
    int64_t blocks_dropped; /* the blocks' own dropped-frame counts, summed */
    int64_t trials_seen, trials_frames_flagged;
    series stream_received_ns, stream_timestamp_ms, stream_lost;
    series align_time_ns, align_rms_ns, align_max_ns, align_slope;
    /* The PSTH's material: each counts bin (acquisition ns) with its
     * population mean, each unflagged trial's onset, the last alignment's
     * map, the protocol's counting window (ms after the onset). */
    series bin_start_ns, bin_width_ns, bin_mean;
    series onset_acq_ns, onset_display_ns; /* NAN where a trial lacks one */
    int have_map;
    double map_display_ref_ns, map_acquisition_ref_ns, map_offset_ns, map_slope;
    int have_window;
    double window_start_ms, window_end_ms;
    float *single_trial_corr, *oracle; /* the test_metrics evaluation */
    unsigned char *model_bytes; /* the last model.bin checkpoint's */
    size_t model_size;
    int32_t *chosen; /* the `targets` note's neurons */
    int chosen_count;
    /* The learning curve (notes with `fit`): background rounds, final epochs. */
    series curve_final, curve_round, curve_trials, curve_loss, curve_validation;
    int oracle_neurons;
    planned_trial *plan;
    int plan_count;
    size_t plan_capacity;
    int64_t *gained; /* `trial_flags` records: (trial, flags) pairs, sorted after pass 1 */
    int gained_count;
    size_t gained_capacity;
    stimulus_image *stimuli;
    int stimulus_count;
    size_t stimulus_capacity;
    /* The search phase: its population per generation (the protocol's, 0
     * unknown), its images (sorted by id after the first pass) and targets,
     * whether it ended, and the ground truth's summaries (NaN absent). */
    int search_population, search_generations, search_repeats, search_ended;
    search_image *search_images;
    int search_image_count;
    size_t search_image_capacity;
    search_target *search_targets;
    int search_target_count;
    size_t search_target_capacity;
    double search_truth_median, search_truth_beats_natural, search_truth_beats_mei;
    target_summary *targets;
    int target_count;
    size_t target_capacity;
    int closed_loop_trials, evaluations;
    float *correlation, *feve, *fev; /* fev may be NULL: older records */
    int metric_neurons;
    char metric_split[32];
    int checkpoints;
    double last_validation_corr;
    char phases[2048];
    char notes[4096];
} session_data;

static void session_data_free(session_data *d)
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
        free(d->stimuli[i].pixels);
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
static float *copy_floats(const float *values, size_t count)
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

static search_target *find_search_target(session_data *d, int64_t neuron, int create)
{
    for (int i = 0; i < d->search_target_count; i++)
        if (d->search_targets[i].neuron == neuron)
            return &d->search_targets[i];
    if (!create || grow_array(&d->search_targets, &d->search_target_capacity,
                              (size_t)d->search_target_count + 1, sizeof *d->search_targets, 8))
        return NULL;
    search_target *t = &d->search_targets[d->search_target_count++];
    memset(t, 0, sizeof *t);
    t->neuron = neuron;
    t->best_id = -1;
    t->best_mean = t->truth_search = t->truth_mei = t->truth_natural = NAN;
    return t;
}

/* A search image. The record does not say which generation asked for it:
 * the run records each generation's images before its block, per target in
 * the order the search asked for them, and a resumed run records none again
 * (RECORD.md), so a target's n-th search stimulus in record order is of
 * generation n / population_size, as `inception resume` itself reads them.
 * Without the protocol's population the generations are left unknown (-1);
 * a count that does not fit the protocol is said on the page. */
static int gather_search_image(session_data *d, const record_stimulus *st)
{
    search_target *t = find_search_target(d, st->neuron, 1);
    if (!t || grow_array(&d->search_images, &d->search_image_capacity,
                         (size_t)d->search_image_count + 1, sizeof *d->search_images, 64))
        return 1;
    search_image *s = &d->search_images[d->search_image_count++];
    memset(s, 0, sizeof *s);
    s->id = st->stimulus_id;
    s->neuron = st->neuron;
    s->generation = d->search_population > 0 ? t->images / d->search_population : -1;
    t->images++;
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
        status = gather_search_image(d, &st); /* its pixels in the second pass, if handed over */
    } else if ((kind_index(st.kind) >= 0 || !strcmp(st.kind, STIMULUS_KIND_NAME_DIVERSE)) &&
               count > 0) { /* diverse: many per target, their own gallery (diverse_gallery) */
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
            s->pixels = copy_floats(st.pixels, count);
            status = !s->pixels;
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
    float *single = copy_floats(e->single_trial_corr, (size_t)e->n);
    float *oracle = copy_floats(e->oracle, (size_t)e->n);
    if (!single || !oracle) {
        free(single), free(oracle);
        return 1;
    }
    free(d->single_trial_corr), free(d->oracle);
    d->single_trial_corr = single, d->oracle = oracle;
    d->oracle_neurons = e->n;
    return 0;
}

/* The search phase's evaluations (RECORD.md): per target the image handed
 * over and its mean, with the virtual rig the ground truth beside the MEI's
 * and the best natural training image's, and the truth's summaries. */
static int gather_search_evaluation(session_data *d, const record_evaluation *e)
{
    if (e->neuron < 0) {
        if (!strcmp(e->kind, "truth_median_ratio_search_over_best_natural"))
            d->search_truth_median = e->mean;
        else if (!strcmp(e->kind, "truth_targets_search_beats_best_natural"))
            d->search_truth_beats_natural = e->mean;
        else if (!strcmp(e->kind, "truth_targets_search_beats_mei"))
            d->search_truth_beats_mei = e->mean;
        return 0;
    }
    static const char *const kinds[] = {"search_best_stimulus", "search_best_mean",
                                         "truth_search_best", "truth_mei",
                                         "truth_best_natural_training"};
    int known = 0;
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
        known |= !strcmp(e->kind, kinds[i]);
    if (!known)
        return 0;
    /* Any order: a target is the search's when it has search images or a
     * handed-over image (a session without the search records truth_mei
     * too; its targets are not drawn in the search's section). */
    search_target *t = find_search_target(d, e->neuron, 1);
    if (!t)
        return 1;
    int handed = !strcmp(e->kind, "search_best_stimulus");
    if (handed)
        t->best_id = isfinite(e->mean) && fabs(e->mean) < 9e15 ? (int64_t)e->mean : -1;
    else if (!strcmp(e->kind, "search_best_mean"))
        t->best_mean = e->mean;
    else if (!strcmp(e->kind, "truth_search_best"))
        t->truth_search = e->mean;
    else if (!strcmp(e->kind, "truth_mei"))
        t->truth_mei = e->mean;
    else if (!strcmp(e->kind, "truth_best_natural_training"))
        t->truth_natural = e->mean;
    return 0;
}

static int gather_evaluation(session_data *d, const record_view *v)
{
    record_evaluation e;
    char err[CONTROLLER_ERR_SIZE];
    if (record_evaluation_read(v, &e, err))
        return 0;
    int status = !strcmp(e.kind, "test_metrics") ? gather_test_metrics(d, &e)
                                                 : gather_search_evaluation(d, &e);
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
        d->correlation = copy_floats(m.correlation, count);
        d->feve = m.feve ? copy_floats(m.feve, count) : NULL;
        d->fev = m.fev ? copy_floats(m.fev, count) : NULL;
        status = !d->correlation || (m.feve && !d->feve) || (m.fev && !d->fev);
        d->metric_neurons = m.neurons;
        snprintf(d->metric_split, sizeof d->metric_split, "%s", m.split);
    }
    free(m.decoded);
    return status;
}

/* A counts bin (RECORD.md, `stream` of kind `data` with `counts`): its start
 * and width on the acquisition clock and its mean over the units. */
static int gather_bin(session_data *d, const record_stream_message *m)
{
    if (strcmp(m->kind, "data") || !m->counts || m->units == 0 || m->bin_width_ns <= 0)
        return 0;
    double sum = 0;
    size_t finite = 0;
    for (int i = 0; i < m->units; i++)
        if (isfinite(m->counts[i]))
            sum += m->counts[i], finite++;
    if (!finite)
        return 0;
    return series_push(&d->bin_start_ns, (double)m->sample_num) ||
           series_push(&d->bin_width_ns, (double)m->bin_width_ns) ||
           series_push(&d->bin_mean, sum / (double)finite);
}

/* A trial_flags record: the flags its trial gained after its record was
 * written (RECORD.md), ORed into the trial's own in the second pass. */
static int gather_trial_flags(session_data *d, const record_view *v)
{
    if (grow_array(&d->gained, &d->gained_capacity, 2 * (size_t)d->gained_count + 2,
                        sizeof *d->gained, 32))
        return 1;
    record_trial_flags tf;
    char err[CONTROLLER_ERR_SIZE];
    if (record_trial_flags_read(v, &tf, err))
        return 0; /* names no trial or no flags: nothing to apply */
    free(tf.decoded);
    d->gained[2 * d->gained_count] = tf.trial;
    d->gained[2 * d->gained_count + 1] = tf.flags;
    d->gained_count++;
    return 0;
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
    return series_push(&d->onset_acq_ns, t->has_run ? (double)t->onset_acq_ns : NAN) ||
           series_push(&d->onset_display_ns, (double)t->onset_ns);
}

/* The last alignment with its reference pair maps display onsets. */
static void gather_map(session_data *d, const record_alignment *a)
{
    if (!a->has_reference || !isfinite(a->offset_ns) || !isfinite(a->slope_ns_per_sample))
        return;
    d->have_map = 1;
    d->map_display_ref_ns = (double)a->display_ref_ns;
    d->map_acquisition_ref_ns = (double)a->acquisition_ref_ns;
    d->map_offset_ns = a->offset_ns, d->map_slope = a->slope_ns_per_sample;
}

static int gather_timing(session_data *d, const record_view *v)
{
    char err[CONTROLLER_ERR_SIZE];
    int status = 0;
    switch (v->type) {
    case RECORD_FLIP: {
        record_flip_event f;
        if (record_flip_read(v, &f, err))
            return 0;
        free(f.decoded);
        return series_push(&d->flip_ns, (double)f.flip_ns) ||
               series_push(&d->flip_missed, (double)f.missed) ||
               series_push(&d->flip_frame, (double)f.frame);
    }
    case RECORD_TRIAL: {
        record_trial t;
        if (record_trial_read(v, &t, err))
            return 0;
        d->trials_seen++;
        d->trials_frames_flagged += (t.flags & RUN_TRIAL_FRAMES) != 0;
        free(t.decoded);
        return 0; /* its onset in the second pass, with the flags it gained later */
    }
    case RECORD_TRIAL_FLAGS:
        return gather_trial_flags(d, v);
    case RECORD_STREAM: {
        record_stream_message m;
        if (record_stream_read(v, &m, err))
            return 0;
        status = series_push(&d->stream_received_ns, (double)m.received_ns) ||
                 series_push(&d->stream_timestamp_ms, (double)m.timestamp_ms) ||
                 series_push(&d->stream_lost, (double)m.lost) || gather_bin(d, &m);
        free(m.decoded);
        return status;
    }
    case RECORD_ALIGNMENT: {
        record_alignment a;
        if (record_alignment_read(v, &a, err))
            return 0;
        free(a.decoded);
        gather_map(d, &a);
        return series_push(&d->align_time_ns, (double)v->time_ns) ||
               series_push(&d->align_rms_ns, a.residual_rms_ns) ||
               series_push(&d->align_max_ns, a.residual_max_ns) ||
               series_push(&d->align_slope, a.slope_ns_per_sample);
    }
    }
    return 0;
}

/* A block's display account (RECORD.md: the `note` with `display_block`). */
static void gather_display_block(session_data *d, const record_note *n)
{
    if (!n->display_block)
        return;
    d->blocks_dropped += n->dropped_frames;
    if (d->block_count++ >= REPORT_DISPLAY_BLOCKS)
        return;
    display_block *b = &d->blocks[d->block_count - 1];
    snprintf(b->name, sizeof b->name, "%s", n->display_block);
    b->flips = n->flips;
    b->dropped = n->dropped_frames;
    b->trials_shown = n->trials_shown;
    b->with_drops = n->trials_with_drops;
    b->flagged = n->trials_flagged_frames;
    b->lost = n->events_lost;
    b->mean_ms = n->interval_mean_ms;
    b->sd_ms = n->interval_sd_ms;
    b->max_ms = n->interval_max_ms;
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
    return series_push(&d->curve_final, final) ||
           series_push(&d->curve_round, (double)r->round) ||
           series_push(&d->curve_trials, (double)r->trials) ||
           series_push(&d->curve_loss, r->train_loss) ||
           series_push(&d->curve_validation, r->validation_corr);
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
        gather_display_block(d, &n);
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
    return gather_timing(d, v);
}

/* ---- Second pass: closed-loop trials ---- */

static int compare_plan(const void *a, const void *b)
{
    int64_t x = ((const planned_trial *)a)->trial, y = ((const planned_trial *)b)->trial;
    return (x > y) - (x < y);
}

static int compare_search_image(const void *a, const void *b)
{
    int64_t x = ((const search_image *)a)->id, y = ((const search_image *)b)->id;
    return (x > y) - (x < y);
}

/* A search trial's count of its image's target, unless flagged (a flagged
 * trial never reached the search's fitness either). */
static void gather_search_trial(session_data *d, const record_trial *r, int64_t flags)
{
    search_image key = {.id = r->image_id};
    search_image *s = d->search_image_count && flags == 0
                          ? bsearch(&key, d->search_images, (size_t)d->search_image_count,
                                    sizeof *d->search_images, compare_search_image)
                          : NULL;
    if (s && s->neuron >= 0 && s->neuron < r->neurons && isfinite(r->counts[s->neuron])) {
        s->sum += r->counts[s->neuron];
        s->trials++;
    }
}

/* The handed-over search images' pixels (only they are kept: a search
 * shows thousands of images per target). */
static int gather_search_best(session_data *d, const record_view *v)
{
    record_stimulus st;
    char err[CONTROLLER_ERR_SIZE];
    if (record_stimulus_read(v, &st, err))
        return 0;
    size_t count = (size_t)st.height * (size_t)st.width;
    search_target *t = strcmp(st.kind, STIMULUS_KIND_NAME_SEARCH) || count == 0
                           ? NULL
                           : find_search_target(d, st.neuron, 0);
    int status = 0;
    if (t && t->best_id == st.stimulus_id && !t->best.pixels) {
        stimulus_image *b = &t->best;
        b->id = st.stimulus_id;
        b->neuron = st.neuron;
        b->predicted = st.predicted;
        snprintf(b->kind, sizeof b->kind, "%s", st.kind);
        b->height = st.height, b->width = st.width;
        b->pixels = copy_floats(st.pixels, count);
        status = !b->pixels;
    }
    free(st.decoded);
    return status;
}

static int gather_trial(session_data *d, const record_view *v)
{
    record_trial r;
    char err[CONTROLLER_ERR_SIZE];
    if (record_trial_read(v, &r, err))
        return 0;
    int64_t flags = trial_flags(d, &r); /* with those it gained later */
    gather_search_trial(d, &r, flags);
    for (int i = 0; i < d->stimulus_count && flags == 0; i++) { /* a diverse set's image */
        stimulus_image *s = &d->stimuli[i];
        if (s->id == r.image_id && !strcmp(s->kind, STIMULUS_KIND_NAME_DIVERSE) &&
            s->neuron >= 0 && s->neuron < r.neurons && isfinite(r.counts[s->neuron])) {
            s->sum += r.counts[s->neuron];
            s->trials++;
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
            status = series_push(&t->responses[p->kind], r.counts[p->target]);
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
        (v->type == RECORD_STIMULUS && d->search_target_count && gather_search_best(ctx, v)))
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

static int read_session(const char *session_dir, session_data *d, char *err)
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
              compare_search_image);
    if (session_record_each(session_dir, visit_trial, d, NULL, err))
        return 1;
    if (d->target_count > 1)
        qsort(d->targets, (size_t)d->target_count, sizeof *d->targets, compare_target);
    return summarize_targets(d, err);
}

/* ---- HTML ---- */

typedef struct report_output {
    FILE *html;
    const char *session_dir;
    char dir[PATH_SIZE];
    report_summary *summary;
    char *err;
} report_output;

static void html_escaped(FILE *f, const char *text)
{
    for (; *text; text++) {
        if (*text == '<')
            fputs("&lt;", f);
        else if (*text == '>')
            fputs("&gt;", f);
        else if (*text == '&')
            fputs("&amp;", f);
        else if (*text == '"')
            fputs("&quot;", f);
        else
            fputc(*text, f);
    }
}

static void html_missing(report_output *o, const char *what)
{
    fprintf(o->html, "<p class=\"missing\">Not in this record: %s.</p>\n", what);
    o->summary->missing++;
}

static int write_canvas(report_output *o, plot_canvas *c, const char *name, const char *alt)
{
    char path[PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    if (plot_write_png(c, path, o->err))
        return 1;
    o->summary->figures++;
    fprintf(o->html, "<img src=\"%s\" width=\"%d\" height=\"%d\" alt=\"%s\">\n", name, c->width,
            c->height, alt);
    return 0;
}

/* A figure's data beside it (CSV), linked under it. */
static FILE *open_data(report_output *o, const char *name)
{
    char path[PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        controller_fail(o->err, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

static int close_data(report_output *o, FILE *f, const char *name)
{
    if (fclose(f))
        return controller_fail(o->err, "%s/%s: write failed (disk full?)", o->dir, name);
    fprintf(o->html, "<p class=\"caption\">Its data: <a href=\"%s\">%s</a>.</p>\n", name, name);
    return 0;
}

static int new_figure(plot_canvas *c, report_output *o)
{
    if (plot_canvas_create(c, FIGURE_WIDTH, FIGURE_HEIGHT))
        return controller_fail(o->err, "out of memory for a figure");
    return 0;
}

static double series_max(const double *v, int n)
{
    double m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > m)
            m = v[i];
    return m;
}

static double series_min(const double *v, int n)
{
    double m = INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] < m)
            m = v[i];
    return m;
}

static int max_count(const int *counts, int bins)
{
    int m = 0;
    for (int i = 0; i < bins; i++)
        m = counts[i] > m ? counts[i] : m;
    return m;
}

/* A histogram figure of `values` into `bins` over [lo, hi]. */
static int histogram_figure(report_output *o, const double *values, int n, double lo, double hi,
                            int bins, plot_color color, const char *name, const char *alt)
{
    int *counts = calloc((size_t)bins, sizeof *counts);
    plot_canvas c;
    if (!counts || new_figure(&c, o)) {
        free(counts);
        return controller_fail(o->err, "out of memory for a histogram");
    }
    plot_bin(values, n, lo, hi, bins, counts);
    plot_axes a;
    plot_axes_draw(&a, &c, lo, hi, 0, max_count(counts, bins) * 1.1);
    plot_histogram(&a, counts, bins, lo, (hi - lo) / bins, color);
    int status = write_canvas(o, &c, name, alt);
    plot_canvas_destroy(&c);
    free(counts);
    return status;
}

static int section_model(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Model: per-neuron correlations</h2>\n");
    if (!d->correlation || d->metric_neurons == 0) {
        html_missing(o, "the model's per-neuron metrics (no model_metrics record)");
        return 0;
    }
    int n = d->metric_neurons;
    double *corr = malloc((size_t)n * sizeof *corr), feve_sum = 0;
    int feve_count = 0;
    if (!corr)
        return controller_fail(o->err, "out of memory");
    for (int i = 0; i < n; i++) {
        corr[i] = d->correlation[i];
        /* FEVE counts where the explainable variance is large enough to
         * measure (Sensorium's rule), and only where it is defined. */
        if (d->feve && isfinite(d->feve[i]) && (!d->fev || d->fev[i] >= METRICS_FEV_MIN)) {
            feve_sum += d->feve[i];
            feve_count++;
        }
    }
    /* Correlations lie in [-1, 1]; anything beyond lands in the end bins. */
    double lo = fmax(-1.0, fmin(0.0, floor(series_min(corr, n) / 0.05) * 0.05));
    int bins = (int)lround((1.0 - lo) / 0.05);
    int status = histogram_figure(o, corr, n, lo, 1.0, bins, PLOT_BLUE, "model_correlations.png",
                                  "histogram of per-neuron correlations");
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += corr[i];
    fprintf(o->html, "<p class=\"caption\">Correlation between the model's prediction and the "
                     "recorded response (%s split%s) for each of %d neurons, bins of 0.05: "
                     "mean %.3f, median %.3f",
            d->metric_split, !strcmp(d->metric_split, "test") ? ", to the average over repeats"
                                                               : "",
            n, sum / n, stats_median(corr, n));
    if (d->feve && feve_count)
        fprintf(o->html, d->fev ? "; mean FEVE %.3f over the %d neurons with a fraction of "
                                  "explainable variance of at least %.2f"
                                : "; mean FEVE %.3f over the %d neurons where it is defined",
                feve_sum / feve_count, feve_count, METRICS_FEV_MIN);
    fprintf(o->html, ".</p>\n");
    free(corr);
    return status;
}

/* ---- The final model: readout positions, test predictions ---- */

/* The final model from its checkpoint's bytes; NULL with `why` when the
 * record has none or it does not load. */
static model *recorded_model(const session_data *d, char *why, size_t size)
{
    if (!d->model_bytes) {
        snprintf(why, size, "no model.bin checkpoint");
        return NULL;
    }
    model *m = NULL;
    char err[MODEL_ERR_SIZE];
    if (model_load_bytes(&m, d->model_bytes, d->model_size, err)) {
        snprintf(why, size, "model.bin in the record does not load: %s", err);
        return NULL;
    }
    return m;
}

static void missing_because(report_output *o, const char *what, const char *why)
{
    char text[CONTROLLER_ERR_SIZE + 128];
    snprintf(text, sizeof text, "%s (%s)", what, why);
    html_missing(o, text);
}

static int is_chosen(const session_data *d, int neuron)
{
    for (int i = 0; i < d->chosen_count; i++)
        if (d->chosen[i] == neuron)
            return 1;
    return 0;
}

/* readout_positions.csv: each neuron's position in readout units and in
 * image pixels (column, row from the top), and whether it is a target. */
static int readout_data(report_output *o, const session_data *d, const float *xy, int n,
                        int height, int width)
{
    FILE *f = open_data(o, "readout_positions.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,x,y,column,row,target\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g,%d\n", i, xy[2 * i], xy[2 * i + 1],
                (xy[2 * i] + 1.0) / 2.0 * (width - 1), (xy[2 * i + 1] + 1.0) / 2.0 * (height - 1),
                is_chosen(d, i));
    return close_data(o, f, "readout_positions.csv");
}

/* The map on a canvas whose plotting box has the data's proportions: the
 * axes drawn once on a trial canvas give the margins (plot.c's own). */
static int readout_canvas(report_output *o, plot_canvas *c, plot_axes *a, const double *range)
{
    if (new_figure(c, o))
        return 1;
    plot_axes_draw(a, c, range[0], range[1], range[2], range[3]);
    int margins = c->width - (a->right - a->left), box = a->bottom - a->top;
    double wide = box * (range[1] - range[0]) / (range[3] - range[2]);
    int canvas_width = margins + (int)fmin(fmax(wide, 120.0), 1000.0);
    plot_canvas_destroy(c);
    if (plot_canvas_create(c, canvas_width, FIGURE_HEIGHT))
        return controller_fail(o->err, "out of memory for a figure");
    plot_axes_draw(a, c, range[0], range[1], range[2], range[3]);
    return 0;
}

/* Positions in image pixels: columns from the left, rows up from the
 * bottom edge (the readout's convention, layers.h, flipped vertically). */
static void readout_pixels(const float *xy, int n, int height, int width, double *x, double *y)
{
    for (int i = 0; i < n; i++) {
        x[i] = (xy[2 * i] + 1.0) / 2.0 * (width - 1);
        y[i] = (1.0 - xy[2 * i + 1]) / 2.0 * (height - 1);
    }
}

static int readout_figure(report_output *o, const session_data *d, const float *xy, int n,
                          int height, int width)
{
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    double *px = malloc((size_t)n * sizeof *px), *py = malloc((size_t)n * sizeof *py);
    plot_canvas c;
    plot_axes a;
    int status = !x || !y || !px || !py ? controller_fail(o->err, "out of memory") : 0;
    if (!status) {
        readout_pixels(xy, n, height, width, px, py);
        /* The image, and every position even where a readout left it. */
        double range[4] = {fmin(0.0, series_min(px, n)), fmax(width - 1.0, series_max(px, n)),
                           fmin(0.0, series_min(py, n)), fmax(height - 1.0, series_max(py, n))};
        for (int k = 0; k < 4; k++)
            range[k] = fmax(fmin(range[k], 1e6), -1e6); /* a damaged model's wild value */
        range[1] = fmax(range[1], range[0] + 1.0), range[3] = fmax(range[3], range[2] + 1.0);
        status = readout_canvas(o, &c, &a, range);
    }
    if (!status) {
        double frame_x[5] = {0, width - 1, width - 1, 0, 0};
        double frame_y[5] = {0, 0, height - 1, height - 1, 0};
        plot_polyline(&a, frame_x, frame_y, 5, PLOT_GRAY);
        for (int chosen = 0; chosen < 2; chosen++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (is_chosen(d, i) == chosen)
                    x[m] = px[i], y[m++] = py[i];
            plot_points(&a, x, y, m, chosen ? 4 : 2, chosen ? PLOT_ORANGE : PLOT_BLUE);
        }
        status = write_canvas(o, &c, "readout_positions.png", "readout positions over the image");
        plot_canvas_destroy(&c);
    }
    free(x), free(y), free(px), free(py);
    return status;
}

static int section_readout(report_output *o, const session_data *d, model *m, const char *why)
{
    fprintf(o->html, "<h2>Model: receptive-field map (readout positions)</h2>\n");
    char err[MODEL_ERR_SIZE];
    if (!m) {
        missing_because(o, "the readout positions", why);
        return 0;
    }
    const model_config *cfg = model_get_config(m);
    float *xy = malloc((size_t)cfg->neurons * 2 * sizeof *xy);
    if (!xy)
        return controller_fail(o->err, "out of memory");
    int status = 0;
    if (model_readout_positions(m, xy, err)) {
        missing_because(o, "the readout positions", err);
    } else {
        status = readout_figure(o, d, xy, cfg->neurons, cfg->height, cfg->width);
        if (!status) {
            fprintf(o->html, "<p class=\"caption\">Where each of the model's %d neurons reads "
                             "the core's feature map (its Gaussian readout's mean position), "
                             "over the %d&times;%d image (gray frame) in pixels (columns from the "
                             "left, rows from the bottom; the feature map spans the image): the "
                             "population's receptive-field map. Orange, larger: the %d "
                             "target neurons.</p>\n",
                    cfg->neurons, cfg->width, cfg->height, d->chosen_count);
            status = readout_data(o, d, xy, cfg->neurons, cfg->height, cfg->width);
        }
    }
    free(xy);
    return status;
}

#define REPORT_PREDICT_BATCH 64 /* images a prediction call takes: a bounded workspace */

/* The test images' mean observed responses and their predictions. */
typedef struct test_responses {
    int images, neurons;
    int64_t *image_id;
    int *repeats;
    float *observed;  /* images × neurons: mean over repeats */
    float *predicted; /* images × neurons */
} test_responses;

static void test_responses_free(test_responses *t)
{
    free(t->image_id), free(t->repeats), free(t->observed), free(t->predicted);
}

/* Groups the test trials by image (first appearance order) and predicts
 * each image once; 1 with `why` when that cannot be done. */
static int test_responses_make(const dataset *data, model *m, test_responses *t, char *why,
                               size_t size)
{
    memset(t, 0, sizeof *t);
    int N = data->neurons, P = data->height * data->width, n = 0;
    t->neurons = N;
    int *first = malloc(((size_t)data->trials + 1) * sizeof *first);
    t->image_id = malloc(((size_t)data->trials + 1) * sizeof *t->image_id);
    t->repeats = calloc((size_t)data->trials + 1, sizeof *t->repeats);
    t->observed = calloc(((size_t)data->trials + 1) * (size_t)N, sizeof *t->observed);
    if (!first || !t->image_id || !t->repeats || !t->observed) {
        free(first);
        snprintf(why, size, "out of memory");
        return 1;
    }
    for (int i = 0; i < data->trials; i++) {
        if (data->tiers[i] != TIER_TEST)
            continue;
        int k = 0;
        while (k < n && t->image_id[k] != data->image_ids[i])
            k++;
        if (k == n)
            t->image_id[n] = data->image_ids[i], first[n++] = i;
        t->repeats[k]++;
        for (int j = 0; j < N; j++)
            t->observed[(size_t)k * N + j] += data->responses[(size_t)i * N + j];
    }
    t->images = n;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < N; j++)
            t->observed[(size_t)k * N + j] /= (float)t->repeats[k];
    float *images = malloc(((size_t)n + 1) * (size_t)P * sizeof *images);
    t->predicted = malloc(((size_t)n + 1) * (size_t)N * sizeof *t->predicted);
    int status = !images || !t->predicted;
    if (status)
        snprintf(why, size, "out of memory");
    for (int k = 0; k < n && !status; k++)
        memcpy(images + (size_t)k * P, data->images + (size_t)first[k] * P,
               (size_t)P * sizeof *images);
    char err[MODEL_ERR_SIZE];
    for (int k = 0; k < n && !status; k += REPORT_PREDICT_BATCH) {
        int batch = n - k < REPORT_PREDICT_BATCH ? n - k : REPORT_PREDICT_BATCH;
        if (model_predict(m, images + (size_t)k * P, batch, t->predicted + (size_t)k * N, err)) {
            snprintf(why, size, "the model's predictions failed: %s", err);
            status = 1;
        }
    }
    free(first), free(images);
    return status;
}

/* predicted_vs_observed.csv: one row per neuron and test image. */
static int prediction_data(report_output *o, const test_responses *t)
{
    FILE *f = open_data(o, "predicted_vs_observed.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,image_id,repeats,predicted,observed_mean\n");
    for (int j = 0; j < t->neurons; j++)
        for (int k = 0; k < t->images; k++)
            fprintf(f, "%d,%lld,%d,%.9g,%.9g\n", j, (long long)t->image_id[k], t->repeats[k],
                    t->predicted[(size_t)k * t->neurons + j],
                    t->observed[(size_t)k * t->neurons + j]);
    return close_data(o, f, "predicted_vs_observed.csv");
}

static int prediction_figure(report_output *o, const test_responses *t)
{
    size_t n = (size_t)t->images * t->neurons;
    double *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y);
    plot_canvas c;
    int status = !x || !y || n > INT32_MAX ? controller_fail(o->err, "out of memory")
                                            : new_figure(&c, o);
    if (!status) {
        for (size_t i = 0; i < n; i++)
            x[i] = t->predicted[i], y[i] = t->observed[i];
        double hi = fmax(fmax(series_max(x, (int)n), series_max(y, (int)n)) * 1.05, 1e-3);
        double lo = fmin(0.0, fmin(series_min(x, (int)n), series_min(y, (int)n)));
        plot_axes a;
        plot_axes_draw(&a, &c, lo, hi, lo, hi);
        plot_line(&c, plot_x(&a, lo), plot_y(&a, lo), plot_x(&a, hi), plot_y(&a, hi), PLOT_GRAY);
        plot_points(&a, x, y, (int)n, 1, PLOT_BLUE);
        status = write_canvas(o, &c, "predicted_vs_observed.png",
                              "predicted against observed test responses");
        plot_canvas_destroy(&c);
    }
    free(x), free(y);
    return status;
}

static int section_prediction(report_output *o, model *m, const char *why)
{
    fprintf(o->html, "<h2>Model: predicted against observed test responses</h2>\n");
    if (!m) {
        missing_because(o, "the test predictions", why);
        return 0;
    }
    session_dataset sd;
    char reason[CONTROLLER_ERR_SIZE + 64];
    if (session_dataset_load(o->session_dir, &sd, reason)) {
        missing_because(o, "the test predictions (the natural trials do not load)", reason);
        return 0;
    }
    const model_config *cfg = model_get_config(m);
    const dataset *data = &sd.data;
    test_responses t = {0};
    int status = 0;
    if (cfg->height != data->height || cfg->width != data->width ||
        cfg->neurons != data->neurons) {
        snprintf(reason, sizeof reason, "a model of %d×%d images and %d neurons; the trials "
                 "have %d×%d and %d", cfg->height, cfg->width, cfg->neurons, data->height,
                 data->width, data->neurons);
        missing_because(o, "the test predictions", reason);
    } else if (test_responses_make(data, m, &t, reason, sizeof reason)) {
        missing_because(o, "the test predictions", reason);
    } else if (!t.images) {
        html_missing(o, "the test predictions (no unflagged test trials)");
    } else {
        status = prediction_figure(o, &t);
        if (!status) {
            int trials = 0;
            for (int k = 0; k < t.images; k++)
                trials += t.repeats[k];
            fprintf(o->html, "<p class=\"caption\">Each point is one neuron and one test image: "
                             "the final model's predicted response (x) and the recorded count "
                             "averaged over the image's repeats (y), %d neurons &times; %d "
                             "images (%d unflagged trials); the gray line is y = x.</p>\n",
                    t.neurons, t.images, trials);
            status = prediction_data(o, &t);
        }
    }
    test_responses_free(&t);
    session_dataset_free(&sd);
    return status;
}

static int section_final_model(report_output *o, const session_data *d)
{
    char why[CONTROLLER_ERR_SIZE + 64];
    model *m = recorded_model(d, why, sizeof why);
    int status = section_prediction(o, m, why) || section_readout(o, d, m, why);
    model_destroy(m);
    return status;
}

/* ---- The fit's learning curve ---- */

/* Each point's place on the x axis: background rounds first (1…), the
 * final fit's epochs after the last of them. */
static void curve_steps(const session_data *d, double *x)
{
    int background = 0;
    for (int i = 0; i < d->curve_round.n; i++)
        background += !d->curve_final.v[i];
    for (int i = 0, b = 0, f = 0; i < d->curve_round.n; i++)
        x[i] = d->curve_final.v[i] ? background + ++f : ++b;
}

/* One panel: the background points in orange, the final fit's in blue. */
static int curve_figure(report_output *o, const session_data *d, const double *x,
                        const series *y, const char *name, const char *alt)
{
    int n = y->n;
    double *xs = malloc((size_t)n * sizeof *xs), *ys = malloc((size_t)n * sizeof *ys);
    plot_canvas c;
    int status = !xs || !ys ? controller_fail(o->err, "out of memory") : new_figure(&c, o);
    if (!status) {
        double lo = fmin(0.0, series_min(y->v, n)), hi = series_max(y->v, n);
        hi = isfinite(hi) && hi > lo ? hi * (hi > 0 ? 1.05 : 0.95) : lo + 1.0;
        hi = isfinite(hi) ? hi : DBL_MAX; /* a damaged value near the largest double */
        plot_axes a;
        plot_axes_draw(&a, &c, 0, fmax(series_max(x, n), 1.0) + 1, isfinite(lo) ? lo : 0, hi);
        for (int final = 0; final < 2; final++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if ((int)d->curve_final.v[i] == final && isfinite(y->v[i]))
                    xs[m] = x[i], ys[m++] = y->v[i];
            plot_polyline(&a, xs, ys, m, final ? PLOT_BLUE : PLOT_ORANGE);
            plot_points(&a, xs, ys, m, 2, final ? PLOT_BLUE : PLOT_ORANGE);
        }
        status = write_canvas(o, &c, name, alt);
        plot_canvas_destroy(&c);
    }
    free(xs), free(ys);
    return status;
}

static int curve_data(report_output *o, const session_data *d, const double *x)
{
    FILE *f = open_data(o, "learning_curve.csv");
    if (!f)
        return 1;
    fprintf(f, "step,fit,round,trials,train_loss,validation_corr\n");
    for (int i = 0; i < d->curve_round.n; i++)
        fprintf(f, "%.0f,%s,%.0f,%.0f,%.9g,%.9g\n", x[i],
                d->curve_final.v[i] ? "final" : "background", d->curve_round.v[i],
                d->curve_trials.v[i], d->curve_loss.v[i], d->curve_validation.v[i]);
    return close_data(o, f, "learning_curve.csv");
}

static int section_curve(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Model: the fit's learning curve</h2>\n");
    int n = d->curve_round.n;
    if (!n) {
        html_missing(o, "the learning curve (no fit round notes: a record from before they "
                        "were written, or a model fitted elsewhere)");
        return 0;
    }
    double *x = malloc((size_t)n * sizeof *x);
    if (!x)
        return controller_fail(o->err, "out of memory");
    curve_steps(d, x);
    int background = 0;
    for (int i = 0; i < n; i++)
        background += !d->curve_final.v[i];
    int status = curve_figure(o, d, x, &d->curve_loss, "learning_curve_loss.png",
                              "training loss per round") ||
                 curve_figure(o, d, x, &d->curve_validation, "learning_curve_validation.png",
                              "validation correlation per round");
    if (!status) {
        fprintf(o->html, "<p class=\"caption\">Training loss (first figure: mean Poisson "
                         "negative log-likelihood per trial) and mean validation correlation "
                         "(second) at the end of each of the background fit's %d rounds during "
                         "the recording (orange; x 1 to %d, each round a few epochs on the "
                         "trials recorded so far) and of each of the final fit's %d epochs "
                         "(blue, after them).</p>\n",
                background, background, n - background);
        status = curve_data(o, d, x);
    }
    free(x);
    return status;
}

/* ---- Population PSTH around onsets ---- */

#define PSTH_MARGIN_MS 200.0 /* shown before the onset and after the window */
#define PSTH_MAX_SLOTS 100000 /* a damaged bin width cannot ask for more */

typedef struct timed_bin {
    double start_ns, mean;
} timed_bin;

static int compare_bin(const void *a, const void *b)
{
    double x = ((const timed_bin *)a)->start_ns, y = ((const timed_bin *)b)->start_ns;
    return (x > y) - (x < y);
}

/* The first bin starting at or after t_ns. */
static int first_bin_from(const timed_bin *bins, int n, double t_ns)
{
    int lo = 0, hi = n;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        if (bins[mid].start_ns < t_ns)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* A trial's onset on the acquisition clock: recorded, or its display onset
 * through the last alignment (RECORD.md, alignment); NAN when neither. */
static double onset_on_acquisition(const session_data *d, int i)
{
    if (isfinite(d->onset_acq_ns.v[i]))
        return d->onset_acq_ns.v[i];
    if (!d->have_map || !isfinite(d->onset_display_ns.v[i]))
        return NAN;
    return d->map_acquisition_ref_ns + d->map_offset_ns +
           d->map_slope * (d->onset_display_ns.v[i] - d->map_display_ref_ns);
}

typedef struct psth {
    double width_ns, lo_ms;
    int slots, trials, mapped; /* trials with a bin in range; of them mapped */
    int other_width;           /* bins of another width than the first, left out */
    double *sum;               /* per slot: summed population means, then the mean */
    int *count;                /* per slot: the trials with a bin there */
} psth;

/* Each bin of the first bin width is put in the slot of its start relative
 * to each onset, over [lo, lo + slots × width); a slot's value is the mean
 * over the trials with a bin there of the bin's mean count per unit. */
static int psth_compute(const session_data *d, double hi_ms, psth *out)
{
    memset(out, 0, sizeof *out);
    out->width_ns = d->bin_width_ns.v[0];
    out->lo_ms = -PSTH_MARGIN_MS;
    double slots = ceil((hi_ms - out->lo_ms) * 1e6 / out->width_ns);
    out->slots = slots > PSTH_MAX_SLOTS ? PSTH_MAX_SLOTS : (int)slots;
    int n = 0;
    timed_bin *bins = malloc((size_t)d->bin_mean.n * sizeof *bins);
    out->sum = calloc((size_t)out->slots, sizeof *out->sum);
    out->count = calloc((size_t)out->slots, sizeof *out->count);
    if (!bins || !out->sum || !out->count) {
        free(bins);
        return 1;
    }
    for (int i = 0; i < d->bin_mean.n; i++)
        if (d->bin_width_ns.v[i] == out->width_ns)
            bins[n++] = (timed_bin){d->bin_start_ns.v[i], d->bin_mean.v[i]};
        else
            out->other_width++;
    qsort(bins, (size_t)n, sizeof *bins, compare_bin);
    double lo_ns = out->lo_ms * 1e6, span_ns = out->slots * out->width_ns;
    for (int t = 0; t < d->onset_acq_ns.n; t++) {
        double onset = onset_on_acquisition(d, t);
        if (!isfinite(onset))
            continue;
        int used = 0;
        for (int b = first_bin_from(bins, n, onset + lo_ns);
             b < n && bins[b].start_ns < onset + lo_ns + span_ns; b++) {
            int slot = (int)floor((bins[b].start_ns - onset - lo_ns) / out->width_ns);
            if (slot < 0 || slot >= out->slots)
                continue;
            out->sum[slot] += bins[b].mean;
            out->count[slot]++;
            used = 1;
        }
        out->trials += used;
        out->mapped += used && !isfinite(d->onset_acq_ns.v[t]);
    }
    for (int s = 0; s < out->slots; s++)
        out->sum[s] = out->count[s] ? out->sum[s] / out->count[s] : NAN;
    free(bins);
    return 0;
}

/* psth.csv: one row per slot, the slot's start relative to the onset. */
static int psth_data(report_output *o, const psth *p)
{
    FILE *f = open_data(o, "psth.csv");
    if (!f)
        return 1;
    fprintf(f, "time_ms,mean_count,rate_hz,trials\n");
    for (int s = 0; s < p->slots; s++)
        fprintf(f, "%.6g,%.9g,%.9g,%d\n", p->lo_ms + s * p->width_ns * 1e-6, p->sum[s],
                p->sum[s] / (p->width_ns * 1e-9), p->count[s]);
    return close_data(o, f, "psth.csv");
}

static int psth_figure(report_output *o, const session_data *d, const psth *p)
{
    double *t = malloc((size_t)p->slots * sizeof *t);
    double *rate = malloc((size_t)p->slots * sizeof *rate);
    plot_canvas c;
    int status = !t || !rate ? controller_fail(o->err, "out of memory") : new_figure(&c, o);
    if (!status) {
        int n = 0;
        for (int s = 0; s < p->slots; s++)
            if (p->count[s]) /* the bin's centre */
                t[n] = p->lo_ms + (s + 0.5) * p->width_ns * 1e-6,
                rate[n++] = p->sum[s] / (p->width_ns * 1e-9);
        double top = fmax(series_max(rate, n) * 1.1, 1e-3);
        plot_axes a;
        plot_axes_draw(&a, &c, p->lo_ms, p->lo_ms + p->slots * p->width_ns * 1e-6, 0, top);
        if (d->have_window) /* the counting window, shaded behind the curve */
            plot_rect(&c, plot_x(&a, d->window_start_ms), a.top + 1, plot_x(&a, d->window_end_ms),
                      a.bottom - 1, (plot_color){255, 225, 190});
        plot_line(&c, plot_x(&a, 0), a.top, plot_x(&a, 0), a.bottom, PLOT_GRAY);
        plot_polyline(&a, t, rate, n, PLOT_BLUE);
        status = write_canvas(o, &c, "psth.png", "population PSTH around the onsets");
        plot_canvas_destroy(&c);
    }
    free(t), free(rate);
    return status;
}

static int section_psth(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Population response around the onsets</h2>\n");
    if (d->bin_mean.n < 1 || d->onset_acq_ns.n < 1) {
        html_missing(o, "the PSTH (no recorded counts bins or no unflagged trials)");
        return 0;
    }
    double hi = (d->have_window ? d->window_end_ms : 0.0) + PSTH_MARGIN_MS;
    psth p;
    int status = psth_compute(d, hi, &p) ? controller_fail(o->err, "out of memory for the PSTH") : 0;
    if (!status && !p.trials) {
        html_missing(o, "the PSTH (no trial has recorded bins around its onset)");
    } else if (!status) {
        status = psth_figure(o, d, &p);
        if (!status) {
            fprintf(o->html, "<p class=\"caption\">Mean rate over the units and the %d unflagged "
                             "trials with bins around their onset (%d of them placed on the "
                             "acquisition clock through the last clock alignment, the rest by "
                             "their recorded acquisition onset), spikes/s per unit, in the "
                             "recorded bins of %.3g ms by their start relative to the onset "
                             "(ms; gray line: the onset). ",
                    p.trials, p.mapped, p.width_ns * 1e-6);
            if (p.other_width)
                fprintf(o->html, "%d bins of another width than the first bin's were left "
                                 "out. ", p.other_width);
            if (d->have_window)
                fprintf(o->html, "Shaded: the protocol's counting window, %.4g to %.4g ms.</p>\n",
                        d->window_start_ms, d->window_end_ms);
            else
                fprintf(o->html, "The protocol's counting window is unknown (its text in the "
                                 "record does not parse).</p>\n");
            status = psth_data(o, &p);
        }
    }
    free(p.sum), free(p.count);
    return status;
}

/* ---- Test correlation against the oracle ---- */

static int oracle_data(report_output *o, const session_data *d)
{
    FILE *f = open_data(o, "test_vs_oracle.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,oracle_corr,single_trial_corr\n");
    for (int i = 0; i < d->oracle_neurons; i++)
        fprintf(f, "%d,%.9g,%.9g\n", i, d->oracle[i], d->single_trial_corr[i]);
    return close_data(o, f, "test_vs_oracle.csv");
}

static int section_oracle(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Model: test correlation against the oracle</h2>\n");
    if (!d->oracle_neurons) {
        html_missing(o, "the test metrics per neuron (no test_metrics evaluation)");
        return 0;
    }
    int n = d->oracle_neurons;
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    plot_canvas c;
    int status = !x || !y ? controller_fail(o->err, "out of memory") : new_figure(&c, o);
    int shown = 0;
    if (!status) {
        for (int i = 0; i < n; i++)
            if (isfinite(d->oracle[i]) && isfinite(d->single_trial_corr[i]))
                x[shown] = d->oracle[i], y[shown++] = d->single_trial_corr[i];
        double lo = fmin(0.0, fmin(series_min(x, shown), series_min(y, shown)));
        double hi = fmax(1e-3, fmax(series_max(x, shown), series_max(y, shown)) * 1.05);
        plot_axes a;
        plot_axes_draw(&a, &c, lo, hi, lo, hi);
        plot_line(&c, plot_x(&a, lo), plot_y(&a, lo), plot_x(&a, hi), plot_y(&a, hi), PLOT_GRAY);
        plot_points(&a, x, y, shown, 2, PLOT_BLUE);
        status = write_canvas(o, &c, "test_vs_oracle.png", "test correlation against oracle");
        plot_canvas_destroy(&c);
    }
    if (!status) {
        fprintf(o->html, "<p class=\"caption\">Each point is one neuron (%d of %d with both "
                         "defined): its oracle correlation (x: each test repeat against the mean "
                         "of the other repeats) and the model's single-trial test correlation "
                         "(y); the gray line is y = x, the ceiling a model reaches.</p>\n",
                shown, n);
        status = oracle_data(o, d);
    }
    free(x), free(y);
    return status;
}

/* ---- Gallery ---- */

/* One gallery cell: the stimulus as presented (gray levels), scaled up to
 * GALLERY_SIDE, written as `name`, with `label` and `note` under it. */
static int gallery_cell(report_output *o, const stimulus_image *s, const char *name,
                        const char *label, const char *note)
{
    char path[PATH_SIZE + 128];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    int longest = s->height > s->width ? s->height : s->width;
    int scale = (GALLERY_SIDE + longest - 1) / longest;
    if (plot_write_gray_png(s->pixels, s->height, s->width, scale < 1 ? 1 : scale, path, o->err))
        return 1;
    o->summary->figures++;
    fprintf(o->html, "<td><img src=\"%s\" width=\"%d\" height=\"%d\" alt=\"", name,
            s->width * scale, s->height * scale);
    html_escaped(o->html, label);
    fprintf(o->html, "\"><br>");
    html_escaped(o->html, label);
    fprintf(o->html, "<br>");
    html_escaped(o->html, note);
    fprintf(o->html, "</td>");
    return 0;
}

static int section_gallery(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>MEIs and their controls</h2>\n");
    if (!d->stimulus_count) {
        html_missing(o, "synthesized stimuli (no stimulus records)");
        return 0;
    }
    fprintf(o->html, "<table class=\"gallery\">\n");
    int64_t previous = INT64_MIN;
    for (int i = 0; i < d->stimulus_count; i++) {
        const stimulus_image *s = &d->stimuli[i];
        if (!strcmp(s->kind, STIMULUS_KIND_NAME_DIVERSE))
            continue; /* the diverse sets' gallery is the evaluation's (diverse_gallery) */
        if (s->neuron != previous) {
            if (s->neuron >= 0)
                fprintf(o->html, "%s<tr><th>neuron %lld</th>",
                        previous != INT64_MIN ? "</tr>\n" : "", (long long)s->neuron);
            else
                fprintf(o->html, "%s<tr><th>no target</th>",
                        previous != INT64_MIN ? "</tr>\n" : "");
            previous = s->neuron;
        }
        char name[64], note[64];
        snprintf(name, sizeof name, "stimulus_%d.png", i);
        snprintf(note, sizeof note, "predicted %.3g", s->predicted);
        if (gallery_cell(o, s, name, s->kind, note))
            return 1;
    }
    fprintf(o->html, "</tr>\n</table>\n<p class=\"caption\">Each row: one target neuron's "
                     "MEI, then its controls (best natural image, matched Gabor, RF stimulus),"
                     " then the kinds mei.kinds asked for (masked MEI, most and least exciting "
                     "surround, least exciting input and natural image), each with the model's "
                     "predicted response.</p>\n");
    return 0;
}

/* ---- MEI vs controls ---- */


static int compare_stimulus(const void *a, const void *b)
{
    const stimulus_image *x = a, *y = b;
    if (x->neuron != y->neuron)
        return (x->neuron > y->neuron) - (x->neuron < y->neuron);
    int kx = kind_rank(x->kind), ky = kind_rank(y->kind);
    return kx != ky ? kx - ky : (x->id > y->id) - (x->id < y->id);
}

static void scatter_axes_range(const session_data *d, int kind, int control, double *lo,
                               double *hi)
{
    *lo = 0.0, *hi = 0.0;
    for (int i = 0; i < d->target_count; i++) {
        const target_summary *t = &d->targets[i];
        if (!t->have[kind] || !t->have[control])
            continue;
        double values[4] = {t->interval[kind].low, t->interval[kind].high,
                            t->interval[control].low, t->interval[control].high};
        *lo = fmin(*lo, series_min(values, 4));
        *hi = fmax(*hi, series_max(values, 4));
    }
    *hi = *hi > *lo ? *hi * 1.05 : *lo + 1.0;
}

static int scatter_figure(report_output *o, const session_data *d, int kind, int control,
                          const char *name)
{
    plot_canvas c;
    if (new_figure(&c, o))
        return 1;
    double lo, hi;
    scatter_axes_range(d, kind, control, &lo, &hi);
    plot_axes a;
    plot_axes_draw(&a, &c, lo, hi, lo, hi);
    plot_line(&c, plot_x(&a, lo), plot_y(&a, lo), plot_x(&a, hi), plot_y(&a, hi), PLOT_GRAY);
    for (int i = 0; i < d->target_count; i++) {
        const target_summary *t = &d->targets[i];
        if (!t->have[kind] || !t->have[control])
            continue;
        const stats_interval *m = &t->interval[kind], *k = &t->interval[control];
        plot_error_bar(&a, k->mean, m->mean, k->low, k->high, m->low, m->high, PLOT_ORANGE);
        plot_points(&a, &k->mean, &m->mean, 1, 3, PLOT_BLUE);
    }
    char alt[128];
    snprintf(alt, sizeof alt, "%s versus %s responses", stimulus_kind_title(kind),
             stimulus_kind_title(control));
    int status = write_canvas(o, &c, name, kind == KIND_MEI ? "MEI versus control responses" : alt);
    plot_canvas_destroy(&c);
    return status;
}

static void paired_caption(report_output *o, const stats_paired *p, int kind, int control)
{
    FILE *f = o->html;
    const char *short_name = kind == KIND_MEI ? "MEI" : stimulus_kind_name(kind);
    fprintf(f, "<p class=\"caption\">Each point is one target neuron: its mean recorded "
               "response to the %s (x) and to its %s (y), with %.0f%% percentile bootstrap "
               "intervals (%d resamples); the gray line is y = x. Across the %d neurons: mean "
               "difference %s &minus; control %.3g (sd %.3g), effect size d<sub>z</sub> = ",
            stimulus_kind_title(control), stimulus_kind_title(kind), 100 * REPORT_CONFIDENCE,
            REPORT_BOOTSTRAP_RESAMPLES, p->n, short_name, p->mean_difference, p->sd_difference);
    fprintf(f, isfinite(p->effect_size) ? "%.2f" : "n/a", p->effect_size);
    fprintf(f, ", median ratio %s/control ", short_name);
    fprintf(f, isfinite(p->median_ratio) ? "%.2f" : "n/a", p->median_ratio);
    fprintf(f, " (%d neurons with a positive control); Wilcoxon signed-rank W+ = %.1f, "
               "W&minus; = %.1f, n = %d, p = %.3g (%s); sign test %d up, %d down, %d tied, "
               "p = %.3g.</p>\n",
            p->ratio_count, p->wilcoxon.w_plus, p->wilcoxon.w_minus, p->wilcoxon.n_used,
            p->wilcoxon.p, p->wilcoxon.exact ? "exact" : "normal approximation",
            p->sign.positive, p->sign.negative, p->sign.zeros, p->sign.p);
}

/* One comparison (session_comparison_at): the kind against its control,
 * over the targets with both. A comparison of a kind the session did not
 * make (mei.kinds, an audio session's tone) is left out; the MEI's with the
 * other controls are always shown. */
static int compare_kinds(report_output *o, const session_data *d, const session_comparison *cmp)
{
    int kind = cmp->kind, control = cmp->control;
    double *mine = malloc(((size_t)d->target_count + 1) * sizeof *mine);
    double *other = malloc(((size_t)d->target_count + 1) * sizeof *other);
    if (!mine || !other) {
        free(mine), free(other);
        return controller_fail(o->err, "out of memory");
    }
    int n = 0;
    for (int i = 0; i < d->target_count; i++)
        if (d->targets[i].have[kind] && d->targets[i].have[control]) {
            mine[n] = d->targets[i].interval[kind].mean;
            other[n++] = d->targets[i].interval[control].mean;
        }
    int status = 0;
    if (n == 0 && (kind != KIND_MEI || control == STIMULUS_KIND_TONE)) {
        free(mine), free(other);
        return 0;
    }
    fprintf(o->html, "<h3>%s vs %s</h3>\n", stimulus_kind_title(kind), stimulus_kind_title(control));
    if (n == 0) {
        html_missing(o, "responses to both the MEIs and this control");
    } else {
        stats_paired p;
        char name[96];
        snprintf(name, sizeof name, "%s_vs_%s.png", stimulus_kind_name(kind),
                 stimulus_kind_name(control));
        status = stats_paired_compare(mine, other, n, &p, o->err) ||
                 scatter_figure(o, d, kind, control, name);
        if (!status)
            paired_caption(o, &p, kind, control);
    }
    free(mine), free(other);
    return status;
}

static void response_table(report_output *o, const session_data *d)
{
    FILE *f = o->html;
    int shown[KIND_COUNT]; /* the MEI and its controls always; mei.kinds' when made */
    for (int k = 0; k < KIND_COUNT; k++) {
        shown[k] = k <= STIMULUS_KIND_RF;
        for (int i = 0; i < d->target_count; i++)
            shown[k] |= d->targets[i].have[k];
    }
    fprintf(f, "<table class=\"numbers\"><tr><th>neuron</th>");
    for (int i = 0; i < SESSION_RUN_KINDS; i++)
        if (shown[session_run_kind_at(i)])
            fprintf(f, "<th>%s: mean [%.0f%% CI] (repeats)</th>",
                    stimulus_kind_title(session_run_kind_at(i)), 100 * REPORT_CONFIDENCE);
    fprintf(f, "</tr>\n");
    for (int i = 0; i < d->target_count; i++) {
        const target_summary *t = &d->targets[i];
        fprintf(f, "<tr><td>%lld</td>", (long long)t->neuron);
        for (int r = 0; r < SESSION_RUN_KINDS; r++) {
            int k = session_run_kind_at(r);
            if (!shown[k])
                continue;
            else if (t->have[k])
                fprintf(f, "<td>%.3g [%.3g, %.3g] (%lld)</td>", t->interval[k].mean,
                        t->interval[k].low, t->interval[k].high, (long long)t->repeats[k]);
            else
                fprintf(f, "<td>&ndash;</td>");
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n");
}

static int diverse_gallery(report_output *o, const session_data *d); /* below */

static int section_evaluation(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Recorded responses: MEI vs controls</h2>\n");
    int with_mei = 0;
    for (int i = 0; i < d->target_count; i++)
        with_mei += d->targets[i].have[STIMULUS_KIND_MEI];
    o->summary->targets = with_mei;
    if (!with_mei) {
        html_missing(o, "closed-loop responses to MEIs (no closed-loop trials or evaluations)");
        return 0;
    }
    fprintf(o->html, "<p>From %s.</p>\n",
            d->closed_loop_trials ? "the closed-loop trials' target-neuron counts"
                                  : "the evaluation records (the record holds no closed-loop "
                                    "trials)");
    for (int c = 0; c < SESSION_COMPARISONS; c++)
        if (compare_kinds(o, d, session_comparison_at(c)))
            return 1;
    response_table(o, d);
    return diverse_gallery(o, d);
}

/* ---- The model-free search ---- */

#define SEARCH_CURVE_WIDTH 400
#define SEARCH_CURVE_HEIGHT 240

/* One target's search over its generations (0-based index): the mean count
 * of the generation's best image (the highest mean over its unflagged
 * trials there) and the mean over all the generation's unflagged trials of
 * the target; NaN where a generation has none. */
typedef struct search_curve {
    int generations;
    double *x, *best, *mean;
    int64_t *images, *trials;
} search_curve;

static void search_curve_free(search_curve *c)
{
    free(c->x), free(c->best), free(c->mean), free(c->images), free(c->trials);
}

static int search_curve_make(const session_data *d, int64_t neuron, search_curve *c)
{
    memset(c, 0, sizeof *c);
    int64_t last = -1;
    for (int i = 0; i < d->search_image_count; i++)
        if (d->search_images[i].neuron == neuron && d->search_images[i].generation > last)
            last = d->search_images[i].generation; /* at most the target's image count */
    int n = (int)(last + 1);
    size_t size = (size_t)n + 1;
    c->generations = n;
    c->x = malloc(size * sizeof *c->x), c->best = malloc(size * sizeof *c->best);
    c->mean = calloc(size, sizeof *c->mean);
    c->images = calloc(size, sizeof *c->images), c->trials = calloc(size, sizeof *c->trials);
    if (!c->x || !c->best || !c->mean || !c->images || !c->trials)
        return 1;
    for (int g = 0; g < n; g++)
        c->x[g] = g + 1, c->best[g] = -INFINITY;
    for (int i = 0; i < d->search_image_count; i++) {
        const search_image *s = &d->search_images[i];
        if (s->neuron != neuron || s->generation < 0)
            continue;
        int g = (int)s->generation;
        c->images[g]++;
        c->trials[g] += s->trials;
        c->mean[g] += s->sum;
        if (s->trials > 0 && s->sum / (double)s->trials > c->best[g])
            c->best[g] = s->sum / (double)s->trials;
    }
    for (int g = 0; g < n; g++) {
        c->mean[g] = c->trials[g] ? c->mean[g] / (double)c->trials[g] : NAN;
        c->best[g] = isfinite(c->best[g]) ? c->best[g] : NAN;
    }
    return 0;
}

/* The closed loop's stimulus of `kind` for a target, NULL if none. */
static const stimulus_image *closed_loop_stimulus(const session_data *d, int64_t neuron,
                                                  const char *kind)
{
    for (int i = 0; i < d->stimulus_count; i++)
        if (d->stimuli[i].neuron == neuron && !strcmp(d->stimuli[i].kind, kind))
            return &d->stimuli[i];
    return NULL;
}

/* A target's recorded closed-loop interval of `kind`, NULL if none. */
static const stats_interval *closed_loop_interval(const session_data *d, int64_t neuron, int kind,
                                                  int64_t *repeats)
{
    for (int i = 0; i < d->target_count; i++)
        if (d->targets[i].neuron == neuron && d->targets[i].have[kind]) {
            *repeats = d->targets[i].repeats[kind];
            return &d->targets[i].interval[kind];
        }
    return NULL;
}

/* mei.kinds diverse (docs/run.md): per target its MEI, then its set, each
 * image with its recorded mean (its target's count over its unflagged
 * trials) over the MEI's, the record's over_mei; diverse.csv the same.
 * Drawn from the trials only. */
static int diverse_gallery(report_output *o, const session_data *d)
{
    int have = 0;
    for (int i = 0; i < d->stimulus_count; i++)
        have |= !strcmp(d->stimuli[i].kind, STIMULUS_KIND_NAME_DIVERSE);
    if (!have)
        return 0;
    fprintf(o->html, "<h3>Diverse MEIs</h3>\n<table class=\"gallery\">\n");
    FILE *f = open_data(o, "diverse.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,stimulus_id,mean,trials,over_mei\n");
    int64_t previous = INT64_MIN;
    for (int i = 0; i < d->stimulus_count; i++) { /* sorted: by neuron, its set last, by id */
        const stimulus_image *s = &d->stimuli[i];
        if (strcmp(s->kind, STIMULUS_KIND_NAME_DIVERSE))
            continue;
        int64_t repeats = 0;
        const stats_interval *mei = closed_loop_interval(d, s->neuron, STIMULUS_KIND_MEI, &repeats);
        double m = mei ? mei->mean : NAN;
        char name[64], note[96];
        if (s->neuron != previous) {
            fprintf(o->html, "%s<tr><th>neuron %lld</th>", previous != INT64_MIN ? "</tr>\n" : "",
                    (long long)s->neuron);
            previous = s->neuron;
            const stimulus_image *x = closed_loop_stimulus(d, s->neuron, STIMULUS_KIND_NAME_MEI);
            snprintf(name, sizeof name, "diverse_%d_mei.png", i);
            snprintf(note, sizeof note, "recorded %.3g", m);
            if (x && gallery_cell(o, x, name, "MEI", note)) {
                fclose(f);
                return 1;
            }
        }
        double mean = s->trials ? s->sum / (double)s->trials : NAN;
        double over = isfinite(mean) && isfinite(m) && m > 0 ? mean / m : NAN;
        fprintf(f, "%lld,%lld,%.9g,%lld,%.9g\n", (long long)s->neuron, (long long)s->id, mean,
                (long long)s->trials, over);
        snprintf(name, sizeof name, "diverse_%d.png", i);
        snprintf(note, sizeof note, "recorded / MEI %.2f (%lld trials)", over,
                 (long long)s->trials);
        if (gallery_cell(o, s, name, "diverse", note)) {
            fclose(f);
            return 1;
        }
    }
    fprintf(o->html, "</tr>\n</table>\n<p class=\"caption\">Each row: one target's MEI, then "
                     "its diverse set (mei.kinds diverse), each image with its recorded mean "
                     "over the MEI's (unflagged closed-loop trials); the offline ground truth "
                     "asks for 0.8 or more (docs/mei.md).</p>\n");
    return close_data(o, f, "diverse.csv");
}

/* The curve with the target's best natural image's and MEI's recorded
 * means as horizontal lines (NaN: not recorded, not drawn). */
static int search_curve_figure(report_output *o, const search_curve *cv, double natural,
                               double mei, const char *name)
{
    int n = cv->generations;
    double *xs = malloc(((size_t)n + 1) * sizeof *xs), *ys = malloc(((size_t)n + 1) * sizeof *ys);
    plot_canvas c;
    if (!xs || !ys || plot_canvas_create(&c, SEARCH_CURVE_WIDTH, SEARCH_CURVE_HEIGHT)) {
        free(xs), free(ys);
        return controller_fail(o->err, "out of memory for a figure");
    }
    double marks[2] = {natural, mei};
    double hi = fmax(fmax(series_max(cv->best, n), series_max(cv->mean, n)), series_max(marks, 2));
    double lo = fmin(fmin(series_min(cv->best, n), series_min(cv->mean, n)), series_min(marks, 2));
    lo = isfinite(lo) ? fmin(lo, 0.0) : 0.0;
    hi = isfinite(hi) && hi > lo ? hi * 1.1 : lo + 1.0;
    hi = isfinite(hi) ? hi : DBL_MAX; /* a damaged value near the largest double */
    plot_axes a;
    plot_axes_draw(&a, &c, 0, n + 1, lo, hi); /* generations 1..n, whole ticks */
    if (isfinite(natural))
        plot_line(&c, a.left, plot_y(&a, natural), a.right, plot_y(&a, natural), PLOT_GRAY);
    if (isfinite(mei))
        plot_line(&c, a.left, plot_y(&a, mei), a.right, plot_y(&a, mei), PLOT_RED);
    const double *series[2] = {cv->mean, cv->best};
    for (int k = 0; k < 2; k++) {
        int m = 0;
        for (int g = 0; g < n; g++)
            if (isfinite(series[k][g]))
                xs[m] = cv->x[g], ys[m++] = series[k][g];
        plot_polyline(&a, xs, ys, m, k ? PLOT_BLUE : PLOT_ORANGE);
        plot_points(&a, xs, ys, m, 2, k ? PLOT_BLUE : PLOT_ORANGE);
    }
    fprintf(o->html, "<td>");
    int status = write_canvas(o, &c, name, "the search's best image and mean per generation");
    fprintf(o->html, "</td>");
    plot_canvas_destroy(&c);
    free(xs), free(ys);
    return status;
}

/* Whether a target's search images are as many as the protocol asks for;
 * else a line on the page: generations are told by record order, and a lost
 * stimulus record would shift every later generation of its target. */
static void search_count_check(report_output *o, const session_data *d, const search_target *t)
{
    int64_t expected = (int64_t)d->search_generations * d->search_population;
    const char *why = NULL;
    if (d->search_population <= 0)
        return;
    if (t->images > expected || (d->search_ended && t->images != expected))
        why = "";
    else if (!d->search_ended && d->summary.damaged)
        why = " (fewer: the phase did not end, and the record has damaged stretches)";
    if (!why)
        return;
    fprintf(o->html, "<p class=\"missing\">Neuron %lld: %lld search images in the record, the "
                     "protocol asks for %d generations of %d%s. Generations are told by record "
                     "order, and a lost stimulus record shifts the later ones: its curve may be "
                     "shifted.</p>\n",
            (long long)t->neuron, (long long)t->images, d->search_generations,
            d->search_population, why);
    o->summary->missing++;
}

/* One target's row: its curve, then the image the search handed over, its
 * MEI and its best natural image. */
static int search_row(report_output *o, const session_data *d, const search_target *t,
                      FILE *data)
{
    int64_t repeats = 0;
    const stats_interval *nat = closed_loop_interval(d, t->neuron, STIMULUS_KIND_BEST_NATURAL,
                                                     &repeats);
    const stats_interval *mei = closed_loop_interval(d, t->neuron, KIND_MEI, &repeats);
    char name[96], note[96];
    fprintf(o->html, "<tr><th>neuron %lld</th>", (long long)t->neuron);
    if (d->search_population > 0) {
        search_curve cv;
        int status = search_curve_make(d, t->neuron, &cv)
                         ? controller_fail(o->err, "out of memory for the search's curve")
                         : 0;
        snprintf(name, sizeof name, "search_curve_n%lld.png", (long long)t->neuron);
        status = status || search_curve_figure(o, &cv, nat ? nat->mean : NAN,
                                               mei ? mei->mean : NAN, name);
        for (int g = 0; !status && g < cv.generations; g++)
            fprintf(data, "%lld,%d,%lld,%lld,%.9g,%.9g\n", (long long)t->neuron, g + 1,
                    (long long)cv.images[g], (long long)cv.trials[g], cv.best[g], cv.mean[g]);
        search_curve_free(&cv);
        if (status)
            return 1;
    } else {
        fprintf(o->html, "<td>&ndash;</td>");
    }
    struct {
        const stimulus_image *image;
        const char *file, *label;
        const stats_interval *recorded;
    } cells[3] = {{t->best.pixels ? &t->best : NULL, "search", "search (handed over)", NULL},
                  {closed_loop_stimulus(d, t->neuron, STIMULUS_KIND_NAME_MEI), "mei", "MEI", mei},
                  {closed_loop_stimulus(d, t->neuron, STIMULUS_KIND_NAME_BEST_NATURAL),
                   "best_natural", "best natural", nat}};
    for (int i = 0; i < 3; i++) {
        if (!cells[i].image) {
            fprintf(o->html, "<td>%s: not in this record</td>", cells[i].label);
            continue;
        }
        double mean = i == 0 ? t->best_mean : cells[i].recorded ? cells[i].recorded->mean : NAN;
        snprintf(name, sizeof name, "search_n%lld_%s.png", (long long)t->neuron, cells[i].file);
        snprintf(note, sizeof note, isfinite(mean) ? "recorded mean %.3g" : "no recorded mean",
                 mean);
        if (gallery_cell(o, cells[i].image, name, cells[i].label, note))
            return 1;
    }
    fprintf(o->html, "</tr>\n");
    return 0;
}

/* A ratio cell: a / b where both are finite and b > 0. */
static void ratio_cell(FILE *f, double a, double b, int *above, int *compared, double *ratios,
                       int *ratio_count)
{
    if (!isfinite(a) || !isfinite(b)) {
        fprintf(f, "<td>&ndash;</td>");
        return;
    }
    (*compared)++;
    *above += a > b;
    if (b > 0) {
        ratios[(*ratio_count)++] = a / b;
        fprintf(f, "<td>%.3g</td>", a / b);
    } else {
        fprintf(f, "<td>n/a</td>");
    }
}

static void mean_cell(FILE *f, double mean, int64_t repeats, int with_repeats)
{
    if (!isfinite(mean))
        fprintf(f, "<td>&ndash;</td>");
    else if (with_repeats)
        fprintf(f, "<td>%.3g (%lld)</td>", mean, (long long)repeats);
    else
        fprintf(f, "<td>%.3g</td>", mean);
}

/* "above for A of N (median ratio R)", or that none could be compared. */
static void ratio_summary(FILE *f, const char *what, int above, int compared,
                          const double *ratios, int ratio_count)
{
    if (!compared) {
        fprintf(f, "%s: no target to compare", what);
        return;
    }
    fprintf(f, "%s for %d of %d targets", what, above, compared);
    if (ratio_count == compared)
        fprintf(f, " (median ratio %.3g)", stats_median(ratios, ratio_count));
    else if (ratio_count)
        fprintf(f, " (median ratio %.3g over the %d with a positive denominator)",
                stats_median(ratios, ratio_count), ratio_count);
}

/* The recorded comparison of the search's image with the best natural image
 * and the MEI per target, and the ground truth's where the record has it. */
static int search_table(report_output *o, const session_data *d, const search_target **shown,
                        int n)
{
    FILE *f = o->html;
    int truth = 0;
    for (int i = 0; i < n; i++)
        truth |= isfinite(shown[i]->truth_search);
    double *ratios = malloc(4 * ((size_t)n + 1) * sizeof *ratios);
    if (!ratios)
        return controller_fail(o->err, "out of memory");
    double *r_nat = ratios, *r_mei = ratios + n + 1, *t_nat = ratios + 2 * (n + 1),
           *t_mei = ratios + 3 * (n + 1);
    int counts[4][3] = {{0}}; /* per comparison: above, compared, ratios */
    fprintf(f, "<table class=\"numbers\"><tr><th>neuron</th><th>search: recorded mean</th>"
               "<th>MEI: mean (repeats)</th><th>best natural: mean (repeats)</th>"
               "<th>search / best natural</th><th>search / MEI</th>");
    if (truth)
        fprintf(f, "<th>truth: search</th><th>truth: MEI</th><th>truth: best natural training "
                   "image</th><th>truth: search / best natural</th><th>truth: search / MEI</th>");
    fprintf(f, "</tr>\n");
    for (int i = 0; i < n; i++) {
        const search_target *t = shown[i];
        int64_t nat_repeats = 0, mei_repeats = 0;
        const stats_interval *nat = closed_loop_interval(d, t->neuron, STIMULUS_KIND_BEST_NATURAL,
                                                         &nat_repeats);
        const stats_interval *mei = closed_loop_interval(d, t->neuron, KIND_MEI, &mei_repeats);
        double nat_mean = nat ? nat->mean : NAN, mei_mean = mei ? mei->mean : NAN;
        fprintf(f, "<tr><td>%lld</td>", (long long)t->neuron);
        mean_cell(f, t->best_mean, 0, 0);
        mean_cell(f, mei_mean, mei_repeats, 1);
        mean_cell(f, nat_mean, nat_repeats, 1);
        ratio_cell(f, t->best_mean, nat_mean, &counts[0][0], &counts[0][1], r_nat, &counts[0][2]);
        ratio_cell(f, t->best_mean, mei_mean, &counts[1][0], &counts[1][1], r_mei, &counts[1][2]);
        if (truth) {
            mean_cell(f, t->truth_search, 0, 0);
            mean_cell(f, t->truth_mei, 0, 0);
            mean_cell(f, t->truth_natural, 0, 0);
            ratio_cell(f, t->truth_search, t->truth_natural, &counts[2][0], &counts[2][1], t_nat,
                       &counts[2][2]);
            ratio_cell(f, t->truth_search, t->truth_mei, &counts[3][0], &counts[3][1], t_mei,
                       &counts[3][2]);
        }
        fprintf(f, "</tr>\n");
    }
    fprintf(f, "</table>\n<p class=\"caption\">Recorded: ");
    ratio_summary(f, "the search's image above the best natural image", counts[0][0],
                  counts[0][1], r_nat, counts[0][2]);
    fprintf(f, "; ");
    ratio_summary(f, "above the MEI", counts[1][0], counts[1][1], r_mei, counts[1][2]);
    fprintf(f, ". The search's mean is its handed-over image's (<code>search_best_mean</code>: its "
               "mean count over the generations that showed it), the highest of many noisy means "
               "and so biased upward (the winner's curse); the MEI's and the best natural "
               "image's are the closed loop's repeats, chosen by the model before they were "
               "shown.");
    if (truth) {
        fprintf(f, " Ground truth (the virtual rig's simulated cells' expected responses, as "
                   "the evaluation recorded them; the natural image is the truly best natural "
                   "training image at the contrast budget): ");
        ratio_summary(f, "the search's image above the best natural image", counts[2][0],
                      counts[2][1], t_nat, counts[2][2]);
        fprintf(f, "; ");
        ratio_summary(f, "above the MEI", counts[3][0], counts[3][1], t_mei, counts[3][2]);
        if (isfinite(d->search_truth_beats_natural) && isfinite(d->search_truth_beats_mei) &&
            isfinite(d->search_truth_median))
            fprintf(f, " (the run's own count: %.0f and %.0f, median ratio %.3g)",
                    d->search_truth_beats_natural, d->search_truth_beats_mei,
                    d->search_truth_median);
        fprintf(f, ".");
    }
    fprintf(f, "</p>\n");
    free(ratios);
    return 0;
}

static int compare_search_target(const void *a, const void *b)
{
    int64_t x = (*(const search_target *const *)a)->neuron;
    int64_t y = (*(const search_target *const *)b)->neuron;
    return (x > y) - (x < y);
}

static int section_search(report_output *o, const session_data *d)
{
    /* The search's targets: those with images or a handed-over image (a
     * session without the search records truth_mei for its targets too). */
    const search_target **shown = malloc(((size_t)d->search_target_count + 1) * sizeof *shown);
    if (!shown)
        return controller_fail(o->err, "out of memory");
    int n = 0;
    for (int i = 0; i < d->search_target_count; i++)
        if (d->search_targets[i].images || d->search_targets[i].best_id >= 0)
            shown[n++] = &d->search_targets[i];
    if (n > 1) /* by neuron, as the closed loop's table */
        qsort(shown, (size_t)n, sizeof *shown, compare_search_target);
    if (!n && !d->search_population) {
        free(shown);
        return 0; /* no search in this session: no section */
    }
    fprintf(o->html, "<h2>Model-free search</h2>\n");
    if (!n) {
        free(shown);
        html_missing(o, "the search phase's images (the protocol enables it; no stimulus records "
                        "of kind search)");
        return 0;
    }
    int64_t trials = 0;
    for (int i = 0; i < d->search_image_count; i++)
        trials += d->search_images[i].trials;
    if (d->search_population > 0)
        fprintf(o->html, "<p>Per target %d generations of %d images, each shown %d time%s "
                         "(the protocol's <code>search</code>); %d targets, %d images and "
                         "%lld unflagged trials in the record%s.</p>\n",
                d->search_generations, d->search_population, d->search_repeats,
                d->search_repeats == 1 ? "" : "s", n,
                d->search_image_count, (long long)trials,
                d->search_ended ? "" : " (the phase did not end)");
    else
        html_missing(o, "the protocol's search section (no session start to read it from): "
                        "the generations cannot be told apart, no curves");
    for (int i = 0; i < n; i++)
        search_count_check(o, d, shown[i]);
    FILE *data = d->search_population > 0 ? open_data(o, "search_curve.csv") : NULL;
    int status = d->search_population > 0 && !data;
    if (data)
        fprintf(data, "neuron,generation,images,trials,best_image_mean,generation_mean\n");
    if (!status)
        fprintf(o->html, "<table class=\"gallery\">\n");
    for (int i = 0; !status && i < n; i++)
        status = search_row(o, d, shown[i], data);
    if (!status) {
        fprintf(o->html, "</table>\n<p class=\"caption\">Each row: one target neuron. The figure: "
                         "per generation (x), the mean recorded count of the generation's best "
                         "image (blue: the highest mean over its unflagged trials there, biased "
                         "upward as the largest of many noisy means) and the mean over all the "
                         "generation's unflagged trials (orange), with the target's recorded "
                         "mean responses to its best natural image (gray line) and its MEI "
                         "(red line) in the closed loop. Then the image the search handed over, "
                         "the MEI and the best natural image as presented.</p>\n");
    }
    if (data) {
        int closed = close_data(o, data, "search_curve.csv");
        status = status || closed;
    }
    status = status || search_table(o, d, shown, n);
    free(shown);
    return status;
}

/* ---- Timing, stream, alignment ---- */

/* The intervals between flip records of consecutive flips (frame + 1): every
 * flip's interval when the record holds every flip, few when it holds only
 * onsets and late flips (what `inception run` writes). */
static int consecutive_intervals(const session_data *d, double *ms)
{
    int n = 0;
    for (int i = 0; i + 1 < d->flip_ns.n; i++)
        if (d->flip_frame.v[i + 1] == d->flip_frame.v[i] + 1 &&
            d->flip_ns.v[i + 1] > d->flip_ns.v[i])
            ms[n++] = (d->flip_ns.v[i + 1] - d->flip_ns.v[i]) * 1e-6;
    return n;
}

static int interval_histogram(report_output *o, double *ms, int n)
{
    double median = stats_median(ms, n);
    int slow = 0;
    for (int i = 0; i < n; i++)
        slow += ms[i] > 1.5 * median;
    double hi = fmax(median * 3.0, 1e-3);
    int status = histogram_figure(o, ms, n, 0.0, hi, 60, PLOT_BLUE, "flip_intervals.png",
                                  "histogram of inter-flip intervals");
    fprintf(o->html, "<p class=\"caption\">Interval between consecutive display flips (ms; "
                     "longer ones in the last bin): %d intervals, median %.3f ms (%.2f Hz), "
                     "%d longer than 1.5&times; the median.</p>\n",
            n, median, median > 0 ? 1000.0 / median : 0.0, slow);
    return status;
}

/* When in the session the frames were dropped: one count per dropped frame,
 * at its late flip's time (s since the first flip record). */
static int dropped_figure(report_output *o, const session_data *d, int64_t dropped)
{
    if (dropped > (1 << 22)) /* a damaged record: the figure's shape needs no more */
        dropped = 1 << 22;
    double *at = malloc((size_t)(dropped > 0 ? dropped : 1) * sizeof *at), t0 = d->flip_ns.v[0];
    if (!at)
        return controller_fail(o->err, "out of memory");
    int n = 0;
    for (int i = 0; i < d->flip_missed.n; i++)
        for (int k = 0; k < (int)d->flip_missed.v[i] && n < dropped; k++)
            at[n++] = (d->flip_ns.v[i] - t0) * 1e-9;
    double hi = fmax(series_max(d->flip_ns.v, d->flip_ns.n) - t0, 1.0) * 1e-9;
    hi = fmax(hi, 1.0);
    int status = histogram_figure(o, at, n, 0.0, hi, 60, PLOT_RED, "dropped_frames.png",
                                  "dropped frames over the session");
    fprintf(o->html, "<p class=\"caption\">Dropped frames over the session (s since the first "
                     "flip; each late flip counts the frames missed before it).</p>\n");
    free(at);
    return status;
}

static void display_block_table(report_output *o, const session_data *d)
{
    fprintf(o->html, "<table><tr><th>block</th><th>flips</th><th>dropped frames</th><th>trials "
                     "with drops</th><th>trials flagged</th><th>flip interval (ms)</th><th>max "
                     "(ms)</th></tr>\n");
    int shown = d->block_count < REPORT_DISPLAY_BLOCKS ? d->block_count : REPORT_DISPLAY_BLOCKS;
    for (int i = 0; i < shown; i++) {
        const display_block *b = &d->blocks[i];
        fprintf(o->html, "<tr><td>");
        html_escaped(o->html, b->name);
        fprintf(o->html, "</td><td>%lld</td><td>%lld</td><td>%lld of %lld</td><td>%lld</td>"
                         "<td>%.3f &plusmn; %.3f</td><td>%.3f</td></tr>\n",
                (long long)b->flips, (long long)b->dropped, (long long)b->with_drops,
                (long long)b->trials_shown, (long long)b->flagged, b->mean_ms, b->sd_ms,
                b->max_ms);
    }
    fprintf(o->html, "</table>\n");
    if (d->block_count > shown)
        fprintf(o->html, "<p>%d more blocks not listed.</p>\n", d->block_count - shown);
}

static int section_timing(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Stimulus timing</h2>\n");
    if (d->flip_ns.n < 1 && !d->block_count) {
        html_missing(o, "display flips (no flip records)");
        return 0;
    }
    int64_t dropped = 0, late = 0;
    for (int i = 0; i < d->flip_missed.n; i++) {
        double m = d->flip_missed.v[i];
        dropped += m > 0 && m < 1e9 ? (int64_t)m : 0; /* a damaged field counts nothing */
        late += m > 0;
    }
    int status = 0, n = d->flip_ns.n > 1 ? d->flip_ns.n - 1 : 0;
    double *ms = malloc((size_t)(n ? n : 1) * sizeof *ms);
    if (!ms)
        return controller_fail(o->err, "out of memory");
    int consecutive = consecutive_intervals(d, ms);
    /* Every flip recorded: their intervals are the flips'. Otherwise the
     * block accounts carry the interval statistics. */
    int every_flip = n && consecutive >= 0.9 * n;
    if (every_flip)
        status = interval_histogram(o, ms, consecutive);
    free(ms);
    if (d->block_count)
        display_block_table(o, d);
    fprintf(o->html, "<p>%lld frames dropped in all, at %lld late flips (each in the record); "
                     "%lld of %lld trials flagged for the frames they were shown (left out of "
                     "the fit and the evaluation).</p>\n",
            (long long)dropped, (long long)late, (long long)d->trials_frames_flagged,
            (long long)d->trials_seen);
    if (d->block_count && d->blocks_dropped != dropped)
        fprintf(o->html, "<p class=\"missing\">The display counted %lld dropped frames in its "
                         "blocks, the flip records %lld: display events were lost.</p>\n",
                (long long)d->blocks_dropped, (long long)dropped);
    if (!status && !every_flip && dropped > 0 && d->flip_ns.n > 0)
        status = dropped_figure(o, d, dropped);
    return status;
}

static int latency_figure(report_output *o, const session_data *d)
{
    int n = d->stream_received_ns.n;
    /* Zeroed: the caller has n >= 1, which the optimizer cannot always see
     * (a maybe-uninitialized warning in the sanitizer build). */
    double *ms = calloc((size_t)n + 1, sizeof *ms);
    if (!ms)
        return controller_fail(o->err, "out of memory");
    for (int i = 0; i < n; i++)
        ms[i] = (d->stream_received_ns.v[i] + d->clock_offset_ns) * 1e-6 -
                d->stream_timestamp_ms.v[i];
    double median = stats_median(ms, n), lo = fmin(0.0, series_min(ms, n));
    double hi = fmax(series_max(ms, n) * 1.1, lo + 1.0);
    int status = histogram_figure(o, ms, n, lo, hi, 40, PLOT_BLUE, "stream_latency.png",
                                  "histogram of stream latency");
    fprintf(o->html, "<p class=\"caption\">Latency of each stream message: our receive time "
                     "(monotonic, put on the wall clock with the session start's offset) minus "
                     "the sender's timestamp, ms; median %.2f ms, largest %.2f ms. Only "
                     "meaningful when both clocks are the same machine's (the virtual rig) or "
                     "synchronized.</p>\n",
            median, series_max(ms, n));
    free(ms);
    return status;
}

static int loss_figure(report_output *o, const session_data *d)
{
    int n = d->stream_received_ns.n;
    double *t = malloc((size_t)n * sizeof *t), *lost = malloc((size_t)n * sizeof *lost);
    if (!t || !lost) {
        free(t), free(lost);
        return controller_fail(o->err, "out of memory");
    }
    double total = 0;
    int gaps = 0;
    for (int i = 0; i < n; i++) {
        t[i] = (d->stream_received_ns.v[i] - d->stream_received_ns.v[0]) * 1e-9;
        total += d->stream_lost.v[i];
        gaps += d->stream_lost.v[i] > 0;
        lost[i] = total;
    }
    plot_canvas c;
    int status = new_figure(&c, o);
    if (!status) {
        plot_axes a;
        plot_axes_draw(&a, &c, 0, fmax(t[n - 1], 1e-3), 0, fmax(total * 1.1, 1.0));
        plot_polyline(&a, t, lost, n, PLOT_RED);
        status = write_canvas(o, &c, "stream_loss.png", "cumulative lost stream messages");
        plot_canvas_destroy(&c);
    }
    if (!status)
        fprintf(o->html, "<p class=\"caption\">Lost stream messages (gaps in the sender's "
                         "message counter), cumulative over the session (s): %d received, %.0f "
                         "lost (%.2f%%) in %d gaps.</p>\n",
                n, total, 100.0 * total / (n + total), gaps);
    free(t), free(lost);
    return status;
}

static int section_stream(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Stream health</h2>\n");
    if (d->stream_received_ns.n < 1) {
        html_missing(o, "received stream messages (no stream records)");
        return 0;
    }
    if (loss_figure(o, d))
        return 1;
    if (!d->have_start) {
        html_missing(o, "latency (no session start to relate the clocks)");
        return 0;
    }
    return latency_figure(o, d);
}

static int section_alignment(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Clock alignment</h2>\n");
    int n = d->align_rms_ns.n;
    if (n < 1) {
        html_missing(o, "alignment fits (no alignment records)");
        return 0;
    }
    double *t = malloc((size_t)n * sizeof *t), *rms = malloc((size_t)n * sizeof *rms);
    double *max = malloc((size_t)n * sizeof *max);
    plot_canvas c;
    int status = !t || !rms || !max ? controller_fail(o->err, "out of memory") : new_figure(&c, o);
    if (!status) {
        for (int i = 0; i < n; i++) {
            t[i] = (d->align_time_ns.v[i] - (double)d->first_ns) * 1e-9;
            rms[i] = d->align_rms_ns.v[i] * 1e-3;
            max[i] = d->align_max_ns.v[i] * 1e-3;
        }
        plot_axes a;
        plot_axes_draw(&a, &c, fmin(t[0], 0.0), fmax(t[n - 1] * 1.05, 1e-3), 0,
                       fmax(series_max(max, n), series_max(rms, n)) * 1.1);
        plot_polyline(&a, t, max, n, PLOT_ORANGE);
        plot_points(&a, t, max, n, 2, PLOT_ORANGE);
        plot_polyline(&a, t, rms, n, PLOT_BLUE);
        plot_points(&a, t, rms, n, 2, PLOT_BLUE);
        status = write_canvas(o, &c, "alignment.png", "alignment residuals");
        plot_canvas_destroy(&c);
    }
    if (!status) {
        /* The record's slope is dimensionless (RECORD.md, alignment): acquisition
         * ns per display ns, 1 + drift. */
        double slope = d->align_slope.v[n - 1];
        fprintf(o->html, "<p class=\"caption\">Residuals of the clock fit mapping our clock to "
                         "the acquisition system's, at the end of each block (&micro;s), against "
                         "session time (s): RMS in blue, largest in orange. %d fits; the last: "
                         "RMS %.1f &micro;s, largest %.1f &micro;s, drift %.1f ppm.</p>\n",
                n, rms[n - 1], max[n - 1], (slope - 1.0) * 1e6);
    }
    free(t), free(rms), free(max);
    return status;
}

/* ---- The page ---- */

static void page_head(report_output *o, const session_data *d, const char *session_dir)
{
    FILE *f = o->html;
    fprintf(f, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\n<title>inception "
               "report: ");
    html_escaped(f, d->protocol_name[0] ? d->protocol_name : session_dir);
    fprintf(f, "</title>\n<style>\nbody{font-family:sans-serif;max-width:1150px;margin:1em auto;"
               "color:#222}\n.caption{max-width:560px;font-size:90%%}\n.missing{color:#a00;"
               "font-style:italic}\ntable.gallery td{text-align:center;padding:4px;font-size:"
               "85%%}\ntable.numbers td,table.numbers th{padding:2px 8px;font-size:85%%}\n"
               "</style></head>\n<body>\n<h1>Session ");
    html_escaped(f, d->protocol_name[0] ? d->protocol_name : "(no session start)");
    fprintf(f, "</h1>\n<p>Record: ");
    html_escaped(f, session_dir);
    fprintf(f, "/" RECORD_FILE_NAME ", %llu records over %.1f s, %llu damaged stretches "
               "skipped; %d model checkpoints",
            (unsigned long long)d->summary.records, (double)(d->last_ns - d->first_ns) * 1e-9,
            (unsigned long long)d->summary.damaged, d->checkpoints);
    if (d->checkpoints)
        fprintf(f, " (last validation correlation %.3f)", d->last_validation_corr);
    fprintf(f, ".</p>\n<p>Phases: ");
    html_escaped(f, d->phases[0] ? d->phases : "none recorded");
    fprintf(f, "</p>\n");
    if (d->notes[0]) {
        fprintf(f, "<pre>");
        html_escaped(f, d->notes);
        fprintf(f, "</pre>\n");
    }
}

static int write_page(report_output *o, const session_data *d, const char *session_dir)
{
    page_head(o, d, session_dir);
    int status = section_model(o, d) || section_gallery(o, d) || section_evaluation(o, d) ||
                 section_search(o, d) || section_oracle(o, d) || section_final_model(o, d) || section_curve(o, d) ||
                 section_psth(o, d) ||
                 section_timing(o, d) || section_stream(o, d) || section_alignment(o, d);
    fprintf(o->html, "</body></html>\n");
    return status;
}

static int open_output(report_output *o, const char *session_dir, char *err)
{
    snprintf(o->dir, sizeof o->dir, "%s/%s", session_dir, REPORT_DIR_NAME);
    if (mkdir(o->dir, 0777) && errno != EEXIST)
        return controller_fail(err, "%s: cannot create the report folder: %s", o->dir,
                                 strerror(errno));
    char path[PATH_SIZE + 32];
    snprintf(path, sizeof path, "%s/index.html", o->dir);
    o->html = fopen(path, "w");
    if (!o->html)
        return controller_fail(err, "%s: cannot create: %s", path, strerror(errno));
    return 0;
}

int report_write(const char *session_dir, report_summary *out, char *err)
{
    session_data *d = calloc(1, sizeof *d);
    if (!d)
        return controller_fail(err, "out of memory");
    d->search_truth_median = d->search_truth_beats_natural = d->search_truth_beats_mei = NAN;
    int status = read_session(session_dir, d, err);
    if (!status && d->stimulus_count > 1)
        qsort(d->stimuli, (size_t)d->stimulus_count, sizeof *d->stimuli, compare_stimulus);
    report_output o = {.summary = &d->summary, .err = err, .session_dir = session_dir};
    if (!status && !(status = open_output(&o, session_dir, err))) {
        status = write_page(&o, d, session_dir);
        if (fclose(o.html) && !status)
            status = controller_fail(err, "%s/index.html: write failed (disk full?)", o.dir);
    }
    if (out)
        *out = d->summary;
    session_data_free(d);
    free(d);
    return status;
}
