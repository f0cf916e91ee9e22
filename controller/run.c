/* run.c: `inception run`, the inception loop (controller.h, run_session).
 *
 * One thread, the run loop, owns the session record, the aligner and the
 * schedule; around it: the presenter's SDL thread (stimuli on screen, never
 * waiting on anything here), the receiver's thread (the stream), the
 * background fit thread (fit_worker.c) and the virtual rig, a child process.
 * Phases: start, recording, fit, synthesis, closed_loop, evaluation; each
 * begins and ends with a phase record (fsync'd). */
#include "acquisition.h"
#include "run_internal.h"
#include "stimulus.h"

#include <errno.h>
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define KIND_COUNT 4
static const char *const kind_names[KIND_COUNT] = {"mei", "best_natural", "gabor", "rf"};
enum { KIND_MEI = 0, KIND_BEST_NATURAL, KIND_GABOR, KIND_RF };

/* Every image the session shows, by id (the presenter's, the schedule's and
 * the stream's stimulus id). */
typedef struct image_table {
    float *pixels;  /* count × P */
    int *kind;      /* -1 natural, else KIND_* */
    int *neuron;    /* target, -1 for natural images */
    uint8_t *tier;  /* natural images: TIER_*; closed-loop stimuli: TIER_NONE */
    int count, capacity;
} image_table;

/* The closed loop's recorded responses, one row per unflagged trial. */
typedef struct response_rows {
    int64_t *image_id;
    float *counts; /* rows × N */
    int count, capacity;
} response_rows;

typedef struct run_state {
    const protocol *p;
    const run_options *o;
    run_result *res;
    char dir[PROTOCOL_STRING_SIZE];
    char *err;

    session_record *rec;
    rig_process rig;
    acq_receiver *stream;
    acq_publisher *onsets;
    acq_aligner *aligner;
    presenter *pres;
    fit_worker *fit;
    model *m;
    dataset data; /* the natural trials, after recording */

    int H, W, P, N;
    image_table images;
    int64_t next_trial;
    response_rows closed;
    float *counts;        /* N, a completed trial's */

    int *targets;
    int n_targets;
    stimulus_budget budget;
    double period_ms;

    run_status st;
    int64_t start_ns, last_progress_ns;
    uint64_t stream_messages;
    int stream_failed;
    unsigned begun, ended; /* a resumed session's phases (bit = phase_names index) */
} run_state;

static const char *const phase_names[] = {"start", "recording", "fit", "synthesis",
                                          "closed_loop", "evaluation"};
enum { PHASE_COUNT = 6 };

static int phase_index(const char *name)
{
    for (int i = 0; i < PHASE_COUNT; i++)
        if (!strcmp(name, phase_names[i]))
            return i;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Small helpers */

static int fail(run_state *s, const char *fmt, const char *detail)
{
    snprintf(s->err, CONTROLLER_ERR_SIZE, fmt, detail);
    return 1;
}

static double seconds_since(int64_t start_ns)
{
    return (double)(record_monotonic_ns() - (uint64_t)start_ns) / 1e9;
}

static void progress(run_state *s, const char *message, int force)
{
    int64_t now = (int64_t)record_monotonic_ns();
    if (!s->o->progress || (!force && !message && now - s->last_progress_ns < 100000000))
        return;
    s->last_progress_ns = now;
    if (s->fit)
        fit_worker_status(s->fit, &s->st.fit_rounds, &s->st.validation_corr);
    if (s->stream) {
        acq_stats as;
        acq_receiver_stats(s->stream, &as);
        s->st.stream_lost = as.lost;
    }
    s->st.seconds = seconds_since(s->start_ns);
    s->st.message = message;
    s->o->progress(&s->st, s->o->user);
    s->st.message = NULL;
}

static int interrupted(run_state *s)
{
    if (!s->o->stop || !*s->o->stop)
        return 0;
    snprintf(s->err, CONTROLLER_ERR_SIZE, "interrupted during the %s phase", s->st.phase);
    return 1;
}

static int phase(run_state *s, const char *name, const char *event)
{
    if (interrupted(s))
        return 1;
    s->st.phase = name;
    /* A resumed session continues a phase that began before the kill. */
    int k = phase_index(name);
    int again = k >= 0 && !strcmp(event, "begin") && (s->begun >> k & 1);
    if (!again && session_record_phase(s->rec, name, event, s->err))
        return 1;
    progress(s, NULL, 1);
    return 0;
}

static void shuffle(int64_t *v, int n, model_rng *rng)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(model_rng_uniform(rng) * (i + 1));
        int64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
}

static float median_of(const float *v, int n)
{
    metric_summary m;
    metrics_summarize(v, n, &m);
    return m.median;
}

/* ------------------------------------------------------------------------ */
/* Images */

static int image_add(run_state *s, const float *pixels, int kind, int neuron, int tier, int *id)
{
    image_table *t = &s->images;
    if (t->count == t->capacity) {
        int cap = t->capacity ? 2 * t->capacity : 1024;
        float *px = realloc(t->pixels, (size_t)cap * (size_t)s->P * sizeof(float));
        if (px)
            t->pixels = px;
        int *k = realloc(t->kind, (size_t)cap * sizeof(int));
        if (k)
            t->kind = k;
        int *n = realloc(t->neuron, (size_t)cap * sizeof(int));
        if (n)
            t->neuron = n;
        uint8_t *ti = realloc(t->tier, (size_t)cap);
        if (ti)
            t->tier = ti;
        if (!px || !k || !n || !ti)
            return fail(s, "out of memory for %s images", "the");
        t->capacity = cap;
    }
    int presenter_id;
    char err[STIMULUS_ERR_SIZE];
    if (presenter_add_image(s->pres, pixels, s->H, s->W, &presenter_id, err))
        return fail(s, "presenter: %s", err);
    if (presenter_id != t->count)
        return fail(s, "presenter image ids out of step with the session's (%s)", "internal");
    memcpy(t->pixels + (size_t)t->count * (size_t)s->P, pixels, (size_t)s->P * sizeof(float));
    t->kind[t->count] = kind;
    t->neuron[t->count] = neuron;
    t->tier[t->count] = (uint8_t)tier;
    *id = t->count++;
    return 0;
}

static const float *image_at(const run_state *s, int64_t id)
{
    return s->images.pixels + (size_t)id * (size_t)s->P;
}

