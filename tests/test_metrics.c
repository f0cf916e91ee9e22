/* test_metrics.c: metrics against hand-computed examples and against NumPy.
 *
 * Usage: test_metrics PATH/metrics_check.py. The NumPy cross-check is not
 * optional: without the script, or if it fails, the test fails. Data go to
 * the script as raw little-endian files (not NPY), so that this test does not
 * depend on the library's own NPY writer. */
#include "model.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int same_or_both_nan(double a, double b, double tol)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b);
    return fabs(a - b) <= tol * (1 + fabs(b));
}

/* ------------------------------------------------------------------------ */
/* Hand-computed examples. */

static void check_correlation(void)
{
    float a[6] = {1, 10, 2, 20, 3, 30}; /* 3 trials × 2 neurons */
    float b[6] = {2, 30, 4, 20, 6, 10};
    float c[6] = {5, 1, 5, 2, 5, 3};
    float r[2];
    metrics_correlation(a, b, 3, 2, r);
    CHECK_CLOSE(r[0], 1.0, 1e-6, "perfectly correlated columns: %g", (double)r[0]);
    CHECK_CLOSE(r[1], -1.0, 1e-6, "perfectly anti-correlated columns: %g", (double)r[1]);
    metrics_correlation(a, c, 3, 2, r);
    CHECK(r[0] == 0.0f && r[1] == 1.0f, "constant column gives 0 (%g), not NaN", (double)r[0]);
    /* 0.1 three times has a mean that is not exactly 0.1: still constant. */
    float t[3] = {0.1f, 0.1f, 0.1f}, u[3] = {1, 2, 4};
    metrics_correlation(t, u, 3, 1, r);
    CHECK(r[0] == 0.0f, "constant 0.1 column gives exactly 0");
}

/* Two images × two repeats, one neuron: resp (1,3 | 4,6), pred (2,2 | 5,5).
 * noise var 2, total var 13/3, MSE 1, so FEVE = 1 + 1/(13/3 − 2) = 10/7,
 * FEV = 7/13; single-trial corr 9/√117; oracle 5/13; to-average 1. */
static void check_hand_example(void)
{
    float resp[4] = {1, 4, 3, 6}, pred[4] = {2, 5, 2, 5};
    int64_t ids[4] = {7, 9, 7, 9}; /* repeats interleaved */
    neuron_metrics m;
    char err[MODEL_ERR_SIZE];
    CHECK(metrics_evaluate(pred, resp, ids, 4, 1, &m, err) == 0, "evaluate runs");
    CHECK_CLOSE(m.single_trial_corr, 9.0 / sqrt(117.0), 1e-6, "single-trial corr %g",
                (double)m.single_trial_corr);
    CHECK_CLOSE(m.corr_to_average, 1.0, 1e-6, "correlation to average %g",
                (double)m.corr_to_average);
    CHECK_CLOSE(m.feve, 10.0 / 7.0, 1e-6, "FEVE %g = 10/7", (double)m.feve);
    CHECK_CLOSE(m.fev, 7.0 / 13.0, 1e-6, "FEV %g = 7/13", (double)m.fev);
    CHECK_CLOSE(m.oracle, 5.0 / 13.0, 1e-6, "oracle %g = 5/13", (double)m.oracle);
}

static void check_perfect_and_constant(void)
{
    /* Noise-free repeats predicted exactly: everything is 1. */
    enum { T = 12, N = 2 };
    float resp[T * N], pred[T * N], flat[T * N];
    int64_t ids[T];
    for (int t = 0; t < T; t++) {
        ids[t] = t % 4;
        for (int n = 0; n < N; n++) {
            resp[t * N + n] = pred[t * N + n] = (float)((t % 4) * (n + 1) + n);
            flat[t * N + n] = 3.0f;
        }
    }
    neuron_metrics m[N];
    char err[MODEL_ERR_SIZE];
    metrics_evaluate(pred, resp, ids, T, N, m, err);
    int ones = 1;
    for (int n = 0; n < N; n++)
        ones &= fabsf(m[n].single_trial_corr - 1) < 1e-6f &&
                fabsf(m[n].corr_to_average - 1) < 1e-6f &&
                fabsf(m[n].feve - 1) < 1e-6f && fabsf(m[n].fev - 1) < 1e-6f &&
                fabsf(m[n].oracle - 1) < 1e-6f;
    CHECK(ones, "perfect noise-free prediction: correlations, FEVE, FEV, oracle all 1");

    metrics_evaluate(flat, resp, ids, T, N, m, err);
    CHECK(m[0].single_trial_corr == 0 && m[0].corr_to_average == 0,
          "constant prediction: correlations 0");
    /* Neuron 0 responds 0,1,2,3 to the four images, three times each: the
     * constant 3 has MSE 3.5; the total variance (ddof 1) is 15/11; no noise. */
    double total = 15.0 / 11.0;
    CHECK_CLOSE(m[0].feve, 1 - 3.5 / total, 1e-5, "constant prediction: FEVE %g = 1 − MSE/var",
                (double)m[0].feve);

    /* Constant responses: nothing explainable. */
    metrics_evaluate(pred, flat, ids, T, N, m, err);
    CHECK(m[0].fev == 0 && isnan(m[0].feve) && m[0].oracle == 0,
          "constant responses: FEV 0, FEVE NaN, oracle 0");
}

