/* test_clips.c: sound clips' level budget, ramps and the synthetic set
 * (model/clips.c). Levels and spectra are measured here in double precision
 * with direct sums, not with the library's functions. */
#include "model.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define RATE 16000
#define SAMPLES 8000
#define COUNT 24

static double level_db(const float *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return 10 * log10(s / n);
}

static double peak(const float *x, int n)
{
    double p = 0;
    for (int i = 0; i < n; i++)
        p = fmax(p, fabs(x[i]));
    return p;
}

/* Power of x at frequency f (Hz) through a Hann window: |Σ w x e^{-iωt}|². */
static double power_at(const double *x, int n, double f, double rate)
{
    double re = 0, im = 0;
    for (int i = 0; i < n; i++) {
        double w = 0.5 - 0.5 * cos(2 * M_PI * i / n);
        re += w * x[i] * cos(2 * M_PI * f * i / rate);
        im -= w * x[i] * sin(2 * M_PI * f * i / rate);
    }
    return re * re + im * im;
}

static void check_budget(void)
{
    char err[MODEL_ERR_SIZE];
    float *x = malloc(sizeof(float) * COUNT * SAMPLES);
    int kinds[COUNT];
    int status = clip_synthetic(x, COUNT, SAMPLES, RATE, -30, 5, 42, kinds, err);
    CHECK(status == 0, "24 synthetic clips at -30 dBFS (%s)", status ? err : "ok");
    if (status) {
        free(x);
        return;
    }
    double worst = 0, loudest = 0;
    int cycle = 1;
    for (int i = 0; i < COUNT; i++) {
        worst = fmax(worst, fabs(level_db(x + i * SAMPLES, SAMPLES) + 30));
        loudest = fmax(loudest, peak(x + i * SAMPLES, SAMPLES));
        cycle &= kinds[i] == i % CLIP_KINDS;
    }
    /* Each sample is rounded to float after scaling in double: at most 6e-8
     * relative, so the RMS is off by at most 6e-8 relative = 5e-7 dB. */
    CHECK(worst < 1e-5, "every clip's level is -30 dBFS (worst off by %.2g dB)", worst);
    CHECK(loudest <= 1, "no sample passes full scale (peak %.3f)", loudest);
    CHECK(cycle, "kinds cycle harmonic, noise, clicks, sweep");
    CHECK(strcmp(clip_kind_name(CLIP_SWEEP), "sweep") == 0 && strcmp(clip_kind_name(9), "?") == 0,
          "kind names");

    /* The 5 ms ramps: the first and last samples are silent. */
    int silent_ends = 1;
    for (int i = 0; i < COUNT; i++)
        silent_ends &= x[i * SAMPLES] == 0 && x[i * SAMPLES + SAMPLES - 1] == 0;
    CHECK(silent_ends, "every clip starts and ends at 0 (ramps)");

    /* Reproducible, and clip i does not depend on how many were made. */
    float *y = malloc(sizeof(float) * 5 * SAMPLES);
    clip_synthetic(y, 5, SAMPLES, RATE, -30, 5, 42, NULL, err);
    CHECK(memcmp(x, y, sizeof(float) * 5 * SAMPLES) == 0, "the same seed gives the same clips");
    clip_synthetic(y, 5, SAMPLES, RATE, -30, 5, 43, NULL, err);
    CHECK(memcmp(x, y, sizeof(float) * SAMPLES) != 0, "another seed gives other clips");
    free(y);

    /* Harmonic stacks and sweeps stay below 0.45 × rate (nothing to alias):
     * the power above 0.47 × rate, through a Hann window (side lobes fall
     * to -100 dB within a few bins), is under -60 dB of the clip's. */
    double *d = malloc(sizeof(double) * 2048);
    double worst_high = -1e9;
    for (int i = 0; i < 8; i++) {
        if (kinds[i] != CLIP_HARMONIC && kinds[i] != CLIP_SWEEP)
            continue;
        for (int j = 0; j < 2048; j++)
            d[j] = x[i * SAMPLES + 3000 + j];
        double total = 0, high = 0;
        for (double f = 0; f < RATE / 2.0; f += RATE / 2048.0) {
            double p = power_at(d, 2048, f, RATE);
            total += p;
            if (f > 0.47 * RATE)
                high += p;
        }
        worst_high = fmax(worst_high, 10 * log10(high / total + 1e-300));
    }
    free(d);
    CHECK(worst_high < -60, "harmonic and sweep clips hold nothing above 0.47 × rate "
          "(worst %.1f dB)", worst_high);
    free(x);
}

/* Noise clips' envelopes have a 1/f modulation spectrum. The log of the
 * power smoothed over 5 ms is 2d·m(t) plus the log of the carrier's own
 * smoothed power, so m's spectrum adds to a floor from the carrier's
 * fluctuations: the slope of log power against log frequency from 2 to 40 Hz,
 * fitted over 16 clips, is near -1 (a little shallower for the floor); white
 * noise's is flat. */
