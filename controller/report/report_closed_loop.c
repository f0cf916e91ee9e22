/* report_closed_loop.c: the closed loop's sections: the gallery of the
 * MEIs, their controls and the kinds mei.kinds adds as presented, and the
 * recorded responses to them: per comparison (session_kinds.c) a scatter of
 * the targets' means with their bootstrap intervals and the paired
 * statistics, then the table of every target's intervals. */
#include "report_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define GALLERY_SIDE 96 /* stimuli are scaled up to at least this many pixels */

/* ---- Gallery ---- */

/* One gallery cell: the stimulus as presented (gray levels), scaled up to
 * GALLERY_SIDE, written as `name`, with `label` and `note` under it. */
int report_gallery_cell(report_output *o, const stimulus_image *s, const char *name,
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
    report_html_escaped(o->html, label);
    fprintf(o->html, "\"><br>");
    report_html_escaped(o->html, label);
    fprintf(o->html, "<br>");
    report_html_escaped(o->html, note);
    fprintf(o->html, "</td>");
    return 0;
}

int report_section_gallery(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>MEIs and their controls</h2>\n");
    if (!d->stimulus_count) {
        report_html_missing(o, "synthesized stimuli (no stimulus records)");
        return 0;
    }
    fprintf(o->html, "<table class=\"gallery\">\n");
    int64_t previous = INT64_MIN;
    for (int i = 0; i < d->stimulus_count; i++) {
        const stimulus_image *s = &d->stimuli[i];
        if (!strcmp(s->kind, STIMULUS_KIND_NAME_DIVERSE) || s->target)
            continue; /* the diverse sets' and target patterns' galleries are the evaluation's
                         (report_diverse.c, report_pattern.c) */
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
        if (report_gallery_cell(o, s, name, s->kind, note))
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
        *lo = fmin(*lo, report_series_min(values, 4));
        *hi = fmax(*hi, report_series_max(values, 4));
    }
    *hi = *hi > *lo ? *hi * 1.05 : *lo + 1.0;
}

static int scatter_figure(report_output *o, const session_data *d, int kind, int control,
                          const char *name)
{
    plot_canvas c;
    if (report_new_figure(&c, o))
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
    int status =
        report_write_canvas(o, &c, name, kind == KIND_MEI ? "MEI versus control responses" : alt);
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

/* Under the least exciting input's comparison, the ground truth's count of
 * issue 16's criterion where the record has it (a baseline population,
 * run_evaluate.c), in the words `inception run` prints it; a session
 * without one gets nothing here. */
static void baseline_caption(report_output *o, const session_data *d)
{
    if (!isfinite(d->truth_baseline_scored) || !isfinite(d->truth_baseline_least_below))
        return;
    fprintf(o->html, "<p class=\"caption\">Ground truth (the virtual rig's simulated cells' "
                     "expected responses, as the evaluation recorded them): neurons with a "
                     "baseline rate: least exciting input below the least exciting natural "
                     "training image for %.0f of %.0f (median least / least natural ",
            d->truth_baseline_least_below, d->truth_baseline_scored);
    fprintf(o->html, isfinite(d->truth_baseline_median) ? "%.3f" : "n/a",
            d->truth_baseline_median);
    fprintf(o->html, ").</p>\n");
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
        report_html_missing(o, "responses to both the MEIs and this control");
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
    if (!status && kind == STIMULUS_KIND_LEAST)
        baseline_caption(o, d);
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

/* The closed loop's stimulus of `kind` for a target, NULL if none. */
const stimulus_image *report_closed_loop_stimulus(const session_data *d, int64_t neuron,
                                                  const char *kind)
{
    for (int i = 0; i < d->stimulus_count; i++)
        if (d->stimuli[i].neuron == neuron && !strcmp(d->stimuli[i].kind, kind))
            return &d->stimuli[i];
    return NULL;
}

/* A target's recorded closed-loop interval of `kind`, NULL if none. */
const stats_interval *report_closed_loop_interval(const session_data *d, int64_t neuron, int kind,
                                                  int64_t *repeats)
{
    for (int i = 0; i < d->target_count; i++)
        if (d->targets[i].neuron == neuron && d->targets[i].have[kind]) {
            *repeats = d->targets[i].repeats[kind];
            return &d->targets[i].interval[kind];
        }
    return NULL;
}

int report_section_evaluation(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Recorded responses: MEI vs controls</h2>\n");
    int with_mei = 0;
    for (int i = 0; i < d->target_count; i++)
        with_mei += d->targets[i].have[STIMULUS_KIND_MEI];
    o->summary->targets = with_mei;
    if (!with_mei) {
        report_html_missing(o,
                            "closed-loop responses to MEIs (no closed-loop trials or evaluations)");
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
    return report_diverse_gallery(o, d) || report_pattern_gallery(o, d);
}