/* Known variances: two repeats per image at v − d and v + d, so the noise
 * variance (ddof 1) is 2d², and predicting v gives MSE d². */
static void check_known_variances(void)
{
    enum { IMAGES = 5, T = 2 * IMAGES };
    float resp[T], pred[T];
    int64_t ids[T];
    double d = 0.5, sum = 0, sumsq = 0;
    for (int t = 0; t < T; t++) {
        int img = t / 2;
        ids[t] = 100 + img;
        resp[t] = (float)(2.0 * img + (t % 2 ? d : -d));
        pred[t] = (float)(2.0 * img);
        sum += resp[t];
    }
    for (int t = 0; t < T; t++)
        sumsq += (resp[t] - sum / T) * (resp[t] - sum / T);
    double total = sumsq / (T - 1), noise = 2 * d * d, mse = d * d;
    neuron_metrics m;
    char err[MODEL_ERR_SIZE];
    metrics_evaluate(pred, resp, ids, T, 1, &m, err);
    CHECK_CLOSE(m.fev, (total - noise) / total, 1e-6, "FEV %g from noise var 2d² and total var",
                (double)m.fev);
    CHECK_CLOSE(m.feve, 1 - (mse - noise) / (total - noise), 1e-6,
                "FEVE %g with MSE d² (prediction at the image means)", (double)m.feve);
}

static void check_no_repeats_and_errors(void)
{
    float resp[4] = {1, 2, 3, 5}, pred[4] = {1, 3, 2, 5};
    int64_t ids[4] = {0, 1, 2, 3};
    neuron_metrics m;
    char err[MODEL_ERR_SIZE];
    CHECK(metrics_evaluate(pred, resp, ids, 4, 1, &m, err) == 0 && isfinite(m.single_trial_corr) &&
              isnan(m.corr_to_average) && isnan(m.feve) && isnan(m.fev) && isnan(m.oracle),
          "no repeated image: single-trial corr %g, the rest NaN", (double)m.single_trial_corr);
    CHECK(metrics_evaluate(pred, resp, ids, 0, 1, &m, err) != 0 && strstr(err, "trials"),
          "0 trials refused: %s", err);
    CHECK(metrics_evaluate(pred, resp, ids, 4, 0, &m, err) != 0 && strstr(err, "neurons"),
          "0 neurons refused: %s", err);
}

static void check_summary(void)
{
    float v[5] = {3, 1, NAN, 2, 4};
    metric_summary s;
    metrics_summarize(v, 5, &s);
    CHECK(s.mean == 2.5f && s.median == 2.5f && s.q25 == 1.75f && s.q75 == 3.25f &&
              s.min == 1 && s.max == 4,
          "summary of {3,1,NaN,2,4}: mean %g median %g q25 %g q75 %g min %g max %g",
          (double)s.mean, (double)s.median, (double)s.q25, (double)s.q75, (double)s.min,
          (double)s.max);
    float one = 7;
    metrics_summarize(&one, 1, &s);
    CHECK(s.mean == 7 && s.median == 7 && s.q25 == 7 && s.q75 == 7 && s.min == 7 && s.max == 7,
          "summary of one value");
    float nans[2] = {NAN, NAN};
    metrics_summarize(nans, 2, &s);
    CHECK(isnan(s.mean) && isnan(s.median) && isnan(s.min), "summary of only NaN is NaN");
    metrics_summarize(v, 0, &s);
    CHECK(isnan(s.mean), "summary of nothing is NaN");
}