/* The natural images the protocol asks for: count × H × W. */
static int natural_images(run_state *s, float *out, int count)
{
    const protocol_images *im = &s->p->images;
    char err[MODEL_ERR_SIZE];
    uint64_t seed = s->p->seed * 1000003u + 17u;
    if (im->source == PROTOCOL_IMAGES_SYNTHETIC ||
        (im->source == PROTOCOL_IMAGES_PHOTOS && !photo_default_folder())) {
        sim_natural_images(out, count, s->H, s->W, seed);
        return 0;
    }
    if (im->source == PROTOCOL_IMAGES_PHOTOS || im->source == PROTOCOL_IMAGES_FOLDER) {
        const char *folder =
            im->source == PROTOCOL_IMAGES_PHOTOS ? photo_default_folder() : im->path;
        return photo_patches(folder, count, s->H, s->W, seed, out, err) ? fail(s, "%s", err) : 0;
    }
    npy_array a;
    if (npy_read(im->path, &a, err))
        return fail(s, "%s", err);
    int status = 0;
    if (a.ndim != 3 || a.shape[0] < count || a.shape[1] != s->H || a.shape[2] != s->W) {
        snprintf(s->err, CONTROLLER_ERR_SIZE, "%s: want N×%d×%d with N >= %d images", im->path,
                 s->H, s->W, count);
        status = 1;
    } else {
        float *f = npy_to_float32(&a, err);
        if (!f)
            status = fail(s, "%s", err);
        else
            memcpy(out, f, (size_t)count * (size_t)s->P * sizeof(float));
        free(f);
    }
    npy_free(&a);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Records beyond the typed helpers */

/* A completed trial: RECORD.md's fields plus its aligner flags and block. */
static int record_completed_trial(run_state *s, const acq_trial *t, const float *counts, const char *block)
{
    record_payload pl;
    record_payload_init(&pl);
    uint32_t shape[1] = {(uint32_t)s->N};
    record_payload_i64(&pl, "trial", (int64_t)t->trial);
    record_payload_i64(&pl, "image_id", (int64_t)t->stimulus_id);
    record_payload_i64(&pl, "onset_ns", t->onset_display_ns);
    record_payload_array(&pl, "counts", RECORD_F32, 1, shape, counts);
    record_payload_i64(&pl, "flags", (int64_t)t->flags);
    record_payload_i64(&pl, "onset_acq_ns", t->onset_acq_ns);
    record_payload_i64(&pl, "sync_edge_ns", t->sync_edge_ns);
    record_payload_i64(&pl, "bins", t->bins);
    record_payload_text(&pl, "block", block);
    int r = session_record_append(s->rec, RECORD_TRIAL, &pl, NULL, s->err);
    record_payload_free(&pl);
    return r;
}

/* An evaluation with arrays (per-neuron metrics). */
static int record_metric_arrays(run_state *s, const char *kind, double mean, int n,
                                const char *const *names, const float *const *arrays)
{
    record_payload pl;
    record_payload_init(&pl);
    record_payload_i64(&pl, "neuron", -1);
    record_payload_text(&pl, "kind", kind);
    record_payload_f64(&pl, "mean", mean);
    record_payload_f64(&pl, "ci_low", NAN);
    record_payload_f64(&pl, "ci_high", NAN);
    record_payload_i64(&pl, "repeats", 0);
    uint32_t shape[1] = {(uint32_t)n};
    for (int i = 0; names[i]; i++)
        record_payload_array(&pl, names[i], RECORD_F32, 1, shape, arrays[i]);
    int r = session_record_append(s->rec, RECORD_EVALUATION, &pl, NULL, s->err);
    record_payload_free(&pl);
    return r;
}

static int record_value(run_state *s, int64_t neuron, const char *kind, double value)
{
    record_evaluation e = {neuron, kind, value, value, value, 0};
    return session_record_evaluation(s->rec, &e, s->err);
}

/* ------------------------------------------------------------------------ */
/* Start: record, rig, streams, presenter */

static int make_session_dir(run_state *s)
{
    char path[PROTOCOL_STRING_SIZE];
    snprintf(path, sizeof path, "%s", s->dir);
    for (char *c = path + 1; *c; c++) { /* mkdir -p */
        if (*c != '/')
            continue;
        *c = 0;
        if (mkdir(path, 0777) && errno != EEXIST)
            return fail(s, "cannot create %s", path);
        *c = '/';
    }
    if (mkdir(path, 0777) && errno != EEXIST)
        return fail(s, "cannot create the session folder %s", path);
    return 0;
}

static int open_streams(run_state *s)
{
    char err[ACQ_ERR_SIZE];
    acq_receiver_config rc;
    acq_receiver_config_default(&rc);
    rc.socket.endpoint = s->p->endpoints.stream;
    rc.queue_capacity = 1 << 17; /* minutes of bins while the fit holds the loop */
    if (acq_receiver_create(&s->stream, NULL, &rc, err))
        return fail(s, "stream: %s", err);
    acq_socket_config pc = {.endpoint = s->p->endpoints.sync, .bind = 1};
    if (acq_publisher_create(&s->onsets, NULL, &pc, 2, (uint32_t)s->p->seed, err))
        return fail(s, "onset publisher: %s", err);
    acq_align_config ac;
    acq_align_config_default(&ac);
    ac.latency_ns = (int64_t)((double)s->p->response.latency_ms * 1e6 + 0.5);
    ac.window_ns = (int64_t)((double)s->p->response.duration_ms * 1e6 + 0.5);
    ac.sync_line = -1;
    /* A resumed session's first block may be a single image left unanswered:
     * one onset and its edge (arriving within max_arrival_gap_ns) set the
     * offset, not the three a fresh session waits for. */
    if (s->begun)
        ac.min_initial_matches = 1;
    if (ac.history_ns < 2 * ac.window_ns + 2000000000LL)
        ac.history_ns = 2 * ac.window_ns + 2000000000LL;
    if (acq_aligner_create(&s->aligner, &ac, err))
        return fail(s, "aligner: %s", err);
    return 0;
}

static int open_presenter(run_state *s)
{
    const protocol_display *d = &s->p->display;
    presenter_config c = presenter_config_default();
    c.display = d->index;
    c.fullscreen = d->mode == PROTOCOL_DISPLAY_FULLSCREEN;
    c.width = d->width;
    c.height = d->height;
    c.refresh_hz = d->refresh_hz;
    c.pacing = d->mode == PROTOCOL_DISPLAY_OFFSCREEN ? PRESENTER_PACING_SOFTWARE
                                                      : PRESENTER_PACING_AUTO;
    c.background = d->background;
    c.photodiode_size_px = d->photodiode ? d->photodiode_px : 0;
    c.screen_width_cm = d->screen_width_cm;
    c.viewing_distance_cm = d->viewing_distance_cm;
    c.stimulus_width_deg = d->stimulus_degrees;
    c.queue_capacity = 8192;
    gamma_calibration cal;
    char err[STIMULUS_ERR_SIZE];
    if (d->gamma_file[0]) {
        if (gamma_read(d->gamma_file, &cal, err))
            return fail(s, "%s", err);
        c.calibration = &cal;
    }
    if (presenter_create(&s->pres, &c, err))
        return fail(s, "presenter: %s", err);
    s->period_ms = presenter_period_ms(s->pres);
    char line[512];
    snprintf(line, sizeof line, "display: %s", presenter_status(s->pres));
    progress(s, line, 1);
    return session_record_note(s->rec, line, s->err);
}

/* ------------------------------------------------------------------------ */
/* The stream: records, aligner, completed trials */

static const char *item_kind(int type)
{
    return type == ACQ_MSG_COUNTS ? "data" : type == ACQ_MSG_EVENTS ? "event" : "heartbeat";
}

static int take_item(run_state *s, acq_item *it)
{
    record_stream_message m = {(int64_t)s->stream_messages++, item_kind(it->type),
                               it->timestamp_ns, it->type == ACQ_MSG_COUNTS ? 1 : 0,
                               it->timestamp_ns / 1000000, it->received_ns,
                               (int64_t)it->missed_before, (int64_t)it->count};
    if (session_record_stream(s->rec, &m, s->err))
        return 1;
    for (uint32_t i = 0; it->type == ACQ_MSG_EVENTS && i < it->count; i++) {
        record_sync_event e = {it->events[i].line, it->events[i].rising,
                               it->events[i].timestamp_ns, it->received_ns, -1};
        if (session_record_sync_event(s->rec, &e, s->err))
            return 1;
    }
    char why[ACQ_ERR_SIZE];
    if (acq_aligner_add_item(s->aligner, it, why) == ACQ_REJECT_VALUE)
        return fail(s, "aligner: %s", why);
    return 0;
}

static int pump_stream(run_state *s, int timeout_ms)
{
    acq_item *it;
    for (int i = 0; i < 1000 && acq_receiver_pop(s->stream, &it, i ? 0 : timeout_ms); i++) {
        int r = take_item(s, it);
        acq_item_free(it);
        if (r)
            return 1;
    }
    return 0;
}

/* Between blocks the run loop is busy (fitting, synthesizing): what the
 * stream sent meanwhile still goes to the record and the aligner, in
 * batches, so the receiver's queue never fills. */
static void catch_up(run_state *s)
{
    if (!s->stream_failed && pump_stream(s, 0))
        s->stream_failed = 1; /* reported by the next block's own pump */
}

static int closed_add(run_state *s, int64_t image_id, const float *counts)
{
    response_rows *c = &s->closed;
    if (c->count == c->capacity) {
        int cap = c->capacity ? 2 * c->capacity : 256;
        int64_t *id = realloc(c->image_id, (size_t)cap * sizeof(int64_t));
        if (id)
            c->image_id = id;
        float *cn = realloc(c->counts, (size_t)cap * (size_t)s->N * sizeof(float));
        if (cn)
            c->counts = cn;
        if (!id || !cn)
            return fail(s, "out of memory for %s responses", "closed-loop");
        c->capacity = cap;
    }
    c->image_id[c->count] = image_id;
    memcpy(c->counts + (size_t)c->count * (size_t)s->N, counts, (size_t)s->N * sizeof(float));
    c->count++;
    return 0;
}

static int start_fit_worker(run_state *s);

/* One completed trial: recorded, then to the fit or the evaluation. */
static int complete_trial(run_state *s, const acq_trial *t, const char *block)
{
    if (record_completed_trial(s, t, s->counts, block))
        return 1;
    s->res->trials_recorded++;
    if (t->flags) {
        s->res->trials_flagged++;
        s->st.flagged_trials++;
        return 0;
    }
    int64_t id = (int64_t)t->stimulus_id;
    if (id < 0 || id >= s->images.count)
        return fail(s, "the aligner returned an unknown stimulus id (%s)", "internal");
    if (s->images.kind[id] >= 0)
        return closed_add(s, id, s->counts);
    if (!s->fit && start_fit_worker(s))
        return 1;
    if (fit_worker_add(s->fit, image_at(s, id), s->counts, s->images.tier[id], id))
        return fail(s, "out of memory for %s trials", "the fit's");
    return 0;
}

static int drain_trials(run_state *s, const char *block, int *done)
{
    int units = acq_aligner_units(s->aligner);
    if (units <= 0)
        return 0;
    if (units != s->N) {
        char what[128];
        snprintf(what, sizeof what, "%d units, the protocol's population %d", units, s->N);
        return fail(s, "the stream carries %s", what);
    }
    acq_trial t;
    while (acq_aligner_next_complete_trial(s->aligner, &t, s->counts)) {
        if (complete_trial(s, &t, block))
            return 1;
        (*done)++;
    }
    return 0;
}

/* Waits for the stream's first message (the rig's heartbeat), then a little
 * longer so the rig's onset subscription has joined our publisher. */
static int wait_for_stream(run_state *s)
{
    progress(s, "waiting for the acquisition stream", 1);
    int64_t start = acq_now_ns(), seen = 0;
    while (acq_now_ns() - start < 15000000000LL) {
        if (pump_stream(s, 20))
            return 1;
        acq_stats st;
        acq_receiver_stats(s->stream, &st);
        if (!seen && st.messages > 0)
            seen = acq_now_ns();
        if (seen && acq_now_ns() - seen > 500000000LL)
            return 0;
    }
    return fail(s, "no message from the acquisition stream %s in 15 s",
                s->p->endpoints.stream);
}

/* ------------------------------------------------------------------------ */
/* Blocks */

static int schedule_block(run_state *s, const char *block_of_natural, const int64_t *ids,
                          int count)
{
    static const char *const tier_blocks[] = {"train", "validation", "test", "closed_loop"};
    for (int i = 0; i < count; i++) {
        int64_t id = ids[i], trial = s->next_trial + i;
        int kind = s->images.kind[id];
        record_schedule_entry e = {trial,
                                   block_of_natural ? tier_blocks[s->images.tier[id]]
                                                    : "closed_loop",
                                   kind < 0 ? "natural" : kind_names[kind],
                                   id,
                                   s->images.neuron[id],
                                   s->p->timing.stimulus_frames,
                                   s->p->timing.isi_frames};
        if (session_record_schedule(s->rec, &e, s->err))
            return 1;
    }
    return 0;
}

static int on_presenter_event(run_state *s, const presenter_event *ev, int *block_end)
{
    char err[ACQ_ERR_SIZE];
    if (ev->kind == PRESENTER_EVENT_BLOCK_END) {
        *block_end = 1;
        return 0;
    }
    if (ev->kind == PRESENTER_EVENT_TRIAL) {
        s->st.dropped_frames += ev->dropped_frames;
        return 0;
    }
    record_flip_event f = {ev->trial, ev->onset_flip, ev->onset_ns, ev->onset_ns, 0,
                           ev->trial & 1 ? 0 : 1};
    if (session_record_flip(s->rec, &f, s->err))
        return 1;
    acq_onset o = {(uint64_t)ev->trial, (uint64_t)ev->image, ev->onset_ns,
                   (int64_t)((double)ev->frames_requested * s->period_ms * 1e6),
                   (uint32_t)s->H, (uint32_t)s->W};
    acq_publisher_onset(s->onsets, &o, image_at(s, ev->image));
    if (acq_aligner_add_onset(s->aligner, (uint64_t)ev->trial, (uint64_t)ev->image, ev->onset_ns,
                              ev->onset_ns, err))
        return fail(s, "aligner: %s", err);
    return 0;
}

/* Shows `count` images (ids) in order and collects every trial's response. */
static int run_block(run_state *s, const char *block, const int64_t *ids, int count, int natural)
{
    char err[STIMULUS_ERR_SIZE];
    if (s->stream_failed || pump_stream(s, 0))
        return 1;
    if (schedule_block(s, natural ? block : NULL, ids, count) ||
        session_record_sync(s->rec, s->err))
        return 1;
    if (presenter_start_block(s->pres, err))
        return fail(s, "presenter: %s", err);
    int submitted = 0, finished = 0, block_end = 0, done = 0;
    int64_t first = s->next_trial, end_ns = 0;
    s->st.trials_done = 0;
    s->st.trials_total = count;
    while (!block_end || done < count) {
        while (submitted < count) {
            presenter_request r = {first + submitted, (int)ids[submitted], -1,
                                   s->p->timing.stimulus_frames, s->p->timing.isi_frames, NULL};
            int q = presenter_submit(s->pres, &r, err);
            if (q < 0)
                return fail(s, "presenter: %s", err);
            if (q > 0)
                break;
            submitted++;
        }
        if (submitted == count && !finished) {
            presenter_finish_block(s->pres);
            finished = 1;
        }
        presenter_event ev;
        while (!block_end && presenter_next_event(s->pres, &ev, 0) == 1)
            if (on_presenter_event(s, &ev, &block_end))
                return 1;
        if (block_end && !end_ns)
            end_ns = acq_now_ns();
        if (pump_stream(s, 2) || drain_trials(s, block, &done) ||
            session_record_tick(s->rec, s->err))
            return 1;
        s->st.trials_done = done;
        progress(s, NULL, 0);
        if (interrupted(s))
            return 1;
        if (end_ns && acq_now_ns() - end_ns > 10000000000LL) {
            snprintf(s->err, CONTROLLER_ERR_SIZE,
                     "%d of %d trials never completed within 10 s of the block's end "
                     "(is the stream still running?)", count - done, count);
            return 1;
        }
    }
    s->next_trial += count;
    presenter_summary sum;
    presenter_block_summary(s->pres, &sum);
    char note[512];
    snprintf(note, sizeof note, "%s block: %lld trials shown, %lld with dropped frames, %lld "
             "dropped frames, flip interval %.3f ± %.3f ms (max %.3f)", block,
             (long long)sum.trials_shown, (long long)sum.trials_with_drops,
             (long long)sum.dropped_frames, sum.interval_mean_ms, sum.interval_sd_ms,
             sum.interval_max_ms);
    acq_clock_fit f;
    acq_aligner_clock(s->aligner, &f);
    record_alignment a = {1.0 + f.drift, f.offset_ns, f.rms_residual_ns, f.max_residual_ns,
                          f.pairs};
    progress(s, note, 1);
    return session_record_note(s->rec, note, s->err) ||
           session_record_alignment(s->rec, &a, s->err);
}

/* ------------------------------------------------------------------------ */
/* Recording: natural images while the model fits in the background */

static void model_settings(const run_state *s, model_config *mc, fit_options *fo)
{
    const protocol_model *pm = &s->p->model;
    model_config_default(mc);
    mc->kind = MODEL_CNN;
    mc->height = s->H;
    mc->width = s->W;
    mc->neurons = s->N;
    mc->layers = pm->layers;
    mc->channels = pm->channels;
    for (int l = 0; l < pm->layers; l++)
        mc->kernel[l] = pm->kernels[l];
    mc->readout = pm->readout == PROTOCOL_READOUT_FACTORIZED ? READOUT_FACTORIZED
                                                            : READOUT_GAUSSIAN;
    mc->seed = s->p->seed;
    fit_options_default(fo);
    fo->batch_size = pm->batch_size;
    fo->max_epochs = pm->epochs;
    fo->learning_rate = pm->learning_rate;
    fo->patience = pm->patience;
    fo->threads = pm->threads;
    fo->seed = s->p->seed;
}

static int start_fit_worker(run_state *s)
{
    model_config mc;
    fit_options fo;
    model_settings(s, &mc, &fo);
    return fit_worker_create(&s->fit, &mc, &fo, 2, s->err);
}

/* The natural images, their tiers and their shuffled schedule, all from the
 * seed; images with id < `recorded` are in the record already (a resume). */
static int record_natural_images(run_state *s, int64_t **schedule, int *count, int recorded)
{
    const protocol_images *im = &s->p->images;
    int n_images = im->train + im->test;
    float *pixels = malloc((size_t)n_images * (size_t)s->P * sizeof(float));
    int64_t *order = malloc(((size_t)im->train + (size_t)im->test * (size_t)im->test_repeats) *
                            sizeof(int64_t));
    int64_t *tiers = malloc((size_t)im->train * sizeof(int64_t));
    int status = 1;
    if (!pixels || !order || !tiers) {
        fail(s, "out of memory for %s", "the natural images");
        goto done;
    }
    if (natural_images(s, pixels, n_images))
        goto done;
    /* Validation images: a seeded random share of the training set. */
    model_rng rng;
    model_rng_seed(&rng, s->p->seed);
    int n_val = (int)((double)im->train * (double)im->validation_fraction + 0.5);
    for (int i = 0; i < im->train; i++)
        tiers[i] = i;
    shuffle(tiers, im->train, &rng);
    uint8_t *is_val = calloc((size_t)im->train, 1);
    if (!is_val) {
        fail(s, "out of memory for %s", "the tiers");
        goto done;
    }
    for (int i = 0; i < n_val; i++)
        is_val[tiers[i]] = 1;
    int k = 0, bad = 0;
    for (int i = 0; i < n_images && !bad; i++) {
        int tier = i >= im->train ? TIER_TEST : is_val[i] ? TIER_VALIDATION : TIER_TRAIN, id;
        bad = image_add(s, pixels + (size_t)i * (size_t)s->P, -1, -1, tier, &id);
        record_stimulus rs = {id, -1, "natural", s->H, s->W, image_at(s, id), NAN};
        bad = bad || (id >= recorded && session_record_stimulus(s->rec, &rs, s->err));
        for (int r = 0; !bad && r < (tier == TIER_TEST ? im->test_repeats : 1); r++)
            order[k++] = id;
    }
    free(is_val);
    if (bad)
        goto done;
    shuffle(order, k, &rng);
    *schedule = order;
    *count = k;
    order = NULL;
    status = 0;
done:
    free(pixels);
    free(order);
    free(tiers);
    return status;
}

static int phase_recording(run_state *s)
{
    int64_t *schedule = NULL;
    int count = 0;
    if (phase(s, "recording", "begin") || record_natural_images(s, &schedule, &count, 0))
        return 1;
    int status = run_block(s, "recording", schedule, count, 1);
    free(schedule);
    return status || phase(s, "recording", "end");
}

/* ------------------------------------------------------------------------ */
/* Fit: to convergence, from the background fit's model */

static void on_final_epoch(const fit_progress *p, void *user)
{
    run_state *s = user;
    s->st.validation_corr = p->validation_corr;
    s->st.fit_rounds = p->epoch;
    catch_up(s);
    progress(s, NULL, 0);
}

/* Predictions and responses of the trials of one tier. */
static int tier_metrics(run_state *s, int tier, neuron_metrics *nm, float *corr)
{
    int n = dataset_count_tier(&s->data, tier), N = s->N, P = s->P;
    if (n < 2)
        return fail(s, "too few %s trials to evaluate the model", tier == TIER_TEST ? "test"
                                                                                   : "validation");
    float *images = malloc((size_t)n * (size_t)P * sizeof(float));
    float *resp = malloc((size_t)n * (size_t)N * sizeof(float));
    float *pred = malloc((size_t)n * (size_t)N * sizeof(float));
    int64_t *ids = malloc((size_t)n * sizeof(int64_t));
    char err[MODEL_ERR_SIZE];
    int status = 1;
    if (!images || !resp || !pred || !ids) {
        fail(s, "out of memory for %s", "the metrics");
        goto done;
    }
    for (int t = 0, k = 0; t < s->data.trials; t++) {
        if (s->data.tiers[t] != tier)
            continue;
        memcpy(images + (size_t)k * P, s->data.images + (size_t)t * P, (size_t)P * sizeof(float));
        memcpy(resp + (size_t)k * N, s->data.responses + (size_t)t * N, (size_t)N * sizeof(float));
        ids[k++] = s->data.image_ids[t];
    }
    if (model_predict(s->m, images, n, pred, err)) {
        fail(s, "%s", err);
        goto done;
    }
    if (corr)
        metrics_correlation(pred, resp, n, N, corr);
    if (nm && metrics_evaluate(pred, resp, ids, n, N, nm, err)) {
        fail(s, "%s", err);
        goto done;
    }
    status = 0;
done:
    free(images);
    free(resp);
    free(pred);
    free(ids);
    return status;
}

static double finite_mean(const float *v, int n)
{
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            sum += v[i];
            k++;
        }
    return k ? sum / k : NAN;
}

