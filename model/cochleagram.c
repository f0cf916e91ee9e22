/* cochleagram.c: the waveform's log power on a mel or ERB frequency axis, the
 * input image of an auditory model, and its gradient back to the samples.
 *
 * Forward, per clip of N samples (frames t = 0..T-1, T = 1 + (N - L) / hop,
 * frame t covering samples t·hop .. t·hop + L - 1, no padding):
 *   X_t[k] = Σ_n w[n] x[t·hop + n] e^{-2πikn/L} / Σw     (FFTW r2c, k = 0..L/2)
 *   P_t[k] = |X_t[k]|²
 *   M_t[b] = Σ_k F[b][k] P_t[k]                         (triangular filters)
 *   S[b][t] = log(ε + M_t[b])
 * w is the periodic Hann window. Dividing by Σw makes a sinusoid of amplitude
 * A whose frequency is a bin centre give |X| = A/2 at that bin, whatever L.
 * The power |X|² (not |X|) is filtered: its gradient 2·Re, 2·Im is smooth
 * where |X| = 0, where that of |X| is not defined.
 *
 * Backward, for an output gradient G[b][t] = ∂J/∂S[b][t]:
 *   ∂J/∂M_t[b] = G[b][t] / (ε + M_t[b])
 *   g_t[k]     = ∂J/∂P_t[k] = Σ_b F[b][k] ∂J/∂M_t[b]
 *   ∂J/∂y_t[n] = Σ_k g_t[k] · 2 Re(conj(X_t[k]) ∂X_t[k]/∂y[n])
 *              = (2/Σw) Re Σ_{k=0}^{L/2} g_t[k] X_t[k] e^{+2πikn/L}
 * with y_t[n] = w[n] x[t·hop + n]. Twice the real part of that sum is one
 * inverse real FFT (FFTW c2r, which adds every bin but 0 and L/2 twice: once
 * for its Hermitian mirror) of Z[k] = g_t[k] X_t[k] with Z[0] and Z[L/2]
 * doubled; then ∂J/∂x[t·hop + n] += w[n] ∂J/∂y_t[n] (overlap-add).
 *
 * Filters: `bands` triangles whose edges are bands + 2 points equally spaced
 * on the mel scale (HTK: m = 2595 log10(1 + f/700)) or the ERB-number scale
 * (Glasberg & Moore 1990: E = 21.4 log10(1 + 0.00437 f)) from low_hz to
 * high_hz; triangle b rises linearly in Hz from point b to 1 at point b + 1
 * and falls to 0 at point b + 2 (peak 1, not area-normalized). */
#include "model.h"

#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cochleagram {
    cochleagram_config config;
    int frames, bins;
    float window_sum;
    float *window;     /* L */
    float *filters;    /* bands × bins, dense (mostly zeros; small) */
    int *first, *last; /* per band, the bins with nonzero weight */
    float *frame;      /* L, fftwf_malloc'd (the plans' alignment) */
    fftwf_complex *spectrum; /* bins */
    float *power;      /* bins */
    fftwf_plan r2c, c2r;
};

void cochleagram_config_default(cochleagram_config *c)
{
    memset(c, 0, sizeof *c);
    c->sample_rate = 16000;
    c->samples = 8000;     /* 0.5 s */
    c->window = 400;       /* 25 ms */
    c->hop = 160;          /* 10 ms */
    c->bands = 32;
    c->low_hz = 100;
    c->high_hz = 7600;
    c->scale = COCHLEAGRAM_MEL;
    c->epsilon = 1e-7f;    /* -70 dB re a full-scale square wave's power */
}

double cochleagram_hz_to_scale(cochleagram_scale scale, double hz)
{
    return scale == COCHLEAGRAM_ERB ? 21.4 * log10(1.0 + 0.00437 * hz)
                                    : 2595.0 * log10(1.0 + hz / 700.0);
}

double cochleagram_scale_to_hz(cochleagram_scale scale, double value)
{
    return scale == COCHLEAGRAM_ERB ? (pow(10.0, value / 21.4) - 1.0) / 0.00437
                                    : 700.0 * (pow(10.0, value / 2595.0) - 1.0);
}

/* The frequency of edge point i of bands + 2. */
static double edge_hz(const cochleagram_config *c, int i)
{
    double lo = cochleagram_hz_to_scale(c->scale, c->low_hz);
    double hi = cochleagram_hz_to_scale(c->scale, c->high_hz);
    return cochleagram_scale_to_hz(c->scale, lo + (hi - lo) * i / (c->bands + 1));
}

double cochleagram_band_hz(const cochleagram *c, int band)
{
    return edge_hz(&c->config, band + 1);
}

