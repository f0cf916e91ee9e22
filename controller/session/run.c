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

#include <assert.h>
#include <errno.h>
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The closed loop's stimulus kinds: the MEI, its controls and what mei.kinds
 * adds, per target one slot for each stimulus kind (session/session.h). */
#define KIND_COUNT SESSION_KINDS
#define KIND_MEI STIMULUS_KIND_MEI

/* Every image the session shows, by id (the presenter's, the schedule's and
 * the stream's stimulus id). */
typedef struct image_table {
    float *pixels;  /* count × P */
    int *kind;      /* -1 natural, else STIMULUS_KIND_* below KIND_COUNT */
    int *neuron;    /* target, -1 for natural images */
    uint8_t *tier;  /* natural images: TIER_*; closed-loop stimuli: TIER_NONE */
    uint8_t *sha256; /* count × SHA256_SIZE: each schedule record carries its image's */
    float *clips;    /* audio: count × S, the clip played (pixels: its cochleagram) */
    int count, capacity;
} image_table;

/* The closed loop's recorded responses, one row per unflagged trial. */
typedef struct response_rows {
    int64_t *trial, *image_id;
    float *counts; /* rows × N */
    int count, capacity;
} response_rows;

typedef struct run_state {
    const protocol *p;
    const run_options *o;
    run_result *res;
    char dir[PROTOCOL_STRING_SIZE];
    char *err;

    session_lock *lock; /* held from before the first write to the end */
    session_record *rec;
    rig_process rig;
    acq_receiver *stream;
    acq_publisher *onsets;
    acq_aligner *aligner;
    run_display display; /* the local presenter or a remote one */
    run_frames frames;   /* the display's verdict on each trial of the block */
    run_sched sched;     /* the frame path's scheduling (run_sched.c) */
    fit_worker *fit;
    session_fit_result fr; /* the final fit, targets and stimuli (session_fit.c) */
    dataset data; /* the natural trials, after recording: rebuilt from the record */

    int H, W, P, N;
    int audio, S;   /* modality audio; clip samples (docs/audio.md) */
    float *made_clips; /* audio: n_targets × fr.n_kinds × S, the MEIs' and controls' clips */
    image_table images;
    int64_t next_trial;
    response_rows closed;
    float *counts;        /* N, a completed trial's */
    /* The trials recorded on the current acquisition clock: a span of
     * possible loss that comes later is recorded against those it overlaps
     * (`trial_flags`, run_flag_recorded_trials). */
    struct recorded_window {
        int64_t trial, from, to; /* what its counts depend on (acq_trial counted_*) */
        uint32_t flags;
    } *recorded;
    size_t n_recorded, cap_recorded;

    int *targets;
    int n_targets;
    int64_t *search_best; /* n_targets: the search's handed-over stimulus ids (NULL: no search) */
    stimulus_budget budget;
    double period_ms;

    run_status st;
    int64_t start_ns, last_progress_ns;
    uint64_t stream_messages;
    int stream_failed;
    int64_t stream_reached_ns; /* acquisition clock: the end of the latest bin since the reset */
    int64_t clock_reset_ns;    /* CLOCK_MONOTONIC: the latest clock reset taken by the aligner */
    int fit_curve_failed; /* a final-fit epoch's note could not be recorded */
    unsigned begun, ended; /* a resumed session's phases (bit = phase_names index) */
    int aligner_votes;       /* onsets the first clock offset needs */
    int first_block_started;
    char *unit_map_noted;    /* Open Ephys: the unit map last recorded */
    uint64_t unmapped_noted; /* Open Ephys: spikes in no column, as last recorded */
    uint64_t spikes_dropped_noted; /* Open Ephys: spikes the full queue kept from the record */
    uint64_t restarts_noted; /* Open Ephys: clock restarts (GUI stop/start), as last recorded */
} run_state;

/* In the order of their bits in a resumed session's `begun` and `ended`:
 * the search phase came later and is last, though it runs before the
 * evaluation. */
static const char *const phase_names[] = {"start", "recording", "fit", "synthesis",
                                          "closed_loop", "evaluation", "search"};
enum { PHASE_COUNT = 7 };

static int run_phase_index(const char *name)
{
    for (int i = 0; i < PHASE_COUNT; i++)
        if (!strcmp(name, phase_names[i]))
            return i;
    return -1;
}

/* ------------------------------------------------------------------------ */
/* Small helpers */

static int run_fail(run_state *s, const char *fmt, const char *detail)
{
    snprintf(s->err, CONTROLLER_ERR_SIZE, fmt, detail);
    return 1;
}

static double seconds_since(int64_t start_ns)
{
    return (double)(record_monotonic_ns() - (uint64_t)start_ns) / 1e9;
}

static void run_progress(run_state *s, const char *message, int force)
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
        s->st.stream_messages = as.messages;
    }
    s->st.seconds = seconds_since(s->start_ns);
    s->st.message = message;
    s->o->progress(&s->st, s->o->user);
    s->st.message = NULL;
}

static int run_interrupted(run_state *s)
{
    if (!s->o->stop || !*s->o->stop)
        return 0;
    snprintf(s->err, CONTROLLER_ERR_SIZE, "interrupted during the %s phase", s->st.phase);
    return 1;
}

static int run_phase(run_state *s, const char *name, const char *event)
{
    if (run_interrupted(s))
        return 1;
    s->st.phase = name;
    /* A resumed session continues a phase that began before the kill. */
    int k = run_phase_index(name);
    int again = k >= 0 && !strcmp(event, "begin") && (s->begun >> k & 1);
    if (!again && session_record_phase(s->rec, name, event, s->err))
        return 1;
    run_progress(s, NULL, 1);
    return 0;
}

static float median_of(const float *v, int n)
{
    metric_summary m;
    metrics_summarize(v, n, &m);
    return m.median;
}

/* ------------------------------------------------------------------------ */
/* Images */

static int display_add(run_state *s, const float *pixels, const float *clip, int *presenter_id)
{
    char err[STIMULUS_ERR_SIZE];
    if (s->audio) { /* the display stays blank; the clip is this stimulus's sound */
        if (!clip)
            return run_fail(s, "an audio stimulus without its clip (%s)", "internal");
        if (presenter_add_sound_samples(s->display.local, clip, s->S, 1, s->p->sounds.rate,
                                        presenter_id, err))
            return run_fail(s, "audio: %s", err);
        return 0;
    }
    display_ops *d = &s->display.ops;
    if (d->add_image(d->display, pixels, s->H, s->W, presenter_id, err))
        return run_fail(s, "display: %s", err);
    return 0;
}

/* `clip`: audio, the stimulus's samples (S); NULL for images. */
static int run_image_add(run_state *s, const float *pixels, const float *clip, int kind, int neuron,
                     int tier, int *id)
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
        uint8_t *h = realloc(t->sha256, (size_t)cap * SHA256_SIZE);
        if (h)
            t->sha256 = h;
        float *c = s->audio ? realloc(t->clips, (size_t)cap * (size_t)s->S * sizeof(float)) : NULL;
        if (c)
            t->clips = c;
        if (!px || !k || !n || !ti || !h || (s->audio && !c))
            return run_fail(s, "out of memory for %s images", "the");
        t->capacity = cap;
    }
    int presenter_id;
    if (display_add(s, pixels, clip, &presenter_id))
        return 1;
    if (presenter_id != t->count)
        return run_fail(s, "presenter image ids out of step with the session's (%s)", "internal");
    memcpy(t->pixels + (size_t)t->count * (size_t)s->P, pixels, (size_t)s->P * sizeof(float));
    if (s->audio)
        memcpy(t->clips + (size_t)t->count * (size_t)s->S, clip, (size_t)s->S * sizeof(float));
    t->kind[t->count] = kind;
    t->neuron[t->count] = neuron;
    t->tier[t->count] = (uint8_t)tier;
    record_pixels_sha256(pixels, s->H, s->W, t->sha256 + (size_t)t->count * SHA256_SIZE);
    *id = t->count++;
    return 0;
}

static const float *run_image_at(const run_state *s, int64_t id)
{
    return s->images.pixels + (size_t)id * (size_t)s->P;
}

static const float *clip_at(const run_state *s, int64_t id)
{
    return s->audio ? s->images.clips + (size_t)id * (size_t)s->S : NULL;
}

/* A stimulus record: the image (audio: the cochleagram) and, audio, the clip. */
static int run_record_shown(run_state *s, int64_t id, int neuron, const char *kind, double predicted)
{
    record_stimulus rs = {.stimulus_id = id, .neuron = neuron, .kind = kind, .height = s->H,
                          .width = s->W, .pixels = run_image_at(s, id), .predicted = predicted,
                          .samples = clip_at(s, id), .sample_count = s->audio ? s->S : 0,
                          .sample_rate = s->p->sounds.rate};
    return session_record_stimulus(s->rec, &rs, s->err);
}

/* ------------------------------------------------------------------------ */
/* Records with the run's own fields */

/* A completed trial: RECORD.md's fields plus its aligner flags and block. */
static int record_completed_trial(run_state *s, const acq_trial *t, const float *counts, const char *block)
{
    record_trial r = {.trial = (int64_t)t->trial,
                      .image_id = (int64_t)t->stimulus_id,
                      .onset_ns = t->onset_display_ns,
                      .neurons = s->N,
                      .counts = counts,
                      .has_run = 1,
                      .flags = (int64_t)t->flags,
                      .onset_acq_ns = t->onset_acq_ns,
                      .sync_edge_ns = t->sync_edge_ns,
                      .bins = t->bins,
                      .block = block,
                      /* the clip's first sample in the audio device's output stream */
                      .has_sound = s->audio,
                      .sound_onset_sample =
                          s->audio ? run_frames_sound_sample(&s->frames, (int64_t)t->trial) : 0};
    return session_record_trial(s->rec, &r, NULL, s->err);
}

static int run_record_value(run_state *s, int64_t neuron, const char *kind, double value)
{
    record_evaluation e = {.neuron = neuron, .kind = kind, .mean = value, .ci_low = value,
                           .ci_high = value, .repeats = 0};
    return session_record_evaluation(s->rec, &e, s->err);
}

/* ------------------------------------------------------------------------ */
/* Start: record, rig, streams, presenter */