static int record_test_metrics(run_state *s)
{
    int N = s->N, status = 1;
    neuron_metrics *nm = malloc((size_t)N * sizeof *nm);
    float *cols = malloc((size_t)N * 5 * sizeof(float));
    if (!nm || !cols) {
        free(nm);
        free(cols);
        return fail(s, "out of memory for %s", "the test metrics");
    }
    if (!tier_metrics(s, TIER_TEST, nm, NULL)) {
        for (int n = 0; n < N; n++) {
            cols[n] = nm[n].feve;
            cols[N + n] = nm[n].corr_to_average;
            cols[2 * N + n] = nm[n].single_trial_corr;
            cols[3 * N + n] = nm[n].oracle;
            cols[4 * N + n] = nm[n].fev;
        }
        s->res->test_feve_mean = finite_mean(cols, N);
        s->res->test_corr_mean = finite_mean(cols + N, N);
        const char *names[] = {"feve", "corr_to_average", "single_trial_corr", "oracle", "fev",
                               NULL};
        const float *arrays[] = {cols, cols + N, cols + 2 * N, cols + 3 * N, cols + 4 * N};
        status = record_metric_arrays(s, "test_metrics", s->res->test_feve_mean, N, names,
                                      arrays);
        /* The same in the report's own record type (its correlation histogram). */
        record_model_metrics mm = {"test", -1, N, cols + N, cols};
        if (!status && session_record_model_metrics(s->rec, &mm, s->err))
            status = 1;
    }
    free(nm);
    free(cols);
    return status;
}

