/* report_timing.c: the sections on the rig's timing: the display's flip
 * intervals, dropped frames and block accounts, the stream's losses and
 * latency, and the clock alignment's residuals. */
#include "report_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

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
    int status = report_histogram_figure(o, ms, n, 0.0, hi, 60, PLOT_BLUE, "flip_intervals.png",
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
    double hi = fmax(report_series_max(d->flip_ns.v, d->flip_ns.n) - t0, 1.0) * 1e-9;
    hi = fmax(hi, 1.0);
    int status = report_histogram_figure(o, at, n, 0.0, hi, 60, PLOT_RED, "dropped_frames.png",
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
        report_html_escaped(o->html, b->name);
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

int report_section_timing(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Stimulus timing</h2>\n");
    if (d->flip_ns.n < 1 && !d->block_count) {
        report_html_missing(o, "display flips (no flip records)");
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
    double median = stats_median(ms, n), lo = fmin(0.0, report_series_min(ms, n));
    double hi = fmax(report_series_max(ms, n) * 1.1, lo + 1.0);
    int status = report_histogram_figure(o, ms, n, lo, hi, 40, PLOT_BLUE, "stream_latency.png",
                                         "histogram of stream latency");
    fprintf(o->html, "<p class=\"caption\">Latency of each stream message: our receive time "
                     "(monotonic, put on the wall clock with the session start's offset) minus "
                     "the sender's timestamp, ms; median %.2f ms, largest %.2f ms. Only "
                     "meaningful when both clocks are the same machine's (the virtual rig) or "
                     "synchronized.</p>\n",
            median, report_series_max(ms, n));
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
    int status = report_new_figure(&c, o);
    if (!status) {
        plot_axes a;
        plot_axes_draw(&a, &c, 0, fmax(t[n - 1], 1e-3), 0, fmax(total * 1.1, 1.0));
        plot_polyline(&a, t, lost, n, PLOT_RED);
        status = report_write_canvas(o, &c, "stream_loss.png", "cumulative lost stream messages");
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

int report_section_stream(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Stream health</h2>\n");
    if (d->stream_received_ns.n < 1) {
        report_html_missing(o, "received stream messages (no stream records)");
        return 0;
    }
    if (loss_figure(o, d))
        return 1;
    if (!d->have_start) {
        report_html_missing(o, "latency (no session start to relate the clocks)");
        return 0;
    }
    return latency_figure(o, d);
}

int report_section_alignment(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Clock alignment</h2>\n");
    int n = d->align_rms_ns.n;
    if (n < 1) {
        report_html_missing(o, "alignment fits (no alignment records)");
        return 0;
    }
    double *t = malloc((size_t)n * sizeof *t), *rms = malloc((size_t)n * sizeof *rms);
    double *max = malloc((size_t)n * sizeof *max);
    plot_canvas c;
    int status =
        !t || !rms || !max ? controller_fail(o->err, "out of memory") : report_new_figure(&c, o);
    if (!status) {
        for (int i = 0; i < n; i++) {
            t[i] = (d->align_time_ns.v[i] - (double)d->first_ns) * 1e-9;
            rms[i] = d->align_rms_ns.v[i] * 1e-3;
            max[i] = d->align_max_ns.v[i] * 1e-3;
        }
        plot_axes a;
        plot_axes_draw(&a, &c, fmin(t[0], 0.0), fmax(t[n - 1] * 1.05, 1e-3), 0,
                       fmax(report_series_max(max, n), report_series_max(rms, n)) * 1.1);
        plot_polyline(&a, t, max, n, PLOT_ORANGE);
        plot_points(&a, t, max, n, 2, PLOT_ORANGE);
        plot_polyline(&a, t, rms, n, PLOT_BLUE);
        plot_points(&a, t, rms, n, 2, PLOT_BLUE);
        status = report_write_canvas(o, &c, "alignment.png", "alignment residuals");
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
