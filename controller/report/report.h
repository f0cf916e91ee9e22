/* report.h: the report room of the controller library: evaluation statistics
 * (statistics.c) and the session report with its figures (report.c, plot.c;
 * docs/report.md). */
#ifndef INCEPTION_REPORT_H
#define INCEPTION_REPORT_H

#include "controller_util.h"
#include "stimulus_base.h" /* the stimulus kinds the evaluation counts */

/* ------------------------------------------------------------------------
 * Evaluation statistics (statistics.c)
 *
 * The closed loop's question: does each target neuron respond more to its
 * MEI than to its controls? Per neuron, the mean response over repeats with
 * a bootstrap confidence interval; across neurons, paired statistics of the
 * per-neuron means (MEI vs one control).
 * ------------------------------------------------------------------------ */

/* A mean and its percentile bootstrap interval. */
typedef struct stats_interval {
    double mean, low, high;
} stats_interval;

/* Percentile bootstrap of the mean of x[0..n): `resamples` resamples of n
 * values drawn with replacement by a generator seeded with `seed` (same seed,
 * same interval), the interval's bounds the (1-level)/2 and (1+level)/2
 * quantiles of the resampled means (linear interpolation between order
 * statistics). n = 1 or all values equal give a zero-width interval.
 * Fails on n < 1, resamples < 1, level outside (0, 1) or non-finite x. */
int stats_bootstrap_mean(const double *x, int n, int resamples, double level, uint64_t seed,
                         stats_interval *out, char *err);
/* The same percentile bootstrap of any statistic of n rows (the target
 * patterns' similarity, run_pattern.c): `statistic` of each resample's row
 * indices (n of them, drawn as above, in draw order) into *low and *high
 * (no clamp to a point estimate). Fails as
 * above, and when a resample's statistic is not finite. */
typedef double (*stats_statistic)(const int *rows, int n, void *ctx);
int stats_bootstrap(int n, int resamples, double level, uint64_t seed, stats_statistic statistic,
                    void *ctx, double *low, double *high, char *err);

/* The closed loop's interval for one target neuron's responses to one
 * stimulus kind (0..STATS_EVALUATION_KINDS-1, STIMULUS_KIND_*):
 * stats_bootstrap_mean with REPORT_BOOTSTRAP_RESAMPLES resamples at
 * REPORT_CONFIDENCE, seeded neuron × 4 + kind for the MEI and its three
 * controls (as since the first records) and 2⁶² + neuron × 16 + kind for
 * the kinds mei.kinds adds (a seed no earlier kind takes). The run records
 * it and the report recomputes it from the trials through this one call, so
 * the two agree to the bit. */
#define STATS_EVALUATION_KINDS STIMULUS_KIND_COUNT
int stats_evaluation_interval(const double *x, int n, int64_t neuron, int kind,
                              stats_interval *out, char *err);

/* Whether a's mean is above b's beyond doubt: +1 when a's interval lies
 * wholly above b's (a.low > b.high), -1 wholly below (a.high < b.low), 0
 * when they overlap or either is NaN. Two 95% intervals apart is a stricter
 * claim than a 5% test of the difference: a comparison called won or lost
 * this way is not one that noise decided. */
int stats_interval_verdict(const stats_interval *a, const stats_interval *b);

/* Wilcoxon signed-rank test of the paired differences d = x - y, two-sided.
 * Zero differences are dropped (Wilcoxon's convention); tied |d| get their
 * average rank. With n_used <= STATS_WILCOXON_EXACT_MAX the p-value is exact:
 * the permutation distribution of W+ over all 2^n sign assignments of the
 * observed ranks (ties included), counted by dynamic programming. Above, the
 * normal approximation with the tie-corrected variance
 * n(n+1)(2n+1)/24 - sum(t^3 - t)/48 and a continuity correction of 0.5.
 * n_used = 0 gives p = 1. */
#define STATS_WILCOXON_EXACT_MAX 25
typedef struct stats_wilcoxon {
    int n_used;          /* non-zero differences */
    double w_plus, w_minus;
    int exact;           /* 1: exact p, 0: normal approximation */
    double z;            /* the approximation's z (0 when exact) */
    double p;            /* two-sided */
} stats_wilcoxon;
int stats_wilcoxon_signed_rank(const double *x, const double *y, int n, stats_wilcoxon *out,
                               char *err);

/* Sign test of x - y: zeros dropped, exact two-sided binomial p (p = 1 when
 * nothing is left). */
typedef struct stats_sign {
    int positive, negative, zeros;
    double p;
} stats_sign;
int stats_sign_test(const double *x, const double *y, int n, stats_sign *out, char *err);

/* Paired comparison across neurons of `mei` and `control` (per-neuron mean
 * responses): mean and sd (n-1) of the differences, the effect size
 * d_z = mean / sd (NAN when n < 2 or sd = 0), the median of mei/control over
 * the neurons whose control is > 0 (NAN when none), and both tests. */
typedef struct stats_paired {
    int n;
    double mean_difference, sd_difference, effect_size;
    double median_ratio;
    int ratio_count;     /* neurons entering the median ratio */
    stats_wilcoxon wilcoxon;
    stats_sign sign;
} stats_paired;
int stats_paired_compare(const double *mei, const double *control, int n, stats_paired *out,
                         char *err);

/* The median of x[0..n) (n >= 1; x is not modified). */
double stats_median(const double *x, int n);
/* The mean of the finite values of v (NaN when there are none): a metric over
 * neurons skips those it is undefined for (no variance, too few repeats). */
double stats_finite_mean(const float *v, int n);

/* ------------------------------------------------------------------------
 * Report (report.c)
 * ------------------------------------------------------------------------ */

#define REPORT_DIR_NAME "report"
#define REPORT_BOOTSTRAP_RESAMPLES 2000
#define REPORT_CONFIDENCE 0.95

typedef struct report_summary {
    uint64_t records;  /* valid records read */
    uint64_t damaged;  /* corrupt stretches and torn tails skipped */
    int figures;       /* PNG files written */
    int missing;       /* sections the record had nothing for */
    int targets;       /* target neurons with closed-loop responses */
} report_summary;

/* Reads SESSION_DIR/session.rec and writes SESSION_DIR/report/index.html
 * with its PNG figures next to it (relative links, no scripts): model test
 * correlations, the MEI gallery with controls, MEI-vs-control responses with
 * the paired statistics above, stimulus timing, stream health and alignment
 * residuals. A section the record has no data for says so on the page. */
int report_write(const char *session_dir, report_summary *out, char *err);

#endif
