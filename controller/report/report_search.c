/* report_search.c: the model-free search's section (docs/search.md): per
 * target its curve over the generations against the closed loop's MEI and
 * best natural image (a least search: its least exciting input and least
 * natural image), the image it handed over beside them, and the table of
 * the recorded (and, with the virtual rig, true) comparisons. */
#include "report_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- The model-free search ---- */

/* What the search is set beside: the MEI and the best natural image, or
 * for a least search (search.direction least) the least exciting input and
 * the least exciting natural image, where better is lower. */
typedef struct search_view {
    int least;
    int model_kind, natural_kind;            /* the closed loop's kinds */
    const char *model_name, *natural_name;   /* their stimulus kind names */
    const char *model_label, *natural_label; /* on the page */
    const char *better;                      /* "above" or "below" */
    const char *extreme, *extremest, *bias;  /* the best of noisy means: "highest",
                                                "largest", "upward" or the opposites */
    const char *truly;                       /* "best" or "least exciting" natural image */
    const char *heading;                     /* after "Model-free search" */
} search_view;

static search_view search_view_of(const session_data *d)
{
    if (d->search_least)
        return (search_view){1, STIMULUS_KIND_LEAST, STIMULUS_KIND_LEAST_NATURAL,
                             STIMULUS_KIND_NAME_LEAST, STIMULUS_KIND_NAME_LEAST_NATURAL,
                             "least exciting input", "least natural", "below", "lowest",
                             "smallest", "downward", "least exciting",
                             ": least exciting images"};
    return (search_view){0, KIND_MEI, STIMULUS_KIND_BEST_NATURAL, STIMULUS_KIND_NAME_MEI,
                         STIMULUS_KIND_NAME_BEST_NATURAL, "MEI", "best natural", "above",
                         "highest", "largest", "upward", "best", ""};
}

#define SEARCH_CURVE_WIDTH 400
#define SEARCH_CURVE_HEIGHT 240

/* One target's search over its generations (0-based index): the mean count
 * of the generation's best image (the highest mean over its unflagged
 * trials there; a least search's: the lowest) and the mean over all the
 * generation's unflagged trials of the target; NaN where a generation has
 * none. */
typedef struct search_curve {
    int generations;
    double *x, *best, *mean;
    int64_t *images, *trials;
} search_curve;

static void search_curve_free(search_curve *c)
{
    free(c->x), free(c->best), free(c->mean), free(c->images), free(c->trials);
}

static int search_curve_make(const session_data *d, int64_t neuron, int least, search_curve *c)
{
    double sign = least ? -1.0 : 1.0; /* the best is the highest of sign × mean */
    memset(c, 0, sizeof *c);
    int64_t last = -1;
    for (int i = 0; i < d->search_image_count; i++)
        if (d->search_images[i].neuron == neuron && d->search_images[i].generation > last)
            last = d->search_images[i].generation; /* at most the target's image count */
    int n = (int)(last + 1);
    size_t size = (size_t)n + 1;
    c->generations = n;
    c->x = malloc(size * sizeof *c->x), c->best = malloc(size * sizeof *c->best);
    c->mean = calloc(size, sizeof *c->mean);
    c->images = calloc(size, sizeof *c->images), c->trials = calloc(size, sizeof *c->trials);
    if (!c->x || !c->best || !c->mean || !c->images || !c->trials)
        return 1;
    for (int g = 0; g < n; g++)
        c->x[g] = g + 1, c->best[g] = -INFINITY;
    for (int i = 0; i < d->search_image_count; i++) {
        const search_image *s = &d->search_images[i];
        if (s->neuron != neuron || s->generation < 0)
            continue;
        int g = (int)s->generation;
        c->images[g]++;
        c->trials[g] += s->trials;
        c->mean[g] += s->sum;
        if (s->trials > 0 && sign * s->sum / (double)s->trials > c->best[g])
            c->best[g] = sign * s->sum / (double)s->trials;
    }
    for (int g = 0; g < n; g++) {
        c->mean[g] = c->trials[g] ? c->mean[g] / (double)c->trials[g] : NAN;
        c->best[g] = isfinite(c->best[g]) ? sign * c->best[g] : NAN;
    }
    return 0;
}

