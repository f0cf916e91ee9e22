/* report_final_model.c: the sections of the final model, loaded from the
 * record's last model.bin checkpoint: its predictions against the recorded
 * test responses (the natural trials loaded as the fit loads them) and its
 * readout positions, the population's receptive-field map. */
#include "report_internal.h"
#include "model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The final model: readout positions, test predictions ---- */

/* The final model from its checkpoint's bytes; NULL with `why` when the
 * record has none or it does not load. */
static model *recorded_model(const session_data *d, char *why, size_t size)
{
    if (!d->model_bytes) {
        snprintf(why, size, "no model.bin checkpoint");
        return NULL;
    }
    model *m = NULL;
    char err[MODEL_ERR_SIZE];
    if (model_load_bytes(&m, d->model_bytes, d->model_size, err)) {
        snprintf(why, size, "model.bin in the record does not load: %s", err);
        return NULL;
    }
    return m;
}

static void missing_because(report_output *o, const char *what, const char *why)
{
    char text[CONTROLLER_ERR_SIZE + 128];
    snprintf(text, sizeof text, "%s (%s)", what, why);
    report_html_missing(o, text);
}

static int is_chosen(const session_data *d, int neuron)
{
    for (int i = 0; i < d->chosen_count; i++)
        if (d->chosen[i] == neuron)
            return 1;
    return 0;
}

/* readout_positions.csv: each neuron's position in readout units and in
 * image pixels (column, row from the top), and whether it is a target. */
static int readout_data(report_output *o, const session_data *d, const float *xy, int n,
                        int height, int width)
{
    FILE *f = report_open_data(o, "readout_positions.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,x,y,column,row,target\n");
    for (int i = 0; i < n; i++)
        fprintf(f, "%d,%.9g,%.9g,%.9g,%.9g,%d\n", i, xy[2 * i], xy[2 * i + 1],
                (xy[2 * i] + 1.0) / 2.0 * (width - 1), (xy[2 * i + 1] + 1.0) / 2.0 * (height - 1),
                is_chosen(d, i));
    return report_close_data(o, f, "readout_positions.csv");
}

/* The map on a canvas whose plotting box has the data's proportions: the
 * axes drawn once on a trial canvas give the margins (plot.c's own). */
static int readout_canvas(report_output *o, plot_canvas *c, plot_axes *a, const double *range)
{
    if (report_new_figure(c, o))
        return 1;
    plot_axes_draw(a, c, range[0], range[1], range[2], range[3]);
    int margins = c->width - (a->right - a->left), box = a->bottom - a->top;
    double wide = box * (range[1] - range[0]) / (range[3] - range[2]);
    int canvas_width = margins + (int)fmin(fmax(wide, 120.0), 1000.0);
    plot_canvas_destroy(c);
    if (plot_canvas_create(c, canvas_width, FIGURE_HEIGHT))
        return controller_fail(o->err, "out of memory for a figure");
    plot_axes_draw(a, c, range[0], range[1], range[2], range[3]);
    return 0;
}

/* Positions in image pixels: columns from the left, rows up from the
 * bottom edge (the readout's convention, layers.h, flipped vertically). */
static void readout_pixels(const float *xy, int n, int height, int width, double *x, double *y)
{
    for (int i = 0; i < n; i++) {
        x[i] = (xy[2 * i] + 1.0) / 2.0 * (width - 1);
        y[i] = (1.0 - xy[2 * i + 1]) / 2.0 * (height - 1);
    }
}

static int readout_figure(report_output *o, const session_data *d, const float *xy, int n,
                          int height, int width)
{
    double *x = malloc((size_t)n * sizeof *x), *y = malloc((size_t)n * sizeof *y);
    double *px = malloc((size_t)n * sizeof *px), *py = malloc((size_t)n * sizeof *py);
    plot_canvas c;
    plot_axes a;
    int status = !x || !y || !px || !py ? controller_fail(o->err, "out of memory") : 0;
    if (!status) {
        readout_pixels(xy, n, height, width, px, py);
        /* The image, and every position even where a readout left it. */
        double range[4] = {
            fmin(0.0, report_series_min(px, n)), fmax(width - 1.0, report_series_max(px, n)),
            fmin(0.0, report_series_min(py, n)), fmax(height - 1.0, report_series_max(py, n))};
        for (int k = 0; k < 4; k++)
            range[k] = fmax(fmin(range[k], 1e6), -1e6); /* a damaged model's wild value */
        range[1] = fmax(range[1], range[0] + 1.0), range[3] = fmax(range[3], range[2] + 1.0);
        status = readout_canvas(o, &c, &a, range);
    }
    if (!status) {
        double frame_x[5] = {0, width - 1, width - 1, 0, 0};
        double frame_y[5] = {0, 0, height - 1, height - 1, 0};
        plot_polyline(&a, frame_x, frame_y, 5, PLOT_GRAY);
        for (int chosen = 0; chosen < 2; chosen++) {
            int m = 0;
            for (int i = 0; i < n; i++)
                if (is_chosen(d, i) == chosen)
                    x[m] = px[i], y[m++] = py[i];
            plot_points(&a, x, y, m, chosen ? 4 : 2, chosen ? PLOT_ORANGE : PLOT_BLUE);
        }
        status =
            report_write_canvas(o, &c, "readout_positions.png", "readout positions over the image");
        plot_canvas_destroy(&c);
    }
    free(x), free(y), free(px), free(py);
    return status;
}