/* ------------------------------------------------------------------------ */
/* NumPy cross-check on a messy recording: repeats of 1, 2, 3 and 10, shuffled
 * trial order, a constant neuron and a constant prediction among them. */

enum { SINGLES = 40, TENS = 12, PAIRS = 5, TRIPLES = 3, NEURONS = 7, VALUES = 101 };
enum { TRIALS = SINGLES + 10 * TENS + 2 * PAIRS + 3 * TRIPLES };

static void make_recording(float *pred, float *resp, int64_t *ids, float *values)
{
    model_rng rng;
    model_rng_seed(&rng, 2024);
    int t = 0;
    for (int i = 0; i < SINGLES; i++)
        ids[t++] = 1000 + i;
    for (int i = 0; i < TENS; i++)
        for (int r = 0; r < 10; r++)
            ids[t++] = 2000 + i;
    for (int i = 0; i < PAIRS; i++)
        for (int r = 0; r < 2; r++)
            ids[t++] = 3000 + i;
    for (int i = 0; i < TRIPLES; i++)
        for (int r = 0; r < 3; r++)
            ids[t++] = 4000 + i;
    for (int i = TRIALS - 1; i > 0; i--) {
        int j = (int)(model_rng_uniform(&rng) * (i + 1));
        int64_t s = ids[i];
        ids[i] = ids[j];
        ids[j] = s;
    }
    for (int n = 0; n < NEURONS; n++)
        for (int t2 = 0; t2 < TRIALS; t2++) {
            /* a latent rate per image, shared by its repeats */
            model_rng img;
            model_rng_seed(&img, (uint64_t)ids[t2] * 31 + (uint64_t)n);
            double rate = 0.5 + 6 * model_rng_uniform(&img) * (n + 1) / NEURONS;
            size_t at = (size_t)t2 * NEURONS + n;
            resp[at] = n == 0 ? 2.0f : (float)model_rng_poisson(&rng, rate);
            pred[at] = n == 1 ? 1.5f : (float)(rate + 0.8 * model_rng_normal(&rng));
        }
    for (int i = 0; i < VALUES; i++)
        values[i] = i % 9 == 4 ? NAN : (float)model_rng_normal(&rng);
}

static int write_raw(const char *dir, const char *name, const void *data, size_t bytes)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return 1;
    size_t wrote = fwrite(data, 1, bytes, f);
    return (fclose(f) != 0) | (wrote != bytes);
}