/* The curve with the target's best natural image's and MEI's recorded
 * means (a least search: the least natural image's and least exciting
 * input's) as horizontal lines (NaN: not recorded, not drawn). */
static int search_curve_figure(report_output *o, const search_curve *cv, double natural,
                               double mei, const char *name)
{
    int n = cv->generations;
    double *xs = malloc(((size_t)n + 1) * sizeof *xs), *ys = malloc(((size_t)n + 1) * sizeof *ys);
    plot_canvas c;
    if (!xs || !ys || plot_canvas_create(&c, SEARCH_CURVE_WIDTH, SEARCH_CURVE_HEIGHT)) {
        free(xs), free(ys);
        return controller_fail(o->err, "out of memory for a figure");
    }
    double marks[2] = {natural, mei};
    double hi = fmax(fmax(report_series_max(cv->best, n), report_series_max(cv->mean, n)),
                     report_series_max(marks, 2));
    double lo = fmin(fmin(report_series_min(cv->best, n), report_series_min(cv->mean, n)),
                     report_series_min(marks, 2));
    lo = isfinite(lo) ? fmin(lo, 0.0) : 0.0;
    hi = isfinite(hi) && hi > lo ? hi * 1.1 : lo + 1.0;
    hi = isfinite(hi) ? hi : DBL_MAX; /* a damaged value near the largest double */
    plot_axes a;
    plot_axes_draw(&a, &c, 0, n + 1, lo, hi); /* generations 1..n, whole ticks */
    if (isfinite(natural))
        plot_line(&c, a.left, plot_y(&a, natural), a.right, plot_y(&a, natural), PLOT_GRAY);
    if (isfinite(mei))
        plot_line(&c, a.left, plot_y(&a, mei), a.right, plot_y(&a, mei), PLOT_RED);
    const double *series[2] = {cv->mean, cv->best};
    for (int k = 0; k < 2; k++) {
        int m = 0;
        for (int g = 0; g < n; g++)
            if (isfinite(series[k][g]))
                xs[m] = cv->x[g], ys[m++] = series[k][g];
        plot_polyline(&a, xs, ys, m, k ? PLOT_BLUE : PLOT_ORANGE);
        plot_points(&a, xs, ys, m, 2, k ? PLOT_BLUE : PLOT_ORANGE);
    }
    fprintf(o->html, "<td>");
    int status =
        report_write_canvas(o, &c, name, "the search's best image and mean per generation");
    fprintf(o->html, "</td>");
    plot_canvas_destroy(&c);
    free(xs), free(ys);
    return status;
}

/* Whether a target's search images are as many as the protocol asks for;
 * else a line on the page: generations are told by record order, and a lost
 * stimulus record would shift every later generation of its target. */
static void search_count_check(report_output *o, const session_data *d, const search_target *t)
{
    int64_t expected = (int64_t)d->search_generations * d->search_population;
    const char *why = NULL;
    if (d->search_population <= 0)
        return;
    if (t->images > expected || (d->search_ended && t->images != expected))
        why = "";
    else if (!d->search_ended && d->summary.damaged)
        why = " (fewer: the phase did not end, and the record has damaged stretches)";
    if (!why)
        return;
    fprintf(o->html, "<p class=\"missing\">Neuron %lld: %lld search images in the record, the "
                     "protocol asks for %d generations of %d%s. Generations are told by record "
                     "order, and a lost stimulus record shifts the later ones: its curve may be "
                     "shifted.</p>\n",
            (long long)t->neuron, (long long)t->images, d->search_generations,
            d->search_population, why);
    o->summary->missing++;
}

/* One target's row: its curve, then the image the search handed over, its
 * MEI and its best natural image. */