static int section_readout(report_output *o, const session_data *d, model *m, const char *why)
{
    fprintf(o->html, "<h2>Model: receptive-field map (readout positions)</h2>\n");
    char err[MODEL_ERR_SIZE];
    if (!m) {
        missing_because(o, "the readout positions", why);
        return 0;
    }
    const model_config *cfg = model_get_config(m);
    float *xy = malloc((size_t)cfg->neurons * 2 * sizeof *xy);
    if (!xy)
        return controller_fail(o->err, "out of memory");
    int status = 0;
    if (model_readout_positions(m, xy, err)) {
        missing_because(o, "the readout positions", err);
    } else {
        status = readout_figure(o, d, xy, cfg->neurons, cfg->height, cfg->width);
        if (!status) {
            fprintf(o->html, "<p class=\"caption\">Where each of the model's %d neurons reads "
                             "the core's feature map (its Gaussian readout's mean position), "
                             "over the %d&times;%d image (gray frame) in pixels (columns from the "
                             "left, rows from the bottom; the feature map spans the image): the "
                             "population's receptive-field map. Orange, larger: the %d "
                             "target neurons.</p>\n",
                    cfg->neurons, cfg->width, cfg->height, d->chosen_count);
            status = readout_data(o, d, xy, cfg->neurons, cfg->height, cfg->width);
        }
    }
    free(xy);
    return status;
}

#define REPORT_PREDICT_BATCH 64 /* images a prediction call takes: a bounded workspace */

/* The test images' mean observed responses and their predictions. */
typedef struct test_responses {
    int images, neurons;
    int64_t *image_id;
    int *repeats;
    float *observed;  /* images × neurons: mean over repeats */
    float *predicted; /* images × neurons */
} test_responses;

static void test_responses_free(test_responses *t)
{
    free(t->image_id), free(t->repeats), free(t->observed), free(t->predicted);
}

/* Groups the test trials by image (first appearance order) and predicts
 * each image once; 1 with `why` when that cannot be done. */
static int test_responses_make(const dataset *data, model *m, test_responses *t, char *why,
                               size_t size)
{
    memset(t, 0, sizeof *t);
    int N = data->neurons, P = data->height * data->width, n = 0;
    t->neurons = N;
    int *first = malloc(((size_t)data->trials + 1) * sizeof *first);
    t->image_id = malloc(((size_t)data->trials + 1) * sizeof *t->image_id);
    t->repeats = calloc((size_t)data->trials + 1, sizeof *t->repeats);
    t->observed = calloc(((size_t)data->trials + 1) * (size_t)N, sizeof *t->observed);
    if (!first || !t->image_id || !t->repeats || !t->observed) {
        free(first);
        snprintf(why, size, "out of memory");
        return 1;
    }
    for (int i = 0; i < data->trials; i++) {
        if (data->tiers[i] != TIER_TEST)
            continue;
        int k = 0;
        while (k < n && t->image_id[k] != data->image_ids[i])
            k++;
        if (k == n)
            t->image_id[n] = data->image_ids[i], first[n++] = i;
        t->repeats[k]++;
        for (int j = 0; j < N; j++)
            t->observed[(size_t)k * N + j] += data->responses[(size_t)i * N + j];
    }
    t->images = n;
    for (int k = 0; k < n; k++)
        for (int j = 0; j < N; j++)
            t->observed[(size_t)k * N + j] /= (float)t->repeats[k];
    float *images = malloc(((size_t)n + 1) * (size_t)P * sizeof *images);
    t->predicted = malloc(((size_t)n + 1) * (size_t)N * sizeof *t->predicted);
    int status = !images || !t->predicted;
    if (status)
        snprintf(why, size, "out of memory");
    for (int k = 0; k < n && !status; k++)
        memcpy(images + (size_t)k * P, data->images + (size_t)first[k] * P,
               (size_t)P * sizeof *images);
    char err[MODEL_ERR_SIZE];
    for (int k = 0; k < n && !status; k += REPORT_PREDICT_BATCH) {
        int batch = n - k < REPORT_PREDICT_BATCH ? n - k : REPORT_PREDICT_BATCH;
        if (model_predict(m, images + (size_t)k * P, batch, t->predicted + (size_t)k * N, err)) {
            snprintf(why, size, "the model's predictions failed: %s", err);
            status = 1;
        }
    }
    free(first), free(images);
    return status;
}

