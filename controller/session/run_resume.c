/* run_resume.c: `inception resume` (controller.h, run_resume): a session
 * killed at any moment continues from its record. The record is scanned
 * (phases begun and ended, the earlier trials, stimuli and results), the
 * natural images are made again and checked against it, and each phase
 * that had not ended goes on where it stopped: only trials the record lacks
 * are shown again, under new trial numbers. */
#include "run_internal.h"
#include "stimulus.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The trials a killed session recorded, in record order. */
typedef struct earlier_trials {
    int64_t *trial, *image_id;
    int64_t *flags;
    uint8_t *closed; /* 1: closed-loop block, 2: search, 0: recording */
    float *counts;   /* count × N */
    int count, capacity;
} earlier_trials;

typedef struct resume_scan {
    earlier_trials trials;
    session_image_log images; /* what the record holds of the natural images */
    float *natural;           /* the natural images made again, checked against it */
    float *natural_clips;     /* audio: their clips (natural: the cochleagrams) */
    session_image_repair repair;
    int64_t max_trial;     /* highest trial number scheduled or recorded, -1 none */
} resume_scan;

static void resume_scan_free(resume_scan *r)
{
    free(r->trials.trial);
    free(r->trials.image_id);
    free(r->trials.flags);
    free(r->trials.closed);
    free(r->trials.counts);
    session_image_log_free(&r->images);
    free(r->natural);
    free(r->natural_clips);
}

static int earlier_trial_keep(run_state *s, resume_scan *r, const record_trial *rt);

static int earlier_trial_add(run_state *s, resume_scan *r, const record_view *v)
{
    record_trial rt;
    if (record_trial_read(v, &rt, s->err))
        return 1;
    int malformed = !rt.block || rt.neurons != s->N; /* a run's trials have their block */
    int status = malformed ? run_fail(s, "a trial record of the session is malformed (%s)", "resume")
                           : earlier_trial_keep(s, r, &rt);
    free(rt.decoded);
    return status;
}

static int earlier_trial_keep(run_state *s, resume_scan *r, const record_trial *rt)
{
    earlier_trials *t = &r->trials;
    if (t->count == t->capacity) {
        int cap = t->capacity ? 2 * t->capacity : 1024;
        int64_t *n = realloc(t->trial, (size_t)cap * sizeof(int64_t));
        if (n)
            t->trial = n;
        int64_t *a = realloc(t->image_id, (size_t)cap * sizeof(int64_t));
        if (a)
            t->image_id = a;
        int64_t *b = realloc(t->flags, (size_t)cap * sizeof(int64_t));
        if (b)
            t->flags = b;
        uint8_t *c = realloc(t->closed, (size_t)cap);
        if (c)
            t->closed = c;
        float *d = realloc(t->counts, (size_t)cap * (size_t)s->N * sizeof(float));
        if (d)
            t->counts = d;
        if (!n || !a || !b || !c || !d)
            return run_fail(s, "out of memory for %s", "the earlier trials");
        t->capacity = cap;
    }
    t->trial[t->count] = rt->trial;
    t->image_id[t->count] = rt->image_id;
    t->flags[t->count] = rt->flags;
    t->closed[t->count] = !strcmp(rt->block, "closed_loop") ? 1
                          : !strcmp(rt->block, "search")    ? 2
                                                            : 0;
    memcpy(t->counts + (size_t)t->count * (size_t)s->N, rt->counts, (size_t)s->N * sizeof(float));
    t->count++;
    if (rt->trial > r->max_trial)
        r->max_trial = rt->trial;
    return 0;
}