static double modulation_slope(const float *clips, int count)
{
    double *env = malloc(sizeof(double) * (size_t)count * SAMPLES);
    for (int c = 0; c < count; c++) {
        const float *x = clips + (size_t)c * SAMPLES;
        double *e = env + (size_t)c * SAMPLES, mean = 0, s = 0;
        for (int j = 0; j < 40; j++)
            s += (double)x[j] * x[j];
        for (int i = 0; i < SAMPLES; i++) { /* running mean over [i-40, i+40) */
            if (i + 40 < SAMPLES)
                s += (double)x[i + 40] * x[i + 40];
            if (i - 40 >= 0)
                s -= (double)x[i - 40] * x[i - 40];
            int lo = i - 40 < 0 ? 0 : i - 40, hi = i + 40 > SAMPLES ? SAMPLES : i + 40;
            e[i] = s / (hi - lo);
        }
        for (int i = 0; i < SAMPLES; i++) {
            e[i] = log(e[i] + 1e-12);
            mean += e[i];
        }
        mean /= SAMPLES;
        for (int i = 0; i < SAMPLES; i++)
            e[i] -= mean;
    }
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    int points = 0;
    for (double f = 2; f <= 40; f += 2) {
        double p = 0;
        for (int c = 0; c < count; c++)
            p += power_at(env + (size_t)c * SAMPLES, SAMPLES, f, RATE);
        sx += log(f);
        sy += log(p);
        sxx += log(f) * log(f);
        sxy += log(f) * log(p);
        points++;
    }
    free(env);
    return (points * sxy - sx * sy) / (points * sxx - sx * sx);
}

static void check_modulation(void)
{
    char err[MODEL_ERR_SIZE];
    enum { N = 16 };
    float *all = malloc(sizeof(float) * N * CLIP_KINDS * SAMPLES);
    float *noise = malloc(sizeof(float) * N * SAMPLES);
    clip_synthetic(all, N * CLIP_KINDS, SAMPLES, RATE, -30, 5, 9, NULL, err);
    for (int c = 0; c < N; c++)
        memcpy(noise + c * SAMPLES, all + (c * CLIP_KINDS + CLIP_NOISE) * SAMPLES,
               sizeof(float) * SAMPLES);
    double slope = modulation_slope(noise, N);
    model_rng rng;
    model_rng_seed(&rng, 3);
    for (int i = 0; i < N * SAMPLES; i++)
        noise[i] = (float)(0.03 * model_rng_normal(&rng));
    double flat = modulation_slope(noise, N);
    CHECK(slope < -0.7 && slope > -1.3, "noise clips' modulation spectrum falls like 1/f "
          "(slope %.2f)", slope);
    CHECK(fabs(flat) < 0.4, "white noise's is flat (slope %.2f)", flat);
    free(all);
    free(noise);
}

static void check_refusals(void)
{
    char err[MODEL_ERR_SIZE] = "";
    float x[100] = {0};
    CHECK(clip_set_rms_db(x, 100, -20, err) && strstr(err, "silent"), "silence (%s)", err);
    x[50] = 1;
    /* One impulse: RMS 0.1 (-20 dBFS) at peak 1; at -10 dBFS its peak is +10. */
    CHECK(clip_set_rms_db(x, 100, -10, err) && strstr(err, "refused") && x[50] == 1,
          "a level that would clip is refused, the clip unchanged (%s)", err);
    CHECK(clip_set_rms_db(x, 100, 3, err) && strstr(err, "full scale"), "above 0 dBFS (%s)",
          err);
    CHECK(clip_set_rms_db(x, 100, -20, err) == 0 && x[50] == 1.0f,
          "an impulse of 1 in 100 samples is already -20 dBFS");
    x[3] = NAN;
    CHECK(clip_set_rms_db(x, 100, -30, err) && strstr(err, "sample 3"), "NaN (%s)", err);
    float r[10];
    for (int i = 0; i < 10; i++)
        r[i] = 1;
    clip_ramp(r, 10, 4);
    CHECK(r[0] == 0 && r[9] == 0 && fabs(r[2] - 0.5) < 1e-7 && r[4] == 1 && r[5] == 1 &&
              r[1] < r[2] && r[2] < r[3],
          "ramp: 0, rising through 0.5 at half its length, 1 beyond");
    clip_ramp(r, 10, 50); /* longer than half the clip: cut to n/2 */
    CHECK(r[0] == 0 && r[9] == 0 && isfinite(r[5]), "a ramp longer than the clip is cut");
}


/* clip_ascend on J = <w, x>: at a fixed RMS c the optimum is c·w/|w| (Cauchy–
 * Schwarz): J* = c·|w|, c the norm of a clip at the budget. */