/* predicted_vs_observed.csv: one row per neuron and test image. */
static int prediction_data(report_output *o, const test_responses *t)
{
    FILE *f = report_open_data(o, "predicted_vs_observed.csv");
    if (!f)
        return 1;
    fprintf(f, "neuron,image_id,repeats,predicted,observed_mean\n");
    for (int j = 0; j < t->neurons; j++)
        for (int k = 0; k < t->images; k++)
            fprintf(f, "%d,%lld,%d,%.9g,%.9g\n", j, (long long)t->image_id[k], t->repeats[k],
                    t->predicted[(size_t)k * t->neurons + j],
                    t->observed[(size_t)k * t->neurons + j]);
    return report_close_data(o, f, "predicted_vs_observed.csv");
}

static int prediction_figure(report_output *o, const test_responses *t)
{
    size_t n = (size_t)t->images * t->neurons;
    double *x = malloc((n + 1) * sizeof *x), *y = malloc((n + 1) * sizeof *y);
    plot_canvas c;
    int status = !x || !y || n > INT32_MAX ? controller_fail(o->err, "out of memory")
                                            : report_new_figure(&c, o);
    if (!status) {
        for (size_t i = 0; i < n; i++)
            x[i] = t->predicted[i], y[i] = t->observed[i];
        double hi =
            fmax(fmax(report_series_max(x, (int)n), report_series_max(y, (int)n)) * 1.05, 1e-3);
        double lo = fmin(0.0, fmin(report_series_min(x, (int)n), report_series_min(y, (int)n)));
        plot_axes a;
        plot_axes_draw(&a, &c, lo, hi, lo, hi);
        plot_line(&c, plot_x(&a, lo), plot_y(&a, lo), plot_x(&a, hi), plot_y(&a, hi), PLOT_GRAY);
        plot_points(&a, x, y, (int)n, 1, PLOT_BLUE);
        status = report_write_canvas(o, &c, "predicted_vs_observed.png",
                                     "predicted against observed test responses");
        plot_canvas_destroy(&c);
    }
    free(x), free(y);
    return status;
}

static int section_prediction(report_output *o, model *m, const char *why)
{
    fprintf(o->html, "<h2>Model: predicted against observed test responses</h2>\n");
    if (!m) {
        missing_because(o, "the test predictions", why);
        return 0;
    }
    session_dataset sd;
    char reason[CONTROLLER_ERR_SIZE + 64];
    if (session_dataset_load(o->session_dir, &sd, reason)) {
        missing_because(o, "the test predictions (the natural trials do not load)", reason);
        return 0;
    }
    const model_config *cfg = model_get_config(m);
    const dataset *data = &sd.data;
    test_responses t = {0};
    int status = 0;
    if (cfg->height != data->height || cfg->width != data->width ||
        cfg->neurons != data->neurons) {
        snprintf(reason, sizeof reason, "a model of %d×%d images and %d neurons; the trials "
                 "have %d×%d and %d", cfg->height, cfg->width, cfg->neurons, data->height,
                 data->width, data->neurons);
        missing_because(o, "the test predictions", reason);
    } else if (test_responses_make(data, m, &t, reason, sizeof reason)) {
        missing_because(o, "the test predictions", reason);
    } else if (!t.images) {
        report_html_missing(o, "the test predictions (no unflagged test trials)");
    } else {
        status = prediction_figure(o, &t);
        if (!status) {
            int trials = 0;
            for (int k = 0; k < t.images; k++)
                trials += t.repeats[k];
            fprintf(o->html, "<p class=\"caption\">Each point is one neuron and one test image: "
                             "the final model's predicted response (x) and the recorded count "
                             "averaged over the image's repeats (y), %d neurons &times; %d "
                             "images (%d unflagged trials); the gray line is y = x.</p>\n",
                    t.neurons, t.images, trials);
            status = prediction_data(o, &t);
        }
    }
    test_responses_free(&t);
    session_dataset_free(&sd);
    return status;
}

int report_section_final_model(report_output *o, const session_data *d)
{
    char why[CONTROLLER_ERR_SIZE + 64];
    model *m = recorded_model(d, why, sizeof why);
    int status = section_prediction(o, m, why) || section_readout(o, d, m, why);
    model_destroy(m);
    return status;
}