static int scan_record(run_state *s, const record_view *v, resume_scan *r)
{
    session_image_log_add(&r->images, v);
    if (v->type == RECORD_PHASE) {
        record_phase ph;
        if (record_phase_read(v, &ph, s->err))
            return 0; /* not a phase to go by */
        int k = run_phase_index(ph.phase);
        if (k >= 0 && !strcmp(ph.event, "begin"))
            s->begun |= 1u << k;
        if (k >= 0 && !strcmp(ph.event, "end"))
            s->ended |= 1u << k;
        free(ph.decoded);
    } else if (v->type == RECORD_SCHEDULE) {
        record_schedule_entry e;
        if (record_schedule_read(v, &e, s->err))
            return 0;
        free(e.decoded);
        if (e.trial > r->max_trial)
            r->max_trial = e.trial;
    } else if (v->type == RECORD_TRIAL) {
        return earlier_trial_add(s, r, v);
    } else if (v->type == RECORD_TRIAL_FLAGS) {
        record_trial_flags tf; /* flags its trial gained after its record (RECORD.md) */
        if (record_trial_flags_read(v, &tf, s->err))
            return 0;
        free(tf.decoded);
        for (int i = 0; i < r->trials.count; i++)
            if (r->trials.trial[i] == tf.trial)
                r->trials.flags[i] |= tf.flags;
    }
    return 0;
}

typedef int (*resume_visit)(run_state *, const record_view *, resume_scan *);

typedef struct resume_walk {
    run_state *s;
    resume_scan *r;
    resume_visit fn;
} resume_walk;

static int visit_resumed(const record_view *v, void *ctx, char *err)
{
    (void)err; /* the visitors write s->err, the same buffer */
    resume_walk *w = ctx;
    return w->fn(w->s, v, w->r);
}

/* Calls `fn` on every valid record of the session (the torn tail is cut already). */
static int each_record(run_state *s, resume_scan *r, resume_visit fn)
{
    resume_walk w = {s, r, fn};
    return session_record_each(s->dir, visit_resumed, &w, NULL, s->err);
}

/* The closed-loop stimuli recorded before the kill, into the image table
 * after the natural images. Those of a synthesis that did not end are kept
 * (their ids are taken) but never shown nor evaluated: kind -2. */
static int load_closed_stimulus(run_state *s, const record_view *v, resume_scan *r)
{
    (void)r;
    record_stimulus st;
    if (v->type != RECORD_STIMULUS)
        return 0;
    if (record_stimulus_read(v, &st, s->err))
        return run_fail(s, "a stimulus record of the session is malformed (%s)", "resume");
    int status = 0, kind = -2, got;
    if (strcmp(st.kind, STIMULUS_KIND_NAME_NATURAL)) {
        /* Audio: the clip as played is the stimulus (its pixels the cochleagram). */
        if ((size_t)st.height * (size_t)st.width != (size_t)s->P ||
            (s->audio && (!st.samples || st.sample_count != s->S)))
            status = run_fail(s, "a stimulus record of the session is malformed (%s)", "resume");
        int named = stimulus_kind_parse(st.kind);
        if (named >= 0 && named < KIND_COUNT && (s->ended >> 3 & 1))
            kind = named;
        if (!status)
            status = run_image_add(s, st.pixels, s->audio ? st.samples : NULL, kind,
                               (int)st.neuron, TIER_NONE, &got);
        if (!status && got != st.stimulus_id)
            status = run_fail(s, "the record's stimulus ids are not consecutive (%s)", "resume");
        /* A target pattern's image or control of an ended synthesis: its
         * target from the record (run_pattern.c), never drawn again. */
        int control = kind == STIMULUS_KIND_PATTERN_NATURAL;
        if (!status && (kind == STIMULUS_KIND_PATTERN || control))
            status = !st.pattern_target
                         ? run_fail(s, "a target-pattern stimulus record has no target (%s)",
                                    "resume")
                         : run_patterns_keep(s, st.pattern, control, got, st.pattern_target,
                                             st.pattern_k);
    }
    free(st.decoded);
    return status;
}

/* Drops from `order` one entry per earlier trial of that block (acknowledged
 * or flagged: either way it was shown); what is left is shown again. */