static int search_row(report_output *o, const session_data *d, const search_view *v,
                      const search_target *t, FILE *data)
{
    int64_t repeats = 0;
    const stats_interval *nat = report_closed_loop_interval(d, t->neuron, v->natural_kind,
                                                            &repeats);
    const stats_interval *mei = report_closed_loop_interval(d, t->neuron, v->model_kind,
                                                            &repeats);
    char name[96], note[96];
    fprintf(o->html, "<tr><th>neuron %lld</th>", (long long)t->neuron);
    if (d->search_population > 0) {
        search_curve cv;
        int status = search_curve_make(d, t->neuron, v->least, &cv)
                         ? controller_fail(o->err, "out of memory for the search's curve")
                         : 0;
        snprintf(name, sizeof name, "search_curve_n%lld.png", (long long)t->neuron);
        status = status || search_curve_figure(o, &cv, nat ? nat->mean : NAN,
                                               mei ? mei->mean : NAN, name);
        for (int g = 0; !status && g < cv.generations; g++)
            fprintf(data, "%lld,%d,%lld,%lld,%.9g,%.9g\n", (long long)t->neuron, g + 1,
                    (long long)cv.images[g], (long long)cv.trials[g], cv.best[g], cv.mean[g]);
        search_curve_free(&cv);
        if (status)
            return 1;
    } else {
        fprintf(o->html, "<td>&ndash;</td>");
    }
    struct {
        const stimulus_image *image;
        const char *file, *label;
        const stats_interval *recorded;
    } cells[3] = {{t->best.pixels ? &t->best : NULL, "search", "search (handed over)", NULL},
                  {report_closed_loop_stimulus(d, t->neuron, v->model_name), v->model_name,
                   v->model_label, mei},
                  {report_closed_loop_stimulus(d, t->neuron, v->natural_name), v->natural_name,
                   v->natural_label, nat}};
    for (int i = 0; i < 3; i++) {
        if (!cells[i].image) {
            fprintf(o->html, "<td>%s: not in this record</td>", cells[i].label);
            continue;
        }
        double mean = i == 0 ? t->best_mean : cells[i].recorded ? cells[i].recorded->mean : NAN;
        snprintf(name, sizeof name, "search_n%lld_%s.png", (long long)t->neuron, cells[i].file);
        snprintf(note, sizeof note, isfinite(mean) ? "recorded mean %.3g" : "no recorded mean",
                 mean);
        if (report_gallery_cell(o, cells[i].image, name, cells[i].label, note))
            return 1;
    }
    fprintf(o->html, "</tr>\n");
    return 0;
}

/* A ratio cell: a / b where both are finite and b > 0; `better` counts a
 * above b (below for a least search). */
static void ratio_cell(FILE *f, int least, double a, double b, int *better, int *compared,
                       double *ratios, int *ratio_count)
{
    if (!isfinite(a) || !isfinite(b)) {
        fprintf(f, "<td>&ndash;</td>");
        return;
    }
    (*compared)++;
    *better += least ? a < b : a > b;
    if (b > 0) {
        ratios[(*ratio_count)++] = a / b;
        fprintf(f, "<td>%.3g</td>", a / b);
    } else {
        fprintf(f, "<td>n/a</td>");
    }
}

static void mean_cell(FILE *f, double mean, int64_t repeats, int with_repeats)
{
    if (!isfinite(mean))
        fprintf(f, "<td>&ndash;</td>");
    else if (with_repeats)
        fprintf(f, "<td>%.3g (%lld)</td>", mean, (long long)repeats);
    else
        fprintf(f, "<td>%.3g</td>", mean);
}

/* "WHAT for A of N (median ratio R)", or that none could be compared. */
static void ratio_summary(FILE *f, const char *what, int above, int compared,
                          const double *ratios, int ratio_count)
{
    if (!compared) {
        fprintf(f, "%s: no target to compare", what);
        return;
    }
    fprintf(f, "%s for %d of %d targets", what, above, compared);
    if (ratio_count == compared)
        fprintf(f, " (median ratio %.3g)", stats_median(ratios, ratio_count));
    else if (ratio_count)
        fprintf(f, " (median ratio %.3g over the %d with a positive denominator)",
                stats_median(ratios, ratio_count), ratio_count);
}

/* The recorded comparison of the search's image with the best natural image
 * and the MEI per target (a least search: the least natural image and the
 * least exciting input), and the ground truth's where the record has it. */