static int phase_fit(run_state *s)
{
    if (phase(s, "fit", "begin"))
        return 1;
    if (!s->fit)
        return fail(s, "no trial completed during %s", "the recording");
    char err[MODEL_ERR_SIZE];
    int rounds;
    double corr;
    fit_worker_status(s->fit, &rounds, &corr);
    if (fit_worker_finish(s->fit, &s->m, &s->data, s->err))
        return 1;
    fit_worker_destroy(s->fit);
    s->fit = NULL;
    char note[256];
    snprintf(note, sizeof note, "background fit: %d rounds during the recording, validation "
             "correlation %.3f when it ended", rounds, corr);
    progress(s, note, 1);
    if (session_record_note(s->rec, note, s->err))
        return 1;
    model_config mc;
    fit_options fo;
    model_settings(s, &mc, &fo);
    if (!s->m && model_create(&s->m, &mc, err))
        return fail(s, "%s", err);
    model_set_threads(s->m, fo.threads);
    fo.progress = on_final_epoch;
    fo.user = s;
    fit_report rep;
    if (model_fit(s->m, &s->data, &fo, &rep, err))
        return fail(s, "fit: %s", err);
    char path[PROTOCOL_STRING_SIZE + 16];
    snprintf(path, sizeof path, "%s/model.bin", s->dir);
    if (model_save(s->m, path, err))
        return fail(s, "%s", err);
    if (session_record_checkpoint(s->rec, path, rep.best_epoch, rep.best_validation_corr, s->err) ||
        record_test_metrics(s))
        return 1;
    snprintf(note, sizeof note, "final fit: %d epochs (best %d), validation correlation %.3f; "
             "test FEVE %.3f, correlation to average %.3f", rep.epochs, rep.best_epoch,
             rep.best_validation_corr, s->res->test_feve_mean, s->res->test_corr_mean);
    progress(s, note, 1);
    return session_record_note(s->rec, note, s->err) || phase(s, "fit", "end");
}

/* ------------------------------------------------------------------------ */
/* Targets and synthesis */

static int choose_targets(run_state *s)
{
    int N = s->N, want = s->p->targets.count;
    float *corr = malloc((size_t)N * sizeof(float));
    s->targets = malloc((size_t)N * sizeof(int));
    if (!corr || !s->targets) {
        free(corr);
        return fail(s, "out of memory for %s", "the targets");
    }
    if (tier_metrics(s, TIER_VALIDATION, NULL, corr)) {
        free(corr);
        return 1;
    }
    /* Top N by validation correlation, none below the minimum. */
    uint8_t *taken = calloc((size_t)N, 1);
    for (int k = 0; taken && k < want; k++) {
        int best = -1;
        for (int n = 0; n < N; n++)
            if (!taken[n] && isfinite(corr[n]) && (best < 0 || corr[n] > corr[best]))
                best = n;
        if (best < 0 || corr[best] < s->p->targets.min_correlation)
            break;
        taken[best] = 1;
        s->targets[s->n_targets++] = best;
    }
    free(taken);
    const char *names[] = {"validation_corr", NULL};
    const float *arrays[] = {corr};
    int status = record_metric_arrays(s, "validation_corr", finite_mean(corr, N), N, names, arrays);
    free(corr);
    if (status)
        return 1;
    if (s->n_targets == 0)
        return fail(s, "no neuron reached the minimum validation correlation %s",
                    "(targets.min_correlation)");
    s->res->targets = s->n_targets;
    record_payload pl;
    record_payload_init(&pl);
    record_payload_text(&pl, "text", "targets");
    uint32_t shape[1] = {(uint32_t)s->n_targets};
    record_payload_array(&pl, "targets", RECORD_I32, 1, shape, s->targets);
    status = session_record_append(s->rec, RECORD_NOTE, &pl, NULL, s->err);
    record_payload_free(&pl);
    return status;
}