int run_resume_remaining(const resume_scan *r, int closed, int64_t *order, int count)
{
    const earlier_trials *t = &r->trials;
    uint8_t *used = calloc((size_t)(count ? count : 1), 1);
    if (!used)
        return -1;
    for (int i = 0; i < t->count; i++) {
        if (t->closed[i] != closed)
            continue;
        for (int j = 0; j < count; j++)
            if (!used[j] && order[j] == t->image_id[i]) {
                used[j] = 1;
                break;
            }
    }
    int k = 0;
    for (int j = 0; j < count; j++)
        if (!used[j])
            order[k++] = order[j];
    free(used);
    return k;
}

/* The earlier trials where a fresh run's trials go: natural ones to the fit
 * (unless it ended), closed-loop ones to the evaluation. */
static int replay_earlier_trials(run_state *s, const resume_scan *r)
{
    const earlier_trials *t = &r->trials;
    for (int i = 0; i < t->count; i++) {
        int64_t id = t->image_id[i];
        const float *counts = t->counts + (size_t)i * (size_t)s->N;
        s->res->trials_recorded++;
        s->res->trials_flagged += t->flags[i] != 0;
        if (t->flags[i] || id < 0 || id >= s->images.count)
            continue;
        if (s->images.kind[id] >= 0) {
            if (run_closed_add(s, t->trial[i], id, counts))
                return 1;
        } else if (s->images.kind[id] == -1 && !(s->ended >> 2 & 1)) {
            if (!s->fit && run_start_fit_worker(s))
                return 1;
            if (fit_worker_add(s->fit, run_image_at(s, id), counts, s->images.tier[id], id))
                return run_fail(s, "out of memory for %s trials", "the fit's");
        }
    }
    return 0;
}

/* The next free rig_truth.K folder: the earlier rigs' ground truth is kept. */
static int next_truth_index(const run_state *s)
{
    char path[PROTOCOL_STRING_SIZE + 32];
    struct stat st;
    for (int k = 1;; k++) {
        snprintf(path, sizeof path, "%s/rig_truth.%d", s->dir, k);
        if (stat(path, &st))
            return k;
    }
}

static int resume_start(run_state *s)
{
    if (run_phase(s, "start", "begin"))
        return 1;
    /* The killed controller's rig exits by itself (it asked for SIGTERM when
     * its parent dies); one that has not yet is stopped here, before the new
     * one needs its ports. */
    char note[256];
    rig_process_stop_earlier(s->dir, 10000, note, sizeof note);
    run_progress(s, note, 1);
    if (session_record_note(s->rec, note, s->err))
        return 1;
    if (s->p->virtual_rig.enabled) {
        s->rig.truth_index = next_truth_index(s);
        const char *exe = s->o->rig_executable ? s->o->rig_executable : "/proc/self/exe";
        if (rig_process_start(&s->rig, exe, s->p, s->dir, s->err))
            return 1;
        char what[64];
        snprintf(what, sizeof what, "restarted, its ground truth to rig_truth.%d",
                 s->rig.truth_index);
        if (run_note_rig(s, what))
            return 1;
    }
    if (run_open_streams(s) || run_wait_for_stream(s) || run_open_presenter(s))
        return 1;
    return (s->ended & 1) ? 0 : run_phase(s, "start", "end");
}

/* The natural images made again from the protocol, before anything is
 * started, and checked against the record's hashes: images changed since
 * the kill stop the resume here, the first named. */
static int resume_natural_images(run_state *s, resume_scan *r)
{
    size_t n = (size_t)r->images.count * (size_t)s->P;
    size_t samples = (size_t)r->images.count * (size_t)s->S;
    r->natural = malloc((n ? n : 1) * sizeof(float));
    r->natural_clips = s->audio ? malloc((samples ? samples : 1) * sizeof(float)) : NULL;
    if (!r->natural || (s->audio && !r->natural_clips))
        return run_fail(s, "out of memory for %s", "the natural images");
    return session_natural_stimuli(s->p, r->images.count, &r->images, r->natural,
                                   r->natural_clips, &r->repair, s->err);
}

