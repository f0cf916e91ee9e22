/* statistics.c: the closed loop's evaluation statistics (controller.h,
 * "Evaluation statistics"): per-neuron bootstrap intervals of the mean
 * response, and paired tests across neurons of MEI versus a control.
 *
 * Non-parametric on purpose: a handful of target neurons, spike counts that
 * are far from normal, and no reason to assume the MEI's advantage is the
 * same size in every neuron. */
#include "report/report.h"
#include "model.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int all_finite(const double *x, int n)
{
    for (int i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

/* The q-quantile of sorted s[0..n), interpolating linearly between order
 * statistics at position q (n - 1) (numpy's default). */
static double sorted_quantile(const double *s, int n, double q)
{
    double position = q * (n - 1);
    int below = (int)floor(position);
    if (below >= n - 1)
        return s[n - 1];
    double t = position - below;
    return s[below] + t * (s[below + 1] - s[below]);
}

double stats_median(const double *x, int n)
{
    double *s = malloc((size_t)n * sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, x, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, compare_double);
    double median = sorted_quantile(s, n, 0.5);
    free(s);
    return median;
}

/* ---- Bootstrap ---- */

/* Resampling indices from the project's one generator (model/rng.c): each
 * resample n indices floor(uniform × n), in draw order. */
int stats_bootstrap(int n, int resamples, double level, uint64_t seed, stats_statistic statistic,
                    void *ctx, double *low, double *high, char *err)
{
    if (n < 1 || resamples < 1)
        return controller_fail(err, "bootstrap: need at least one value and one resample (got %d, %d)",
                                n, resamples);
    if (!(level > 0.0 && level < 1.0))
        return controller_fail(err, "bootstrap: level %g is not in (0, 1)", level);
    double *values = malloc((size_t)resamples * sizeof *values);
    int *rows = malloc((size_t)n * sizeof *rows);
    if (!values || !rows) {
        free(values), free(rows);
        return controller_fail(err, "bootstrap: out of memory for %d resamples", resamples);
    }
    model_rng rng;
    model_rng_seed(&rng, seed);
    int finite = 1;
    for (int b = 0; finite && b < resamples; b++) {
        for (int i = 0; i < n; i++)
            rows[i] = (int)(model_rng_uniform(&rng) * n);
        values[b] = statistic(rows, n, ctx);
        finite = isfinite(values[b]);
    }
    if (finite) {
        qsort(values, (size_t)resamples, sizeof *values, compare_double);
        *low = sorted_quantile(values, resamples, (1.0 - level) / 2.0);
        *high = sorted_quantile(values, resamples, (1.0 + level) / 2.0);
    }
    free(values), free(rows);
    return finite ? 0 : controller_fail(err, "bootstrap: a resample's statistic is not finite");
}

static double resampled_mean(const int *rows, int n, void *ctx)
{
    const double *x = ctx;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += x[rows[i]];
    return sum / n;
}

int stats_bootstrap_mean(const double *x, int n, int resamples, double level, uint64_t seed,
                         stats_interval *out, char *err)
{
    if (n >= 1 && !all_finite(x, n))
        return controller_fail(err, "bootstrap: a value is not finite");
    if (stats_bootstrap(n, resamples, level, seed, resampled_mean, (void *)x, &out->low,
                        &out->high, err))
        return 1;
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        sum += x[i];
    out->mean = sum / n;
    /* Rounding can put a bound a hair past the mean of equal values. */
    if (out->low > out->mean)
        out->low = out->mean;
    if (out->high < out->mean)
        out->high = out->mean;
    return 0;
}

int stats_evaluation_interval(const double *x, int n, int64_t neuron, int kind,
                              stats_interval *out, char *err)
{
    assert(kind >= 0 && kind < STATS_EVALUATION_KINDS);
    _Static_assert(STATS_EVALUATION_KINDS <= 16, "the seed's range per neuron");
    uint64_t seed = kind < STIMULUS_CLOSED_LOOP_KINDS ? (uint64_t)neuron * 4 + (uint64_t)kind
                             : (1ull << 62) + (uint64_t)neuron * 16 + (uint64_t)kind;
    return stats_bootstrap_mean(x, n, REPORT_BOOTSTRAP_RESAMPLES, REPORT_CONFIDENCE, seed, out,
                                err);
}

int stats_interval_verdict(const stats_interval *a, const stats_interval *b)
{
    if (a->low > b->high)
        return 1;
    if (a->high < b->low)
        return -1;
    return 0; /* overlapping, or a NaN bound (every comparison with NaN is false) */
}

/* ---- Wilcoxon signed-rank ---- */

typedef struct signed_difference {
    double magnitude;
    int positive;
} signed_difference;

static int compare_magnitude(const void *a, const void *b)
{
    return compare_double(&((const signed_difference *)a)->magnitude,
                          &((const signed_difference *)b)->magnitude);
}

/* Ranks of d[0..n) (sorted by magnitude), doubled so that average ranks of
 * ties stay integers: rank2[i] = 2 × average rank. Returns sum(t^3 - t) over
 * the tie groups for the variance correction. */
static double doubled_ranks(const signed_difference *d, int n, int *rank2)
{
    double tie_term = 0.0;
    for (int i = 0; i < n;) {
        int j = i;
        while (j + 1 < n && d[j + 1].magnitude == d[i].magnitude)
            j++;
        int t = j - i + 1;
        for (int k = i; k <= j; k++)
            rank2[k] = (i + 1) + (j + 1); /* 2 × mean of ranks i+1 .. j+1 */
        tie_term += (double)t * t * t - t;
        i = j + 1;
    }
    return tie_term;
}

/* Exact two-sided p of doubled W+ = w2: the number of sign assignments
 * reaching each doubled sum, counted over the ranks one at a time. */
static int exact_signed_rank_p(const int *rank2, int n, int w2, double *p)
{
    int total = 0;
    for (int i = 0; i < n; i++)
        total += rank2[i];
    double *ways = calloc((size_t)total + 1, sizeof *ways);
    if (!ways)
        return 1;
    ways[0] = 1.0;
    int reach = 0;
    for (int i = 0; i < n; i++) {
        for (int s = reach; s >= 0; s--)
            if (ways[s] != 0.0)
                ways[s + rank2[i]] += ways[s];
        reach += rank2[i];
    }
    double below = 0.0, above = 0.0, all = ldexp(1.0, n);
    for (int s = 0; s <= total; s++) {
        if (s <= w2)
            below += ways[s];
        if (s >= w2)
            above += ways[s];
    }
    free(ways);
    double tail = (below < above ? below : above) / all;
    *p = 2.0 * tail < 1.0 ? 2.0 * tail : 1.0;
    return 0;
}

/* Normal approximation, tie-corrected variance, continuity correction 0.5. */
static void normal_signed_rank_p(int n, double w_plus, double tie_term, stats_wilcoxon *out)
{
    double mean = n * (n + 1.0) / 4.0;
    double variance = n * (n + 1.0) * (2.0 * n + 1.0) / 24.0 - tie_term / 48.0;
    double distance = fabs(w_plus - mean) - 0.5;
    if (distance < 0.0)
        distance = 0.0;
    out->z = variance > 0.0 ? (w_plus > mean ? distance : -distance) / sqrt(variance) : 0.0;
    out->p = variance > 0.0 ? erfc(fabs(out->z) / sqrt(2.0)) : 1.0;
    if (out->p > 1.0)
        out->p = 1.0;
}

int stats_wilcoxon_signed_rank(const double *x, const double *y, int n, stats_wilcoxon *out,
                               char *err)
{
    memset(out, 0, sizeof *out);
    out->p = 1.0;
    out->exact = 1;
    if (n < 0 || !all_finite(x, n) || !all_finite(y, n))
        return controller_fail(err, "wilcoxon: values must be finite (n = %d)", n);
    signed_difference *d = malloc(((size_t)n + 1) * sizeof *d);
    int *rank2 = malloc(((size_t)n + 1) * sizeof *rank2);
    if (!d || !rank2) {
        free(d), free(rank2);
        return controller_fail(err, "wilcoxon: out of memory for %d pairs", n);
    }
    int used = 0;
    for (int i = 0; i < n; i++)
        if (x[i] != y[i])
            d[used].magnitude = fabs(x[i] - y[i]), d[used++].positive = x[i] > y[i];
    qsort(d, (size_t)used, sizeof *d, compare_magnitude);
    double tie_term = doubled_ranks(d, used, rank2);
    int w2 = 0, all2 = 0;
    for (int i = 0; i < used; i++) {
        all2 += rank2[i];
        if (d[i].positive)
            w2 += rank2[i];
    }
    out->n_used = used;
    out->w_plus = w2 / 2.0;
    out->w_minus = (all2 - w2) / 2.0;
    int status = 0;
    if (used > STATS_WILCOXON_EXACT_MAX) {
        out->exact = 0;
        normal_signed_rank_p(used, out->w_plus, tie_term, out);
    } else if (used > 0 && exact_signed_rank_p(rank2, used, w2, &out->p)) {
        status = controller_fail(err, "wilcoxon: out of memory for the exact distribution");
    }
    free(d), free(rank2);
    return status;
}

/* ---- Sign test ---- */

/* P(X <= k) for X ~ Binomial(m, 1/2): terms by the recurrence
 * C(m, i+1) = C(m, i) (m - i) / (i + 1) from 2^-m (exact for small m, so a
 * textbook p such as 2/64 prints as such), in log space where 2^-m would
 * underflow. */
static double binomial_half_cdf(int k, int m)
{
    double sum = 0.0;
    if (m <= 1000) {
        double term = ldexp(1.0, -m);
        for (int i = 0; i <= k; i++) {
            sum += term;
            term = term * (m - i) / (i + 1);
        }
        return sum;
    }
    for (int i = 0; i <= k; i++)
        sum += exp(lgamma(m + 1.0) - lgamma(i + 1.0) - lgamma(m - i + 1.0) - m * log(2.0));
    return sum;
}

int stats_sign_test(const double *x, const double *y, int n, stats_sign *out, char *err)
{
    memset(out, 0, sizeof *out);
    out->p = 1.0;
    if (n < 0 || !all_finite(x, n) || !all_finite(y, n))
        return controller_fail(err, "sign test: values must be finite (n = %d)", n);
    for (int i = 0; i < n; i++) {
        if (x[i] > y[i])
            out->positive++;
        else if (x[i] < y[i])
            out->negative++;
        else
            out->zeros++;
    }
    int m = out->positive + out->negative;
    int k = out->positive < out->negative ? out->positive : out->negative;
    if (m > 0) {
        double p = 2.0 * binomial_half_cdf(k, m);
        out->p = p < 1.0 ? p : 1.0;
    }
    return 0;
}

/* ---- Paired comparison ---- */

static double median_ratio(const double *mei, const double *control, int n, int *count)
{
    double *ratios = malloc(((size_t)n + 1) * sizeof *ratios);
    *count = 0;
    if (!ratios)
        return NAN;
    for (int i = 0; i < n; i++)
        if (control[i] > 0.0)
            ratios[(*count)++] = mei[i] / control[i];
    double median = *count ? stats_median(ratios, *count) : NAN;
    free(ratios);
    return median;
}

int stats_paired_compare(const double *mei, const double *control, int n, stats_paired *out,
                         char *err)
{
    memset(out, 0, sizeof *out);
    if (n < 1)
        return controller_fail(err, "paired comparison: no neurons");
    if (stats_wilcoxon_signed_rank(mei, control, n, &out->wilcoxon, err) ||
        stats_sign_test(mei, control, n, &out->sign, err))
        return 1;
    out->n = n;
    double sum = 0.0, squares = 0.0;
    for (int i = 0; i < n; i++)
        sum += mei[i] - control[i];
    out->mean_difference = sum / n;
    for (int i = 0; i < n; i++) {
        double e = mei[i] - control[i] - out->mean_difference;
        squares += e * e;
    }
    /* Equal differences have sd 0 exactly, whatever rounding says of the mean. */
    int all_equal = 1;
    for (int i = 1; i < n; i++)
        all_equal &= mei[i] - control[i] == mei[0] - control[0];
    out->sd_difference = n < 2 ? NAN : all_equal ? 0.0 : sqrt(squares / (n - 1));
    out->effect_size = n > 1 && out->sd_difference > 0.0
                           ? out->mean_difference / out->sd_difference : NAN;
    out->median_ratio = median_ratio(mei, control, n, &out->ratio_count);
    return 0;
}

double stats_finite_mean(const float *v, int n)
{
    double sum = 0;
    int k = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i])) {
            sum += v[i];
            k++;
        }
    return k ? sum / k : NAN;
}