static int check_config(const cochleagram_config *c, char *err)
{
    if (c->sample_rate < 1000 || c->sample_rate > 768000) {
        return model_fail(err, "cochleagram: sample rate %d Hz outside 1..768 kHz", c->sample_rate);
    }
    if (c->window < 16 || c->window % 2 || c->window > 65536) {
        return model_fail(err, "cochleagram: window of %d samples (even, 16..65536)", c->window);
    }
    if (c->hop < 1 || c->hop > c->window) {
        return model_fail(err, "cochleagram: hop %d outside 1..window (%d)", c->hop, c->window);
    }
    if (c->samples < c->window || c->samples > 100000000) {
        return model_fail(err, "cochleagram: %d samples, fewer than one window (%d)",
                          c->samples, c->window);
    }
    if (c->bands < 1 || c->bands > 1024) {
        return model_fail(err, "cochleagram: %d bands (1..1024)", c->bands);
    }
    if (!(c->low_hz >= 0) || !(c->high_hz > c->low_hz) ||
        !(c->high_hz <= c->sample_rate / 2.0f)) {
        return model_fail(err, "cochleagram: band edges %g..%g Hz must rise within "
                          "0..%g Hz (Nyquist)", c->low_hz, c->high_hz, c->sample_rate / 2.0);
    }
    if (!(c->epsilon > 0) || !isfinite(c->epsilon)) {
        return model_fail(err, "cochleagram: epsilon %g must be positive", c->epsilon);
    }
    if (c->scale != COCHLEAGRAM_MEL && c->scale != COCHLEAGRAM_ERB) {
        return model_fail(err, "cochleagram: unknown frequency scale %d", (int)c->scale);
    }
    return 0;
}

/* Triangle weights at every bin; a band that catches no bin would be a
 * constant row (log ε) the model could never see into: refused by name. */
static int make_filters(cochleagram *c, char *err)
{
    const cochleagram_config *k = &c->config;
    double bin_hz = (double)k->sample_rate / k->window;
    for (int b = 0; b < k->bands; b++) {
        double lo = edge_hz(k, b), mid = edge_hz(k, b + 1), hi = edge_hz(k, b + 2);
        c->first[b] = c->bins;
        c->last[b] = -1;
        for (int i = 0; i < c->bins; i++) {
            double f = i * bin_hz, wgt = 0;
            if (f > lo && f <= mid)
                wgt = (f - lo) / (mid - lo);
            else if (f > mid && f < hi)
                wgt = (hi - f) / (hi - mid);
            c->filters[(size_t)b * c->bins + i] = (float)wgt;
            if (wgt > 0) {
                if (i < c->first[b])
                    c->first[b] = i;
                c->last[b] = i;
            }
        }
        if (c->last[b] < 0) {
            return model_fail(err, "cochleagram: band %d (%.0f..%.0f Hz) holds no "
                              "FFT bin (%.1f Hz apart): use a longer window, fewer bands or a "
                              "higher low edge", b, lo, hi, bin_hz);
        }
    }
    return 0;
}

int cochleagram_create(cochleagram **out, const cochleagram_config *config, char *err)
{
    *out = NULL;
    if (check_config(config, err))
        return 1;
    cochleagram *c = calloc(1, sizeof *c);
    if (!c) {
        return model_fail(err, "cochleagram: out of memory");
    }
    c->config = *config;
    int L = config->window;
    c->frames = 1 + (config->samples - L) / config->hop;
    c->bins = L / 2 + 1;
    c->window = malloc(sizeof(float) * (size_t)L);
    c->filters = calloc((size_t)config->bands * (size_t)c->bins, sizeof(float));
    c->first = malloc(sizeof(int) * (size_t)config->bands);
    c->last = malloc(sizeof(int) * (size_t)config->bands);
    c->frame = fftwf_malloc(sizeof(float) * (size_t)L);
    c->spectrum = fftwf_malloc(sizeof(fftwf_complex) * (size_t)c->bins);
    c->power = malloc(sizeof(float) * (size_t)c->bins);
    if (!c->window || !c->filters || !c->first || !c->last || !c->frame || !c->spectrum ||
        !c->power) {
        cochleagram_destroy(c);
        return model_fail(err, "cochleagram: out of memory");
    }
    double sum = 0;
    for (int n = 0; n < L; n++) {
        c->window[n] = (float)(0.5 - 0.5 * cos(2 * M_PI * n / L));
        sum += c->window[n];
    }
    c->window_sum = (float)sum;
    if (make_filters(c, err)) {
        cochleagram_destroy(c);
        return 1;
    }
    /* FFTW planning is not thread-safe: plans are made here only. */
    c->r2c = fftwf_plan_dft_r2c_1d(L, c->frame, c->spectrum, FFTW_ESTIMATE);
    c->c2r = fftwf_plan_dft_c2r_1d(L, c->spectrum, c->frame, FFTW_ESTIMATE);
    if (!c->r2c || !c->c2r) {
        cochleagram_destroy(c);
        return model_fail(err, "cochleagram: FFTW could not plan a %d-point FFT", L);
    }
    *out = c;
    return 0;
}

