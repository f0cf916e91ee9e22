/* run_blocks.c: a block shown: its schedule recorded, its trials submitted
 * to the display, the presenter's events recorded as flips and published
 * as onsets (to the rig and the aligner), the stream pumped and the
 * completed trials drained until every trial of the block is in; then the
 * display's account of the block, the clock's alignment and, from Open
 * Ephys, its unit map and losses as notes. The one place where stimuli are
 * shown, whatever the phase. */
#include "acquisition.h"
#include "run_internal.h"
#include "stimulus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
int run_note_openephys(run_state *s)
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
int run_block(run_state *s, const char *block, const int64_t *ids, int count, int natural)
{
    run_sched_aligning(&s->sched, 1);
    int status = show_block(s, block, ids, count, natural);
    run_sched_aligning(&s->sched, 0);
    return status;
}