/* The contrast budget: the natural training images' mean and median RMS contrast. */
static int set_budget(run_state *s)
{
    int n = 0;
    for (int i = 0; i < s->images.count; i++)
        n += s->images.kind[i] < 0 && s->images.tier[i] == TIER_TRAIN;
    float *train = malloc((size_t)(n ? n : 1) * (size_t)s->P * sizeof(float));
    if (!train)
        return fail(s, "out of memory for %s", "the budget");
    double sum = 0;
    for (int i = 0, k = 0; i < s->images.count; i++) {
        if (s->images.kind[i] >= 0 || s->images.tier[i] != TIER_TRAIN)
            continue;
        memcpy(train + (size_t)k * s->P, image_at(s, i), (size_t)s->P * sizeof(float));
        for (int j = 0; j < s->P; j++)
            sum += train[(size_t)k * s->P + j];
        k++;
    }
    s->budget.mean_luminance = (float)(sum / ((double)n * s->P));
    s->budget.contrast = s->p->mei.contrast > 0 ? s->p->mei.contrast
                                                : stimulus_median_contrast(train, n, s->P);
    free(train);
    char note[160];
    snprintf(note, sizeof note, "contrast budget: RMS %.4f at mean luminance %.4f",
             s->budget.contrast, s->budget.mean_luminance);
    return session_record_note(s->rec, note, s->err);
}

static void on_mei_step(const mei_progress *p, void *user)
{
    run_state *s = user;
    s->st.mei_step = p->step;
    s->st.mei_steps = p->steps;
    catch_up(s);
    progress(s, NULL, 0);
}

static int synthesize_meis(run_state *s, float *out)
{
    const protocol_mei *pm = &s->p->mei;
    mei_options o;
    mei_options_default(&o);
    o.steps = pm->steps;
    o.starts = pm->starts;
    o.step_size = 0.01f * pm->step_size; /* 1: the synthesis' default step */
    o.space = pm->preconditioning == PROTOCOL_PRECONDITION_FOURIER ? MEI_SPACE_FOURIER
                                                                   : MEI_SPACE_PIXEL;
    o.blur_sigma = pm->preconditioning == PROTOCOL_PRECONDITION_BLUR ? pm->blur_sigma : 0.0f;
    o.blur_sigma_end = 0.0f;
    o.jitter = (int)pm->jitter_px;
    o.budget = s->budget;
    o.threads = s->p->model.threads;
    o.seed = s->p->seed;
    o.progress = on_mei_step;
    o.user = s;
    mei_target *t = malloc((size_t)s->n_targets * sizeof *t);
    mei_result *r = malloc((size_t)s->n_targets * sizeof *r);
    char err[STIMULUS_ERR_SIZE];
    int status = 1;
    if (t && r) {
        for (int j = 0; j < s->n_targets; j++)
            t[j] = (mei_target){pm->objective == PROTOCOL_OBJECTIVE_ONE_HOT ? MEI_ONE_HOT_MEAN
                                                                            : MEI_SINGLE,
                                s->targets[j], NULL};
        status = mei_synthesize(s->m, t, s->n_targets, &o, out, r, err);
        if (status)
            fail(s, "synthesis: %s", err);
    } else {
        fail(s, "out of memory for %s", "the MEIs");
    }
    free(t);
    free(r);
    return status;
}

/* The controls the protocol asks for, KIND_* slots of `out` (targets × KIND_COUNT × P). */
static int make_controls(run_state *s, float *out, uint8_t *present)
{
    int n = s->n_targets, P = s->P, status = 1;
    unsigned want = s->p->mei.controls;
    char err[STIMULUS_ERR_SIZE];
    int *bp = malloc((size_t)n * sizeof(int)), *br = malloc((size_t)n * sizeof(int));
    float *img = malloc((size_t)n * (size_t)P * sizeof(float));
    gabor_params *g = malloc((size_t)n * sizeof *g);
    int ntrain = dataset_count_tier(&s->data, TIER_TRAIN);
    float *train = malloc((size_t)(ntrain ? ntrain : 1) * (size_t)P * sizeof(float));
    if (!bp || !br || !img || !g || !train) {
        fail(s, "out of memory for %s", "the controls");
        goto done;
    }
    for (int t = 0, k = 0; t < s->data.trials; t++)
        if (s->data.tiers[t] == TIER_TRAIN)
            memcpy(train + (size_t)k++ * P, s->data.images + (size_t)t * P,
                   (size_t)P * sizeof(float));
    if (want & PROTOCOL_CONTROL_BEST_NATURAL) {
        if (control_best_natural(s->m, train, ntrain, NULL, s->targets, n, bp, br, err))
            goto bad;
        for (int j = 0; j < n; j++) {
            float *x = out + ((size_t)j * KIND_COUNT + KIND_BEST_NATURAL) * P;
            memcpy(x, train + (size_t)bp[j] * P, (size_t)P * sizeof(float));
            stimulus_render_at_budget(x, P, &s->budget);
            present[j * KIND_COUNT + KIND_BEST_NATURAL] = 1;
        }
    }
    if (want & PROTOCOL_CONTROL_GABOR) {
        if (control_matched_gabor(s->m, s->targets, n, &s->budget, s->p->seed, g, img, err))
            goto bad;
        for (int j = 0; j < n; j++) {
            memcpy(out + ((size_t)j * KIND_COUNT + KIND_GABOR) * P, img + (size_t)j * P,
                   (size_t)P * sizeof(float));
            present[j * KIND_COUNT + KIND_GABOR] = 1;
        }
    }
    if (want & PROTOCOL_CONTROL_RF) {
        if (control_rf_map(s->m, s->targets, n, &s->budget, img, err))
            goto bad;
        for (int j = 0; j < n; j++) {
            memcpy(out + ((size_t)j * KIND_COUNT + KIND_RF) * P, img + (size_t)j * P,
                   (size_t)P * sizeof(float));
            present[j * KIND_COUNT + KIND_RF] = 1;
        }
    }
    status = 0;
    goto done;
bad:
    fail(s, "controls: %s", err);
done:
    free(bp);
    free(br);
    free(img);
    free(g);
    free(train);
    return status;
}

/* Every MEI and control: recorded as a stimulus and loaded into the presenter. */
static int add_closed_loop_images(run_state *s, const float *stim, const uint8_t *present,
                                  int64_t **ids_out, int *count_out)
{
    int n = s->n_targets, P = s->P, k = 0;
    int64_t *ids = malloc((size_t)n * KIND_COUNT * sizeof(int64_t));
    float *rates = malloc((size_t)s->N * sizeof(float));
    char err[MODEL_ERR_SIZE];
    int status = 1;
    if (!ids || !rates) {
        fail(s, "out of memory for %s", "the closed-loop stimuli");
        goto done;
    }
    for (int j = 0; j < n; j++)
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            if (!present[j * KIND_COUNT + kind])
                continue;
            const float *x = stim + ((size_t)j * KIND_COUNT + kind) * P;
            int id;
            if (model_predict(s->m, x, 1, rates, err)) {
                fail(s, "%s", err);
                goto done;
            }
            if (image_add(s, x, kind, s->targets[j], TIER_NONE, &id))
                goto done;
            record_stimulus rs = {id, s->targets[j], kind_names[kind], s->H, s->W, x,
                                  rates[s->targets[j]]};
            if (session_record_stimulus(s->rec, &rs, s->err))
                goto done;
            ids[k++] = id;
        }
    *ids_out = ids;
    *count_out = k;
    ids = NULL;
    status = 0;
done:
    free(ids);
    free(rates);
    return status;
}

static int phase_synthesis(run_state *s, int64_t **ids, int *count)
{
    if (phase(s, "synthesis", "begin") || choose_targets(s) || set_budget(s))
        return 1;
    int n = s->n_targets;
    float *stim = calloc((size_t)n * KIND_COUNT * (size_t)s->P, sizeof(float));
    float *meis = malloc((size_t)n * (size_t)s->P * sizeof(float));
    uint8_t *present = calloc((size_t)n * KIND_COUNT, 1);
    int status = 1;
    if (!stim || !meis || !present) {
        fail(s, "out of memory for %s", "the stimuli");
        goto done;
    }
    if (synthesize_meis(s, meis))
        goto done;
    for (int j = 0; j < n; j++) {
        memcpy(stim + (size_t)j * KIND_COUNT * s->P, meis + (size_t)j * s->P,
               (size_t)s->P * sizeof(float));
        present[j * KIND_COUNT + KIND_MEI] = 1;
    }
    progress(s, "controls: best natural image, matched Gabor, RF map", 1);
    if (make_controls(s, stim, present) || add_closed_loop_images(s, stim, present, ids, count))
        goto done;
    status = phase(s, "synthesis", "end");
done:
    free(stim);
    free(meis);
    free(present);
    return status;
}

