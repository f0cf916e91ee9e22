/* report_psth.c: the population PSTH around the unflagged trials' onsets:
 * the recorded counts bins placed by each onset on the acquisition clock
 * (recorded, or mapped through the last clock alignment), with the
 * protocol's counting window shaded. */
#include "report_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    FILE *f = report_open_data(o, "psth.csv");
    if (!f)
        return 1;
    fprintf(f, "time_ms,mean_count,rate_hz,trials\n");
    for (int s = 0; s < p->slots; s++)
        fprintf(f, "%.6g,%.9g,%.9g,%d\n", p->lo_ms + s * p->width_ns * 1e-6, p->sum[s],
                p->sum[s] / (p->width_ns * 1e-9), p->count[s]);
    return report_close_data(o, f, "psth.csv");
}

static int psth_figure(report_output *o, const session_data *d, const psth *p)
{
    double *t = malloc((size_t)p->slots * sizeof *t);
    double *rate = malloc((size_t)p->slots * sizeof *rate);
    plot_canvas c;
    int status = !t || !rate ? controller_fail(o->err, "out of memory") : report_new_figure(&c, o);
    if (!status) {
        int n = 0;
        for (int s = 0; s < p->slots; s++)
            if (p->count[s]) /* the bin's centre */
                t[n] = p->lo_ms + (s + 0.5) * p->width_ns * 1e-6,
                rate[n++] = p->sum[s] / (p->width_ns * 1e-9);
        double top = fmax(report_series_max(rate, n) * 1.1, 1e-3);
        plot_axes a;
        plot_axes_draw(&a, &c, p->lo_ms, p->lo_ms + p->slots * p->width_ns * 1e-6, 0, top);
        if (d->have_window) /* the counting window, shaded behind the curve */
            plot_rect(&c, plot_x(&a, d->window_start_ms), a.top + 1, plot_x(&a, d->window_end_ms),
                      a.bottom - 1, (plot_color){255, 225, 190});
        plot_line(&c, plot_x(&a, 0), a.top, plot_x(&a, 0), a.bottom, PLOT_GRAY);
        plot_polyline(&a, t, rate, n, PLOT_BLUE);
        status = report_write_canvas(o, &c, "psth.png", "population PSTH around the onsets");
        plot_canvas_destroy(&c);
    }
    free(t), free(rate);
    return status;
}

int report_section_psth(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Population response around the onsets</h2>\n");
    if (d->bin_mean.n < 1 || d->onset_acq_ns.n < 1) {
        report_html_missing(o, "the PSTH (no recorded counts bins or no unflagged trials)");
        return 0;
    }
    double hi = (d->have_window ? d->window_end_ms : 0.0) + PSTH_MARGIN_MS;
    psth p;
    int status = psth_compute(d, hi, &p) ? controller_fail(o->err, "out of memory for the PSTH") : 0;
    if (!status && !p.trials) {
        report_html_missing(o, "the PSTH (no trial has recorded bins around its onset)");
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
