/* clips.c: sound clips for auditory experiments: their level budget (RMS in
 * dB re full scale), onset/offset ramps, and a synthetic set with some of
 * natural sounds' statistics, reproducible from a seed.
 *
 * Level: 20 log10(RMS), full scale ±1, so a full-scale square wave is 0 dBFS
 * and a full-scale sine −3.01 dBFS. Setting a level scales the clip (in
 * double) so its RMS is the target to float rounding; a clip that would then
 * exceed full scale is refused, never clipped (clipping changes the RMS and
 * the spectrum).
 *
 * The synthetic kinds (clip i is kind i mod 4, its random draws seeded by
 * (seed, i) alone, so a clip does not depend on how many are made):
 *   harmonic  a harmonic stack whose fundamental (100..600 Hz, log-uniform)
 *             follows a pitch contour: a glide of up to ±half an octave over
 *             the clip and a vibrato (3..8 Hz, up to 1/20 octave); harmonic
 *             amplitudes fall as h^-s (s 0.5..2) under a formant bump (a
 *             Gaussian on log frequency); phase integrated from the
 *             instantaneous frequency, harmonics kept below 0.45 × rate at
 *             the contour's highest point (no aliasing)
 *   noise     Gaussian noise whose spectrum is a band (centre 200 Hz..0.4 ×
 *             rate, 0.3..1.5 octaves, Gaussian on log frequency) on a 1/f
 *             power tilt, times an envelope exp(d·m(t)), m a Gaussian process
 *             of unit variance whose power spectrum is 1/f from 0.5 to 100 Hz
 *             (natural sounds' modulation spectra fall as about 1/f: Attias
 *             & Schreiner 1997, Singh & Theunissen 2003), d 0.3..1.0
 *   clicks    a train of damped tone pips (carrier 500 Hz..0.4 × rate, time
 *             constant 0.8..2.7 ms, cut after three) at 10..40 Hz with ±30%
 *             jitter in the intervals (no sparser or shorter: the crest
 *             factor stays under about 27 dB, so −30 dBFS fits full scale)
 *   sweep     one to three logarithmic FM sweeps (200 Hz..0.4 × rate, either
 *             direction, 50..400 ms each) at random times with 5 ms ramps
 * then the clip's onset/offset ramps and its level. Noise and its envelope
 * are drawn as random spectra taken back to time by FFTW's inverse real FFT
 * (planned per call: call from one thread at a time). */
#include "model.h"

#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

double clip_rms_db(const float *x, int n)
{
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)x[i] * x[i];
    return 10 * log10(s / n); /* -inf for silence */
}

int clip_set_rms_db(float *x, int n, double db, char *err)
{
    double s = 0, peak = 0;
    for (int i = 0; i < n; i++) {
        if (!isfinite(x[i])) {
            return model_fail(err, "clip: sample %d is not finite", i);
        }
        s += (double)x[i] * x[i];
        peak = fmax(peak, fabs(x[i]));
    }
    double rms = sqrt(s / n), target = pow(10, db / 20);
    if (!(db <= 0) || !isfinite(db)) {
        return model_fail(err, "clip: a level of %g dBFS is not below full scale", db);
    }
    /* Below 1e-20 the clip is silence or denormal noise: no level to scale. */
    if (!(rms > 1e-20)) {
        return model_fail(err, "clip: silent (RMS %.3g), no level can be set", rms);
    }
    double gain = target / rms;
    if (peak * gain > 1) {
        return model_fail(err, "clip: at %.2f dBFS its peak would reach %.2f dBFS "
                          "(crest factor %.1f dB): refused rather than clipped", db,
                          20 * log10(peak * gain), 20 * log10(peak / rms));
    }
    for (int i = 0; i < n; i++)
        x[i] = (float)(x[i] * gain);
    return 0;
}

void clip_ramp(float *x, int n, int ramp)
{
    if (ramp > n / 2)
        ramp = n / 2;
    for (int i = 0; i < ramp; i++) {
        /* Raised cosine from 0 (the first and last sample) towards 1. */
        float w = (float)(0.5 - 0.5 * cos(M_PI * i / ramp));
        x[i] *= w;
        x[n - 1 - i] *= w;
    }
}