static double linear_objective(const float *x, float *grad, void *user)
{
    const float *w = user;
    double j = 0;
    for (int i = 0; i < 1000; i++) {
        j += (double)w[i] * x[i];
        grad[i] = w[i];
    }
    return j;
}

static void check_ascent(void)
{
    char err[MODEL_ERR_SIZE] = "";
    float w[1000], x[1000];
    model_rng rng;
    model_rng_seed(&rng, 4);
    double norm = 0;
    for (int i = 0; i < 1000; i++) {
        w[i] = (float)model_rng_normal(&rng);
        x[i] = (float)model_rng_normal(&rng);
        norm += (double)w[i] * w[i];
    }
    double c = pow(10, -30 / 20.0) * sqrt(1000.0); /* |x| at -30 dBFS */
    double optimum = c * sqrt(norm);
    clip_ascent_options o = {.rms_db = -30, .ramp = 0, .steps = 100, .step_size = 0.5};
    double v = 0;
    int status = clip_ascend(x, 1000, &o, linear_objective, w, &v, err);
    double dot = 0;
    for (int i = 0; i < 1000; i++)
        dot += (double)w[i] * x[i];
    CHECK(status == 0 && v > 0.999 * optimum && v <= optimum * (1 + 1e-6) &&
              fabs(dot - v) < 1e-4 * optimum,
          "ascent on a linear objective reaches %.5f of the Cauchy–Schwarz optimum", v / optimum);
    CHECK(fabs(level_db(x, 1000) + 30) < 1e-5, "at the budget (%.6f dBFS)", level_db(x, 1000));
    /* One huge weight: the optimum would pass full scale; the ascent clamps at
     * 0.99 and keeps the level. */
    w[500] = 1e4;
    o.rms_db = -12;
    o.ramp = 50;
    status = clip_ascend(x, 1000, &o, linear_objective, w, &v, err);
    CHECK(status == 0 && peak(x, 1000) <= 0.99f && fabs(level_db(x, 1000) + 12) < 1e-4 &&
              x[0] == 0 && x[999] == 0,
          "peaks clamped to 0.99 (%.4f), level kept (%.5f dBFS), ramped ends", peak(x, 1000),
          level_db(x, 1000));
    memset(x, 0, sizeof x);
    CHECK(clip_ascend(x, 1000, &o, linear_objective, w, &v, err) && strstr(err, "silent"),
          "a silent start is refused (%s)", err);
}

/* The batch's objective: clip c ascends <w_c, x>, w_c = user + c·1000. */
static void linear_batch(const float *x, int count, float *grad, double *values, void *user)
{
    for (int c = 0; c < count; c++)
        values[c] = linear_objective(x + c * 1000, grad + c * 1000, (float *)user + c * 1000);
}

/* clip_ascend_batch is clip_ascend per clip: the same clips and values to the
 * bit (the objective is exact here, so equality is guaranteed), including a
 * clip whose objective is flat (w = 0: it stops where it starts) and one
 * clamped at full scale. */
static void check_ascent_batch(void)
{
    enum { K = 3 };
    char err[MODEL_ERR_SIZE] = "";
    static float w[K * 1000], x[K * 1000], one[1000];
    model_rng rng;
    model_rng_seed(&rng, 5);
    for (int i = 0; i < K * 1000; i++) {
        w[i] = i / 1000 == 1 ? 0.0f : (float)model_rng_normal(&rng);
        x[i] = (float)model_rng_normal(&rng);
    }
    w[2 * 1000 + 500] = 1e4;
    clip_ascent_options o = {.rms_db = -12, .ramp = 50, .steps = 30, .step_size = 0.5};
    double alone[K], batch[K];
    static float expected[K * 1000];
    int same = 1;
    for (int c = 0; c < K; c++) {
        memcpy(one, x + c * 1000, sizeof one);
        same &= clip_ascend(one, 1000, &o, linear_objective, w + c * 1000, &alone[c], err) == 0;
        memcpy(expected + c * 1000, one, sizeof one);
    }
    same &= clip_ascend_batch(x, K, 1000, &o, linear_batch, w, batch, err) == 0;
    CHECK(same && !memcmp(x, expected, sizeof expected) && !memcmp(alone, batch, sizeof batch),
          "a batch of 3 ascends each clip as clip_ascend does, bit for bit (%.4f %.4f %.4f; %s)",
          batch[0], batch[1], batch[2], err);
    memset(x + 1000, 0, sizeof(float) * 1000);
    CHECK(clip_ascend_batch(x, K, 1000, &o, linear_batch, w, batch, err) &&
              strstr(err, "clip 1") && strstr(err, "silent"),
          "a silent start in a batch is refused by its index (%s)", err);
}

int main(void)
{
    check_budget();
    check_modulation();
    check_refusals();
    check_ascent();
    check_ascent_batch();
    return test_done();
}