/* Every stimulus `repeats` times, shuffled from the seed: NULL when out of memory. */
static int64_t *closed_loop_order(run_state *s, const int64_t *stimuli, int count, int *total)
{
    int repeats = s->p->closed_loop.repeats;
    *total = count * repeats;
    int64_t *order = malloc((size_t)(*total ? *total : 1) * sizeof(int64_t));
    if (!order)
        return NULL;
    for (int r = 0; r < repeats; r++)
        memcpy(order + (size_t)r * count, stimuli, (size_t)count * sizeof(int64_t));
    model_rng rng;
    model_rng_seed(&rng, s->p->seed ^ 0x636c6f736564ull);
    shuffle(order, *total, &rng);
    return order;
}

static int phase_closed_loop(run_state *s, const int64_t *stimuli, int count)
{
    int total;
    int64_t *order = closed_loop_order(s, stimuli, count, &total);
    if (!order)
        return fail(s, "out of memory for %s", "the closed-loop schedule");
    int status = phase(s, "closed_loop", "begin") ||
                 run_block(s, "closed_loop", order, total, 0) || phase(s, "closed_loop", "end");
    free(order);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Evaluation */

/* Mean of v and its 95% percentile bootstrap interval (1,000 resamples). */
static void bootstrap_mean(const float *v, int n, model_rng *rng, double *mean, double *lo,
                           double *hi)
{
    enum { RESAMPLES = 1000 };
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += v[i];
    *mean = n ? sum / n : NAN;
    *lo = *hi = *mean;
    float *means = malloc(RESAMPLES * sizeof(float));
    if (!means || n < 2) {
        free(means);
        return;
    }
    for (int b = 0; b < RESAMPLES; b++) {
        double t = 0;
        for (int i = 0; i < n; i++)
            t += v[(int)(model_rng_uniform(rng) * n)];
        means[b] = (float)(t / n);
    }
    metric_summary ms;
    metrics_summarize(means, RESAMPLES, &ms);
    /* metrics_summarize gives quartiles; the 2.5/97.5 percentiles by sorting. */
    for (int i = 1; i < RESAMPLES; i++) {
        float x = means[i];
        int j = i - 1;
        while (j >= 0 && means[j] > x) {
            means[j + 1] = means[j];
            j--;
        }
        means[j + 1] = x;
    }
    *lo = means[(int)(0.025 * RESAMPLES)];
    *hi = means[(int)(0.975 * RESAMPLES) - 1];
    free(means);
}

/* The closed-loop stimulus id of target j's `kind`, -1 if none. */
static int stimulus_of(const run_state *s, int neuron, int kind)
{
    for (int i = 0; i < s->images.count; i++)
        if (s->images.kind[i] == kind && s->images.neuron[i] == neuron)
            return i;
    return -1;
}

static int evaluate_recorded(run_state *s, float *means /* targets × KIND_COUNT */)
{
    float *v = malloc((size_t)(s->closed.count ? s->closed.count : 1) * sizeof(float));
    if (!v)
        return fail(s, "out of memory for %s", "the evaluation");
    model_rng rng;
    model_rng_seed(&rng, s->p->seed ^ 0x6576616cull);
    for (int j = 0; j < s->n_targets; j++)
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            int neuron = s->targets[j], id = stimulus_of(s, neuron, kind), n = 0;
            means[j * KIND_COUNT + kind] = NAN;
            if (id < 0)
                continue;
            for (int r = 0; r < s->closed.count; r++)
                if (s->closed.image_id[r] == id)
                    v[n++] = s->closed.counts[(size_t)r * s->N + neuron];
            double mean, lo, hi;
            bootstrap_mean(v, n, &rng, &mean, &lo, &hi);
            means[j * KIND_COUNT + kind] = (float)mean;
            record_evaluation e = {neuron, kind_names[kind], mean, lo, hi, n};
            if (session_record_evaluation(s->rec, &e, s->err)) {
                free(v);
                return 1;
            }
        }
    free(v);
    return 0;
}

/* Across targets: the median of MEI / control, recorded per control. */
static int evaluate_ratios(run_state *s, const float *means)
{
    float *ratio = malloc((size_t)s->n_targets * sizeof(float));
    if (!ratio)
        return fail(s, "out of memory for %s", "the ratios");
    s->res->median_ratio_recorded = NAN;
    for (int kind = 1; kind < KIND_COUNT; kind++) {
        int n = 0;
        for (int j = 0; j < s->n_targets; j++) {
            float c = means[j * KIND_COUNT + kind], m = means[j * KIND_COUNT + KIND_MEI];
            if (isfinite(c) && isfinite(m) && c > 0)
                ratio[n++] = m / c;
        }
        if (!n)
            continue;
        char kind_name[64];
        snprintf(kind_name, sizeof kind_name, "median_ratio_mei_over_%s", kind_names[kind]);
        float med = median_of(ratio, n);
        if (kind == KIND_BEST_NATURAL)
            s->res->median_ratio_recorded = med;
        if (record_value(s, -1, kind_name, med)) {
            free(ratio);
            return 1;
        }
    }
    free(ratio);
    return 0;
}

/* The natural training images, gathered in chunks, to the ground truth. */
static int truth_add_naturals(run_state *s, stimulus_truth *t)
{
    int chunk = 128, k = 0;
    float *batch = malloc((size_t)chunk * (size_t)s->P * sizeof(float));
    if (!batch)
        return fail(s, "out of memory for %s", "the ground truth");
    for (int i = 0; i < s->images.count; i++) {
        if (s->images.kind[i] >= 0 || s->images.tier[i] != TIER_TRAIN)
            continue;
        memcpy(batch + (size_t)k * s->P, image_at(s, i), (size_t)s->P * sizeof(float));
        if (++k == chunk) {
            stimulus_truth_add_naturals(t, batch, k);
            k = 0;
        }
    }
    stimulus_truth_add_naturals(t, batch, k);
    free(batch);
    return 0;
}

static const int truth_kind_of[KIND_COUNT] = {TRUTH_MEI, TRUTH_BEST_NATURAL, TRUTH_GABOR,
                                              TRUTH_RF};

/* The simulated population's expected response to each MEI and control, to
 * the neuron's truly best natural training image and to its known optimum,
 * all at the same budget (stimulus_truth, shared with `inception mei`). */
static int evaluate_truth(run_state *s)
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
    c.seed = v->seed;
    stimulus_truth *t;
    char err[STIMULUS_ERR_SIZE];
    if (stimulus_truth_create(&t, &c, s->targets, s->n_targets, &s->budget, err))
        return fail(s, "ground truth: %s", err);
    int status = 1;
    if (truth_add_naturals(s, t))
        goto done;
    for (int j = 0; j < s->n_targets; j++)
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            int id = stimulus_of(s, s->targets[j], kind);
            if (id >= 0)
                stimulus_truth_score(t, j, truth_kind_of[kind], image_at(s, id));
        }
    if (stimulus_truth_finish(t, err)) {
        fail(s, "ground truth: %s", err);
        goto done;
    }
    for (int j = 0; j < s->n_targets; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        for (int kind = 0; kind < KIND_COUNT; kind++) {
            char name[64];
            snprintf(name, sizeof name, "truth_%s", kind_names[kind]);
            if (isfinite(r->shown[truth_kind_of[kind]]) &&
                record_value(s, r->neuron, name, r->shown[truth_kind_of[kind]]))
                goto done;
        }
        if (record_value(s, r->neuron, "truth_best_natural_training", r->natural) ||
            record_value(s, r->neuron, "truth_optimum", r->optimum))
            goto done;
    }
    truth_summary all;
    if (stimulus_truth_summarize(t, TRUTH_ALL_TYPES, &all)) {
        fail(s, "out of memory for %s", "the ground truth");
        goto done;
    }
    s->res->median_ratio_truth = all.over_natural;
    status = record_value(s, -1, "truth_median_ratio_mei_over_best_natural",
                          s->res->median_ratio_truth);
done:
    stimulus_truth_destroy(t);
    return status;
}