static void remove_files(const char *dir)
{
    const char *names[] = {"shape.txt", "pred.f32", "resp.f32", "ids.i64", "values.f32",
                           "expected.f64"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

static void check_against_numpy(const char *script)
{
    if (!script) {
        CHECK(0, "NumPy cross-check needs the path of metrics_check.py as argument 1");
        return;
    }
    static float pred[TRIALS * NEURONS], resp[TRIALS * NEURONS], values[VALUES];
    static int64_t ids[TRIALS];
    make_recording(pred, resp, ids, values);
    char dir[] = "/tmp/test_metrics_XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "could not make a temporary folder");
        return;
    }
    char shape[64];
    int len = snprintf(shape, sizeof shape, "%d %d %d\n", TRIALS, NEURONS, VALUES);
    int bad = write_raw(dir, "shape.txt", shape, (size_t)len) |
              write_raw(dir, "pred.f32", pred, sizeof pred) |
              write_raw(dir, "resp.f32", resp, sizeof resp) |
              write_raw(dir, "ids.i64", ids, sizeof ids) |
              write_raw(dir, "values.f32", values, sizeof values);
    char command[1200];
    snprintf(command, sizeof command, "/usr/bin/python3 '%s' '%s'", script, dir);
    int status = bad ? -1 : system(command);
    CHECK(status == 0, "NumPy reference ran (%s, status %d)", script, status);

    enum { EXPECTED = NEURONS * 5 + 6 };
    double expected[EXPECTED];
    char path[512];
    snprintf(path, sizeof path, "%s/expected.f64", dir);
    FILE *f = status == 0 ? fopen(path, "rb") : NULL;
    size_t got = f ? fread(expected, sizeof(double), EXPECTED, f) : 0;
    if (f)
        fclose(f);
    remove_files(dir);
    CHECK(got == EXPECTED, "read %zu of %d reference values", got, EXPECTED);
    if (got != EXPECTED)
        return;

    neuron_metrics m[NEURONS];
    char err[MODEL_ERR_SIZE];
    CHECK(metrics_evaluate(pred, resp, ids, TRIALS, NEURONS, m, err) == 0, "evaluate runs");
    const char *names[5] = {"single-trial corr", "corr to average", "FEVE", "FEV", "oracle"};
    for (int n = 0; n < NEURONS; n++) {
        float mine[5] = {m[n].single_trial_corr, m[n].corr_to_average, m[n].feve, m[n].fev,
                         m[n].oracle};
        for (int k = 0; k < 5; k++)
            CHECK(same_or_both_nan(mine[k], expected[n * 5 + k], 1e-5),
                  "neuron %d %s: %.7g vs NumPy %.7g", n, names[k], (double)mine[k],
                  expected[n * 5 + k]);
    }
    metric_summary s;
    metrics_summarize(values, VALUES, &s);
    float mine[6] = {s.mean, s.median, s.q25, s.q75, s.min, s.max};
    const char *stat[6] = {"mean", "median", "q25", "q75", "min", "max"};
    for (int k = 0; k < 6; k++)
        CHECK(same_or_both_nan(mine[k], expected[NEURONS * 5 + k], 1e-5),
              "summary %s: %.7g vs NumPy %.7g", stat[k], (double)mine[k],
              expected[NEURONS * 5 + k]);
}

/* The population FEVE counts only neurons with FEV >= 0.15 and a defined FEVE. */
static void check_feve_mean(void)
{
    neuron_metrics m[5] = {
        {.feve = 0.8f, .fev = 0.5f},
        {.feve = 0.4f, .fev = 0.15f},
        {.feve = -1.0e6f, .fev = 0.01f}, /* tiny explainable variance: left out */
        {.feve = NAN, .fev = 0.3f},      /* undefined: left out */
        {.feve = 0.9f, .fev = 0.149f},   /* just below the threshold */
    };
    int kept = -1;
    double mean = metrics_feve_mean(m, 5, &kept);
    CHECK(kept == 2, "two neurons qualify (got %d)", kept);
    CHECK_CLOSE(mean, 0.6, 1e-6, "their mean FEVE");
    CHECK(isnan(metrics_feve_mean(m + 2, 3, &kept)) && kept == 0,
          "no qualifying neuron: NaN, none kept");
}

/* The summary of the FEVEs that count: worked out by hand on six neurons, two
 * of them left out (FEV 0.01; NaN FEVE), two below -1. */
static void check_feve_summary(void)
{
    neuron_metrics m[6] = {
        {.feve = 0.5f, .fev = 0.5f},
        {.feve = -3.0f, .fev = 0.2f},
        {.feve = -1.0e6f, .fev = 0.01f}, /* left out: it is not the lowest */
        {.feve = NAN, .fev = 0.3f},      /* left out */
        {.feve = -1.5f, .fev = 0.9f},
        {.feve = 0.25f, .fev = 0.15f},
    };
    metrics_feve_summary s;
    metrics_feve_summarize(m, 6, &s);
    /* kept: 0.5, -3, -1.5, 0.25; mean -3.75 / 4; median (-1.5 + 0.25) / 2.
     * All exact in binary, so the float path rounds nothing: 1e-12. */
    CHECK(s.kept == 4 && s.below_minus_one == 2, "4 kept, 2 below -1 (got %d, %d)", s.kept,
          s.below_minus_one);
    CHECK_CLOSE(s.mean, -0.9375, 1e-12, "their mean");
    CHECK_CLOSE(s.median, -0.625, 1e-12, "their median");
    CHECK(s.lowest_neuron == 1 && s.lowest == -3.0, "the lowest kept: neuron 1, -3 (got %d, %g)",
          s.lowest_neuron, s.lowest);
    metrics_feve_summarize(m + 2, 2, &s);
    CHECK(s.kept == 0 && s.below_minus_one == 0 && s.lowest_neuron == -1 && isnan(s.mean) &&
              isnan(s.median) && isnan(s.lowest),
          "none kept: 0, -1 and NaNs");
}

int main(int argc, char **argv)
{
    check_correlation();
    check_feve_mean();
    check_feve_summary();
    check_hand_example();
    check_perfect_and_constant();
    check_known_variances();
    check_no_repeats_and_errors();
    check_summary();
    check_against_numpy(argc > 1 ? argv[1] : NULL);
    return test_done();
}
