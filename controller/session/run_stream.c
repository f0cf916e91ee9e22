/* run_stream.c: the acquisition stream in the run loop: every item the
 * receiver hands over goes to the record (stream, sync_event and spikes
 * records) and to the aligner; the population's size learned from or
 * checked against the stream at start; the stream's tail recorded before
 * the record closes. What the aligner completes goes on in run_trials.c. */
#include "acquisition.h"
#include "run_internal.h"

#include <stdio.h>
#include <stdlib.h>

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

int run_pump_stream(run_state *s, int timeout_ms)
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
void run_catch_up(run_state *s)
{
    if (!s->stream_failed && run_pump_stream(s, 0))
        s->stream_failed = 1; /* reported by the next block's own pump */
}

static int stream_units(run_state *s, int units);
static int note_rhythm(run_state *s);

/* The population's size: the virtual rig's, endpoints.units, or (0 until
 * then) what the stream's first bin says. */
int run_set_units(run_state *s, int units)
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
int run_wait_for_stream(run_state *s)
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

/* The stream's tail, before the record closes. The receiver hands spikes
 * over in batches, 100 ms after a batch's first spike, so when the last
 * trial completes the last spikes of its window may still be in the
 * receiver. Stops the receiver, which hands over what it holds, and records
 * everything queued. Every trial recorded unflagged had its window covered
 * by the stream when it was recorded (flag_uncovered_trial), so its spikes
 * are among those: nothing is waited for. */
int run_drain_stream_tail(run_state *s)
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
