/* report_model.c: the model's sections drawn from its records: the
 * per-neuron correlations of its last metrics, the fit's learning curve
 * (fit round notes) and the test correlation against the oracle (the
 * test_metrics evaluation). The final model itself, loaded from its
 * checkpoint, is report_final_model.c's. */
#include "report_internal.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int report_section_model(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Model: per-neuron correlations</h2>\n");
    if (!d->correlation || d->metric_neurons == 0) {
        report_html_missing(o, "the model's per-neuron metrics (no model_metrics record)");
        return 0;
    }
    int n = d->metric_neurons;
    double *corr = malloc((size_t)n * sizeof *corr), feve_sum = 0;
    int feve_count = 0;
    if (!corr)
        return controller_fail(o->err, "out of memory");
    for (int i = 0; i < n; i++) {
        corr[i] = d->correlation[i];
        /* FEVE counts where the explainable variance is large enough to
         * measure (Sensorium's rule), and only where it is defined. */
        if (d->feve && isfinite(d->feve[i]) && (!d->fev || d->fev[i] >= METRICS_FEV_MIN)) {
            feve_sum += d->feve[i];
            feve_count++;
        }
    }
    /* Correlations lie in [-1, 1]; anything beyond lands in the end bins. */
    double lo = fmax(-1.0, fmin(0.0, floor(report_series_min(corr, n) / 0.05) * 0.05));
    int bins = (int)lround((1.0 - lo) / 0.05);
    int status =
        report_histogram_figure(o, corr, n, lo, 1.0, bins, PLOT_BLUE, "model_correlations.png",
                                "histogram of per-neuron correlations");
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += corr[i];
    fprintf(o->html, "<p class=\"caption\">Correlation between the model's prediction and the "
                     "recorded response (%s split%s) for each of %d neurons, bins of 0.05: "
                     "mean %.3f, median %.3f",
            d->metric_split, !strcmp(d->metric_split, "test") ? ", to the average over repeats"
                                                               : "",
            n, sum / n, stats_median(corr, n));
    if (d->feve && feve_count)
        fprintf(o->html, d->fev ? "; mean FEVE %.3f over the %d neurons with a fraction of "
                                  "explainable variance of at least %.2f"
                                : "; mean FEVE %.3f over the %d neurons where it is defined",
                feve_sum / feve_count, feve_count, METRICS_FEV_MIN);
    fprintf(o->html, ".</p>\n");
    free(corr);
    return status;
}

/* ---- The fit's learning curve ---- */

/* Each point's place on the x axis: background rounds first (1…), the
 * final fit's epochs after the last of them. */
static void curve_steps(const session_data *d, double *x)
{
    int background = 0;
    for (int i = 0; i < d->curve_round.n; i++)
        background += !d->curve_final.v[i];
    for (int i = 0, b = 0, f = 0; i < d->curve_round.n; i++)
        x[i] = d->curve_final.v[i] ? background + ++f : ++b;
}

/* One panel: the background points in orange, the final fit's in blue. */
static int curve_figure(report_output *o, const session_data *d, const double *x,
                        const series *y, const char *name, const char *alt)
{
    int n = y->n;
    double *xs = malloc((size_t)n * sizeof *xs), *ys = malloc((size_t)n * sizeof *ys);
    plot_canvas c;
    int status = !xs || !ys ? controller_fail(o->err, "out of memory") : report_new_figure(&c, o);
    if (!status) {
        double lo = fmin(0.0, report_series_min(y->v, n)), hi = report_series_max(y->v, n);
        hi = isfinite(hi) && hi > lo ? hi * (hi > 0 ? 1.05 : 0.95) : lo + 1.0;
        hi = isfinite(hi) ? hi : DBL_MAX; /* a damaged value near the largest double */
        plot_axes a;
        plot_axes_draw(&a, &c, 0, fmax(report_series_max(x, n), 1.0) + 1, isfinite(lo) ? lo : 0,
                       hi);
        for (int final = 0; final < 2; final++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if ((int)d->curve_final.v[i] == final && isfinite(y->v[i]))
                    xs[m] = x[i], ys[m++] = y->v[i];
            plot_polyline(&a, xs, ys, m, final ? PLOT_BLUE : PLOT_ORANGE);
            plot_points(&a, xs, ys, m, 2, final ? PLOT_BLUE : PLOT_ORANGE);
        }
        status = report_write_canvas(o, &c, name, alt);
        plot_canvas_destroy(&c);
    }
    free(xs), free(ys);
    return status;
}

