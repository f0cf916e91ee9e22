/* test_cochleagram.c: the cochleagram (model/cochleagram.c) against an
 * independent computation written here in double precision from the formulas:
 * a direct DFT of each Hann-windowed frame (no FFTW), band edges from the
 * published mel and ERB-number formulas, the Hann window's known leakage for a
 * bin-centred tone; and its backward pass against central finite differences
 * of that double-precision reference. */
#include "model.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A small configuration: 8 kHz, 128-sample frames (62.5 Hz bins), hop 48. */
static cochleagram_config small_config(cochleagram_scale scale)
{
    cochleagram_config c;
    cochleagram_config_default(&c);
    c.sample_rate = 8000;
    c.samples = 560;
    c.window = 128;
    c.hop = 48;
    c.bands = 10;
    c.low_hz = 200;
    c.high_hz = 3800;
    c.scale = scale;
    c.epsilon = 1e-6f;
    return c;
}

/* Reference forward in double: direct DFT, filters as the library reports
 * them (checked separately against the formulas in check_filters). */
static void reference_forward(const cochleagram *g, const double *x, double *out)
{
    const cochleagram_config *c = cochleagram_get_config(g);
    int L = c->window, bins = L / 2 + 1, T = cochleagram_frames(g);
    double wsum = 0, *w = malloc(sizeof(double) * L), *p = malloc(sizeof(double) * bins);
    double *cs = malloc(sizeof(double) * L * bins), *sn = malloc(sizeof(double) * L * bins);
    for (int n = 0; n < L; n++) {
        w[n] = 0.5 - 0.5 * cos(2 * M_PI * n / L);
        wsum += w[n];
        for (int k = 0; k < bins; k++) {
            cs[k * L + n] = cos(2 * M_PI * ((long)k * n % L) / L);
            sn[k * L + n] = sin(2 * M_PI * ((long)k * n % L) / L);
        }
    }
    for (int t = 0; t < T; t++) {
        for (int k = 0; k < bins; k++) {
            double re = 0, im = 0;
            for (int n = 0; n < L; n++) {
                double v = w[n] * x[t * c->hop + n];
                re += v * cs[k * L + n];
                im -= v * sn[k * L + n];
            }
            p[k] = (re * re + im * im) / (wsum * wsum);
        }
        for (int b = 0; b < c->bands; b++) {
            double m = 0;
            for (int k = 0; k < bins; k++)
                m += cochleagram_filter(g, b, k) * p[k];
            out[b * T + t] = log(c->epsilon + m);
        }
    }
    free(w);
    free(p);
    free(cs);
    free(sn);
}

static void noise(double *x, int n, double rms, uint64_t seed)
{
    model_rng rng;
    model_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++)
        x[i] = rms * model_rng_normal(&rng);
}

static void check_scales(void)
{
    /* HTK's mel scale is built so that 1000 Hz is about 1000 mel (999.99:
     * 2595 log10(1 + 1000/700)); the ERB number of
     * 1 kHz is 15.6 (Glasberg & Moore 1990, Eq. 4: 21.4 log10(4.37 + 1)). */
    CHECK(fabs(cochleagram_hz_to_scale(COCHLEAGRAM_MEL, 1000) - 999.9855) < 1e-4,
          "1000 Hz is 999.99 mel (%.4f)", cochleagram_hz_to_scale(COCHLEAGRAM_MEL, 1000));
    CHECK(fabs(cochleagram_hz_to_scale(COCHLEAGRAM_ERB, 1000) - 15.62) < 0.01,
          "1000 Hz is ERB number 15.62 (%.4f)", cochleagram_hz_to_scale(COCHLEAGRAM_ERB, 1000));
    double worst = 0;
    for (int s = 0; s < 2; s++)
        for (double f = 20; f < 20000; f *= 1.37) {
            double back = cochleagram_scale_to_hz(s, cochleagram_hz_to_scale(s, f));
            worst = fmax(worst, fabs(back - f) / f);
        }
    /* Both are closed-form inverses: only double rounding separates them. */
    CHECK(worst < 1e-12, "scale_to_hz inverts hz_to_scale (worst relative %.2g)", worst);
}