/* Natural images (recorded again only where the kill came first or damage
 * took their record), the earlier trials, then the rest of the recording block. */
static int resume_recording(run_state *s, resume_scan *r)
{
    int64_t *order = NULL;
    int count = 0;
    char note[512];
    if (run_phase(s, "recording", "begin") ||
        run_record_natural_images(s, &order, &count, r->natural, r->natural_clips, &r->images))
        return 1;
    free(r->natural); /* the image table holds them now */
    r->natural = NULL;
    free(r->natural_clips);
    r->natural_clips = NULL;
    if (session_image_repair_note(&r->repair, s->p, note, sizeof note)) {
        run_progress(s, note, 1);
        if (session_record_note(s->rec, note, s->err))
            return 1;
    }
    int status = 1;
    if (each_record(s, r, load_closed_stimulus) || replay_earlier_trials(s, r))
        goto done;
    if (s->ended >> 1 & 1) {
        status = 0;
        goto done;
    }
    count = run_resume_remaining(r, 0, order, count);
    if (count < 0) {
        run_fail(s, "out of memory for %s", "the schedule");
        goto done;
    }
    status = (count > 0 && run_block(s, "recording", order, count, 1)) ||
             run_phase(s, "recording", "end");
done:
    free(order);
    return status;
}

/* What the killed session had evaluated already, for the summary: a fit
 * that ended recorded its test metrics (mean FEVE, correlation to average),
 * an evaluation that ended its median ratios. */
static int load_result(run_state *s, const record_evaluation *e);

static int load_results(run_state *s, const record_view *v, resume_scan *r)
{
    (void)r;
    record_evaluation e;
    char why[CONTROLLER_ERR_SIZE];
    if (v->type != RECORD_EVALUATION)
        return 0;
    if (record_evaluation_read(v, &e, why))
        return run_fail(s, "an evaluation record of the session is malformed (%s)", why);
    int status = load_result(s, &e);
    free(e.decoded);
    return status;
}

/* The fit's FEVE summary from its test_metrics record: the same
 * metrics_feve_summarize over the recorded per-neuron FEVE and FEV, the mean
 * the recorded one (a record without FEVs, of an older writer: only that
 * mean, the rest NaN). 1: out of memory. */
static int recorded_feve_summary(const record_evaluation *e, metrics_feve_summary *out)
{
    neuron_metrics *m = NULL;
    if (e->feve && e->fev && e->n > 0 && !(m = malloc((size_t)e->n * sizeof *m)))
        return 1;
    for (int n = 0; m && n < e->n; n++)
        m[n] = (neuron_metrics){.feve = e->feve[n], .fev = e->fev[n]};
    metrics_feve_summarize(m, m ? e->n : 0, out);
    out->mean = e->mean;
    free(m);
    return 0;
}

/* The summaries (neuron -1, RECORD.md) read back into the result, each
 * into its field: a double, or an int (a count; _Generic tells them apart
 * and refuses any other type at compile time). */
#define RESULT_FIELD(kind, name)                                                                   \
    {kind, offsetof(run_result, name), _Generic(((run_result *)0)->name, int: 1, double: 0)}