static int search_table(report_output *o, const session_data *d, const search_view *v,
                        const search_target **shown, int n)
{
    FILE *f = o->html;
    int truth = 0;
    for (int i = 0; i < n; i++)
        truth |= isfinite(shown[i]->truth_search);
    double *ratios = malloc(4 * ((size_t)n + 1) * sizeof *ratios);
    if (!ratios)
        return controller_fail(o->err, "out of memory");
    double *r_nat = ratios, *r_mei = ratios + n + 1, *t_nat = ratios + 2 * (n + 1),
           *t_mei = ratios + 3 * (n + 1);
    int counts[4][3] = {{0}}; /* per comparison: better, compared, ratios */
    fprintf(f, "<table class=\"numbers\"><tr><th>neuron</th><th>search: recorded mean</th>"
               "<th>%s: mean (repeats)</th><th>%s: mean (repeats)</th>"
               "<th>search / %s</th><th>search / %s</th>",
            v->model_label, v->natural_label, v->natural_label, v->model_label);
    if (truth)
        fprintf(f, "<th>truth: search</th><th>truth: %s</th><th>truth: %s training "
                   "image</th><th>truth: search / %s</th><th>truth: search / %s</th>",
                v->model_label, v->natural_label, v->natural_label, v->model_label);
    fprintf(f, "</tr>\n");
    for (int i = 0; i < n; i++) {
        const search_target *t = shown[i];
        int64_t nat_repeats = 0, mei_repeats = 0;
        const stats_interval *nat =
            report_closed_loop_interval(d, t->neuron, v->natural_kind, &nat_repeats);
        const stats_interval *mei =
            report_closed_loop_interval(d, t->neuron, v->model_kind, &mei_repeats);
        double nat_mean = nat ? nat->mean : NAN, mei_mean = mei ? mei->mean : NAN;
        double truth_model = v->least ? t->truth_least : t->truth_mei;
        double truth_natural = v->least ? t->truth_least_natural : t->truth_natural;
        fprintf(f, "<tr><td>%lld</td>", (long long)t->neuron);
        mean_cell(f, t->best_mean, 0, 0);
        mean_cell(f, mei_mean, mei_repeats, 1);
        mean_cell(f, nat_mean, nat_repeats, 1);
        ratio_cell(f, v->least, t->best_mean, nat_mean, &counts[0][0], &counts[0][1], r_nat,
                   &counts[0][2]);
        ratio_cell(f, v->least, t->best_mean, mei_mean, &counts[1][0], &counts[1][1], r_mei,
                   &counts[1][2]);
        if (truth) {
            mean_cell(f, t->truth_search, 0, 0);
            mean_cell(f, truth_model, 0, 0);
            mean_cell(f, truth_natural, 0, 0);
            ratio_cell(f, v->least, t->truth_search, truth_natural, &counts[2][0],
                       &counts[2][1], t_nat, &counts[2][2]);
            ratio_cell(f, v->least, t->truth_search, truth_model, &counts[3][0], &counts[3][1],
                       t_mei, &counts[3][2]);
        }
        fprintf(f, "</tr>\n");
    }
    char what[96], than_model[96];
    snprintf(what, sizeof what, "the search's image %s the %s image", v->better, v->natural_label);
    snprintf(than_model, sizeof than_model, "%s the %s", v->better, v->model_label);
    fprintf(f, "</table>\n<p class=\"caption\">Recorded: ");
    ratio_summary(f, what, counts[0][0], counts[0][1], r_nat, counts[0][2]);
    fprintf(f, "; ");
    ratio_summary(f, than_model, counts[1][0], counts[1][1], r_mei, counts[1][2]);
    fprintf(f, ". The search's mean is its handed-over image's (<code>search_best_mean</code>: its "
               "mean count over the generations that showed it), the %s of many noisy means "
               "and so biased %s (the winner's curse); the %s's and the %s "
               "image's are the closed loop's repeats, chosen by the model before they were "
               "shown.", v->extreme, v->bias, v->model_label, v->natural_label);
    if (truth) {
        fprintf(f, " Ground truth (the virtual rig's simulated cells' expected responses, as "
                   "the evaluation recorded them; the natural image is the truly %s natural "
                   "training image at the contrast budget): ",
                v->truly);
        ratio_summary(f, what, counts[2][0], counts[2][1], t_nat, counts[2][2]);
        fprintf(f, "; ");
        ratio_summary(f, than_model, counts[3][0], counts[3][1], t_mei, counts[3][2]);
        if (isfinite(d->search_truth_beats_natural) && isfinite(d->search_truth_beats_mei) &&
            isfinite(d->search_truth_median))
            fprintf(f, " (the run's own count: %.0f and %.0f, median ratio %.3g)",
                    d->search_truth_beats_natural, d->search_truth_beats_mei,
                    d->search_truth_median);
        fprintf(f, ".");
    }
    fprintf(f, "</p>\n");
    free(ratios);
    return 0;
}

