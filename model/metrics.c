/* metrics.c: how well predictions match recorded responses (SCIENCE.md
 * section 2, the Sensorium definitions). All sums are in double precision.
 *
 * For one neuron, over the trials of images shown at least twice:
 *   noise_var  mean over images of the variance of its repeats (ddof 1)
 *   total_var  variance of all those single-trial responses (ddof 1)
 *   mse        mean squared error of prediction vs single-trial response
 *   fev        (total_var − noise_var) / total_var      (0 if total_var is 0)
 *   feve       1 − (mse − noise_var) / (total_var − noise_var)
 *              (NaN when nothing is explainable: total_var <= noise_var)
 *   oracle     correlation of each repeat with the mean of the other repeats
 *   corr_to_average  correlation, over those images, of the mean response
 *              with the mean prediction of the image's repeats.
 * With no image shown twice these four are NaN. */
#include "model.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Pearson correlation of two double vectors, two-pass; 0 when either is
 * constant (checked exactly, since a rounded mean leaves tiny residues). */
static double pearson(const double *x, const double *y, int n)
{
    int x_varies = 0, y_varies = 0;
    for (int i = 1; i < n; i++) {
        x_varies |= x[i] != x[0];
        y_varies |= y[i] != y[0];
    }
    if (!x_varies || !y_varies)
        return 0.0;
    double mx = 0.0, my = 0.0;
    for (int i = 0; i < n; i++) {
        mx += x[i];
        my += y[i];
    }
    mx /= n;
    my /= n;
    double sxy = 0.0, sxx = 0.0, syy = 0.0;
    for (int i = 0; i < n; i++) {
        double dx = x[i] - mx, dy = y[i] - my;
        sxy += dx * dy;
        sxx += dx * dx;
        syy += dy * dy;
    }
    if (sxx <= 0.0 || syy <= 0.0)
        return 0.0;
    return sxy / sqrt(sxx * syy);
}

void metrics_correlation(const float *a, const float *b, int trials, int neurons, float *out)
{
    if (trials < 1 || neurons < 1)
        return;
    double *x = malloc((size_t)trials * sizeof(double));
    double *y = malloc((size_t)trials * sizeof(double));
    for (int n = 0; n < neurons; n++) {
        if (!x || !y) {
            out[n] = NAN;
            continue;
        }
        for (int t = 0; t < trials; t++) {
            x[t] = a[(size_t)t * neurons + n];
            y[t] = b[(size_t)t * neurons + n];
        }
        out[n] = (float)pearson(x, y, trials);
    }
    free(x);
    free(y);
}

/* ------------------------------------------------------------------------ */
/* Repeats: trials grouped by image id. */

typedef struct repeat_groups {
    int *order;    /* trials of repeated images, grouped by image id */
    int *start;    /* groups + 1: group g is order[start[g] .. start[g+1]) */
    int groups;    /* images shown at least twice */
    int trials;    /* trials of those images (start[groups]) */
} repeat_groups;

typedef struct id_trial {
    int64_t id;
    int trial;
} id_trial;

static int by_id_then_trial(const void *a, const void *b)
{
    const id_trial *x = a, *y = b;
    if (x->id != y->id)
        return x->id < y->id ? -1 : 1;
    return (x->trial > y->trial) - (x->trial < y->trial);
}

static void free_groups(repeat_groups *g)
{
    free(g->order);
    free(g->start);
    memset(g, 0, sizeof *g);
}