static const struct {
    const char *kind;
    size_t field; /* offsetof(run_result, ...) */
    int integer;
} result_fields[] = {
    RESULT_FIELD("median_ratio_mei_over_best_natural", median_ratio_recorded),
    RESULT_FIELD("truth_median_ratio_mei_over_best_natural", median_ratio_truth),
    RESULT_FIELD("truth_targets_mei_beats_gabor", truth_beats_gabor),
    RESULT_FIELD("truth_targets_mei_beats_rf", truth_beats_rf),
    RESULT_FIELD("truth_targets_mei_beats_tone", truth_beats_tone),
    RESULT_FIELD("truth_targets_scored", truth_scored),
    RESULT_FIELD("truth_median_ratio_mei_over_best_natural_own_contrast",
                 median_ratio_truth_own_contrast),
    RESULT_FIELD("truth_recorded_beaten_disagrees", truth_disagrees),
    RESULT_FIELD("truth_targets_baseline_scored", truth_baseline_scored),
    RESULT_FIELD("truth_targets_baseline_least_below_least_natural_training",
                 truth_baseline_least_below),
    RESULT_FIELD("truth_median_ratio_baseline_least_over_least_natural_training",
                 median_ratio_truth_baseline_least),
    RESULT_FIELD("median_ratio_mei_over_best_natural_recorded_training",
                 recorded_ratio_natural_training),
    RESULT_FIELD("targets_compared_best_natural_recorded_training",
                 recorded_natural_training_count),
};

static int load_result(run_state *s, const record_evaluation *e)
{
    const char *kind = e->kind;
    double value = e->mean;
    for (size_t i = 0; i < sizeof result_fields / sizeof *result_fields; i++) {
        if (strcmp(kind, result_fields[i].kind))
            continue;
        char *field = (char *)s->res + result_fields[i].field;
        if (result_fields[i].integer)
            *(int *)field = (int)value;
        else
            *(double *)field = value;
    }
    for (int c = 0; c < RUN_CONTROLS; c++) { /* the MEI's recorded comparisons */
        char name[96];
        const session_comparison *cmp = session_comparison_at(c);
        session_comparison_name(cmp, "median_ratio", name, sizeof name);
        if (!strcmp(kind, name))
            s->res->recorded_ratio[c] = value;
        int *counts[3] = {s->res->recorded_compared, s->res->recorded_beat,
                          s->res->recorded_below};
        const char *what[3] = {"targets_compared", "targets_beats", "targets_below"};
        for (int f = 0; f < 3; f++) {
            session_comparison_name(cmp, what[f], name, sizeof name);
            if (!strcmp(kind, name))
                counts[f][c] = (int)value;
        }
    }
    if (strcmp(kind, "test_metrics"))
        return 0;
    if (!e->corr_to_average)
        return run_fail(s, "the session's test_metrics record is malformed (%s)", "resume");
    if (recorded_feve_summary(e, &s->res->test_feve))
        return run_fail(s, "out of memory for the recorded test FEVEs (%s)", "resume");
    s->res->test_corr_mean = stats_finite_mean(e->corr_to_average, e->n);
    return 0;
}

/* The models a fit that ended wrote: model.bin and, for an ensemble
 * (model.ensemble > 1, and no model.file), its further members' files. */
static int load_fitted_models(run_state *s, model **models, int *count)
{
    int want = s->p->model.file[0] ? 1 : s->p->model.ensemble;
    assert(want >= 1 && want <= SESSION_ENSEMBLE_MAX); /* the protocol's bounds */
    char path[PROTOCOL_STRING_SIZE + 64], name[64], err[MODEL_ERR_SIZE];
    for (*count = 0; *count < want; (*count)++) {
        if (*count == 0)
            snprintf(name, sizeof name, "model.bin");
        else
            session_fit_member_file(*count, name, sizeof name);
        snprintf(path, sizeof path, "%s/%s", s->dir, name);
        if (model_load(&models[*count], path, err)) {
            for (int k = 0; k < *count; k++)
                model_destroy(models[k]);
            return run_fail(s, "%s", err);
        }
        model_set_threads(models[*count], s->p->model.threads);
    }
    return 0;
}

/* A fit that ended before the kill is not redone: its checkpoints, the
 * recorded natural trials and its test metrics are loaded. */
