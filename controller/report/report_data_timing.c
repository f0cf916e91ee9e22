/* report_data_timing.c: the first pass's timing records read into the
 * report's session_data: display flips and the blocks' display accounts,
 * trials' frame flags and the flags trials gained later, stream messages
 * with their counts bins (the PSTH's), and clock alignments with the last
 * one's map. Drawn by report_timing.c and report_psth.c. */
#include "report_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
    return report_series_push(&d->bin_start_ns, (double)m->sample_num) ||
           report_series_push(&d->bin_width_ns, (double)m->bin_width_ns) ||
           report_series_push(&d->bin_mean, sum / (double)finite);
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

int report_gather_timing(session_data *d, const record_view *v)
{
    char err[CONTROLLER_ERR_SIZE];
    int status = 0;
    switch (v->type) {
    case RECORD_FLIP: {
        record_flip_event f;
        if (record_flip_read(v, &f, err))
            return 0;
        free(f.decoded);
        return report_series_push(&d->flip_ns, (double)f.flip_ns) ||
               report_series_push(&d->flip_missed, (double)f.missed) ||
               report_series_push(&d->flip_frame, (double)f.frame);
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
        status = report_series_push(&d->stream_received_ns, (double)m.received_ns) ||
                 report_series_push(&d->stream_timestamp_ms, (double)m.timestamp_ms) ||
                 report_series_push(&d->stream_lost, (double)m.lost) || gather_bin(d, &m);
        free(m.decoded);
        return status;
    }
    case RECORD_ALIGNMENT: {
        record_alignment a;
        if (record_alignment_read(v, &a, err))
            return 0;
        free(a.decoded);
        gather_map(d, &a);
        return report_series_push(&d->align_time_ns, (double)v->time_ns) ||
               report_series_push(&d->align_rms_ns, a.residual_rms_ns) ||
               report_series_push(&d->align_max_ns, a.residual_max_ns) ||
               report_series_push(&d->align_slope, a.slope_ns_per_sample);
    }
    }
    return 0;
}

/* A block's display account (RECORD.md: the `note` with `display_block`). */
void report_gather_display_block(session_data *d, const record_note *n)
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