/* Filter weights against triangles built here from the edge formula. */
static void check_filters(cochleagram_scale scale)
{
    cochleagram_config c = small_config(scale);
    char err[MODEL_ERR_SIZE];
    cochleagram *g = NULL;
    CHECK(cochleagram_create(&g, &c, err) == 0, "create (%s)", g ? "ok" : err);
    if (!g)
        return;
    double lo = scale ? 21.4 * log10(1 + 0.00437 * c.low_hz) : 2595 * log10(1 + c.low_hz / 700);
    double hi = scale ? 21.4 * log10(1 + 0.00437 * c.high_hz)
                      : 2595 * log10(1 + c.high_hz / 700);
    double worst = 0;
    int bins = c.window / 2 + 1;
    for (int b = 0; b < c.bands; b++) {
        double e[3];
        for (int j = 0; j < 3; j++) {
            double v = lo + (hi - lo) * (b + j) / (c.bands + 1);
            e[j] = scale ? (pow(10, v / 21.4) - 1) / 0.00437 : 700 * (pow(10, v / 2595) - 1);
        }
        for (int k = 0; k < bins; k++) {
            double f = k * (double)c.sample_rate / c.window;
            double want = f <= e[0] || f >= e[2] ? 0 : f <= e[1] ? (f - e[0]) / (e[1] - e[0])
                                                                  : (e[2] - f) / (e[2] - e[1]);
            worst = fmax(worst, fabs(want - cochleagram_filter(g, b, k)));
        }
        if (b == 3)
            CHECK(fabs(cochleagram_band_hz(g, b) - e[1]) < 1e-6 * e[1],
                  "band 3's centre %.2f Hz", e[1]);
    }
    /* The weights are stored as float: 6e-8 relative on values up to 1. */
    CHECK(worst < 1e-6, "%s filters match triangles from the formula (worst %.2g)",
          scale ? "ERB" : "mel", worst);
    cochleagram_destroy(g);
}

static void check_forward(cochleagram_scale scale)
{
    cochleagram_config c = small_config(scale);
    char err[MODEL_ERR_SIZE];
    cochleagram *g = NULL;
    if (cochleagram_create(&g, &c, err)) {
        CHECK(0, "create: %s", err);
        return;
    }
    int T = cochleagram_frames(g), B = c.bands, N = c.samples;
    CHECK(T == 1 + (560 - 128) / 48, "%d frames", T);
    /* Two clips: noise at -20 dB, and a chirp plus silence (bands near log ε). */
    double *x = malloc(sizeof(double) * 2 * N);
    float *xf = malloc(sizeof(float) * 2 * N), *out = malloc(sizeof(float) * 2 * B * T);
    double *ref = malloc(sizeof(double) * B * T);
    noise(x, N, 0.1, 7);
    for (int n = 0; n < N; n++)
        x[N + n] = n < N / 2 ? 0.3 * sin(2 * M_PI * (300.0 + 3.0 * n) * n / c.sample_rate) : 0;
    for (int i = 0; i < 2 * N; i++) {
        xf[i] = (float)x[i];
        x[i] = xf[i]; /* the reference sees exactly the float samples */
    }
    cochleagram_forward(g, out, xf, 2);
    double worst = 0;
    for (int clip = 0; clip < 2; clip++) {
        reference_forward(g, x + clip * N, ref);
        for (int i = 0; i < B * T; i++)
            worst = fmax(worst, fabs(ref[i] - out[clip * B * T + i]));
    }
    /* float32 FFT: relative error of a bin's power about log2(L) · 6e-8 · a
     * few (1e-6), which is its absolute error after the log; where the power
     * is far below ε (the silent half) the log saturates at log ε. 1e-4 is
     * a hundred times that and still far below any real difference (a
     * wrong window or bin shifts values by 0.1 or more). */
    CHECK(worst < 1e-4, "%s forward matches a direct DFT (worst %.2g log units)",
          scale ? "ERB" : "mel", worst);
    free(x);
    free(xf);
    free(out);
    free(ref);
    cochleagram_destroy(g);
}

/* A sinusoid at a bin centre: Hann leaks exactly a quarter of the amplitude
 * (1/16 of the power) into each neighbouring bin and nothing further, so a
 * band's power is A²/4 · (F[k] + (F[k-1] + F[k+1]) / 4). */
static void check_tone(void)
{
    cochleagram_config c = small_config(COCHLEAGRAM_MEL);
    char err[MODEL_ERR_SIZE];
    cochleagram *g = NULL;
    if (cochleagram_create(&g, &c, err)) {
        CHECK(0, "create: %s", err);
        return;
    }
    int k = 20, T = cochleagram_frames(g); /* 1250 Hz */
    double A = 0.25, f = k * (double)c.sample_rate / c.window;
    float *x = malloc(sizeof(float) * c.samples), *out = malloc(sizeof(float) * c.bands * T);
    for (int n = 0; n < c.samples; n++)
        x[n] = (float)(A * sin(2 * M_PI * f * n / c.sample_rate + 0.3));
    cochleagram_forward(g, out, x, 1);
    double worst = 0;
    for (int b = 0; b < c.bands; b++) {
        double m = A * A / 4 * (cochleagram_filter(g, b, k) +
                                (cochleagram_filter(g, b, k - 1) + cochleagram_filter(g, b, k + 1)) / 4);
        for (int t = 0; t < T; t++)
            worst = fmax(worst, fabs(out[b * T + t] - log(c.epsilon + m)));
    }
    /* Float rounding of the samples and the FFT leave about 1e-6 of power
     * in other bins, relative to the tone: under 1e-4 after the log. */
    CHECK(worst < 1e-4, "a bin-centred tone's bands follow Hann's leakage (worst %.2g)", worst);
    free(x);
    free(out);
    cochleagram_destroy(g);
}