static int resume_fit(run_state *s)
{
    if (!(s->ended >> 2 & 1))
        return run_phase_fit(s);
    model *models[SESSION_ENSEMBLE_MAX];
    int count;
    if (load_fitted_models(s, models, &count))
        return 1;
    session_dataset sd;
    if (run_load_recorded_data(s, &sd)) {
        for (int k = 0; k < count; k++)
            model_destroy(models[k]);
        return 1;
    }
    session_dataset_free(&sd);
    return session_fit_adopt_ensemble(&s->data, models, count, &s->fr, s->err);
}

/* A synthesis that ended is not redone: its targets and stimuli are the
 * recorded ones. */
static int resume_synthesis(run_state *s, int64_t **ids, int *count)
{
    if (!(s->ended >> 3 & 1))
        return run_phase_synthesis(s, ids, count);
    int n = 0;
    *ids = malloc((size_t)(s->images.count ? s->images.count : 1) * sizeof(int64_t));
    s->targets = malloc((size_t)(s->N ? s->N : 1) * sizeof(int));
    if (!*ids || !s->targets)
        return run_fail(s, "out of memory for %s", "the closed-loop stimuli");
    for (int i = 0; i < s->images.count; i++) {
        if (s->images.kind[i] < 0 || s->images.kind[i] == STIMULUS_KIND_SEARCH)
            continue; /* the search phase's images are its own (run_search) */
        (*ids)[n++] = i;
        if (s->images.kind[i] == STIMULUS_KIND_MEI)
            s->targets[s->n_targets++] = s->images.neuron[i];
    }
    *count = n;
    s->res->targets = s->n_targets;
    if (s->audio) { /* the clips' RMS level is the budget, as in session_sound_synthesize */
        s->budget.contrast = s->budget.mean_luminance = NAN;
        return 0;
    }
    return session_fit_budget(&s->data, s->p->mei.contrast, &s->budget, s->err);
}

static int resume_closed_loop(run_state *s, const resume_scan *r, const int64_t *stimuli,
                              int count)
{
    if (s->ended >> 4 & 1)
        return 0;
    int total;
    int64_t *order = run_closed_loop_order(s, stimuli, count, &total);
    if (!order)
        return run_fail(s, "out of memory for %s", "the closed-loop schedule");
    total = run_resume_remaining(r, 1, order, total);
    int status = total < 0 ? run_fail(s, "out of memory for %s", "the schedule") : 0;
    status = status || run_phase(s, "closed_loop", "begin") ||
             (total > 0 && run_block(s, "closed_loop", order, total, 0)) ||
             run_phase(s, "closed_loop", "end");
    free(order);
    return status;
}

/* An external stream's units, learned when the session started: the
 * length of the first recorded trial's counts (the earlier trials are read
 * with it; the stream is checked against it). */
static int recorded_units(run_state *s, const record_view *v, resume_scan *r)
{
    (void)r;
    record_trial t;
    if (s->N || v->type != RECORD_TRIAL || record_trial_read(v, &t, s->err))
        return 0;
    free(t.decoded);
    return run_set_units(s, t.neurons);
}

/* The protocol a session started with: its first record, session_start. */
typedef struct first_record {
    const char *dir;
    protocol **out;
} first_record;

static int visit_first(const record_view *v, void *ctx, char *err)
{
    first_record *f = ctx;
    record_session_start start;
    if (v->type != RECORD_SESSION_START || record_session_start_read(v, &start, err)) {
        return controller_fail(err, "%s/%s: does not start with a session_start record",
                               f->dir, RECORD_FILE_NAME);
    }
    /* Relative paths start from the protocol file's folder, recorded since
     * session_start has protocol_dir; before that, the session folder. */
    char base[PROTOCOL_STRING_SIZE];
    snprintf(base, sizeof base, "%s",
             start.protocol_dir && start.protocol_dir[0] ? start.protocol_dir : f->dir);
    int status = protocol_parse(start.protocol_text, start.protocol_size, "session_start", base,
                                f->out, err);
    free(start.decoded);
    return status ? 1 : 2; /* found: the walk stops here */
}