static int compare_search_target(const void *a, const void *b)
{
    int64_t x = (*(const search_target *const *)a)->neuron;
    int64_t y = (*(const search_target *const *)b)->neuron;
    return (x > y) - (x < y);
}

int report_section_search(report_output *o, const session_data *d)
{
    /* The search's targets: those with images or a handed-over image (a
     * session without the search records truth_mei for its targets too). */
    const search_target **shown = malloc(((size_t)d->search_target_count + 1) * sizeof *shown);
    if (!shown)
        return controller_fail(o->err, "out of memory");
    int n = 0;
    for (int i = 0; i < d->search_target_count; i++)
        if (d->search_targets[i].images || d->search_targets[i].best_id >= 0)
            shown[n++] = &d->search_targets[i];
    if (n > 1) /* by neuron, as the closed loop's table */
        qsort(shown, (size_t)n, sizeof *shown, compare_search_target);
    if (!n && !d->search_population) {
        free(shown);
        return 0; /* no search in this session: no section */
    }
    search_view view = search_view_of(d);
    fprintf(o->html, "<h2>Model-free search%s</h2>\n", view.heading);
    if (!n) {
        free(shown);
        report_html_missing(
            o, "the search phase's images (the protocol enables it; no stimulus records "
               "of kind search)");
        return 0;
    }
    int64_t trials = 0;
    for (int i = 0; i < d->search_image_count; i++)
        trials += d->search_images[i].trials;
    if (d->search_population > 0)
        fprintf(o->html, "<p>Per target %d generations of %d images, each shown %d time%s "
                         "(the protocol's <code>search</code>); %d targets, %d images and "
                         "%lld unflagged trials in the record%s.</p>\n",
                d->search_generations, d->search_population, d->search_repeats,
                d->search_repeats == 1 ? "" : "s", n,
                d->search_image_count, (long long)trials,
                d->search_ended ? "" : " (the phase did not end)");
    else
        report_html_missing(o, "the protocol's search section (no session start to read it from): "
                               "the generations cannot be told apart, no curves");
    for (int i = 0; i < n; i++)
        search_count_check(o, d, shown[i]);
    FILE *data = d->search_population > 0 ? report_open_data(o, "search_curve.csv") : NULL;
    int status = d->search_population > 0 && !data;
    if (data)
        fprintf(data, "neuron,generation,images,trials,best_image_mean,generation_mean\n");
    if (!status)
        fprintf(o->html, "<table class=\"gallery\">\n");
    for (int i = 0; !status && i < n; i++)
        status = search_row(o, d, &view, shown[i], data);
    if (!status) {
        fprintf(o->html, "</table>\n<p class=\"caption\">Each row: one target neuron. The figure: "
                         "per generation (x), the mean recorded count of the generation's best "
                         "image (blue: the %s mean over its unflagged trials there, biased "
                         "%s as the %s of many noisy means) and the mean over all the "
                         "generation's unflagged trials (orange), with the target's recorded "
                         "mean responses to its %s image (gray line) and its %s "
                         "(red line) in the closed loop. Then the image the search handed over, "
                         "the %s and the %s image as presented.</p>\n",
                view.extreme, view.bias, view.extremest, view.natural_label,
                view.model_label, view.model_label, view.natural_label);
    }
    if (data) {
        int closed = report_close_data(o, data, "search_curve.csv");
        status = status || closed;
    }
    status = status || search_table(o, d, &view, shown, n);
    free(shown);
    return status;
}