/* Sort (id, trial) pairs and keep the runs of length >= 2. */
static int find_repeats(const int64_t *ids, int trials, repeat_groups *g)
{
    memset(g, 0, sizeof *g);
    id_trial *pairs = malloc((size_t)trials * sizeof *pairs);
    g->order = malloc((size_t)trials * sizeof(int));
    g->start = malloc(((size_t)trials / 2 + 2) * sizeof(int));
    if (!pairs || !g->order || !g->start) {
        free(pairs);
        free_groups(g);
        return 1;
    }
    for (int t = 0; t < trials; t++) {
        pairs[t].id = ids[t];
        pairs[t].trial = t;
    }
    qsort(pairs, (size_t)trials, sizeof *pairs, by_id_then_trial);
    for (int i = 0; i < trials;) {
        int j = i;
        while (j < trials && pairs[j].id == pairs[i].id)
            j++;
        if (j - i >= 2) {
            g->start[g->groups++] = g->trials;
            for (int k = i; k < j; k++)
                g->order[g->trials++] = pairs[k].trial;
        }
        i = j;
    }
    g->start[g->groups] = g->trials;
    free(pairs);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Per-neuron metrics over the repeated trials. */

typedef struct scratch {
    double *pred, *resp;   /* per repeated trial */
    double *others;        /* per repeated trial: mean of the image's other repeats */
    double *image_pred, *image_resp; /* per image: means over its repeats */
} scratch;

static void repeat_metrics(const float *pred, const float *resp, int neurons, int n,
                           const repeat_groups *g, scratch *s, neuron_metrics *m)
{
    double mse = 0.0, mean = 0.0, noise_var = 0.0;
    for (int i = 0; i < g->trials; i++) {
        size_t at = (size_t)g->order[i] * neurons + n;
        s->pred[i] = pred[at];
        s->resp[i] = resp[at];
        mse += (s->pred[i] - s->resp[i]) * (s->pred[i] - s->resp[i]);
        mean += s->resp[i];
    }
    mse /= g->trials;
    mean /= g->trials;
    for (int k = 0; k < g->groups; k++) {
        int a = g->start[k], b = g->start[k + 1], r = b - a;
        double sum_resp = 0.0, sum_pred = 0.0, ss = 0.0;
        for (int i = a; i < b; i++) {
            sum_resp += s->resp[i];
            sum_pred += s->pred[i];
        }
        for (int i = a; i < b; i++) {
            ss += (s->resp[i] - sum_resp / r) * (s->resp[i] - sum_resp / r);
            s->others[i] = (sum_resp - s->resp[i]) / (r - 1);
        }
        noise_var += ss / (r - 1);
        s->image_pred[k] = sum_pred / r;
        s->image_resp[k] = sum_resp / r;
    }
    noise_var /= g->groups;
    double total_var = 0.0;
    for (int i = 0; i < g->trials; i++)
        total_var += (s->resp[i] - mean) * (s->resp[i] - mean);
    total_var /= g->trials - 1;
    m->corr_to_average = (float)pearson(s->image_pred, s->image_resp, g->groups);
    m->oracle = (float)pearson(s->resp, s->others, g->trials);
    m->fev = total_var > 0.0 ? (float)((total_var - noise_var) / total_var) : 0.0f;
    m->feve = total_var > noise_var
                  ? (float)(1.0 - (mse - noise_var) / (total_var - noise_var))
                  : NAN;
}

int metrics_evaluate(const float *pred, const float *resp, const int64_t *image_ids,
                     int trials, int neurons, neuron_metrics *out, char *err)
{
    if (trials < 1 || neurons < 1)
        return model_fail(err, "metrics_evaluate: %d trials and %d neurons (need >= 1)",
                          trials, neurons);
    if (!pred || !resp || !image_ids || !out)
        return model_fail(err, "metrics_evaluate: missing input array");
    float *single = malloc((size_t)neurons * sizeof(float));
    repeat_groups g;
    scratch s = {0};
    int failed = find_repeats(image_ids, trials, &g) || !single;
    if (!failed && g.groups > 0) {
        size_t bytes = (size_t)g.trials * sizeof(double);
        s.pred = malloc(bytes);
        s.resp = malloc(bytes);
        s.others = malloc(bytes);
        s.image_pred = malloc(bytes);
        s.image_resp = malloc(bytes);
        failed = !s.pred || !s.resp || !s.others || !s.image_pred || !s.image_resp;
    }
    if (!failed)
        metrics_correlation(pred, resp, trials, neurons, single);
    for (int n = 0; n < neurons && !failed; n++) {
        neuron_metrics *m = &out[n];
        m->single_trial_corr = single[n];
        m->corr_to_average = m->feve = m->fev = m->oracle = NAN;
        if (g.groups > 0)
            repeat_metrics(pred, resp, neurons, n, &g, &s, m);
    }
    free_groups(&g);
    free(single);
    free(s.pred);
    free(s.resp);
    free(s.others);
    free(s.image_pred);
    free(s.image_resp);
    if (failed)
        return model_fail(err, "metrics_evaluate: out of memory for %d trials", trials);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Summaries over neurons. */

static int compare_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Quantile by linear interpolation between order statistics (NumPy's default). */
static float quantile(const float *sorted, int n, double q)
{
    double pos = q * (n - 1);
    int lo = (int)floor(pos);
    int hi = lo + 1 < n ? lo + 1 : lo;
    double frac = pos - lo;
    return (float)(sorted[lo] + frac * ((double)sorted[hi] - sorted[lo]));
}

/* NaN values are ignored; with none left every field is NaN. */
void metrics_summarize(const float *values, int n, metric_summary *out)
{
    out->mean = out->median = out->q25 = out->q75 = out->min = out->max = NAN;
    if (n < 1)
        return;
    float *v = malloc((size_t)n * sizeof(float));
    if (!v)
        return;
    int m = 0;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        if (!isnan(values[i])) {
            v[m++] = values[i];
            sum += values[i];
        }
    if (m > 0) {
        qsort(v, (size_t)m, sizeof(float), compare_float);
        out->mean = (float)(sum / m);
        out->median = quantile(v, m, 0.5);
        out->q25 = quantile(v, m, 0.25);
        out->q75 = quantile(v, m, 0.75);
        out->min = v[0];
        out->max = v[m - 1];
    }
    free(v);
}

int metrics_feve_counts(const neuron_metrics *m)
{
    return m->fev >= METRICS_FEV_MIN && isfinite(m->feve);
}

double metrics_feve_mean(const neuron_metrics *m, int neurons, int *kept)
{
    double sum = 0.0;
    int k = 0;
    for (int i = 0; i < neurons; i++)
        if (metrics_feve_counts(&m[i])) {
            sum += m[i].feve;
            k++;
        }
    if (kept)
        *kept = k;
    return k ? sum / k : NAN;
}

void metrics_feve_summarize(const neuron_metrics *m, int neurons, metrics_feve_summary *out)
{
    *out = (metrics_feve_summary){.lowest_neuron = -1, .median = NAN, .lowest = NAN};
    out->mean = metrics_feve_mean(m, neurons, &out->kept);
    float *kept = malloc((size_t)(out->kept > 0 ? out->kept : 1) * sizeof(float));
    int k = 0;
    for (int n = 0; n < neurons; n++) {
        if (!metrics_feve_counts(&m[n]))
            continue;
        float feve = m[n].feve;
        if (kept)
            kept[k++] = feve;
        out->below_minus_one += feve < -1.0f;
        if (out->lowest_neuron < 0 || feve < out->lowest) {
            out->lowest = feve;
            out->lowest_neuron = n;
        }
    }
    assert(!kept || k == out->kept);
    if (kept) {
        metric_summary sum;
        metrics_summarize(kept, k, &sum);
        out->median = sum.median;
    }
    free(kept);
}

void metrics_by_cell_type(const neuron_metrics *m, const uint8_t *types, int neurons,
                          cell_type_metrics out[SIM_CELL_TYPES])
{
    for (int t = 0; t < SIM_CELL_TYPES; t++) {
        double feve = 0, cavg = 0, single = 0;
        int n = 0, n_feve = 0;
        for (int i = 0; i < neurons; i++) {
            if (types[i] != t)
                continue;
            if (isfinite(m[i].feve)) {
                feve += m[i].feve;
                n_feve++;
            }
            cavg += m[i].corr_to_average;
            single += m[i].single_trial_corr;
            n++;
        }
        out[t] = (cell_type_metrics){n, n_feve ? feve / n_feve : NAN, n ? cavg / n : NAN,
                                     n ? single / n : NAN};
    }
}