static int recorded_protocol(const char *dir, protocol **out, char *err)
{
    first_record f = {dir, out};
    *out = NULL;
    int status = session_record_each(dir, visit_first, &f, NULL, err);
    if (status == 0)
        controller_fail(err, "%s/%s: no session_start record", dir, RECORD_FILE_NAME);
    return status != 2;
}

/* A session whose evaluation ended has nothing to resume: said so, and the
 * record left as it was (a summary of nothing done would read "0 trials"). */
static int refuse_finished(run_state *s)
{
    if (!(s->ended >> 5 & 1))
        return 0;
    char ignored[CONTROLLER_ERR_SIZE];
    session_record_close(s->rec, ignored); /* before run_finish notes the failure in it */
    s->rec = NULL;
    snprintf(s->err, CONTROLLER_ERR_SIZE, "%s: the session finished (its evaluation ended): "
             "nothing to resume; its summary: inception report %s", s->dir, s->dir);
    return 1;
}

/* The session's lock, taken before anything is cut, appended or stopped. A
 * folder without a record is refused first, so no lock file is left in it. */
static int resume_lock(const char *dir, session_lock **lock, char *err)
{
    char path[PROTOCOL_STRING_SIZE + 32];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    if (stat(path, &st)) {
        return controller_fail(err, "%s: %s (not a session folder)", path, strerror(errno));
    }
    return session_lock_take(dir, 0, lock, err);
}

int run_resume(const char *dir, const run_options *o, run_result *out, char *err)
{
    session_record *rec;
    record_resume_report rep;
    session_lock *lock; /* first: a live session's record and rig are left alone */
    if (resume_lock(dir, &lock, err))
        return 1;
    if (session_record_resume(dir, &rec, &rep, err)) {
        session_lock_release(lock);
        return 1;
    }
    protocol *p = NULL;
    int status = recorded_protocol(dir, &p, err);
    if (!status && o->offscreen)
        p->display.mode = PROTOCOL_DISPLAY_OFFSCREEN;
    if (status) {
        char ignored[CONTROLLER_ERR_SIZE];
        session_record_close(rec, ignored);
        session_lock_release(lock);
        return 1;
    }
    run_state s;
    resume_scan r = {.max_trial = -1};
    status = run_init(&s, p, o, out, dir, err);
    s.rec = rec;
    s.lock = lock;
    char note[256];
    snprintf(note, sizeof note, "resumed: %llu records kept, %llu torn bytes cut, %llu corrupt "
             "stretches skipped", (unsigned long long)rep.records,
             (unsigned long long)rep.cut_bytes, (unsigned long long)rep.corrupt);
    status = status ||
             session_image_log_create(&r.images, p->images.train + p->images.test, err) ||
             (!s.N && each_record(&s, NULL, recorded_units)) || each_record(&s, &r, scan_record) ||
             refuse_finished(&s) || session_record_note(rec, note, err);
    if (!status) {
        run_progress(&s, note, 1);
        s.next_trial = r.max_trial + 1; /* shown again as new trial numbers */
    }
    /* Results of phases that ended are read back, not computed again. */
    status = status || ((s.ended >> 2 & 1) && each_record(&s, NULL, load_results));
    int64_t *closed = NULL;
    int n_closed = 0;
    status = status || (s.ended >> 5 & 1 ? 0 : (resume_natural_images(&s, &r) ||
             resume_start(&s) || resume_recording(&s, &r) ||
             resume_fit(&s) || resume_synthesis(&s, &closed, &n_closed) ||
             resume_closed_loop(&s, &r, closed, n_closed) || run_search(&s, &r) ||
             run_phase_evaluation(&s)));
    free(closed);
    resume_scan_free(&r);
    status = run_finish(&s, status, err);
    protocol_destroy(p);
    return status;
}
