/* run_trials.c: the trials the aligner completes: each waits for the
 * display's verdict on its frames (run_frames.c), is flagged where the
 * stream did not cover its window, is recorded, and then goes to the
 * background fit (natural images) or the closed loop's responses; a span
 * of possible loss that comes later flags the recorded trials it overlaps.
 * Here, so that no trial is recorded without its flags. */
#include "acquisition.h"
#include "run_internal.h"
#include "stimulus.h"

#include <stdio.h>
#include <string.h>

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

int run_closed_add(run_state *s, int64_t trial, int64_t image_id, const float *counts)
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
int run_flag_recorded_trials(run_state *s, int64_t from, int64_t until)
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
int run_drain_trials(run_state *s, const char *block, int block_over, int *done)
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
