/* report_pattern.c: the report's figure of the target patterns (mei.kinds
 * pattern, docs/run.md): per pattern its image and its natural control, as
 * shown, each with the similarity of its recorded mean pattern to the target
 * (the run's measure, pattern_similarity), and a plot of the target against
 * both recorded patterns, each centred and scaled to unit norm (what the
 * similarity compares). patterns.csv: the numbers. */
#include "report_internal.h"
#include "stimulus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* `values` centred and scaled to unit norm into out (pattern_centre_normalize,
 * as the similarity compares them); 0 when flat or not finite. */
static int unit(const double *values, int k, double *out)
{
    double norm = pattern_centre_normalize(values, k, out);
    return norm > 0.0 && isfinite(norm);
}

/* The pattern's image or control (`kind`), NULL if the record lacks it. */
static const stimulus_image *pattern_stimulus(const session_data *d, int64_t q, const char *kind)
{
    for (int i = 0; i < d->stimulus_count; i++)
        if (d->stimuli[i].target && d->stimuli[i].pattern == q && !strcmp(d->stimuli[i].kind, kind))
            return &d->stimuli[i];
    return NULL;
}

/* The recorded mean pattern of s (k values) and its similarity; NaN with no trial. */
static double recorded(const stimulus_image *s, double *mean, float *rates, const int *group)
{
    int k = s->target_k;
    for (int i = 0; i < k; i++) {
        mean[i] = s->trials ? s->group_sum[i] / (double)s->trials : NAN;
        rates[i] = (float)mean[i];
    }
    return s->trials ? pattern_similarity(rates, group, k, s->target, NULL) : NAN;
}

/* Target (black), the image's recorded pattern (blue) and the control's (orange) over the group. */
static int pattern_plot(report_output *o, int64_t q, const double *target, const double *image,
                        int have_image, const double *control, int have_control, int k)
{
    plot_canvas c;
    if (report_new_figure(&c, o))
        return 1;
    double *x = malloc((size_t)k * sizeof *x);
    if (!x) {
        plot_canvas_destroy(&c);
        return controller_fail(o->err, "out of memory for a figure");
    }
    double top = 0.0;
    for (int i = 0; i < k; i++) {
        x[i] = i;
        top = fmax(top, fabs(target[i]));
        top = have_image ? fmax(top, fabs(image[i])) : top;
        top = have_control ? fmax(top, fabs(control[i])) : top;
    }
    plot_axes a;
    plot_axes_draw(&a, &c, -0.5, k - 0.5, -top, top);
    if (have_image) {
        plot_polyline(&a, x, image, k, PLOT_BLUE);
        plot_points(&a, x, image, k, 2, PLOT_BLUE);
    }
    if (have_control) {
        plot_polyline(&a, x, control, k, PLOT_ORANGE);
        plot_points(&a, x, control, k, 2, PLOT_ORANGE);
    }
    plot_polyline(&a, x, target, k, PLOT_BLACK); /* last: on top where they coincide */
    plot_points(&a, x, target, k, 3, PLOT_BLACK);
    char name[64];
    snprintf(name, sizeof name, "pattern_%lld.png", (long long)q);
    fprintf(o->html, "<td>");
    int status = report_write_canvas(o, &c, name, "target and recorded patterns");
    fprintf(o->html, "</td>");
    free(x);
    plot_canvas_destroy(&c);
    return status;
}

static int pattern_row(report_output *o, const session_data *d, int64_t q, FILE *f,
                       const int *group, double *work, float *rates)
{
    const char *kinds[2] = {STIMULUS_KIND_NAME_PATTERN, STIMULUS_KIND_NAME_PATTERN_NATURAL};
    const stimulus_image *s[2] = {pattern_stimulus(d, q, kinds[0]),
                                  pattern_stimulus(d, q, kinds[1])};
    int k = d->chosen_count, have[2] = {0, 0};
    double *target = work, *unit_target = work + k, *mean = work + 2 * k;
    double *shown[2] = {work + 3 * k, work + 4 * k};
    fprintf(o->html, "<tr><th>pattern %lld</th>", (long long)q);
    for (int c = 0; c < 2; c++) {
        if (!s[c] || s[c]->target_k != k)
            continue;
        double similarity = recorded(s[c], mean, rates, group);
        have[c] = unit(mean, k, shown[c]);
        for (int i = 0; i < k; i++) {
            target[i] = s[c]->target[i];
            fprintf(f, "%lld,%s,%lld,%lld,%.9g,%d,%.9g,%.9g\n", (long long)q, kinds[c],
                    (long long)s[c]->id, (long long)s[c]->trials, similarity, d->chosen[i],
                    target[i], mean[i]);
        }
        char name[64], note[96];
        snprintf(name, sizeof name, "pattern_%lld_%s.png", (long long)q, kinds[c]);
        snprintf(note, sizeof note, "similarity %.2f (%lld trials)", similarity,
                 (long long)s[c]->trials);
        if (report_gallery_cell(o, s[c], name, c ? "closest natural image" : "pattern image",
                                note))
            return 1;
    }
    int status = (s[0] || s[1]) && unit(target, k, unit_target) &&
                 pattern_plot(o, q, unit_target, shown[0], have[0], shown[1], have[1], k);
    fprintf(o->html, "</tr>\n");
    return status;
}

int report_pattern_gallery(report_output *o, const session_data *d)
{
    int64_t patterns = 0;
    for (int i = 0; i < d->stimulus_count; i++)
        if (d->stimuli[i].target && d->stimuli[i].pattern + 1 > patterns)
            patterns = d->stimuli[i].pattern + 1;
    if (!patterns)
        return 0;
    fprintf(o->html, "<h3>Target patterns (population control)</h3>\n");
    int k = d->chosen_count;
    if (k < 2) {
        report_html_missing(o, "the target patterns' group (the targets note)");
        return 0;
    }
    int *group = malloc((size_t)k * sizeof *group);
    float *rates = malloc((size_t)k * sizeof *rates);
    double *work = malloc(5 * (size_t)k * sizeof *work);
    FILE *f = group && rates && work ? report_open_data(o, "patterns.csv") : NULL;
    int status = !f;
    if (!group || !rates || !work)
        controller_fail(o->err, "out of memory for the target patterns");
    for (int i = 0; !status && i < k; i++)
        group[i] = i;
    if (!status) {
        fprintf(f, "pattern,kind,stimulus_id,trials,similarity,neuron,target,recorded_mean\n");
        fprintf(o->html, "<table class=\"gallery\">\n");
    }
    for (int64_t q = 0; !status && q < patterns; q++)
        status = pattern_row(o, d, q, f, group, work, rates);
    if (!status)
        fprintf(o->html, "</table>\n<p class=\"caption\">Each row: one target pattern over the "
                         "targets as a group (mei.kinds pattern): its image, its control (the "
                         "training image whose predicted pattern was closest), each with the "
                         "similarity (Pearson correlation across the group) of its mean counts "
                         "over its unflagged closed-loop trials to the target; the plot: the "
                         "target (black) and the recorded patterns of the image (blue) and the "
                         "control (orange) over the group's neurons in the targets' order, each "
                         "centred and scaled to unit norm (a flat recorded pattern, similarity "
                         "0, is not drawn).</p>\n");
    free(group), free(rates), free(work);
    if (status) {
        if (f)
            fclose(f);
        return 1;
    }
    return report_close_data(o, f, "patterns.csv");
}
