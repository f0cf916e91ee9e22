/* report_html.c: the pieces every section writes the page with: escaped
 * text, the line saying what the record lacks, a figure written as PNG and
 * shown, a figure's CSV data linked under it, and the histogram figure;
 * with the series' finite extremes the figures' axes are drawn to. */
#include "report_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- HTML ---- */

void report_html_escaped(FILE *f, const char *text)
{
    for (; *text; text++) {
        if (*text == '<')
            fputs("&lt;", f);
        else if (*text == '>')
            fputs("&gt;", f);
        else if (*text == '&')
            fputs("&amp;", f);
        else if (*text == '"')
            fputs("&quot;", f);
        else
            fputc(*text, f);
    }
}

void report_html_missing(report_output *o, const char *what)
{
    fprintf(o->html, "<p class=\"missing\">Not in this record: %s.</p>\n", what);
    o->summary->missing++;
}

int report_write_canvas(report_output *o, plot_canvas *c, const char *name, const char *alt)
{
    char path[PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    if (plot_write_png(c, path, o->err))
        return 1;
    o->summary->figures++;
    fprintf(o->html, "<img src=\"%s\" width=\"%d\" height=\"%d\" alt=\"%s\">\n", name, c->width,
            c->height, alt);
    return 0;
}

/* A figure's data beside it (CSV), linked under it. */
FILE *report_open_data(report_output *o, const char *name)
{
    char path[PATH_SIZE + 64];
    snprintf(path, sizeof path, "%s/%s", o->dir, name);
    FILE *f = fopen(path, "w");
    if (!f)
        controller_fail(o->err, "%s: cannot create: %s", path, strerror(errno));
    return f;
}

int report_close_data(report_output *o, FILE *f, const char *name)
{
    if (fclose(f))
        return controller_fail(o->err, "%s/%s: write failed (disk full?)", o->dir, name);
    fprintf(o->html, "<p class=\"caption\">Its data: <a href=\"%s\">%s</a>.</p>\n", name, name);
    return 0;
}

int report_new_figure(plot_canvas *c, report_output *o)
{
    if (plot_canvas_create(c, FIGURE_WIDTH, FIGURE_HEIGHT))
        return controller_fail(o->err, "out of memory for a figure");
    return 0;
}

double report_series_max(const double *v, int n)
{
    double m = -INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] > m)
            m = v[i];
    return m;
}

double report_series_min(const double *v, int n)
{
    double m = INFINITY;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]) && v[i] < m)
            m = v[i];
    return m;
}

static int max_count(const int *counts, int bins)
{
    int m = 0;
    for (int i = 0; i < bins; i++)
        m = counts[i] > m ? counts[i] : m;
    return m;
}

/* A histogram figure of `values` into `bins` over [lo, hi]. */
int report_histogram_figure(report_output *o, const double *values, int n, double lo, double hi,
                            int bins, plot_color color, const char *name, const char *alt)
{
    int *counts = calloc((size_t)bins, sizeof *counts);
    plot_canvas c;
    if (!counts || report_new_figure(&c, o)) {
        free(counts);
        return controller_fail(o->err, "out of memory for a histogram");
    }
    plot_bin(values, n, lo, hi, bins, counts);
    plot_axes a;
    plot_axes_draw(&a, &c, lo, hi, 0, max_count(counts, bins) * 1.1);
    plot_histogram(&a, counts, bins, lo, (hi - lo) / bins, color);
    int status = report_write_canvas(o, &c, name, alt);
    plot_canvas_destroy(&c);
    free(counts);
    return status;
}