static int make_session_dir(run_state *s)
{
    char path[PROTOCOL_STRING_SIZE], why[PROTOCOL_STRING_SIZE + 128];
    snprintf(path, sizeof path, "%s", s->dir);
    for (char *c = path + 1; *c; c++) { /* mkdir -p */
        if (*c != '/')
            continue;
        *c = 0;
        if (mkdir(path, 0777) && errno != EEXIST) {
            snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
            return run_fail(s, "cannot create %s", why);
        }
        *c = '/';
    }
    if (mkdir(path, 0777) && errno != EEXIST) {
        snprintf(why, sizeof why, "%s: %s", path, strerror(errno));
        return run_fail(s, "cannot create the session folder %s", why);
    }
    return 0;
}

static int open_aligner(run_state *s, int votes);

static int run_open_streams(run_state *s)
{
    char err[ACQ_ERR_SIZE];
    acq_receiver_config rc;
    acq_receiver_config_default(&rc);
    rc.socket.endpoint = s->p->endpoints.stream;
    rc.queue_capacity = 1 << 17; /* minutes of bins while the fit holds the loop */
    if (s->p->endpoints.format == PROTOCOL_STREAM_OPENEPHYS) {
        rc.format = ACQ_FORMAT_OPENEPHYS;
        rc.units = s->p->endpoints.units;
        rc.electrodes = s->p->endpoints.electrodes;
        rc.sample_rate = s->p->endpoints.sample_rate;
        rc.bin_width_ns = (uint32_t)((double)s->p->endpoints.bin_ms * 1e6 + 0.5);
    }
    if (acq_receiver_create(&s->stream, NULL, &rc, err))
        return run_fail(s, "stream: %s", err);
    acq_socket_config pc = {.endpoint = s->p->endpoints.sync, .bind = 1};
    if (acq_publisher_create(&s->onsets, NULL, &pc, 2, (uint32_t)s->p->seed, err))
        return run_fail(s, "onset publisher: %s", err);
    return open_aligner(s, 3);
}

/* The aligner; the first clock offset is the one `votes` onsets agree on
 * (WIRE.md: a fresh session's three). */
static int open_aligner(run_state *s, int votes)
{
    char err[ACQ_ERR_SIZE];
    acq_align_config ac;
    acq_align_config_default(&ac);
    ac.latency_ns = (int64_t)((double)s->p->response.latency_ms * 1e6 + 0.5);
    ac.window_ns = (int64_t)((double)s->p->response.duration_ms * 1e6 + 0.5);
    ac.sync_line = s->p->endpoints.sync_line;
    ac.min_initial_matches = votes;
    ac.jittered_onsets = s->p->timing.isi_jitter_frames > 0;
    if (ac.history_ns < 2 * ac.window_ns + 2000000000LL)
        ac.history_ns = 2 * ac.window_ns + 2000000000LL;
    acq_aligner_destroy(s->aligner);
    s->aligner = NULL;
    if (acq_aligner_create(&s->aligner, &ac, err))
        return run_fail(s, "aligner: %s", err);
    s->aligner_votes = votes;
    return 0;
}

/* A resumed session's first block may be shorter than the three onsets a
 * fresh session's first offset waits for (down to a single image left
 * unanswered by the kill): its vote then takes all the block's onsets, and
 * three whenever the block has them. The aligner is made again for it: what
 * it held came before any onset of this run. */