static int phase_evaluation(run_state *s)
{
    float *means = malloc((size_t)s->n_targets * KIND_COUNT * sizeof(float));
    if (!means)
        return fail(s, "out of memory for %s", "the evaluation");
    int status = phase(s, "evaluation", "begin") || evaluate_recorded(s, means) ||
                 evaluate_ratios(s, means) ||
                 (s->p->virtual_rig.enabled && evaluate_truth(s)) || phase(s, "evaluation", "end");
    free(means);
    return status;
}

/* ------------------------------------------------------------------------ */

static int phase_start(run_state *s)
{
    const protocol *p = s->p;
    if (make_session_dir(s) ||
        session_record_create(s->dir, p->name, p->text, p->text_size, &s->rec, s->err) ||
        phase(s, "start", "begin"))
        return 1;
    if (p->virtual_rig.enabled) {
        const char *exe = s->o->rig_executable ? s->o->rig_executable : "/proc/self/exe";
        if (rig_process_start(&s->rig, exe, p, s->dir, s->err))
            return 1;
        progress(s, "virtual rig started (its log: virtual_rig.log in the session folder)", 1);
    }
    if (open_streams(s) || open_presenter(s) || wait_for_stream(s))
        return 1;
    return phase(s, "start", "end");
}

static void run_destroy(run_state *s)
{
    presenter_destroy(s->pres);
    fit_worker_destroy(s->fit);
    rig_process_stop(&s->rig, 5000);
    acq_receiver_destroy(s->stream);
    acq_publisher_destroy(s->onsets);
    acq_aligner_destroy(s->aligner);
    model_destroy(s->m);
    if (s->data.images)
        dataset_free(&s->data);
    free(s->images.pixels);
    free(s->images.kind);
    free(s->images.neuron);
    free(s->images.tier);
    free(s->closed.image_id);
    free(s->closed.counts);
    free(s->counts);
    free(s->targets);
}

/* What run_session and run_resume share: the state from the protocol. */
static int run_init(run_state *s, const protocol *p, const run_options *o, run_result *out,
                    const char *dir, char *err)
{
    memset(s, 0, sizeof *s);
    memset(out, 0, sizeof *out);
    out->median_ratio_recorded = out->median_ratio_truth = NAN;
    out->test_feve_mean = out->test_corr_mean = NAN;
    s->p = p;
    s->o = o;
    s->res = out;
    s->err = err;
    s->start_ns = (int64_t)record_monotonic_ns();
    s->st.phase = "start";
    s->st.validation_corr = NAN;
    s->H = p->images.height;
    s->W = p->images.width;
    s->P = s->H * s->W;
    s->N = p->virtual_rig.enabled ? p->virtual_rig.neurons : 0;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(out->session_dir, sizeof out->session_dir, "%s", s->dir);
    if (!p->virtual_rig.enabled) {
        snprintf(err, CONTROLLER_ERR_SIZE, "only sessions with the virtual rig run so far "
                 "(virtual_rig.enabled: true)");
        return 1;
    }
    /* FFTW's planner is process-global: the fit thread and synthesis both plan. */
    fftwf_make_planner_thread_safe();
    s->counts = malloc((size_t)s->N * sizeof(float));
    return !s->counts ? fail(s, "out of memory%s", "") : 0;
}

/* The last notes, then everything stopped and the record closed. */
static int run_finish(run_state *s, int status, char *err)
{
    run_result *out = s->res;
    out->seconds = seconds_since(s->start_ns);
    if (!status) {
        char note[256];
        snprintf(note, sizeof note, "done in %.1f s: test FEVE %.3f, median ground-truth ratio "
                 "MEI/best natural %.3f", out->seconds, out->test_feve_mean,
                 out->median_ratio_truth);
        status = session_record_note(s->rec, note, err) || session_record_sync(s->rec, err);
    } else if (s->rec) {
        char note[CONTROLLER_ERR_SIZE + 16], ignored[CONTROLLER_ERR_SIZE];
        snprintf(note, sizeof note, "failed: %s", err);
        session_record_note(s->rec, note, ignored);
    }
    run_destroy(s);
    char close_err[CONTROLLER_ERR_SIZE];
    if (s->rec && session_record_close(s->rec, close_err) && !status) {
        snprintf(err, CONTROLLER_ERR_SIZE, "%s", close_err);
        status = 1;
    }
    return status;
}

int run_session(const protocol *p, const run_options *o, run_result *out, char *err)
{
    run_state s;
    int64_t *closed = NULL;
    int n_closed = 0;
    int status = run_init(&s, p, o, out, o->out_dir ? o->out_dir : p->output, err);
    status = status || phase_start(&s) || phase_recording(&s) || phase_fit(&s) ||
             phase_synthesis(&s, &closed, &n_closed) || phase_closed_loop(&s, closed, n_closed) ||
             phase_evaluation(&s);
    free(closed);
    return run_finish(&s, status, err);
}

/* ------------------------------------------------------------------------ */
/* Resume: a session killed at any moment continues from its record */

/* The trials a killed session recorded, in record order. */
typedef struct earlier_trials {
    int64_t *image_id;
    int64_t *flags;
    uint8_t *closed; /* 1: closed-loop block, 0: recording */
    float *counts;   /* count × N */
    int count, capacity;
} earlier_trials;

typedef struct resume_scan {
    earlier_trials trials;
    int natural_recorded;  /* natural stimulus records (ids 0..k-1) */
    int64_t max_trial;     /* highest trial number scheduled or recorded, -1 none */
} resume_scan;

static void resume_scan_free(resume_scan *r)
{
    free(r->trials.image_id);
    free(r->trials.flags);
    free(r->trials.closed);
    free(r->trials.counts);
}

static int earlier_trial_add(run_state *s, resume_scan *r, const record_view *v)
{
    earlier_trials *t = &r->trials;
    const unsigned char *pl = v->payload;
    int64_t trial, id, flags;
    char block[32];
    record_field f;
    if (record_get_i64(pl, v->length, "trial", &trial) ||
        record_get_i64(pl, v->length, "image_id", &id) ||
        record_get_i64(pl, v->length, "flags", &flags) ||
        record_get_text(pl, v->length, "block", block, sizeof block) ||
        record_field_find(pl, v->length, "counts", &f) || f.dtype != RECORD_F32 ||
        f.count != (size_t)s->N)
        return fail(s, "a trial record of the session is malformed (%s)", "resume");
    if (t->count == t->capacity) {
        int cap = t->capacity ? 2 * t->capacity : 1024;
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
        if (!a || !b || !c || !d)
            return fail(s, "out of memory for %s", "the earlier trials");
        t->capacity = cap;
    }
    t->image_id[t->count] = id;
    t->flags[t->count] = flags;
    t->closed[t->count] = !strcmp(block, "closed_loop");
    memcpy(t->counts + (size_t)t->count * (size_t)s->N, f.data, (size_t)s->N * sizeof(float));
    t->count++;
    if (trial > r->max_trial)
        r->max_trial = trial;
    return 0;
}

static int scan_record(run_state *s, const record_view *v, resume_scan *r)
{
    const unsigned char *pl = v->payload;
    char text[64], event[16];
    int64_t value;
    if (v->type == RECORD_PHASE && !record_get_text(pl, v->length, "phase", text, sizeof text) &&
        !record_get_text(pl, v->length, "event", event, sizeof event)) {
        int k = phase_index(text);
        if (k >= 0 && !strcmp(event, "begin"))
            s->begun |= 1u << k;
        if (k >= 0 && !strcmp(event, "end"))
            s->ended |= 1u << k;
    } else if (v->type == RECORD_SCHEDULE && !record_get_i64(pl, v->length, "trial", &value)) {
        if (value > r->max_trial)
            r->max_trial = value;
    } else if (v->type == RECORD_STIMULUS &&
               !record_get_text(pl, v->length, "kind", text, sizeof text) &&
               !strcmp(text, "natural")) {
        r->natural_recorded++;
    } else if (v->type == RECORD_TRIAL) {
        return earlier_trial_add(s, r, v);
    }
    return 0;
}

/* Calls `fn` on every valid record of the session (the torn tail is cut already). */
static int each_record(run_state *s, resume_scan *r,
                       int (*fn)(run_state *, const record_view *, resume_scan *))
{
    char path[PROTOCOL_STRING_SIZE + 32];
    snprintf(path, sizeof path, "%s/%s", s->dir, RECORD_FILE_NAME);
    record_reader *rd;
    if (record_reader_open(path, &rd, s->err))
        return 1;
    record_view v;
    int got, status = 0;
    while (!status && (got = record_reader_next(rd, &v, s->err)) != RECORD_NEXT_END &&
           got != RECORD_NEXT_TORN) {
        if (got < 0)
            status = 1;
        else if (got == RECORD_NEXT_OK)
            status = fn(s, &v, r);
    }
    record_reader_close(rd);
    return status;
}

