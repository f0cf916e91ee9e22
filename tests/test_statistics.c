/* test_statistics.c: the evaluation statistics (controller.h) against known
 * textbook values, edge cases, and independent computations in
 * tests/statistics_check.py (plain enumeration of the signed-rank null,
 * math.comb for the sign test, a Python bootstrap). */
#include "controller.h"
#include "test.h"
#include "test_files.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PAIRS 64

typedef struct pair_case {
    int n;
    double x[MAX_PAIRS], y[MAX_PAIRS];
} pair_case;

typedef struct boot_case {
    uint64_t seed;
    int resamples;
    double level;
    int n;
    double x[MAX_PAIRS];
} boot_case;

static uint64_t lcg_state = 12345;

static double lcg_uniform(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) * 0x1.0p-53;
}

/* Spike-count-like pairs: small integers, so ties and zeros happen. */
static void random_pairs(pair_case *c, int n, double shift)
{
    c->n = n;
    for (int i = 0; i < n; i++) {
        c->x[i] = floor(lcg_uniform() * 8.0 + shift);
        c->y[i] = floor(lcg_uniform() * 8.0);
    }
}

/* Fisher's Zea mays data (Darwin's cross- vs self-fertilized plants), the
 * classic signed-rank example: 15 differences in eighths of an inch, W- = 24,
 * exact two-sided p = 1352/32768 = 0.041259765625; 13 of 15 positive, sign
 * test p = 2 (1 + 15 + 105) / 2^15. */
static void test_textbook(void)
{
    const double d[15] = {6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75};
    const double zero[15] = {0};
    stats_wilcoxon w;
    stats_sign s;
    char err[CONTROLLER_ERR_SIZE];
    CHECK(stats_wilcoxon_signed_rank(d, zero, 15, &w, err) == 0, "wilcoxon on Darwin's data");
    CHECK(w.n_used == 15 && w.exact, "15 pairs, exact p");
    CHECK_CLOSE(w.w_minus, 24.0, 0, "W- = 24");
    CHECK_CLOSE(w.w_plus, 96.0, 0, "W+ = 96");
    CHECK_CLOSE(w.p, 0.041259765625, 1e-12, "exact p = 0.041259765625");
    CHECK(stats_sign_test(d, zero, 15, &s, err) == 0, "sign test on Darwin's data");
    CHECK(s.positive == 13 && s.negative == 2 && s.zeros == 0, "13 up, 2 down");
    CHECK_CLOSE(s.p, 242.0 / 32768.0, 1e-12, "sign test p = 242/32768");

    /* All 8 differences positive: only 1 of 256 sign assignments is as
     * extreme on each side, p = 2/256. */
    double up[8] = {3, 1, 4, 1.5, 5, 9, 2, 6};
    CHECK(stats_wilcoxon_signed_rank(up, zero, 8, &w, err) == 0, "wilcoxon, all positive");
    CHECK_CLOSE(w.p, 2.0 / 256.0, 1e-12, "all 8 positive: p = 2/256");
    CHECK_CLOSE(w.w_plus, 36.0, 0, "W+ = 8*9/2");
}