static int curve_data(report_output *o, const session_data *d, const double *x)
{
    FILE *f = report_open_data(o, "learning_curve.csv");
    if (!f)
        return 1;
    fprintf(f, "step,fit,round,trials,train_loss,validation_corr\n");
    for (int i = 0; i < d->curve_round.n; i++)
        fprintf(f, "%.0f,%s,%.0f,%.0f,%.9g,%.9g\n", x[i],
                d->curve_final.v[i] ? "final" : "background", d->curve_round.v[i],
                d->curve_trials.v[i], d->curve_loss.v[i], d->curve_validation.v[i]);
    return report_close_data(o, f, "learning_curve.csv");
}

int report_section_curve(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Model: the fit's learning curve</h2>\n");
    int n = d->curve_round.n;
    if (!n) {
        report_html_missing(o, "the learning curve (no fit round notes: a record from before they "
                               "were written, or a model fitted elsewhere)");
        return 0;
    }
    double *x = malloc((size_t)n * sizeof *x);
    if (!x)
        return controller_fail(o->err, "out of memory");
    curve_steps(d, x);
    int background = 0;
    for (int i = 0; i < n; i++)
        background += !d->curve_final.v[i];
    int status = curve_figure(o, d, x, &d->curve_loss, "learning_curve_loss.png",
                              "training loss per round") ||
                 curve_figure(o, d, x, &d->curve_validation, "learning_curve_validation.png",
                              "validation correlation per round");
    if (!status) {
        fprintf(o->html, "<p class=\"caption\">Training loss (first figure: mean Poisson "
                         "negative log-likelihood per trial) and mean validation correlation "
                         "(second) at the end of each of the background fit's %d rounds during "
                         "the recording (orange; x 1 to %d, each round a few epochs on the "
                         "trials recorded so far) and of each of the final fit's %d epochs "
                         "(blue, after them).</p>\n",
                background, background, n - background);
        status = curve_data(o, d, x);
    }
    free(x);
    return status;
}

/* ---- Test correlation against the oracle ---- */

static int oracle_data(report_output *o, const session_data *d)
{
    FILE *f = report_open_data(o, "test_vs_oracle.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,oracle_corr,single_trial_corr\n");
    for (int i = 0; i < d->oracle_neurons; i++)
        fprintf(f, "%d,%.9g,%.9g\n", i, d->oracle[i], d->single_trial_corr[i]);
    return report_close_data(o, f, "test_vs_oracle.csv");
}

int report_section_oracle(report_output *o, const session_data *d)
{
    fprintf(o->html, "<h2>Model: test correlation against the oracle</h2>\n");
    if (!d->oracle_neurons) {
        report_html_missing(o, "the test metrics per neuron (no test_metrics evaluation)");
        return 0;
    }
    int n = d->oracle_neurons;
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    plot_canvas c;
    int status = !x || !y ? controller_fail(o->err, "out of memory") : report_new_figure(&c, o);
    int shown = 0;
    if (!status) {
        for (int i = 0; i < n; i++)
            if (isfinite(d->oracle[i]) && isfinite(d->single_trial_corr[i]))
                x[shown] = d->oracle[i], y[shown++] = d->single_trial_corr[i];
        double lo = fmin(0.0, fmin(report_series_min(x, shown), report_series_min(y, shown)));
        double hi =
            fmax(1e-3, fmax(report_series_max(x, shown), report_series_max(y, shown)) * 1.05);
        plot_axes a;
        plot_axes_draw(&a, &c, lo, hi, lo, hi);
        plot_line(&c, plot_x(&a, lo), plot_y(&a, lo), plot_x(&a, hi), plot_y(&a, hi), PLOT_GRAY);
        plot_points(&a, x, y, shown, 2, PLOT_BLUE);
        status =
            report_write_canvas(o, &c, "test_vs_oracle.png", "test correlation against oracle");
        plot_canvas_destroy(&c);
    }
    if (!status) {
        fprintf(o->html, "<p class=\"caption\">Each point is one neuron (%d of %d with both "
                         "defined): its oracle correlation (x: each test repeat against the mean "
                         "of the other repeats) and the model's single-trial test correlation "
                         "(y); the gray line is y = x, the ceiling a model reaches.</p>\n",
                shown, n);
        status = oracle_data(o, d);
    }
    free(x), free(y);
    return status;
}