/* ∂J/∂x for J = Σ r·S against central differences of the reference. */
static void check_backward(cochleagram_scale scale, double epsilon)
{
    cochleagram_config c = small_config(scale);
    c.epsilon = (float)epsilon;
    char err[MODEL_ERR_SIZE];
    cochleagram *g = NULL;
    if (cochleagram_create(&g, &c, err)) {
        CHECK(0, "create: %s", err);
        return;
    }
    int T = cochleagram_frames(g), B = c.bands, N = c.samples;
    double *x = malloc(sizeof(double) * N), *r = malloc(sizeof(double) * B * T);
    double *ref = malloc(sizeof(double) * B * T);
    float *xf = malloc(sizeof(float) * N), *dout = malloc(sizeof(float) * B * T);
    float *grad = malloc(sizeof(float) * N);
    noise(x, N, 0.1, 11);
    noise(r, B * T, 1.0, 12);
    /* A tone on top of the noise: bands of very different power. */
    for (int n = 0; n < N; n++) {
        x[n] += 0.3 * sin(2 * M_PI * 700.0 * n / c.sample_rate);
        xf[n] = (float)x[n];
        x[n] = xf[n];
    }
    for (int i = 0; i < B * T; i++)
        dout[i] = (float)r[i];
    cochleagram_backward(g, grad, dout, xf, 1);
    /* h = 1e-6 on samples of size ~0.1: J's third derivative along one sample
     * is of order |r| T / x³ ≈ 1e4, so the truncation error h²/6 · 1e4 ≈ 2e-9,
     * and double rounding 1e-16 · |J| (≈ 500) / h ≈ 5e-8: both far below the
     * tolerance below. */
    double h = 1e-6, worst = 0, largest = 0;
    for (int n = 0; n < N; n++) {
        double keep = x[n], jp = 0, jm = 0;
        x[n] = keep + h;
        reference_forward(g, x, ref);
        for (int i = 0; i < B * T; i++)
            jp += r[i] * ref[i];
        x[n] = keep - h;
        reference_forward(g, x, ref);
        for (int i = 0; i < B * T; i++)
            jm += r[i] * ref[i];
        x[n] = keep;
        double fd = (jp - jm) / (2 * h);
        worst = fmax(worst, fabs(fd - grad[n]));
        largest = fmax(largest, fabs(fd));
    }
    /* The float32 backward: each sample's gradient sums the inverse FFTs of
     * at most ceil(L/hop) = 3 frames, each a sum over 65 bins of products
     * formed from a forward FFT, band sums and a division: a few hundred
     * float operations, worst-case relative error a few hundred × 6e-8 of
     * the largest term, ≈ 3e-5 of the largest gradient. 2e-4 leaves margin
     * and still catches a missing factor, a wrong bin or window (errors of
     * order 1). */
    CHECK(worst <= 2e-4 * largest, "%s backward (ε %g) matches finite differences: worst "
          "%.3g of largest %.3g", scale ? "ERB" : "mel", epsilon, worst, largest);
    free(x);
    free(r);
    free(ref);
    free(xf);
    free(dout);
    free(grad);
    cochleagram_destroy(g);
}

static void check_refusals(void)
{
    cochleagram_config c = small_config(COCHLEAGRAM_MEL);
    c.bands = 60; /* 60 mel bands over 200..3800 Hz: the lowest are narrower than a bin */
    char err[MODEL_ERR_SIZE] = "";
    cochleagram *g = NULL;
    CHECK(cochleagram_create(&g, &c, err) != 0 && !g && strstr(err, "holds no FFT bin"),
          "a band between bins is refused (%s)", err);
    c = small_config(COCHLEAGRAM_MEL);
    c.window = 127;
    CHECK(cochleagram_create(&g, &c, err) != 0 && strstr(err, "even"), "odd window (%s)", err);
    c = small_config(COCHLEAGRAM_MEL);
    c.high_hz = 4100;
    CHECK(cochleagram_create(&g, &c, err) != 0 && strstr(err, "Nyquist"),
          "band above Nyquist (%s)", err);
    cochleagram_config_default(&c);
    CHECK(cochleagram_create(&g, &c, err) == 0, "the default configuration is valid");
    if (g) {
        CHECK(cochleagram_frames(g) == 48, "default: 48 frames of 0.5 s (%d)",
              cochleagram_frames(g));
        cochleagram_destroy(g);
    }
}

int main(void)
{
    check_scales();
    check_filters(COCHLEAGRAM_MEL);
    check_filters(COCHLEAGRAM_ERB);
    check_forward(COCHLEAGRAM_MEL);
    check_forward(COCHLEAGRAM_ERB);
    check_tone();
    check_backward(COCHLEAGRAM_MEL, 1e-6);
    check_backward(COCHLEAGRAM_ERB, 1e-3);
    check_refusals();
    return test_done();
}