static void test_edges(void)
{
    char err[CONTROLLER_ERR_SIZE];
    stats_wilcoxon w;
    stats_sign s;
    stats_paired p;
    const double same[5] = {2, 2, 2, 2, 2};
    CHECK(stats_wilcoxon_signed_rank(same, same, 5, &w, err) == 0 && w.n_used == 0 &&
              w.p == 1.0, "all differences zero: nothing used, p = 1");
    CHECK(stats_sign_test(same, same, 5, &s, err) == 0 && s.zeros == 5 && s.p == 1.0,
          "sign test, all zero: p = 1");
    const double one_x[1] = {5}, one_y[1] = {3};
    CHECK(stats_wilcoxon_signed_rank(one_x, one_y, 1, &w, err) == 0 && w.n_used == 1 &&
              w.p == 1.0 && w.w_plus == 1.0, "one pair: W+ = 1, p = 1");
    CHECK(stats_paired_compare(one_x, one_y, 1, &p, err) == 0, "paired, n = 1");
    CHECK(p.mean_difference == 2.0 && isnan(p.sd_difference) && isnan(p.effect_size),
          "n = 1: difference 2, no sd, no effect size");
    CHECK_CLOSE(p.median_ratio, 5.0 / 3.0, 1e-15, "n = 1: ratio 5/3");
    const double shifted[5] = {2.1, 2.1, 2.1, 2.1, 2.1};
    CHECK(stats_paired_compare(shifted, same, 5, &p, err) == 0 && p.sd_difference == 0.0 &&
              isnan(p.effect_size), "equal differences: sd 0 exactly, effect size undefined");
    CHECK(p.wilcoxon.n_used == 5 && fabs(p.wilcoxon.w_plus - 15.0) < 1e-12,
          "equal differences tie at rank 3, W+ = 15");
    CHECK_CLOSE(p.wilcoxon.p, 2.0 / 32.0, 1e-12, "five tied positive: p = 2/32");
    const double mei[4] = {4, 6, 1, 9}, control[4] = {2, 0, 0, 3};
    CHECK(stats_paired_compare(mei, control, 4, &p, err) == 0, "paired with zero controls");
    CHECK(p.ratio_count == 2 && fabs(p.median_ratio - 2.5) < 1e-15,
          "zero controls leave the ratio: median of 2 and 3 = 2.5");
    CHECK_CLOSE(p.mean_difference, 3.75, 1e-15, "mean difference 3.75");
    CHECK_CLOSE(p.sd_difference, sqrt(((2 - 3.75) * (2 - 3.75) + (6 - 3.75) * (6 - 3.75) +
                                       (1 - 3.75) * (1 - 3.75) + (6 - 3.75) * (6 - 3.75)) / 3),
                1e-14, "sd of differences (n - 1)");
    CHECK_CLOSE(p.effect_size, p.mean_difference / p.sd_difference, 1e-15, "d_z = mean / sd");
    const double zeros[3] = {0, 0, 0};
    CHECK(stats_paired_compare(mei, zeros, 3, &p, err) == 0 && p.ratio_count == 0 &&
              isnan(p.median_ratio), "all controls zero: no ratio");
    CHECK(stats_paired_compare(mei, control, 0, &p, err) != 0 && strstr(err, "no neurons"),
          "paired with no neurons fails: %s", err);
    const double bad[2] = {1, NAN};
    CHECK(stats_wilcoxon_signed_rank(bad, control, 2, &w, err) != 0 && strstr(err, "finite"),
          "NaN refused: %s", err);

    stats_interval ci;
    CHECK(stats_bootstrap_mean(one_x, 1, 100, 0.95, 1, &ci, err) == 0 && ci.mean == 5 &&
              ci.low == 5 && ci.high == 5, "bootstrap of one value: [5, 5]");
    const double tenths[5] = {0.1, 0.1, 0.1, 0.1, 0.1};
    CHECK(stats_bootstrap_mean(tenths, 5, 100, 0.95, 1, &ci, err) == 0 &&
              ci.low <= ci.mean && ci.high >= ci.mean && ci.high - ci.low < 1e-15,
          "bootstrap of equal values: zero width around the mean");
    CHECK(stats_bootstrap_mean(one_x, 0, 100, 0.95, 1, &ci, err) != 0, "bootstrap of nothing fails");
    CHECK(stats_bootstrap_mean(one_x, 1, 100, 1.0, 1, &ci, err) != 0 && strstr(err, "level"),
          "level 1 refused: %s", err);
    CHECK(stats_bootstrap_mean(bad, 2, 100, 0.95, 1, &ci, err) != 0, "bootstrap of NaN fails");
    CHECK(stats_median(mei, 4) == 5.0 && stats_median(mei, 3) == 4.0, "median, even and odd n");
}

/* Coverage-like sanity of the bootstrap: for 400 normal-ish values the 95%
 * interval's width is close to 2 × 1.96 × sd / sqrt(n). */
static void test_bootstrap_width(void)
{
    double x[400], sum = 0, squares = 0;
    for (int i = 0; i < 400; i++) {
        double u = 0;
        for (int k = 0; k < 12; k++)
            u += lcg_uniform();
        x[i] = 10.0 + (u - 6.0);
        sum += x[i];
    }
    for (int i = 0; i < 400; i++)
        squares += (x[i] - sum / 400) * (x[i] - sum / 400);
    double sd = sqrt(squares / 399);
    stats_interval a, b, c;
    char err[CONTROLLER_ERR_SIZE];
    CHECK(stats_bootstrap_mean(x, 400, 4000, 0.95, 7, &a, err) == 0, "bootstrap of 400 values");
    CHECK(stats_bootstrap_mean(x, 400, 4000, 0.95, 7, &b, err) == 0 && a.low == b.low &&
              a.high == b.high, "same seed, same interval");
    CHECK(stats_bootstrap_mean(x, 400, 4000, 0.95, 8, &c, err) == 0 && c.low != a.low,
          "another seed, another interval");
    double expected = 2 * 1.96 * sd / sqrt(400.0);
    CHECK(fabs((a.high - a.low) / expected - 1.0) < 0.1,
          "95%% width %.4f near the normal theory's %.4f", a.high - a.low, expected);
    CHECK(a.low < a.mean && a.mean < a.high, "the interval holds the mean");
}

static void write_values(FILE *f, const double *x, int n)
{
    for (int i = 0; i < n; i++)
        fprintf(f, " %.17g", x[i]);
}