int clip_tone(float *x, int n, int rate, double hz, int ramp, double db, char *err)
{
    if (!(hz > 0 && hz < rate / 2.0)) {
        return model_fail(err, "clip: a tone at %g Hz is not between 0 and the "
                          "Nyquist frequency (%d Hz)", hz, rate / 2);
    }
    for (int i = 0; i < n; i++)
        x[i] = (float)sin(2 * M_PI * hz * i / rate);
    clip_ramp(x, n, ramp);
    return clip_set_rms_db(x, n, db, err);
}

const char *clip_kind_name(int kind)
{
    static const char *names[CLIP_KINDS] = {"harmonic", "noise", "clicks", "sweep"};
    return kind >= 0 && kind < CLIP_KINDS ? names[kind] : "?";
}

static double log_uniform(model_rng *rng, double lo, double hi)
{
    return lo * pow(hi / lo, model_rng_uniform(rng));
}

static double uniform(model_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * model_rng_uniform(rng);
}

static void harmonic(float *x, int n, int rate, model_rng *rng)
{
    double f0 = log_uniform(rng, 100, 600), glide = uniform(rng, -0.5, 0.5);
    double vib_rate = uniform(rng, 3, 8), vib_depth = uniform(rng, 0, 0.05);
    double vib_phase = uniform(rng, 0, 2 * M_PI), slope = uniform(rng, 0.5, 2);
    double formant = log_uniform(rng, 300, 0.3 * rate), formant_width = uniform(rng, 0.5, 1.5);
    double highest = f0 * pow(2, fabs(glide) / 2 + vib_depth);
    int harmonics = (int)(0.45 * rate / highest);
    double amp[64], phase[64];
    if (harmonics > 64)
        harmonics = 64;
    for (int h = 1; h <= harmonics; h++) {
        double octaves = log2(h * f0 / formant) / formant_width;
        amp[h - 1] = pow(h, -slope) * (0.2 + exp(-0.5 * octaves * octaves));
        phase[h - 1] = uniform(rng, 0, 2 * M_PI);
    }
    double theta = 0; /* the fundamental's phase, integrated */
    for (int i = 0; i < n; i++) {
        double t = (double)i / rate, u = (double)i / n - 0.5;
        double f = f0 * pow(2, glide * u + vib_depth * sin(2 * M_PI * vib_rate * t + vib_phase));
        double v = 0;
        for (int h = 0; h < harmonics; h++)
            v += amp[h] * sin((h + 1) * theta + phase[h]);
        x[i] = (float)v;
        theta = fmod(theta + 2 * M_PI * f / rate, 2 * M_PI);
    }
}

/* A Gaussian signal of n samples whose amplitude spectrum is shape(f) (f in
 * Hz), random phases, into x, scaled to unit RMS. */
static int shaped_noise(float *x, int n, int rate, model_rng *rng,
                        double (*shape)(double f, const double *p), const double *params)
{
    int bins = n / 2 + 1;
    fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * (size_t)bins);
    float *out = fftwf_malloc(sizeof(float) * (size_t)n);
    fftwf_plan plan = spec && out ? fftwf_plan_dft_c2r_1d(n, spec, out, FFTW_ESTIMATE) : NULL;
    if (!plan) {
        fftwf_free(spec);
        fftwf_free(out);
        return 1;
    }
    for (int k = 0; k < bins; k++) {
        double a = shape((double)k * rate / n, params);
        spec[k][0] = (float)(a * model_rng_normal(rng));
        spec[k][1] = (float)(a * model_rng_normal(rng));
    }
    fftwf_execute(plan);
    double s = 0;
    for (int i = 0; i < n; i++)
        s += (double)out[i] * out[i];
    double g = s > 0 ? 1 / sqrt(s / n) : 0;
    for (int i = 0; i < n; i++)
        x[i] = (float)(out[i] * g);
    fftwf_destroy_plan(plan);
    fftwf_free(spec);
    fftwf_free(out);
    return 0;
}

/* params: centre Hz, width in octaves. A band on a 1/f power tilt. */
static double band_shape(double f, const double *p)
{
    if (f <= 0)
        return 0;
    double octaves = log2(f / p[0]) / p[1];
    return exp(-0.5 * octaves * octaves) / sqrt(f);
}

/* params: lowest, highest modulation frequency. Power 1/f between them. */
static double modulation_shape(double f, const double *p)
{
    return f >= p[0] && f <= p[1] ? 1 / sqrt(f) : 0;
}