void cochleagram_destroy(cochleagram *c)
{
    if (!c)
        return;
    if (c->r2c)
        fftwf_destroy_plan(c->r2c);
    if (c->c2r)
        fftwf_destroy_plan(c->c2r);
    fftwf_free(c->frame);
    fftwf_free(c->spectrum);
    free(c->window);
    free(c->filters);
    free(c->first);
    free(c->last);
    free(c->power);
    free(c);
}

const cochleagram_config *cochleagram_get_config(const cochleagram *c)
{
    return &c->config;
}

int cochleagram_frames(const cochleagram *c)
{
    return c->frames;
}

int cochleagram_bins(const cochleagram *c)
{
    return c->bins;
}

float cochleagram_filter(const cochleagram *c, int band, int bin)
{
    return c->filters[(size_t)band * c->bins + bin];
}

/* The spectrum of frame t of x into c->spectrum, its power into c->power. */
static void frame_spectrum(cochleagram *c, const float *x, int t)
{
    int L = c->config.window;
    const float *src = x + (size_t)t * c->config.hop;
    for (int n = 0; n < L; n++)
        c->frame[n] = c->window[n] * src[n];
    fftwf_execute(c->r2c);
    float inv = 1.0f / c->window_sum;
    for (int k = 0; k < c->bins; k++) {
        c->spectrum[k][0] *= inv;
        c->spectrum[k][1] *= inv;
        c->power[k] = c->spectrum[k][0] * c->spectrum[k][0] +
                      c->spectrum[k][1] * c->spectrum[k][1];
    }
}

static float band_power(const cochleagram *c, int b)
{
    const float *f = c->filters + (size_t)b * c->bins;
    float m = 0;
    for (int k = c->first[b]; k <= c->last[b]; k++)
        m += f[k] * c->power[k];
    return m;
}

void cochleagram_forward(cochleagram *c, float *out, const float *samples, int batch)
{
    int B = c->config.bands, T = c->frames;
    for (int i = 0; i < batch; i++) {
        const float *x = samples + (size_t)i * c->config.samples;
        float *s = out + (size_t)i * B * T;
        for (int t = 0; t < T; t++) {
            frame_spectrum(c, x, t);
            for (int b = 0; b < B; b++)
                s[(size_t)b * T + t] = logf(c->config.epsilon + band_power(c, b));
        }
    }
}

void cochleagram_backward(cochleagram *c, float *dsamples, const float *dout,
                          const float *samples, int batch)
{
    int B = c->config.bands, T = c->frames, L = c->config.window, N = c->config.samples;
    float *dpower = c->power; /* reused per frame once the band powers are taken */
    for (int i = 0; i < batch; i++) {
        const float *x = samples + (size_t)i * N;
        const float *g = dout + (size_t)i * B * T;
        float *dx = dsamples + (size_t)i * N;
        memset(dx, 0, sizeof(float) * (size_t)N);
        for (int t = 0; t < T; t++) {
            frame_spectrum(c, x, t);
            float dm[1024];
            for (int b = 0; b < B; b++)
                dm[b] = g[(size_t)b * T + t] / (c->config.epsilon + band_power(c, b));
            memset(dpower, 0, sizeof(float) * (size_t)c->bins);
            for (int b = 0; b < B; b++) {
                const float *f = c->filters + (size_t)b * c->bins;
                for (int k = c->first[b]; k <= c->last[b]; k++)
                    dpower[k] += f[k] * dm[b];
            }
            for (int k = 0; k < c->bins; k++) {
                float scale = (k == 0 || k == c->bins - 1) ? 2.0f : 1.0f;
                c->spectrum[k][0] *= scale * dpower[k];
                c->spectrum[k][1] *= scale * dpower[k];
            }
            fftwf_execute(c->c2r);
            float factor = 1.0f / c->window_sum; /* c2r gave 2 Re Σ */
            float *d = dx + (size_t)t * c->config.hop;
            for (int n = 0; n < L; n++)
                d[n] += factor * c->window[n] * c->frame[n];
        }
    }
}