static void test_against_python(const char *script)
{
    enum { PAIRS = 14, BOOTS = 3 };
    static pair_case pairs[PAIRS];
    static boot_case boots[BOOTS];
    const int sizes[PAIRS] = {3, 5, 6, 8, 10, 12, 14, 16, 18, 20, 30, 40, 64, 2};
    for (int i = 0; i < PAIRS; i++)
        random_pairs(&pairs[i], sizes[i], i % 3 == 0 ? 0.0 : 1.5);
    /* One with many ties of |d| and mixed signs. */
    pair_case *t = &pairs[PAIRS - 1];
    t->n = 9;
    const double tx[9] = {1, 3, 0, 2, 5, 5, 1, 4, 2}, ty[9] = {0, 2, 1, 3, 4, 6, 1, 2, 0};
    memcpy(t->x, tx, sizeof tx), memcpy(t->y, ty, sizeof ty);
    for (int i = 0; i < BOOTS; i++) {
        boots[i].seed = 1000 + (uint64_t)i * 77;
        boots[i].resamples = 500 + 250 * i;
        boots[i].level = i == 1 ? 0.9 : 0.95;
        boots[i].n = 7 + 6 * i;
        for (int k = 0; k < boots[i].n; k++)
            boots[i].x[k] = floor(lcg_uniform() * 20.0);
    }
    char dir[] = "/tmp/test_statistics_XXXXXX", cases[128], expected[128], command[512];
    CHECK(mkdtemp(dir) != NULL, "temporary folder");
    snprintf(cases, sizeof cases, "%s/cases.txt", dir);
    snprintf(expected, sizeof expected, "%s/expected.txt", dir);
    FILE *f = fopen(cases, "w");
    for (int i = 0; f && i < PAIRS; i++) {
        fprintf(f, "pair"), write_values(f, pairs[i].x, pairs[i].n), fprintf(f, " |");
        write_values(f, pairs[i].y, pairs[i].n), fprintf(f, "\n");
    }
    for (int i = 0; f && i < BOOTS; i++) {
        fprintf(f, "boot %llu %d %.17g", (unsigned long long)boots[i].seed, boots[i].resamples,
                boots[i].level);
        write_values(f, boots[i].x, boots[i].n), fprintf(f, "\n");
    }
    if (f)
        fclose(f);
    snprintf(command, sizeof command, "/usr/bin/python3 '%s' '%s' '%s'", script, cases, expected);
    CHECK(f && system(command) == 0, "statistics_check.py ran");
    FILE *e = fopen(expected, "r");
    char err[CONTROLLER_ERR_SIZE];
    for (int i = 0; i < PAIRS; i++) {
        double w_plus = -1, p = -1, p_sign = -1;
        int read = e ? fscanf(e, "%lf %lf %lf", &w_plus, &p, &p_sign) : 0;
        stats_wilcoxon w;
        stats_sign s;
        stats_wilcoxon_signed_rank(pairs[i].x, pairs[i].y, pairs[i].n, &w, err);
        stats_sign_test(pairs[i].x, pairs[i].y, pairs[i].n, &s, err);
        CHECK(read == 3, "case %d: numpy's answer read", i);
        CHECK_CLOSE(w.w_plus, w_plus, 1e-12, "case %d (n %d, used %d): W+", i, pairs[i].n, w.n_used);
        CHECK_CLOSE(w.p, p, 1e-9, "case %d: wilcoxon p (%s)", i, w.exact ? "exact" : "normal");
        CHECK_CLOSE(s.p, p_sign, 1e-12, "case %d: sign test p", i);
    }
    for (int i = 0; i < BOOTS; i++) {
        double mean = -1, low = -1, high = -1;
        int read = e ? fscanf(e, "%lf %lf %lf", &mean, &low, &high) : 0;
        stats_interval ci;
        stats_bootstrap_mean(boots[i].x, boots[i].n, boots[i].resamples, boots[i].level,
                             boots[i].seed, &ci, err);
        CHECK(read == 3, "bootstrap %d: Python's answer read", i);
        CHECK_CLOSE(ci.mean, mean, 1e-12, "bootstrap %d: mean", i);
        CHECK_CLOSE(ci.low, low, 1e-12, "bootstrap %d: low %.4f", i, ci.low);
        CHECK_CLOSE(ci.high, high, 1e-12, "bootstrap %d: high %.4f", i, ci.high);
    }
    if (e)
        fclose(e);
    remove_tree(dir);
}

/* A win is claimed only where the intervals are apart (issue 15: a ratio
 * above 1 from noise is not a win). */
static void test_interval_verdict(void)
{
    stats_interval mei = {10.0, 8.0, 12.0}, control = {5.0, 4.0, 7.9};
    CHECK(stats_interval_verdict(&mei, &control) == 1, "apart, MEI above: beats");
    CHECK(stats_interval_verdict(&control, &mei) == -1, "apart, MEI below: below");
    control.high = 8.0; /* touching: 8.0 is in both */
    CHECK(stats_interval_verdict(&mei, &control) == 0 && stats_interval_verdict(&control, &mei) == 0,
          "touching intervals are undecided either way");
    control = (stats_interval){9.0, 6.0, 11.0}; /* mean ratio 1.11, overlapping */
    CHECK(stats_interval_verdict(&mei, &control) == 0, "a ratio above 1 with overlapping "
          "intervals is undecided");
    stats_interval none = {NAN, NAN, NAN};
    CHECK(stats_interval_verdict(&mei, &none) == 0 && stats_interval_verdict(&none, &mei) == 0,
          "no interval: undecided");
}

int main(int argc, char **argv)
{
    test_interval_verdict();
    test_textbook();
    test_edges();
    test_bootstrap_width();
    if (argc > 1)
        test_against_python(argv[1]);
    CHECK(argc > 1, "the Python check script was given");
    return test_done();
}