static int run_first_resumed_block(run_state *s, int count)
{
    int votes = count < 3 ? count : 3;
    s->first_block_started = 1;
    if (votes != s->aligner_votes && open_aligner(s, votes))
        return 1;
    char note[160];
    snprintf(note, sizeof note, "resumed: the first clock offset is voted on by %d onsets "
             "(the first block has %d trials)", votes, count);
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

/* Real-time scheduling for the render and receiver threads, or the
 * fallback (run_sched.c): printed at start and recorded as a note with its
 * figures as fields. */
static int protect_frame_path(run_state *s)
{
    if (run_sched_protect(&s->sched, s->display.local,
                          s->stream ? acq_receiver_thread(s->stream) : pthread_self(),
                          s->stream != NULL, s->err))
        return 1;
    static const char *const modes[] = {"off", "realtime", "fallback"};
    run_progress(s, s->sched.text, 1);
    record_note n = {.text = s->sched.text,
                     .scheduling = modes[s->sched.mode],
                     .cpus = s->sched.cpus,
                     .presenter_cpu = s->sched.presenter_cpu,
                     .fit_nice = s->sched.fit_nice,
                     .memory_locked = s->sched.mlocked,
                     .aligning_realtime = s->sched.aligning_realtime,
                     .driver_threads = s->sched.driver_threads};
    return session_record_note_fields(s->rec, &n, s->err);
}

static int run_open_presenter(run_state *s)
{
    int priority = run_sched_presenter_priority(s->err);
    if (priority < 0 || run_display_open(&s->display, s->p, priority, s->err))
        return 1;
    s->period_ms = s->display.ops.period_ms(s->display.ops.display);
    run_progress(s, s->display.status, 1);
    return session_record_note(s->rec, s->display.status, s->err) || protect_frame_path(s);
}

/* ------------------------------------------------------------------------ */
/* The stream: records, aligner, completed trials */

static const char *item_kind(int type)
{
    return type == ACQ_MSG_COUNTS   ? "data"
           : type == ACQ_MSG_EVENTS ? "event"
           : type == ACQ_ITEM_LOSS  ? "loss"
                                    : "heartbeat";
}

/* Open Ephys spikes as received: one `spikes` record a batch (RECORD.md). */
static int record_spike_batch(run_state *s, const acq_item *it)
{
    record_spikes b = {.count = (int)it->count, .sample_num = it->spike_samples,
                       .sorted_id = it->spike_sorted_ids,
                       .electrode = it->spike_electrodes, .electrodes = it->electrodes,
                       .first_received_ns = it->first_received_ns,
                       .received_ns = it->received_ns};
    return session_record_spikes(s->rec, &b, s->err);
}

static int run_flag_recorded_trials(run_state *s, int64_t from, int64_t until);

static int take_item(run_state *s, acq_item *it)
{
    if (it->type == ACQ_ITEM_SPIKES)
        return record_spike_batch(s, it);
    record_stream_message m = {.message_num = (int64_t)s->stream_messages++,
                               .kind = item_kind(it->type),
                               .sample_num = it->timestamp_ns,
                               .num_samples = it->type == ACQ_MSG_COUNTS ? 1
                               : it->type == ACQ_ITEM_LOSS ? it->until_ns - it->timestamp_ns
                                                           : 0,
                               .timestamp_ms = it->timestamp_ns / 1000000,
                               .received_ns = it->received_ns,
                               .lost = (int64_t)it->missed_before, .data_size = (int64_t)it->count,
                               .bin_width_ns = it->bin_width_ns, .units = (int)it->count,
                               .counts = it->type == ACQ_MSG_COUNTS ? it->counts : NULL,
                               .clock_reset = (it->flags & ACQ_ITEM_CLOCK_RESET) != 0};
    if (session_record_stream(s->rec, &m, s->err))
        return 1;
    for (uint32_t i = 0; it->type == ACQ_MSG_EVENTS && i < it->count; i++) {
        record_sync_event e = {.line = it->events[i].line, .state = it->events[i].rising,
                               .sample_num = it->events[i].timestamp_ns,
                               .received_ns = it->received_ns, .trial = -1};
        if (session_record_sync_event(s->rec, &e, s->err))
            return 1;
    }
    if (it->flags & ACQ_ITEM_CLOCK_RESET) {
        s->stream_reached_ns = INT64_MIN; /* a new clock: nothing of it reached yet */
        s->n_recorded = 0;
    }
    if (it->type == ACQ_MSG_COUNTS && it->timestamp_ns + (int64_t)it->bin_width_ns >
                                          s->stream_reached_ns) /* a late bin lowers nothing */
        s->stream_reached_ns = it->timestamp_ns + (int64_t)it->bin_width_ns;
    char why[ACQ_ERR_SIZE];
    if (acq_aligner_add_item(s->aligner, it, why) == ACQ_REJECT_VALUE)
        return run_fail(s, "aligner: %s", why);
    /* After the add: the old clock's trials it closed completed before this. */
    if (it->flags & ACQ_ITEM_CLOCK_RESET)
        s->clock_reset_ns = acq_now_ns();
    if (it->type == ACQ_ITEM_LOSS)
        return run_flag_recorded_trials(s, it->timestamp_ns, it->until_ns);
    return 0;
}

/* Open Ephys: bins made on another rate than the stream's would be wrong. */
static int stream_rate_checked(run_state *s)
{
    acq_stats st;
    acq_receiver_stats(s->stream, &st);
    if (!st.rate_mismatch)
        return 0;
    snprintf(s->err, CONTROLLER_ERR_SIZE, "the acquisition stream's data blocks say sample_rate "
             "%g Hz, but endpoints.sample_rate is %g Hz: give the stream's rate",
             st.stream_sample_rate, (double)s->p->endpoints.sample_rate);
    return 1;
}

static int run_pump_stream(run_state *s, int timeout_ms)
{
    acq_item *it;
    if (stream_rate_checked(s))
        return 1;
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
static void run_catch_up(run_state *s)
{
    if (!s->stream_failed && run_pump_stream(s, 0))
        s->stream_failed = 1; /* reported by the next block's own pump */
}

static int run_closed_add(run_state *s, int64_t trial, int64_t image_id, const float *counts)
{
    response_rows *c = &s->closed;
    if (c->count == c->capacity) {
        int cap = c->capacity ? 2 * c->capacity : 256;
        int64_t *tr = realloc(c->trial, (size_t)cap * sizeof(int64_t));
        if (tr)
            c->trial = tr;
        int64_t *id = realloc(c->image_id, (size_t)cap * sizeof(int64_t));
        if (id)
            c->image_id = id;
        float *cn = realloc(c->counts, (size_t)cap * (size_t)s->N * sizeof(float));
        if (cn)
            c->counts = cn;
        if (!tr || !id || !cn)
            return run_fail(s, "out of memory for %s responses", "closed-loop");
        c->capacity = cap;
    }
    c->trial[c->count] = trial;
    c->image_id[c->count] = image_id;
    memcpy(c->counts + (size_t)c->count * (size_t)s->N, counts, (size_t)s->N * sizeof(float));
    c->count++;
    return 0;
}

static int run_start_fit_worker(run_state *s);
static int stream_units(run_state *s, int units);
static int note_rhythm(run_state *s);

static int64_t latency_ns(const run_state *s)
{
    return (int64_t)((double)s->p->response.latency_ms * 1e6 + 0.5);
}

static int64_t window_ns(const run_state *s)
{
    return (int64_t)((double)s->p->response.duration_ms * 1e6 + 0.5);
}

/* A recorded trial of the current clock, for run_flag_recorded_trials. Trials
 * of a clock the GUI stopped are not kept: a later span is the new clock's. */
static int remember_recorded(run_state *s, const acq_trial *t)
{
    if (t->completed_ns <= s->clock_reset_ns)
        return 0;
    if (grow_array(&s->recorded, &s->cap_recorded, s->n_recorded + 1, sizeof *s->recorded,
                        1024))
        return run_fail(s, "out of memory for %s", "the recorded trials' windows");
    if (t->counted_to_ns <= t->counted_from_ns)
        return 0; /* nothing summed: no span can shorten its counts */
    s->recorded[s->n_recorded++] =
        (struct recorded_window){(int64_t)t->trial, t->counted_from_ns, t->counted_to_ns,
                                 t->flags};
    return 0;
}

/* A span of possible loss on the acquisition clock (an Open Ephys spike too
 * late for its bin) that came after trials it overlaps were taken from the
 * aligner: one waiting for the display's verdict gains flag 1 before its
 * record is written; a recorded one gets a `trial_flags` record (RECORD.md:
 * every reader ORs it into the trial's flags), and leaves the closed loop's
 * evaluation. The background fit may have had it; the final fit rebuilds
 * its trials from the record, without it. Overlap as the aligner's: with
 * the window and the bins the trial summed. */
static int run_flag_recorded_trials(run_state *s, int64_t from, int64_t until)
{
    run_frames_flag_span(&s->frames, from, until);
    for (size_t i = 0; i < s->n_recorded; i++) {
        struct recorded_window *w = &s->recorded[i];
        if (!(from < w->to && until > w->from) || (w->flags & ACQ_TRIAL_LOST))
            continue;
        record_trial_flags c = {.trial = w->trial, .flags = ACQ_TRIAL_LOST, .from_ns = from,
                                .until_ns = until,
                                .reason = "a span of possible loss that came after the trial "
                                          "was recorded (an Open Ephys spike too late for its bin)"};
        if (session_record_trial_flags(s->rec, &c, s->err))
            return 1;
        if (!w->flags) {
            s->res->trials_flagged++;
            s->st.flagged_trials++;
        }
        w->flags |= ACQ_TRIAL_LOST;
        s->res->trials_flagged_late++;
        response_rows *r = &s->closed;
        for (int k = 0; k < r->count; k++)
            if (r->trial[k] == w->trial) {
                int after = --r->count - k;
                memmove(r->trial + k, r->trial + k + 1, (size_t)after * sizeof *r->trial);
                memmove(r->image_id + k, r->image_id + k + 1, (size_t)after * sizeof *r->image_id);
                memmove(r->counts + (size_t)k * s->N, r->counts + (size_t)(k + 1) * s->N,
                        (size_t)after * (size_t)s->N * sizeof *r->counts);
                break;
            }
    }
    return 0;
}

/* A trial goes into the record unflagged only once the stream has covered
 * its window: its bins and, as the receiver puts a spike in its batch before
 * the bin holding it goes out, its spikes (the batch is handed over at the
 * latest when the receiver stops, run_drain_stream_tail). The aligner completes
 * a trial only `grace` bins past its window, or flags it, so this holds by
 * construction; should it not, the trial is flagged lost here, before its
 * record is written, rather than recorded as whole. Trials of a clock the
 * GUI stopped (completed before the reset was taken) were judged on that
 * clock by the aligner (flag 16 where their windows reach past its end). */
static void flag_uncovered_trial(run_state *s, acq_trial *t)
{
    int64_t window_end = t->onset_acq_ns + latency_ns(s) + window_ns(s);
    if (!t->flags && t->completed_ns > s->clock_reset_ns && s->stream_reached_ns < window_end)
        t->flags |= ACQ_TRIAL_LOST;
}

/* One completed trial: recorded, then to the fit or the evaluation. */
static int complete_trial(run_state *s, acq_trial *t, const char *block)
{
    flag_uncovered_trial(s, t);
    if (record_completed_trial(s, t, s->counts, block) || remember_recorded(s, t))
        return 1;
    s->res->trials_recorded++;
    if (t->flags) {
        s->res->trials_flagged++;
        s->st.flagged_trials++;
        return 0;
    }
    int64_t id = (int64_t)t->stimulus_id;
    if (id < 0 || id >= s->images.count)
        return run_fail(s, "the aligner returned an unknown stimulus id (%s)", "internal");
    if (s->images.kind[id] >= 0)
        return run_closed_add(s, (int64_t)t->trial, id, s->counts);
    if (!s->fit && run_start_fit_worker(s))
        return 1;
    if (fit_worker_add(s->fit, run_image_at(s, id), s->counts, s->images.tier[id], id))
        return run_fail(s, "out of memory for %s trials", "the fit's");
    return 0;
}

/* A completed trial goes on with its display flag, or waits for it. */
static int settle_trial(run_state *s, acq_trial *t, const char *block, int block_over,
                        int *done)
{
    int display = run_frames_flags(&s->frames, (int64_t)t->trial, block_over);
    if (display < 0)
        return run_frames_hold(&s->frames, t, s->counts)
                   ? run_fail(s, "out of memory for %s", "trials waiting for the display") : 0;
    t->flags |= (uint32_t)display;
    s->frames.wrong += display != 0;
    (*done)++;
    return complete_trial(s, t, block);
}

/* `block_over`: the display's BLOCK_END came, so every verdict it will
 * give has come. */
static int run_drain_trials(run_state *s, const char *block, int block_over, int *done)
{
    int units = acq_aligner_units(s->aligner);
    if (units <= 0)
        return 0;
    if (units != s->N) {
        char what[128];
        snprintf(what, sizeof what, "%d units, the protocol's population %d", units, s->N);
        return run_fail(s, "the stream carries %s", what);
    }
    acq_trial t;
    while (run_frames_release(&s->frames, block_over, &t, s->counts))
        if (settle_trial(s, &t, block, block_over, done))
            return 1;
    while (acq_aligner_next_complete_trial(s->aligner, &t, s->counts))
        if (settle_trial(s, &t, block, block_over, done))
            return 1;
    return 0;
}

/* The population's size: the virtual rig's, endpoints.units, or (0 until
 * then) what the stream's first bin says. */
static int run_set_units(run_state *s, int units)
{
    s->N = units;
    free(s->counts);
    s->counts = malloc((size_t)(units ? units : 1) * sizeof(float));
    return !s->counts ? run_fail(s, "out of memory%s", "") : 0;
}

/* Waits for the stream's first bin (the number of units comes with it),
 * then a little longer so the rig's onset subscription has joined our
 * publisher. Nothing within endpoints.timeout_s is an error naming the
 * endpoint, before anything is shown. */
static int run_wait_for_stream(run_state *s)
{
    char line[PROTOCOL_STRING_SIZE + 64];
    snprintf(line, sizeof line, "waiting for the acquisition stream on %s",
             s->p->endpoints.stream);
    run_progress(s, line, 1);
    int64_t start = acq_now_ns(), seen = 0;
    int64_t timeout = (int64_t)((double)s->p->endpoints.timeout_s * 1e9);
    while (acq_now_ns() - start < timeout) {
        if (run_pump_stream(s, 20))
            return 1;
        int units = acq_aligner_units(s->aligner);
        if (!seen && units > 0)
            seen = acq_now_ns();
        if (seen && acq_now_ns() - seen > 500000000LL)
            return stream_units(s, units) || note_rhythm(s);
    }
    acq_stats st;
    acq_receiver_stats(s->stream, &st);
    snprintf(line, sizeof line, "%s in %g s (%llu messages, none with counts)",
             s->p->endpoints.stream, (double)s->p->endpoints.timeout_s,
             (unsigned long long)st.messages);
    return run_fail(s, "no spike counts arrived from the acquisition stream %s: is the acquisition "
                "system publishing there (endpoints.stream, endpoints.format)?", line);
}

/* A regular rhythm leaves the clock vote one failure it cannot see: with
 * the first trial's sync edge lost, onsets paired each with the next one's
 * edge match as many as the true pairing (docs/timing.md). Said once at
 * start, so that nobody is exposed to it unawares. */
static int note_rhythm(run_state *s)
{
    if (s->p->timing.isi_jitter_frames > 0)
        return 0;
    const char *note = "timing: a regular rhythm (timing.isi_jitter_frames 0): were the first "
                       "trial's sync edge lost, every trial would pair with its neighbour's "
                       "edge, unflagged (docs/timing.md)";
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

/* The stream's units against what the session expects (the virtual rig's
 * neurons, endpoints.units, or the earlier trials of a resumed session). */
static int stream_units(run_state *s, int units)
{
    char what[160];
    if (s->N && units != s->N) {
        snprintf(what, sizeof what, "%d units, but %s says %d", units,
                 s->p->virtual_rig.enabled ? "virtual_rig.neurons"
                 : s->p->endpoints.units ? "endpoints.units" : "the session's record", s->N);
        return run_fail(s, "the acquisition stream carries %s", what);
    }
    if (!s->N && run_set_units(s, units))
        return 1;
    if (s->p->targets.count > s->N) {
        snprintf(what, sizeof what, "%d units, fewer than targets.count %d", s->N,
                 s->p->targets.count);
        return run_fail(s, "the acquisition stream carries %s", what);
    }
    char line[48] = "any line";
    if (s->p->endpoints.sync_line >= 0)
        snprintf(line, sizeof line, "TTL line %d", s->p->endpoints.sync_line);
    snprintf(what, sizeof what, "acquisition stream: %d units (%s), sync edges on %s", s->N,
             s->p->virtual_rig.enabled ? "the virtual rig" : "an external acquisition system",
             line);
    run_progress(s, what, 1);
    return session_record_note(s->rec, what, s->err);
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
        record_schedule_entry e = {.trial = trial,
                                   .block = block_of_natural ? tier_blocks[s->images.tier[id]]
                                                    : "closed_loop",
                                   .kind = kind < 0 ? STIMULUS_KIND_NAME_NATURAL : stimulus_kind_name(kind),
                                   .image_id = id,
                                   .target_neuron = s->images.neuron[id],
                                   .stimulus_frames = s->p->timing.stimulus_frames,
                                   .isi_frames = protocol_trial_isi_frames(s->p, trial),
                                   .image_sha256 = s->images.sha256 + (size_t)id * SHA256_SIZE};
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
        run_frames_verdict(&s->frames, ev);
        return 0;
    }
    /* Every dropped frame is in one ONSET or FLIP event (stimulus.h): one
     * flip record each, so the record's missed frames are the terminal's. */
    s->st.dropped_frames += ev->dropped_frames;
    if (ev->kind == PRESENTER_EVENT_ONSET)
        s->frames.photodiode = ev->trial & 1 ? 0 : 1;
    record_flip_event f = {.trial = ev->trial, .frame = ev->onset_flip, .flip_ns = ev->onset_ns,
                           .onset_ns = ev->onset_ns,
                           .missed = ev->dropped_frames, .photodiode = s->frames.photodiode,
                           .onset = ev->kind == PRESENTER_EVENT_ONSET};
    if (session_record_flip(s->rec, &f, s->err))
        return 1;
    if (ev->kind == PRESENTER_EVENT_FLIP)
        return 0;
    /* Audio trials show no image: the stimulus is the sound (the same id). */
    int stimulus = s->audio ? ev->sound : ev->image;
    acq_onset o = {(uint64_t)ev->trial, (uint64_t)stimulus, ev->onset_ns,
                   (int64_t)((double)ev->frames_requested * s->period_ms * 1e6),
                   (uint32_t)s->H, (uint32_t)s->W};
    acq_publisher_onset(s->onsets, &o, run_image_at(s, stimulus));
    /* The onset "reaches us" now (WIRE.md), not at its flip: a run loop held
     * up for longer than a trial would otherwise pair each onset with the
     * edge of the one before in the first offset's vote. */
    if (acq_aligner_add_onset(s->aligner, (uint64_t)ev->trial, (uint64_t)stimulus, ev->onset_ns,
                              acq_now_ns(), err))
        return run_fail(s, "aligner: %s", err);
    return 0;
}

/* The display's account of a block: a line on the terminal and a `note`
 * that carries the same figures as fields (RECORD.md) for the report. */
static int record_display_block(run_state *s, const char *block, const presenter_summary *sum)
{
    char note[512];
    int n = snprintf(note, sizeof note, "%s block: %lld trials shown, %lld with dropped frames, "
                     "%lld dropped frames, %lld trials flagged for their frames, flip interval "
                     "%.3f ± %.3f ms (max %.3f)", block, (long long)sum->trials_shown,
                     (long long)sum->trials_with_drops, (long long)sum->dropped_frames,
                     (long long)s->frames.wrong, sum->interval_mean_ms, sum->interval_sd_ms,
                     sum->interval_max_ms);
    if (sum->events_lost && n > 0 && n < (int)sizeof note)
        snprintf(note + n, sizeof note - (size_t)n, "; %lld display events LOST (their flips "
                 "are missing from the record)", (long long)sum->events_lost);
    run_progress(s, note, 1);
    record_note account = {.text = note,
                         .display_block = block,
                         .flips = sum->flips,
                         .dropped_frames = sum->dropped_frames,
                         .trials_shown = sum->trials_shown,
                         .trials_with_drops = sum->trials_with_drops,
                         .trials_flagged_frames = s->frames.wrong,
                         .events_lost = sum->events_lost,
                         .period_ms = sum->period_ms,
                         .interval_mean_ms = sum->interval_mean_ms,
                         .interval_sd_ms = sum->interval_sd_ms,
                         .interval_max_ms = sum->interval_max_ms};
    if (s->fit) { /* what the background fit got done meanwhile (bench-frames) */
        int rounds;
        double corr;
        fit_worker_status(s->fit, &rounds, &corr);
        account.has_fit_rounds = 1;
        account.fit_rounds = rounds;
        account.fit_trial_epochs = fit_worker_trial_epochs(s->fit);
    }
    return session_record_note_fields(s->rec, &account, s->err);
}

/* Open Ephys, after each block: the unit map (which electrode's spikes each
 * column counted), spikes the full queue kept from the record and spikes
 * that fell in no column, as notes when they changed, on the terminal too. */
static int run_note_openephys(run_state *s)
{
    if (s->p->endpoints.format != PROTOCOL_STREAM_OPENEPHYS)
        return 0;
    char *map = acq_receiver_unit_map(s->stream);
    if (map && (!s->unit_map_noted || strcmp(map, s->unit_map_noted))) {
        size_t size = strlen(map) + 32;
        char *note = malloc(size);
        if (!note) {
            free(map);
            return run_fail(s, "out of memory%s", "");
        }
        snprintf(note, size, "Open Ephys unit map: %s", map);
        int bad = session_record_note(s->rec, note, s->err);
        free(note);
        free(s->unit_map_noted);
        s->unit_map_noted = map;
        if (bad)
            return 1;
    } else {
        free(map);
    }
    acq_clock_fit f;
    acq_aligner_clock(s->aligner, &f);
    char note[320];
    if (f.clock_restarts != s->restarts_noted) {
        s->restarts_noted = f.clock_restarts;
        snprintf(note, sizeof note, "Open Ephys: acquisition stopped and started in the GUI (%llu "
                 "times so far): the trials it cut are flagged, the clock fit began anew",
                 (unsigned long long)f.clock_restarts);
        run_progress(s, note, 1);
        if (session_record_note(s->rec, note, s->err))
            return 1;
    }
    acq_stats st;
    acq_receiver_stats(s->stream, &st);
    if (st.spikes_dropped != s->spikes_dropped_noted) {
        s->spikes_dropped_noted = st.spikes_dropped;
        snprintf(note, sizeof note, "Open Ephys: %llu spikes so far never reached the record "
                 "(the receiver's queue was full): `spikes` records lack them",
                 (unsigned long long)st.spikes_dropped);
        run_progress(s, note, 1);
        if (session_record_note(s->rec, note, s->err))
            return 1;
    }
    uint64_t unmapped = st.sorted_beyond + st.unsorted_left_out + st.unsorted_unmapped;
    if (unmapped == s->unmapped_noted)
        return 0;
    s->unmapped_noted = unmapped;
    snprintf(note, sizeof note, "Open Ephys spikes in no column: %llu of sorted units beyond "
             "endpoints.units %d (highest sorted_id %d), %llu unsorted left out "
             "(endpoints.electrodes 0), %llu unsorted of electrodes beyond endpoints.electrodes",
             (unsigned long long)st.sorted_beyond, s->p->endpoints.units, st.max_sorted_id,
             (unsigned long long)st.unsorted_left_out, (unsigned long long)st.unsorted_unmapped);
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

/* Shows `count` images (ids) in order and collects every trial's response. */
static int show_block(run_state *s, const char *block, const int64_t *ids, int count,
                      int natural)
{
    char err[CONTROLLER_ERR_SIZE], clock_note[256];
    display_ops *d = &s->display.ops;
    if (s->stream_failed || run_pump_stream(s, 0))
        return 1;
    if (s->begun && !s->first_block_started && run_first_resumed_block(s, count))
        return 1;
    if (schedule_block(s, natural ? block : NULL, ids, count) ||
        run_display_resync(&s->display, clock_note, sizeof clock_note, s->err) ||
        (clock_note[0] && session_record_note(s->rec, clock_note, s->err)) ||
        session_record_sync(s->rec, s->err) ||
        run_frames_begin(&s->frames, s->next_trial, count, s->N > 0 ? s->N : 1, s->err))
        return 1;
    if (d->start_block(d->display, err))
        return run_fail(s, "display: %s", err);
    s->display.block_running = 1;
    int submitted = 0, finished = 0, block_end = 0, done = 0;
    int64_t first = s->next_trial, end_ns = 0;
    s->st.trials_done = 0;
    s->st.trials_total = count;
    while (!block_end || done < count) {
        while (submitted < count) {
            int id = (int)ids[submitted];
            int64_t trial = first + submitted;
            presenter_request r = {trial, s->audio ? -1 : id, s->audio ? id : -1,
                                   s->p->timing.stimulus_frames,
                                   protocol_trial_isi_frames(s->p, trial), NULL};
            int q = d->submit(d->display, &r, err);
            if (q < 0)
                return run_fail(s, "display: %s", err);
            if (q > 0)
                break;
            submitted++;
        }
        if (submitted == count && !finished) {
            d->finish_block(d->display);
            finished = 1;
        }
        presenter_event ev;
        while (!block_end && d->next_event(d->display, &ev, 0) == 1)
            if (on_presenter_event(s, &ev, &block_end))
                return 1;
        if (block_end && !end_ns) {
            end_ns = acq_now_ns();
            s->display.block_running = 0;
        }
        if (run_pump_stream(s, 2) || run_drain_trials(s, block, block_end, &done) ||
            session_record_tick(s->rec, s->err))
            return 1;
        s->st.trials_done = done;
        run_progress(s, NULL, 0);
        if (run_interrupted(s))
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
    d->block_summary(d->display, &sum);
    if (record_display_block(s, block, &sum))
        return 1;
    acq_clock_fit f;
    acq_aligner_clock(s->aligner, &f);
    record_alignment a = {.slope_ns_per_sample = 1.0 + f.drift, .offset_ns = f.offset_ns,
                          .residual_rms_ns = f.rms_residual_ns,
                          .residual_max_ns = f.max_residual_ns,
                          .points = f.pairs, .display_ref_ns = f.display0,
                          .acquisition_ref_ns = f.acq0};
    return session_record_alignment(s->rec, &a, s->err) || run_note_openephys(s);
}

/* A block, with the run loop at real-time priority while it shows (run_sched_aligning). */
static int run_block(run_state *s, const char *block, const int64_t *ids, int count, int natural)
{
    run_sched_aligning(&s->sched, 1);
    int status = show_block(s, block, ids, count, natural);
    run_sched_aligning(&s->sched, 0);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Recording: natural images while the model fits in the background */

static void on_final_epoch(const fit_progress *p, void *user);
static void on_mei_step(const mei_progress *p, void *user);

/* The protocol's fit and synthesis settings (the mapping replay uses too),
 * reporting progress to the run loop. */
static session_fit_settings fit_settings(run_state *s)
{
    session_fit_settings set;
    session_fit_settings_from_protocol(s->p, s->H, s->W, s->N, &set);
    set.fit.progress = on_final_epoch;
    set.fit.user = s;
    set.mei.progress = on_mei_step;
    set.mei.user = s;
    return set;
}

static int run_start_fit_worker(run_state *s)
{
    session_fit_settings set = fit_settings(s);
    set.fit.progress = NULL; /* the worker's own thread: no run-loop callbacks */
    set.fit.user = NULL;
    set.fit.threads = run_sched_fit_threads(&s->sched, set.fit.threads);
    return fit_worker_create(&s->fit, &set.model, &set.fit, 2, &s->sched, s->err);
}

/* The natural images (audio: clips and their cochleagrams), their tiers and
 * their shuffled schedule, all from the seed (session_natural_stimuli). A
 * resume gives the images (and clips) it made and checked already, and what
 * the record holds: only those without an intact stimulus record are
 * recorded (again). */
static int run_record_natural_images(run_state *s, int64_t **schedule, int *count,
                                 const float *made, const float *made_clips,
                                 const session_image_log *recorded)
{
    const protocol_images *im = &s->p->images;
    int n_images = im->train + im->test;
    assert(!made || !s->audio || made_clips); /* a resume's clips come with its images */
    float *own = made ? NULL : malloc((size_t)n_images * (size_t)s->P * sizeof(float));
    float *own_clips = s->audio && !made
                           ? malloc((size_t)n_images * (size_t)s->S * sizeof(float)) : NULL;
    const float *pixels = made ? made : own;
    const float *clips = made ? made_clips : own_clips;
    int64_t *order = malloc(((size_t)im->train + (size_t)im->test * (size_t)im->test_repeats) *
                            sizeof(int64_t));
    int status = 1;
    if (!pixels || !order || (s->audio && !clips)) {
        run_fail(s, "out of memory for %s", "the natural images");
        goto done;
    }
    if (own && session_natural_stimuli(s->p, n_images, NULL, own, own_clips, NULL, s->err))
        goto done;
    /* Validation images: a seeded random share of the training set. */
    model_rng rng;
    uint8_t *tier_of = malloc((size_t)(n_images ? n_images : 1));
    if (!tier_of || session_natural_tiers(s->p, tier_of, &rng, s->err)) {
        if (!tier_of)
            run_fail(s, "out of memory for %s", "the tiers");
        free(tier_of);
        goto done;
    }
    int k = 0, bad = 0;
    for (int i = 0; i < n_images && !bad; i++) {
        int tier = tier_of[i], id;
        bad = run_image_add(s, pixels + (size_t)i * (size_t)s->P,
                        clips ? clips + (size_t)i * (size_t)s->S : NULL, -1, -1, tier, &id);
        bad = bad || (!session_image_recorded(recorded, id) &&
                      run_record_shown(s, id, -1, STIMULUS_KIND_NAME_NATURAL, NAN));
        for (int r = 0; !bad && r < (tier == TIER_TEST ? im->test_repeats : 1); r++)
            order[k++] = id;
    }
    free(tier_of);
    if (bad)
        goto done;
    model_rng_shuffle_i64(&rng, order, k);
    *schedule = order;
    *count = k;
    order = NULL;
    status = 0;
done:
    free(own);
    free(own_clips);
    free(order);
    return status;
}

/* `source: photos` falls back to synthetic images where no photographs are
 * installed: said on the terminal and in the record, never silently. */
static int note_photo_source(run_state *s)
{
    if (s->p->images.source != PROTOCOL_IMAGES_PHOTOS)
        return 0;
    const char *folder = photo_default_folder();
    char note[PROTOCOL_STRING_SIZE + 160];
    if (folder)
        snprintf(note, sizeof note, "natural images: patches of the photographs in %s", folder);
    else
        snprintf(note, sizeof note, "natural images: synthetic (no photographs installed; "
                                    "apt-get install python3-skimage, or images: {source: "
                                    "folder})");
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

/* Audio: the clips and their level, in dB SPL where the protocol gives a
 * calibration (sounds.spl_at_0dbfs), said on the terminal and in the record. */
static int note_sounds(run_state *s)
{
    if (!s->audio)
        return 0;
    const protocol_sounds *ps = &s->p->sounds;
    char level[96], note[640 + PROTOCOL_STRING_SIZE], source[PROTOCOL_STRING_SIZE + 32];
    if (ps->source == PROTOCOL_SOUNDS_FOLDER)
        snprintf(source, sizeof source, "the sound files of %s", ps->path);
    else
        snprintf(source, sizeof source, "synthetic");
    if (ps->spl_at_0dbfs > 0)
        snprintf(level, sizeof level, "%.1f dB SPL by the protocol's calibration (0 dBFS = "
                 "%.1f dB SPL)", (double)(ps->rms_dbfs + ps->spl_at_0dbfs),
                 (double)ps->spl_at_0dbfs);
    else
        snprintf(level, sizeof level, "dB SPL unknown (no calibration: sounds.spl_at_0dbfs)");
    const char *driver = getenv("SDL_AUDIODRIVER");
    snprintf(note, sizeof note, "natural clips: %s, %d samples (%.1f ms) at %d Hz, "
             "RMS %.1f dBFS = %s; cochleagrams of %d bands x %d frames; the display stays "
             "blank and the photodiode patch flips at each onset; audio driver %s%s", source, s->S,
             1000.0 * s->S / ps->rate, ps->rate, (double)ps->rms_dbfs, level, s->H, s->W,
             driver ? driver : "SDL's choice",
             driver && !strcmp(driver, "dummy") ? " (plays to no device: SDL_AUDIODRIVER=alsa "
                                                  "or pulseaudio on a rig)" : "");
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

static int run_phase_recording(run_state *s)
{
    int64_t *schedule = NULL;
    int count = 0;
    if (run_phase(s, "recording", "begin") || note_photo_source(s) || note_sounds(s) ||
        run_record_natural_images(s, &schedule, &count, NULL, NULL, NULL))
        return 1;
    int status = run_block(s, "recording", schedule, count, 1);
    free(schedule);
    return status || run_phase(s, "recording", "end");
}

/* ------------------------------------------------------------------------ */
/* Fit: to convergence, from the background fit's model */

static void on_final_epoch(const fit_progress *p, void *user)
{
    run_state *s = user;
    s->st.validation_corr = p->validation_corr;
    s->st.fit_rounds = p->epoch;
    record_fit_round point = {"final", p->epoch, 0, p->train_loss, p->validation_corr};
    if (!s->fit_curve_failed && session_record_fit_round(s->rec, &point, s->err))
        s->fit_curve_failed = 1; /* s->err says why; the fit's caller fails on it */
    run_catch_up(s);
    run_progress(s, NULL, 0);
}

/* The natural trials as the record holds them (the order and contents a
 * replay rebuilds), and the model the final fit starts from. */
static int run_load_recorded_data(run_state *s, session_dataset *sd)
{
    if (session_record_sync(s->rec, s->err) || session_dataset_load(s->dir, sd, s->err))
        return 1;
    if (s->data.images)
        dataset_free(&s->data);
    s->data = sd->data;
    memset(&sd->data, 0, sizeof sd->data);
    return 0;
}

/* The background fit's model, recorded as the final fit's starting point. */
static int record_start_model(run_state *s, model *warm)
{
    char path[PROTOCOL_STRING_SIZE + 32], err[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/%s", s->dir, SESSION_START_MODEL_FILE);
    if (model_set_writer(warm, inception_version_string(), err) || model_save(warm, path, err))
        return run_fail(s, "%s", err);
    return session_record_checkpoint(s->rec, path, -1, NAN, s->err);
}

/* The worker stopped: its model recorded, its trials dropped (the record has them). */
static int finish_background_fit(run_state *s)
{
    int rounds;
    double corr;
    model *warm = NULL;
    dataset trials;
    if (fit_worker_finish(s->fit, &warm, &trials, s->err))
        return 1;
    /* After the join: a round that ended while the worker was being stopped
     * is counted, as its history (below) holds it. */
    fit_worker_status(s->fit, &rounds, &corr);
    /* Its learning curve, round by round (the report's figure). */
    fit_worker_round r;
    int curve_failed = 0;
    for (int i = 0; !curve_failed && !fit_worker_round_at(s->fit, i, &r); i++) {
        record_fit_round point = {"background", r.round, r.trials, r.train_loss,
                                  r.validation_corr};
        curve_failed = session_record_fit_round(s->rec, &point, s->err);
    }
    int fitted = trials.trials; /* unflagged natural trials only (complete_trial) */
    dataset_free(&trials);
    fit_worker_destroy(s->fit);
    s->fit = NULL;
    int status = curve_failed || (warm && record_start_model(s, warm));
    model_destroy(warm);
    char note[256];
    snprintf(note, sizeof note, "background fit: %d trials, %d rounds during the recording, "
             "validation correlation %.3f when it ended", fitted, rounds, corr);
    run_progress(s, note, 1);
    return status || session_record_note(s->rec, note, s->err);
}

/* model.file: a model fitted elsewhere (e.g. in PyTorch from an earlier session's arrays)
 * takes the final fit's place: checked against this session's images and neurons, evaluated
 * on its test trials and recorded as model.bin like a fitted one. */
static int adopt_model_file(run_state *s)
{
    char err[MODEL_ERR_SIZE];
    model *m;
    if (model_load(&m, s->p->model.file, err))
        return run_fail(s, "model.file: %s", err);
    const model_config *c = model_get_config(m);
    if (c->height != s->data.height || c->width != s->data.width ||
        c->neurons != s->data.neurons) {
        snprintf(s->err, CONTROLLER_ERR_SIZE, "model.file %.300s: a model of %d×%d images and "
                 "%d neurons; this session has %d×%d and %d", s->p->model.file, c->height,
                 c->width, c->neurons, s->data.height, s->data.width, s->data.neurons);
        model_destroy(m);
        return 1;
    }
    model_set_threads(m, s->p->model.threads);
    char note[PROTOCOL_STRING_SIZE + 64];
    snprintf(note, sizeof note, "final fit: none, the model is model.file %s", s->p->model.file);
    run_progress(s, note, 1);
    /* Adopted first: session_fit_adopt owns m from here on, even when it fails. */
    return session_fit_adopt(&s->data, m, &s->fr, s->err) ||
           session_record_note(s->rec, note, s->err);
}

static int run_phase_fit(run_state *s)
{
    if (run_phase(s, "fit", "begin"))
        return 1;
    if (!s->fit)
        return run_fail(s, "no trial completed during %s", "the recording");
    session_dataset sd;
    if (finish_background_fit(s) || run_load_recorded_data(s, &sd))
        return 1;
    int status;
    if (s->p->model.file[0]) {
        status = adopt_model_file(s);
    } else {
        session_fit_settings set = fit_settings(s);
        status = session_fit_model(&s->data, &set, sd.start_model, sd.start_model_size, &s->fr,
                                   s->err);
    }
    session_dataset_free(&sd);
    if (status || s->fit_curve_failed ||
        session_fit_record_model(s->rec, s->dir, &s->data, &s->fr, s->err))
        return 1;
    s->res->test_feve_mean = s->fr.test_feve_mean;
    s->res->test_corr_mean = s->fr.test_corr_mean;
    char note[256];
    snprintf(note, sizeof note, "final fit: %d epochs (best %d), validation correlation %.3f; "
             "test FEVE %.3f, correlation to average %.3f%s", s->fr.fit.epochs,
             s->fr.fit.best_epoch, s->fr.fit.best_validation_corr, s->res->test_feve_mean,
             s->res->test_corr_mean,
             s->fr.n_models > 1 ? " (test: the ensemble's mean prediction)" : "");
    if (s->fr.n_models > 1) {
        char more[64];
        snprintf(more, sizeof more, "; an ensemble of %d models (seeds seed..seed+%d)",
                 s->fr.n_models, s->fr.n_models - 1);
        strncat(note, more, sizeof note - strlen(note) - 1);
    }
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err) || run_phase(s, "fit", "end");
}

/* ------------------------------------------------------------------------ */
/* Targets and synthesis */

static void on_mei_step(const mei_progress *p, void *user)
{
    run_state *s = user;
    s->st.mei_step = p->step;
    s->st.mei_steps = p->steps;
    s->st.mei_active = p->active;
    s->st.mei_images = p->images;
    run_catch_up(s);
    run_progress(s, NULL, 0);
}

/* The targets and budget of the shared synthesis, where the closed loop and
 * the evaluation read them. */
static int adopt_targets(run_state *s)
{
    s->n_targets = s->fr.n_targets;
    s->targets = malloc((size_t)(s->n_targets ? s->n_targets : 1) * sizeof(int));
    if (!s->targets)
        return run_fail(s, "out of memory for %s", "the targets");
    memcpy(s->targets, s->fr.targets, (size_t)s->n_targets * sizeof(int));
    s->budget = s->fr.budget;
    s->res->targets = s->n_targets;
    return 0;
}

/* Every MEI and control: recorded as a stimulus and loaded into the presenter. */
static int add_closed_loop_images(run_state *s, int64_t **ids_out, int *count_out)
{
    const session_fit_result *r = &s->fr;
    int n = s->n_targets, P = s->P, k = 0;
    int64_t *ids = malloc((size_t)(n ? n : 1) * (size_t)r->n_kinds * sizeof(int64_t));
    if (!ids)
        return run_fail(s, "out of memory for %s", "the closed-loop stimuli");
    for (int j = 0; j < n; j++)
        for (int kind = 0; kind < KIND_COUNT; kind++) { /* in kind order: the stimulus ids */
            if (r->slot_of[kind] < 0)
                continue;
            size_t slot = session_fit_slot(r, j, kind);
            int id;
            if (!r->present[slot])
                continue;
            const float *x = r->stimuli + (size_t)slot * P;
            const float *clip = s->audio ? s->made_clips + (size_t)slot * s->S : NULL;
            if (run_image_add(s, x, clip, kind, s->targets[j], TIER_NONE, &id) ||
                run_record_shown(s, id, s->targets[j], stimulus_kind_name(kind), r->predicted[slot])) {
                free(ids);
                return 1;
            }
            ids[k++] = id;
        }
    *ids_out = ids;
    *count_out = k;
    return 0;
}

static int run_phase_synthesis(run_state *s, int64_t **ids, int *count)
{
    if (run_phase(s, "synthesis", "begin"))
        return 1;
    session_fit_settings set = fit_settings(s);
    const image_table *t = &s->images;
    if ((s->audio ? session_sound_synthesize(s->p, &s->data, &set, NULL, 0, t->clips, t->pixels,
                                             t->tier, t->count, &s->fr, &s->made_clips, s->err)
                  : session_fit_synthesize(&s->data, &set, NULL, 0, &s->fr, s->err)) ||
        session_fit_record_targets(s->rec, &s->data, &s->fr, s->err) || adopt_targets(s))
        return 1;
    if (s->n_targets == 0)
        return run_fail(s, "no neuron reached the minimum validation correlation %s",
                    "(targets.min_correlation)");
    return add_closed_loop_images(s, ids, count) || run_phase(s, "synthesis", "end");
}

/* Every stimulus `repeats` times, shuffled from the seed: NULL when out of memory. */
static int64_t *run_closed_loop_order(run_state *s, const int64_t *stimuli, int count, int *total)
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
    model_rng_shuffle_i64(&rng, order, *total);
    return order;
}

static int run_phase_closed_loop(run_state *s, const int64_t *stimuli, int count)
{
    int total;
    int64_t *order = run_closed_loop_order(s, stimuli, count, &total);
    if (!order)
        return run_fail(s, "out of memory for %s", "the closed-loop schedule");
    int status = run_phase(s, "closed_loop", "begin") ||
                 run_block(s, "closed_loop", order, total, 0) || run_phase(s, "closed_loop", "end");
    free(order);
    return status;
}

/* ------------------------------------------------------------------------ */
/* The model-free search (docs/search.md): per target a genetic search whose
 * fitness is the recorded counts. Each generation is one block "search" of
 * every target's images × search.repeats, shuffled, shown and recorded like
 * every other stimulus (kind "search"); an image's fitness is its target's
 * mean count over its unflagged trials. */

typedef struct search_phase {
    search **per_target;
    float *images;      /* targets × population × P: the generation's */
    int64_t *ids;       /* targets × population: the generation's stimulus ids */
    int *slot;          /* per stimulus id: its place in `ids`, -1 if not the generation's */
    float *fitness;     /* population */
    int population;
    /* A resumed session: per target the search images the record holds, in
     * record order (the order they were asked for), and how many are used. */
    int64_t *recorded;  /* targets × generations × population */
    int *n_recorded, *used;
} search_phase;

static void search_phase_free(search_phase *sp, int targets)
{
    for (int j = 0; sp->per_target && j < targets; j++)
        search_destroy(sp->per_target[j]);
    free(sp->per_target);
    free(sp->images);
    free(sp->ids);
    free(sp->slot);
    free(sp->fitness);
    free(sp->recorded);
    free(sp->n_recorded);
    free(sp->used);
}

/* The search's elites: 4 as `inception search`, fewer in a small population. */
static int search_elites(int population) { return population >= 8 ? 4 : population / 2; }

/* The search images already in the image table (a resumed session's, from
 * its record), per target in record order. */
static void search_phase_recorded(run_state *s, search_phase *sp)
{
    size_t per = (size_t)s->p->search.generations * (size_t)sp->population;
    for (int i = 0; i < s->images.count; i++) {
        if (s->images.kind[i] != STIMULUS_KIND_SEARCH)
            continue;
        for (int j = 0; j < s->n_targets; j++)
            if (s->images.neuron[i] == s->targets[j] && (size_t)sp->n_recorded[j] < per)
                sp->recorded[(size_t)j * per + (size_t)sp->n_recorded[j]++] = i;
    }
}

static int search_phase_create(run_state *s, search_phase *sp)
{
    const protocol_search *ps = &s->p->search;
    int n = s->n_targets;
    memset(sp, 0, sizeof *sp);
    sp->population = ps->population_size;
    size_t per = (size_t)ps->generations * (size_t)sp->population;
    sp->per_target = calloc((size_t)n, sizeof *sp->per_target);
    sp->images = malloc((size_t)n * (size_t)sp->population * (size_t)s->P * sizeof(float));
    sp->ids = malloc((size_t)n * (size_t)sp->population * sizeof *sp->ids);
    sp->fitness = malloc((size_t)sp->population * sizeof *sp->fitness);
    sp->recorded = malloc((size_t)(n ? n : 1) * per * sizeof *sp->recorded);
    sp->n_recorded = calloc((size_t)(n ? n : 1), sizeof *sp->n_recorded);
    sp->used = calloc((size_t)(n ? n : 1), sizeof *sp->used);
    if (!sp->per_target || !sp->images || !sp->ids || !sp->fitness || !sp->recorded ||
        !sp->n_recorded || !sp->used)
        return run_fail(s, "out of memory for %s", "the search");
    search_phase_recorded(s, sp);
    for (int j = 0; j < n; j++) {
        search_config c;
        search_config_default(&c);
        c.height = s->H;
        c.width = s->W;
        c.budget = s->budget; /* the MEIs' and controls' mean luminance and contrast */
        c.population = sp->population;
        c.elites = search_elites(sp->population);
        c.primitives = ps->primitives;
        c.trials_per_fitness = ps->repeats;
        c.seed = model_rng_stream(ps->seed, (uint64_t)s->targets[j]); /* a stream per target */
        char why[STIMULUS_ERR_SIZE];
        if (search_create(&sp->per_target[j], &c, why))
            return run_fail(s, "%s", why);
    }
    return 0;
}

/* Generation g's images of every target: those a resumed session recorded
 * already are taken from the record (and must be what the search, rebuilt
 * from its seed and the recorded counts, asks for again: else the session
 * stops, naming the image); the others are recorded as stimuli and loaded. */
static int search_add_generation(run_state *s, search_phase *sp, int g)
{
    size_t per = (size_t)sp->population * (size_t)s->P;
    size_t recorded_per = (size_t)s->p->search.generations * (size_t)sp->population;
    for (int j = 0; j < s->n_targets; j++) {
        float *x = sp->images + (size_t)j * per;
        search_ask(sp->per_target[j], x);
        for (int i = 0; i < sp->population; i++) {
            int id;
            const float *image = x + (size_t)i * s->P;
            if (sp->used[j] < sp->n_recorded[j]) {
                id = (int)sp->recorded[(size_t)j * recorded_per + (size_t)sp->used[j]++];
                if (memcmp(run_image_at(s, id), image, (size_t)s->P * sizeof *image)) {
                    char what[128];
                    snprintf(what, sizeof what, "image %d of generation %d of target %d "
                             "(stimulus %d)", i, g, s->targets[j], id);
                    return run_fail(s, "resume: the search rebuilt from its seed and the recorded "
                                   "counts asks for another %s than the record holds", what);
                }
            } else if (run_image_add(s, image, NULL, STIMULUS_KIND_SEARCH, s->targets[j],
                                 TIER_NONE, &id) ||
                       run_record_shown(s, id, s->targets[j], STIMULUS_KIND_NAME_SEARCH, NAN)) {
                return 1;
            }
            sp->ids[(size_t)j * sp->population + i] = id;
        }
    }
    return 0;
}

/* Generation g's schedule: every image × repeats, shuffled from the search's
 * seed and g (a resumed session's generation gets the same order). */
static int64_t *search_order(run_state *s, const search_phase *sp, int g, int *total)
{
    int images = s->n_targets * sp->population, repeats = s->p->search.repeats;
    *total = images * repeats;
    int64_t *order = malloc((size_t)(*total ? *total : 1) * sizeof *order);
    if (!order)
        return NULL;
    for (int r = 0; r < repeats; r++)
        memcpy(order + (size_t)r * images, sp->ids, (size_t)images * sizeof *order);
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(s->p->search.seed ^ 0x736561726368ull, (uint64_t)g));
    model_rng_shuffle_i64(&rng, order, *total);
    return order;
}

/* Each target's fitness from the closed rows of the generation's images
 * (their unflagged trials, a resumed session's earlier ones included:
 * flagged ones never reach the rows) and told to its search. An image whose
 * every trial was flagged has no mean: it gets the lowest mean of its
 * generation (kept out of the elites, never credited). */
static int search_tell_generation(run_state *s, search_phase *sp, int g)
{
    int pop = sp->population, n = s->n_targets;
    double *sum = calloc((size_t)n * (size_t)pop, sizeof *sum);
    int *trials = calloc((size_t)n * (size_t)pop, sizeof *trials);
    free(sp->slot);
    sp->slot = malloc((size_t)(s->images.count ? s->images.count : 1) * sizeof *sp->slot);
    if (!sum || !trials || !sp->slot) {
        free(sum);
        free(trials);
        return run_fail(s, "out of memory for %s", "the search's fitness");
    }
    for (int i = 0; i < s->images.count; i++)
        sp->slot[i] = -1;
    for (int k = 0; k < n * pop; k++)
        sp->slot[sp->ids[k]] = k;
    for (int r = 0; r < s->closed.count; r++) {
        int64_t id = s->closed.image_id[r];
        int k = id >= 0 && id < s->images.count ? sp->slot[id] : -1;
        if (k >= 0) {
            sum[k] += s->closed.counts[(size_t)r * s->N + s->targets[k / pop]];
            trials[k]++;
        }
    }
    int status = 0;
    for (int j = 0; j < n && !status; j++) {
        const double *sj = sum + (size_t)j * pop;
        const int *tj = trials + (size_t)j * pop;
        double lowest = INFINITY;
        for (int i = 0; i < pop; i++)
            if (tj[i] && sj[i] / tj[i] < lowest)
                lowest = sj[i] / tj[i];
        if (!isfinite(lowest)) {
            char what[96];
            snprintf(what, sizeof what, "generation %d of target %d", g, s->targets[j]);
            status = run_fail(s, "search: every trial of %s was flagged", what);
            break;
        }
        for (int i = 0; i < pop; i++)
            sp->fitness[i] = (float)(tj[i] ? sj[i] / tj[i] : lowest);
        char why[STIMULUS_ERR_SIZE];
        if (search_tell(sp->per_target[j], sp->fitness, why))
            status = run_fail(s, "%s", why);
    }
    free(sum);
    free(trials);
    return status;
}

/* Per target, the image the search hands over (search_best: an elite of the
 * last generation, so one of its recorded stimuli), kept for the ground
 * truth and, unless a resumed session's search phase had ended, recorded:
 * its stimulus id and mean count as evaluations "search_best_stimulus" and
 * "search_best_mean". */
static int search_record_best(run_state *s, search_phase *sp, int record)
{
    float *best = malloc((size_t)s->P * sizeof *best);
    free(s->search_best);
    s->search_best = malloc((size_t)s->n_targets * sizeof *s->search_best);
    if (!best || !s->search_best) {
        free(best);
        return run_fail(s, "out of memory for %s", "the search's best");
    }
    int status = 0;
    for (int j = 0; j < s->n_targets && !status; j++) {
        search_result r;
        search_best(sp->per_target[j], best, &r);
        int64_t id = -1;
        for (int i = 0; i < sp->population && id < 0; i++) {
            int64_t k = sp->ids[(size_t)j * sp->population + i];
            if (!memcmp(run_image_at(s, k), best, (size_t)s->P * sizeof *best))
                id = k;
        }
        if (id < 0) {
            status = run_fail(s, "the search's best image is none of its last generation's (%s)",
                          "internal");
            break;
        }
        s->search_best[j] = id;
        status = record &&
                 (run_record_value(s, s->targets[j], "search_best_stimulus", (double)id) ||
                  run_record_value(s, s->targets[j], "search_best_mean", r.fitness));
    }
    free(best);
    return status;
}

/* The search phase, fresh or resumed (r: the earlier trials; NULL fresh). A
 * resumed search is rebuilt from its seed: each generation's recorded images
 * are asked for again, only the trials the record lacks are shown, and the
 * recorded counts are told; a phase that ended shows nothing and records
 * nothing again, and only restores what the evaluation needs. */
struct resume_scan;
static int run_search(run_state *s, const struct resume_scan *r);

static int phase_search(run_state *s) { return run_search(s, NULL); }

/* ------------------------------------------------------------------------ */
/* ------------------------------------------------------------------------ */
/* Evaluation */

/* The closed-loop stimulus id of target j's `kind`, -1 if none. */
static int stimulus_of(const run_state *s, int neuron, int kind)
{
    if (kind == STIMULUS_KIND_SEARCH) /* many per target: the search phase's own results */
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

/* The simulated population's expected response to each MEI and control, to
 * the neuron's truly best natural training image and to its known optimum,
 * all at the same budget (stimulus_truth, shared with `inception mei`). */
/* The search's handed-over images in the ground truth, beside the MEI's and
 * the truly best natural training image's (at the budget) for the same
 * targets: per target `truth_search_best`, and neuron -1 the median
 * search / best natural and how many beat each (docs/search.md). */
static int record_search_truth(run_state *s, const stimulus_truth *t, const float *truth,
                               const float *search_truth)
{
    int n = s->n_targets, scored = 0, beats_natural = 0, beats_mei = 0;
    float *ratio = malloc((size_t)(n ? n : 1) * sizeof *ratio);
    if (!ratio)
        return run_fail(s, "out of memory for %s", "the search's ground truth");
    int status = 0;
    for (int j = 0; j < n && !status; j++) {
        const truth_row *r = stimulus_truth_row(t, j);
        float mei = truth[j * KIND_COUNT + STIMULUS_KIND_MEI];
        status = run_record_value(s, r->neuron, "truth_search_best", search_truth[j]);
        beats_natural += search_truth[j] > r->natural;
        beats_mei += search_truth[j] > mei;
        if (r->natural > 0.0f)
            ratio[scored++] = search_truth[j] / r->natural;
    }
    double median = scored ? median_of(ratio, scored) : NAN;
    free(ratio);
    s->res->truth_search_scored = n;
    s->res->truth_search_beats_natural = beats_natural;
    s->res->truth_search_beats_mei = beats_mei;
    s->res->median_ratio_truth_search = median;
    return status ||
           run_record_value(s, -1, "truth_median_ratio_search_over_best_natural", median) ||
           run_record_value(s, -1, "truth_targets_search_beats_best_natural", beats_natural) ||
           run_record_value(s, -1, "truth_targets_search_beats_mei", beats_mei);
}

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
    c.seed = v->seed;
    stimulus_truth *t;
    char err[STIMULUS_ERR_SIZE];
    if (stimulus_truth_create(&t, &c, s->targets, s->n_targets, &s->budget, err))
        return run_fail(s, "ground truth: %s", err);
    int status = 1;
    float *truth = malloc((size_t)(s->n_targets ? s->n_targets : 1) * KIND_COUNT * sizeof *truth);
    float *search_truth = malloc((size_t)(s->n_targets ? s->n_targets : 1) * sizeof *search_truth);
    if (!truth || !search_truth) {
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
             record_truth_comparisons(s, truth);
done:
    free(truth);
    free(search_truth);
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

static int run_phase_evaluation(run_state *s)
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
                 evaluate_ratios(s, ci, verdict) || evaluate_recorded_natural(s, ci) ||
                 (!s->p->virtual_rig.enabled ? note_no_truth(s)
                  : s->audio                 ? evaluate_truth_audio(s, verdict)
                                             : evaluate_truth(s, verdict)) ||
                 run_phase(s, "evaluation", "end");
    free(ci);
    free(verdict);
    return status;
}

/* ------------------------------------------------------------------------ */

/* The rig's pid and start time go to the record too (and to virtual_rig.pid,
 * which a resume reads to stop a rig its killed controller left). */
static int run_note_rig(run_state *s, const char *what)
{
    char note[256];
    snprintf(note, sizeof note, "virtual rig %s: pid %d, start time %llu (its log: "
             "virtual_rig.log in the session folder)", what, (int)s->rig.pid,
             s->rig.start_time);
    run_progress(s, note, 1);
    return session_record_note(s->rec, note, s->err);
}

static int run_phase_start(run_state *s)
{
    const protocol *p = s->p;
    if (make_session_dir(s) || session_lock_take(s->dir, 0, &s->lock, s->err) ||
        session_record_create_for(s->dir, p, &s->rec, s->err) ||
        run_phase(s, "start", "begin"))
        return 1;
    if (p->virtual_rig.enabled) {
        const char *exe = s->o->rig_executable ? s->o->rig_executable : "/proc/self/exe";
        if (rig_process_start(&s->rig, exe, p, s->dir, s->err) || run_note_rig(s, "started"))
            return 1;
    }
    if (run_open_streams(s) || run_wait_for_stream(s) || run_open_presenter(s))
        return 1;
    return run_phase(s, "start", "end");
}

static void run_destroy(run_state *s)
{
    run_display_close(&s->display);
    fit_worker_destroy(s->fit);
    rig_process_stop(&s->rig, 5000);
    acq_receiver_destroy(s->stream);
    free(s->unit_map_noted);
    acq_publisher_destroy(s->onsets);
    acq_aligner_destroy(s->aligner);
    session_fit_result_free(&s->fr);
    if (s->data.images)
        dataset_free(&s->data);
    free(s->images.pixels);
    free(s->images.kind);
    free(s->images.neuron);
    free(s->images.tier);
    free(s->images.sha256);
    free(s->closed.trial);
    free(s->images.clips);
    free(s->made_clips);
    free(s->closed.image_id);
    free(s->recorded);
    free(s->closed.counts);
    free(s->counts);
    free(s->targets);
    free(s->search_best);
    run_frames_free(&s->frames);
}

/* What run_session and run_resume share: the state from the protocol. */
static int run_init(run_state *s, const protocol *p, const run_options *o, run_result *out,
                    const char *dir, char *err)
{
    memset(s, 0, sizeof *s);
    memset(out, 0, sizeof *out);
    out->median_ratio_recorded = out->median_ratio_truth = NAN;
    out->median_ratio_truth_own_contrast = NAN;
    out->recorded_ratio_natural_training = NAN;
    out->recorded_natural_training_count = -1;
    out->truth_beats_gabor = out->truth_beats_rf = out->truth_scored = -1;
    out->truth_disagrees = -1;
    out->truth_search_scored = out->truth_search_beats_natural = -1;
    out->truth_search_beats_mei = -1;
    out->median_ratio_truth_search = NAN;
    for (int c = 0; c < RUN_CONTROLS; c++) {
        out->recorded_ratio[c] = NAN;
        out->recorded_compared[c] = out->recorded_beat[c] = out->recorded_below[c] = -1;
    }
    out->test_feve_mean = out->test_corr_mean = NAN;
    s->p = p;
    s->o = o;
    s->res = out;
    s->err = err;
    s->start_ns = (int64_t)record_monotonic_ns();
    s->st.phase = "start";
    s->st.validation_corr = NAN;
    s->stream_reached_ns = INT64_MIN;
    s->H = p->images.height;
    s->W = p->images.width;
    s->audio = out->audio = p->modality == PROTOCOL_MODALITY_AUDIO;
    out->truth_beats_best_natural = out->truth_beats_tone = -1;
    if (s->audio) { /* the model's input is the clip's cochleagram */
        s->S = session_sound_samples(p);
        if (session_sound_image_size(p, &s->H, &s->W, err))
            return 1;
    }
    s->P = s->H * s->W;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(out->session_dir, sizeof out->session_dir, "%s", s->dir);
    /* FFTW's planner is process-global: the fit thread and synthesis both plan. */
    fftwf_make_planner_thread_safe();
    /* An external acquisition system's units may be learned from its stream. */
    return run_set_units(s, p->virtual_rig.enabled ? p->virtual_rig.neurons
                        : p->endpoints.units ? p->endpoints.units + p->endpoints.electrodes : 0);
}

/* The stream's tail, before the record closes. The receiver hands spikes
 * over in batches, 100 ms after a batch's first spike, so when the last
 * trial completes the last spikes of its window may still be in the
 * receiver. Stops the receiver, which hands over what it holds, and records
 * everything queued. Every trial recorded unflagged had its window covered
 * by the stream when it was recorded (flag_uncovered_trial), so its spikes
 * are among those: nothing is waited for. */
static int run_drain_stream_tail(run_state *s)
{
    if (!s->stream || s->stream_failed)
        return 0;
    acq_receiver_stop(s->stream);
    acq_item *it;
    while (acq_receiver_pop(s->stream, &it, 0)) {
        int r = take_item(s, it);
        acq_item_free(it);
        if (r)
            return 1;
    }
    return run_note_openephys(s);
}

/* The last notes, then everything stopped and the record closed. */
static int run_finish(run_state *s, int status, char *err)
{
    run_result *out = s->res;
    out->seconds = seconds_since(s->start_ns);
    if (!status) {
        status = run_drain_stream_tail(s);
    } else if (s->rec) { /* what the stream holds is recorded even so; the error stands */
        char *reason = s->err, ignored[CONTROLLER_ERR_SIZE];
        s->err = ignored;
        run_drain_stream_tail(s);
        s->err = reason;
    }
    if (!status) {
        char note[256];
        if (s->p->virtual_rig.enabled)
            snprintf(note, sizeof note, "done in %.1f s: test FEVE %.3f, median ground-truth "
                     "ratio MEI/best natural %.3f", out->seconds, out->test_feve_mean,
                     out->median_ratio_truth);
        else
            snprintf(note, sizeof note, "done in %.1f s: test FEVE %.3f, median recorded ratio "
                     "MEI/best natural %.3f (no ground truth: an external acquisition system)",
                     out->seconds, out->test_feve_mean, out->median_ratio_recorded);
        status = session_record_note(s->rec, note, err) || session_record_sync(s->rec, err);
    } else if (s->rec) {
        char note[CONTROLLER_ERR_SIZE + 16], ignored[CONTROLLER_ERR_SIZE];
        snprintf(note, sizeof note, "failed: %s", err);
        session_record_note(s->rec, note, ignored);
    }
    run_destroy(s);
    char close_err[CONTROLLER_ERR_SIZE];
    if (s->rec && session_record_close(s->rec, close_err) && !status) {
        controller_fail(err, "%s", close_err);
        status = 1;
    }
    session_lock_release(s->lock);
    return status;
}

int run_session(const protocol *p, const run_options *o, run_result *out, char *err)
{
    run_state s;
    int64_t *closed = NULL;
    int n_closed = 0;
    int status = run_init(&s, p, o, out, o->out_dir ? o->out_dir : p->output, err);
    status = status || run_phase_start(&s) || run_phase_recording(&s) || run_phase_fit(&s) ||
             run_phase_synthesis(&s, &closed, &n_closed) || run_phase_closed_loop(&s, closed, n_closed) ||
             phase_search(&s) || run_phase_evaluation(&s);
    free(closed);
    return run_finish(&s, status, err);
}

/* ------------------------------------------------------------------------ */
/* Resume: a session killed at any moment continues from its record */

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
    }
    free(st.decoded);
    return status;
}

/* Drops from `order` one entry per earlier trial of that block (acknowledged
 * or flagged: either way it was shown); what is left is shown again. */
static int run_resume_remaining(const resume_scan *r, int closed, int64_t *order, int count)
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

static int run_search(run_state *s, const resume_scan *r)
{
    if (!s->p->search.enabled)
        return 0;
    int ended = r && (s->ended >> 6 & 1);
    search_phase sp;
    int status = search_phase_create(s, &sp) || (!ended && run_phase(s, "search", "begin"));
    for (int g = 0; !status && g < s->p->search.generations; g++) {
        int total = 0;
        status = search_add_generation(s, &sp, g);
        int64_t *order = status ? NULL : search_order(s, &sp, g, &total);
        if (!status && !order)
            status = run_fail(s, "out of memory for %s", "the search's schedule");
        if (!status && r)
            total = run_resume_remaining(r, 2, order, total);
        if (!status && total < 0)
            status = run_fail(s, "out of memory for %s", "the search's schedule");
        status = status || (total > 0 && run_block(s, "search", order, total, 0)) ||
                 search_tell_generation(s, &sp, g);
        free(order);
    }
    status = status || search_record_best(s, &sp, !ended) ||
             (!ended && run_phase(s, "search", "end"));
    search_phase_free(&sp, s->n_targets);
    return status;
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

static int load_result(run_state *s, const record_evaluation *e)
{
    const char *kind = e->kind;
    double value = e->mean;
    if (!strcmp(kind, "median_ratio_mei_over_best_natural"))
        s->res->median_ratio_recorded = value;
    if (!strcmp(kind, "truth_median_ratio_mei_over_best_natural"))
        s->res->median_ratio_truth = value;
    if (!strcmp(kind, "truth_targets_mei_beats_gabor"))
        s->res->truth_beats_gabor = (int)value;
    if (!strcmp(kind, "truth_targets_mei_beats_rf"))
        s->res->truth_beats_rf = (int)value;
    if (!strcmp(kind, "truth_targets_mei_beats_tone"))
        s->res->truth_beats_tone = (int)value;
    if (!strcmp(kind, "truth_targets_scored"))
        s->res->truth_scored = (int)value;
    if (!strcmp(kind, "truth_median_ratio_mei_over_best_natural_own_contrast"))
        s->res->median_ratio_truth_own_contrast = value;
    if (!strcmp(kind, "truth_recorded_beaten_disagrees"))
        s->res->truth_disagrees = (int)value;
    if (!strcmp(kind, "median_ratio_mei_over_best_natural_recorded_training"))
        s->res->recorded_ratio_natural_training = value;
    if (!strcmp(kind, "targets_compared_best_natural_recorded_training"))
        s->res->recorded_natural_training_count = (int)value;
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
    s->res->test_feve_mean = e->mean;
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