/* The closed-loop stimuli recorded before the kill, into the image table
 * after the natural images. Those of a synthesis that did not end are kept
 * (their ids are taken) but never shown nor evaluated: kind -2. */
static int load_closed_stimulus(run_state *s, const record_view *v, resume_scan *r)
{
    (void)r;
    const unsigned char *pl = v->payload;
    char kind_name[32];
    int64_t id, neuron;
    record_field f;
    if (v->type != RECORD_STIMULUS ||
        record_get_text(pl, v->length, "kind", kind_name, sizeof kind_name) ||
        !strcmp(kind_name, "natural"))
        return 0;
    if (record_get_i64(pl, v->length, "stimulus_id", &id) ||
        record_get_i64(pl, v->length, "neuron", &neuron) ||
        record_field_find(pl, v->length, "pixels", &f) || f.dtype != RECORD_F32 ||
        f.count != (size_t)s->P)
        return fail(s, "a stimulus record of the session is malformed (%s)", "resume");
    int kind = -2, got;
    for (int k = 0; k < KIND_COUNT && (s->ended >> 3 & 1); k++)
        if (!strcmp(kind_name, kind_names[k]))
            kind = k;
    float *pixels = malloc((size_t)s->P * sizeof(float));
    if (!pixels)
        return fail(s, "out of memory for %s", "a stimulus");
    memcpy(pixels, f.data, (size_t)s->P * sizeof(float));
    int status = image_add(s, pixels, kind, (int)neuron, TIER_NONE, &got);
    free(pixels);
    if (!status && got != id)
        return fail(s, "the record's stimulus ids are not consecutive (%s)", "resume");
    return status;
}

/* Drops from `order` one entry per earlier trial of that block (acknowledged
 * or flagged: either way it was shown); what is left is shown again. */
static int remaining_of(const resume_scan *r, int closed, int64_t *order, int count)
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
            if (closed_add(s, id, counts))
                return 1;
        } else if (s->images.kind[id] == -1 && !(s->ended >> 2 & 1)) {
            if (!s->fit && start_fit_worker(s))
                return 1;
            if (fit_worker_add(s->fit, image_at(s, id), counts, s->images.tier[id], id))
                return fail(s, "out of memory for %s trials", "the fit's");
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
    if (phase(s, "start", "begin"))
        return 1;
    s->rig.truth_index = next_truth_index(s);
    const char *exe = s->o->rig_executable ? s->o->rig_executable : "/proc/self/exe";
    if (rig_process_start(&s->rig, exe, s->p, s->dir, s->err))
        return 1;
    char note[128];
    snprintf(note, sizeof note, "virtual rig restarted: its ground truth to rig_truth.%d",
             s->rig.truth_index);
    progress(s, note, 1);
    if (session_record_note(s->rec, note, s->err) || open_streams(s) || open_presenter(s) ||
        wait_for_stream(s))
        return 1;
    return (s->ended & 1) ? 0 : phase(s, "start", "end");
}

/* Natural images (recorded again only where the kill came first), the
 * earlier trials, then the rest of the recording block. */
static int resume_recording(run_state *s, resume_scan *r)
{
    int64_t *order = NULL;
    int count = 0;
    if (phase(s, "recording", "begin") ||
        record_natural_images(s, &order, &count, r->natural_recorded))
        return 1;
    int status = 1;
    if (each_record(s, r, load_closed_stimulus) || replay_earlier_trials(s, r))
        goto done;
    if (s->ended >> 1 & 1) {
        status = 0;
        goto done;
    }
    count = remaining_of(r, 0, order, count);
    if (count < 0) {
        fail(s, "out of memory for %s", "the schedule");
        goto done;
    }
    status = (count > 0 && run_block(s, "recording", order, count, 1)) ||
             phase(s, "recording", "end");
done:
    free(order);
    return status;
}

/* A fit that ended before the kill is not redone: its checkpoint and the
 * recorded natural trials are loaded. */
static int resume_fit(run_state *s)
{
    if (!(s->ended >> 2 & 1))
        return phase_fit(s);
    char path[PROTOCOL_STRING_SIZE + 16], err[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/model.bin", s->dir);
    if (model_load(&s->m, path, err))
        return fail(s, "%s", err);
    model_set_threads(s->m, s->p->model.threads);
    session_dataset sd;
    if (session_dataset_load(s->dir, &sd, s->err))
        return 1;
    s->data = sd.data;
    memset(&sd.data, 0, sizeof sd.data);
    session_dataset_free(&sd);
    return 0;
}

/* A synthesis that ended is not redone: its targets and stimuli are the
 * recorded ones. */
static int resume_synthesis(run_state *s, int64_t **ids, int *count)
{
    if (!(s->ended >> 3 & 1))
        return phase_synthesis(s, ids, count);
    int n = 0;
    *ids = malloc((size_t)(s->images.count ? s->images.count : 1) * sizeof(int64_t));
    s->targets = malloc((size_t)(s->N ? s->N : 1) * sizeof(int));
    if (!*ids || !s->targets)
        return fail(s, "out of memory for %s", "the closed-loop stimuli");
    for (int i = 0; i < s->images.count; i++) {
        if (s->images.kind[i] < 0)
            continue;
        (*ids)[n++] = i;
        if (s->images.kind[i] == KIND_MEI)
            s->targets[s->n_targets++] = s->images.neuron[i];
    }
    *count = n;
    s->res->targets = s->n_targets;
    return set_budget(s);
}

static int resume_closed_loop(run_state *s, const resume_scan *r, const int64_t *stimuli,
                              int count)
{
    if (s->ended >> 4 & 1)
        return 0;
    int total;
    int64_t *order = closed_loop_order(s, stimuli, count, &total);
    if (!order)
        return fail(s, "out of memory for %s", "the closed-loop schedule");
    total = remaining_of(r, 1, order, total);
    int status = total < 0 ? fail(s, "out of memory for %s", "the schedule") : 0;
    status = status || phase(s, "closed_loop", "begin") ||
             (total > 0 && run_block(s, "closed_loop", order, total, 0)) ||
             phase(s, "closed_loop", "end");
    free(order);
    return status;
}

/* The protocol a session started with: its first record, session_start. */
static int recorded_protocol(const char *dir, protocol **out, char *err)
{
    char path[PROTOCOL_STRING_SIZE + 32];
    snprintf(path, sizeof path, "%s/%s", dir, RECORD_FILE_NAME);
    record_reader *rd;
    if (record_reader_open(path, &rd, err))
        return 1;
    record_view v;
    record_field f;
    int got = record_reader_next(rd, &v, err), status = 1;
    if (got < 0)
        ;
    else if (got != RECORD_NEXT_OK || v.type != RECORD_SESSION_START ||
             record_field_find(v.payload, v.length, "protocol_text", &f))
        snprintf(err, CONTROLLER_ERR_SIZE, "%s: does not start with a session_start record", path);
    else
        status = protocol_parse(f.data, f.count, "session_start", dir, out, err);
    record_reader_close(rd);
    return status;
}

int run_resume(const char *dir, const run_options *o, run_result *out, char *err)
{
    session_record *rec;
    record_resume_report rep;
    if (session_record_resume(dir, &rec, &rep, err))
        return 1;
    protocol *p = NULL;
    int status = recorded_protocol(dir, &p, err);
    if (!status && o->offscreen)
        p->display.mode = PROTOCOL_DISPLAY_OFFSCREEN;
    if (status) {
        char ignored[CONTROLLER_ERR_SIZE];
        session_record_close(rec, ignored);
        return 1;
    }
    run_state s;
    resume_scan r = {.max_trial = -1};
    status = run_init(&s, p, o, out, dir, err);
    s.rec = rec;
    char note[256];
    snprintf(note, sizeof note, "resumed: %llu records kept, %llu torn bytes cut, %llu corrupt "
             "stretches skipped", (unsigned long long)rep.records,
             (unsigned long long)rep.cut_bytes, (unsigned long long)rep.corrupt);
    status = status || session_record_note(rec, note, err) || each_record(&s, &r, scan_record);
    if (!status) {
        progress(&s, note, 1);
        s.next_trial = r.max_trial + 1; /* shown again as new trial numbers */
    }
    int64_t *closed = NULL;
    int n_closed = 0;
    status = status || (s.ended >> 5 & 1 ? 0 : (resume_start(&s) || resume_recording(&s, &r) ||
             resume_fit(&s) || resume_synthesis(&s, &closed, &n_closed) ||
             resume_closed_loop(&s, &r, closed, n_closed) || phase_evaluation(&s)));
    free(closed);
    resume_scan_free(&r);
    status = run_finish(&s, status, err);
    protocol_destroy(p);
    return status;
}