static int noise(float *x, int n, int rate, model_rng *rng)
{
    double band[2] = {log_uniform(rng, 200, 0.4 * rate), uniform(rng, 0.3, 1.5)};
    double modulation[2] = {0.5, 100}, depth = uniform(rng, 0.3, 1.0);
    float *m = malloc(sizeof(float) * (size_t)n);
    if (!m || shaped_noise(x, n, rate, rng, band_shape, band) ||
        shaped_noise(m, n, rate, rng, modulation_shape, modulation)) {
        free(m);
        return 1;
    }
    for (int i = 0; i < n; i++)
        x[i] *= (float)exp(depth * m[i]);
    free(m);
    return 0;
}

static void clicks(float *x, int n, int rate, model_rng *rng)
{
    double click_rate = log_uniform(rng, 10, 40), carrier = log_uniform(rng, 500, 0.4 * rate);
    double tau = uniform(rng, 0.0024, 0.008) / 3; /* decays to 5% over the pip */
    int pip = (int)(3 * tau * rate) + 1;
    memset(x, 0, sizeof(float) * (size_t)n);
    double t = uniform(rng, 0, 1 / click_rate);
    while (t * rate < n) {
        int start = (int)(t * rate);
        for (int i = 0; i < pip && start + i < n; i++) {
            double s = (double)i / rate;
            x[start + i] += (float)(exp(-s / tau) * sin(2 * M_PI * carrier * s));
        }
        t += uniform(rng, 0.7, 1.3) / click_rate;
    }
}

static void sweep(float *x, int n, int rate, model_rng *rng)
{
    memset(x, 0, sizeof(float) * (size_t)n);
    int count = 1 + (int)(model_rng_uniform(rng) * 3);
    for (int s = 0; s < count; s++) {
        double f1 = log_uniform(rng, 200, 0.4 * rate), f2 = log_uniform(rng, 200, 0.4 * rate);
        int length = (int)(uniform(rng, 0.05, 0.4) * rate);
        if (length > n)
            length = n;
        int start = (int)(model_rng_uniform(rng) * (n - length + 1));
        int ramp = (int)(0.005 * rate);
        double theta = uniform(rng, 0, 2 * M_PI);
        for (int i = 0; i < length; i++) {
            double f = f1 * pow(f2 / f1, (double)i / length);
            double w = 1;
            if (i < ramp)
                w = 0.5 - 0.5 * cos(M_PI * i / ramp);
            else if (length - 1 - i < ramp)
                w = 0.5 - 0.5 * cos(M_PI * (length - 1 - i) / ramp);
            x[start + i] += (float)(w * sin(theta));
            theta = fmod(theta + 2 * M_PI * f / rate, 2 * M_PI);
        }
    }
}

int clip_synthetic(float *out, int count, int samples, int rate, double rms_db,
                   double ramp_ms, uint64_t seed, int *kinds, char *err)
{
    if (samples < 64 || rate < 4000 || count < 0) {
        return model_fail(err, "clip: %d synthetic clips of %d samples at %d Hz "
                          "(at least 64 samples at 4 kHz)", count, samples, rate);
    }
    int ramp = (int)lround(ramp_ms * 1e-3 * rate);
    for (int i = 0; i < count; i++) {
        model_rng rng;
        model_rng_seed(&rng, model_rng_stream(seed, (uint64_t)i));
        float *x = out + (size_t)i * samples;
        int kind = i % CLIP_KINDS;
        if (kind == CLIP_HARMONIC)
            harmonic(x, samples, rate, &rng);
        else if (kind == CLIP_NOISE) {
            if (noise(x, samples, rate, &rng)) {
                return model_fail(err, "clip: out of memory for noise");
            }
        } else if (kind == CLIP_CLICKS)
            clicks(x, samples, rate, &rng);
        else
            sweep(x, samples, rate, &rng);
        clip_ramp(x, samples, ramp);
        char inner[MODEL_ERR_SIZE];
        if (clip_set_rms_db(x, samples, rms_db, inner)) {
            return model_fail(err, "synthetic clip %d (%s): %s", i, clip_kind_name(kind), inner);
        }
        if (kinds)
            kinds[i] = kind;
    }
    return 0;
}
