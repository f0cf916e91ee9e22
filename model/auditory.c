/* auditory.c: a simulated auditory population standing in for an animal,
 * with a ground truth. Every cell reads the population's cochleagram
 * S[b][t] (log band power, nats; cochleagram.c) of a clip and fires a
 * Poisson count over the whole clip with mean offset + gain · drive:
 *
 *   strf          mean_t [Σ_b Σ_τ K[b][τ] S[b][t − τ]]₊ over the frames with a
 *                 full kernel: a linear spectrotemporal receptive field K (a
 *                 Gabor over bands × lags, zero-mean, unit norm: a best band,
 *                 a latency, spectral and temporal modulation) and a
 *                 threshold-linear output (Theunissen et al. 2000; David et
 *                 al. 2009)
 *   facilitation  mean_t √([S[b₁][t] − θ]₊ [S[b₂][t] − θ]₊): an AND of two
 *                 bands a harmonic ratio (3:2, 2:1 or 3:1) apart, silent unless
 *                 both are loud (two-tone and harmonic facilitation: Sutter &
 *                 Schreiner 1991, Feng & Wang 2017)
 *   onset         mean_t [p (u(t) − u(t − 1)) − θ]₊, u the mean of S over a
 *                 few bands: rises of level (p = 1) or falls (p = −1, offset)
 *   level         mean_t exp(−(S[b][t] − L)² / 2w²): non-monotonic level
 *                 tuning, best at band level L below the budget's (Sutter &
 *                 Schreiner 1995)
 *
 * Gains: each cell's drive is measured on 64 synthetic clips at the budget
 * (clips.c, from the population's seed); gain makes the 90th percentile of
 * those drives a target rate of 4..12 spikes (drawn), offset 0.1..1 spike. A
 * cell whose 90th percentile is 0 (natural sounds never reach it) is drawn
 * again.
 *
 * Optima at the budget (auditory_cell_optimum):
 *   level         known: the supremum offset + gain, reached by any steady
 *                 sound whose band-b power is L in every frame. Built as a tone
 *                 at the frequency that drives band b most (searched on a
 *                 grid over the band) plus a tone half the bands away that
 *                 carries the rest of the budget; the first tone's amplitude
 *                 is searched on a grid. Ramped frames at the ends fall short
 *                 of L, so the built clip reaches slightly less than the
 *                 supremum; the supremum is what is reported as the value.
 *   facilitation  known (to about 1%: a search from it gains under 1%, from
 *                 the grids and the ramped ends): two steady tones at the frequencies that drive b₁
 *                 and b₂ most, at equal power, filling the budget. Why: per
 *                 frame the drive is a concave increasing function of each
 *                 band's power (√ of a product of logs above threshold), so
 *                 for a fixed total power it is largest with every frame
 *                 alike and all power in the two bands, split evenly (the
 *                 two factors are the same function of their share). The
 *                 split is still searched on a grid (the bands' gains
 *                 differ slightly); the value is that clip's drive.
 *   strf, onset   searched: gradient ascent on the waveform through the cell
 *                 (clip_ascent.c) from the synthetic clip that drives it
 *                 most and from white noise; the better end is the optimum.
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CALIBRATION_CLIPS 64
#define STRF_LAGS 10 /* 100 ms at the default 10 ms hop */

struct auditory_population {
    auditory_config config;
    cochleagram *cochlea;
    int bands, frames;
    auditory_cell *cells;
    float *kernels;   /* neurons × bands × STRF_LAGS (zero for other types) */
    float *image;     /* bands × frames scratch */
    float *dimage;    /* bands × frames scratch */
    float *calibration; /* CALIBRATION_CLIPS × samples: the clips gains were set on */
};

const char *auditory_cell_type_name(int type)
{
    static const char *names[AUDITORY_CELL_TYPES] = {"strf", "facilitation", "onset", "level"};
    return type >= 0 && type < AUDITORY_CELL_TYPES ? names[type] : "?";
}

void auditory_config_default(auditory_config *c)
{
    memset(c, 0, sizeof *c);
    c->neurons = 40;
    cochleagram_config_default(&c->cochlea);
    c->rms_db = -30;
    c->ramp_ms = 5;
    c->seed = 1;
}

void auditory_config_for(int rate, int samples, int bands, double rms_db, auditory_config *c)
{
    auditory_config_default(c);
    cochleagram_config *k = &c->cochlea;
    k->sample_rate = rate;
    k->samples = samples;
    /* The default's 25 ms window and 10 ms hop at this rate, the window even. */
    k->window = 2 * (int)lround(0.0125 * rate);
    k->hop = (int)lround(0.01 * rate);
    k->bands = bands;
    k->high_hz = (float)fmin(7600, 0.475 * rate);
    c->rms_db = rms_db;
}

/* ---- Drives and their gradients with respect to one cochleagram ---- */

static double strf_drive(const auditory_population *p, int n, const float *S, float *dS)
{
    const float *K = p->kernels + (size_t)n * p->bands * STRF_LAGS;
    int B = p->bands, T = p->frames, used = T - STRF_LAGS + 1;
    double total = 0;
    for (int t = STRF_LAGS - 1; t < T; t++) {
        double d = 0;
        for (int b = 0; b < B; b++)
            for (int l = 0; l < STRF_LAGS; l++)
                d += K[b * STRF_LAGS + l] * S[b * T + t - l];
        if (d <= 0)
            continue;
        total += d;
        if (dS)
            for (int b = 0; b < B; b++)
                for (int l = 0; l < STRF_LAGS; l++)
                    dS[b * T + t - l] += K[b * STRF_LAGS + l] / (float)used;
    }
    return total / used;
}

static double facilitation_drive(const auditory_population *p, const auditory_cell *c,
                                 const float *S, float *dS)
{
    int T = p->frames;
    const float *s1 = S + (size_t)c->band * T, *s2 = S + (size_t)c->band2 * T;
    double total = 0;
    for (int t = 0; t < T; t++) {
        double a1 = s1[t] - c->threshold, a2 = s2[t] - c->threshold;
        if (a1 <= 0 || a2 <= 0)
            continue;
        double g = sqrt(a1 * a2);
        total += g;
        if (dS) {
            dS[(size_t)c->band * T + t] += (float)(0.5 * g / a1 / T);
            dS[(size_t)c->band2 * T + t] += (float)(0.5 * g / a2 / T);
        }
    }
    return total / T;
}

static double onset_drive(const auditory_population *p, const auditory_cell *c,
                          const float *S, float *dS)
{
    int T = p->frames, width = c->band2 - c->band + 1;
    double total = 0, prev = 0;
    for (int t = 0; t < T; t++) {
        double u = 0;
        for (int b = c->band; b <= c->band2; b++)
            u += S[(size_t)b * T + t];
        u /= width;
        if (t > 0) {
            double d = c->polarity * (u - prev) - c->threshold;
            if (d > 0) {
                total += d;
                if (dS)
                    for (int b = c->band; b <= c->band2; b++) {
                        dS[(size_t)b * T + t] += (float)(c->polarity / (double)width / (T - 1));
                        dS[(size_t)b * T + t - 1] -=
                            (float)(c->polarity / (double)width / (T - 1));
                    }
            }
        }
        prev = u;
    }
    return total / (T - 1);
}

static double level_drive(const auditory_population *p, const auditory_cell *c, const float *S,
                          float *dS)
{
    int T = p->frames;
    const float *s = S + (size_t)c->band * T;
    double total = 0, w2 = (double)c->level_width * c->level_width;
    for (int t = 0; t < T; t++) {
        double e = s[t] - c->best_level, g = exp(-e * e / (2 * w2));
        total += g;
        if (dS)
            dS[(size_t)c->band * T + t] += (float)(-g * e / w2 / T);
    }
    return total / T;
}

/* The drive of cell n for cochleagram S; dS (bands × frames, accumulated)
 * receives ∂drive/∂S when not NULL. */
static double cell_drive(const auditory_population *p, int n, const float *S, float *dS)
{
    const auditory_cell *c = &p->cells[n];
    switch (c->type) {
    case AUDITORY_STRF:
        return strf_drive(p, n, S, dS);
    case AUDITORY_FACILITATION:
        return facilitation_drive(p, c, S, dS);
    case AUDITORY_ONSET:
        return onset_drive(p, c, S, dS);
    default:
        return level_drive(p, c, S, dS);
    }
}

/* ---- Drawing cells ---- */

static double uniform(model_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * model_rng_uniform(rng);
}

static int nearest_band(const auditory_population *p, double hz)
{
    int best = 0;
    for (int b = 1; b < p->bands; b++)
        if (fabs(log(cochleagram_band_hz(p->cochlea, b) / hz)) <
            fabs(log(cochleagram_band_hz(p->cochlea, best) / hz)))
            best = b;
    return best;
}

static void draw_strf(auditory_population *p, int n, model_rng *rng)
{
    auditory_cell *c = &p->cells[n];
    int B = p->bands;
    c->band = (int)uniform(rng, 2, B - 2);
    c->band_sigma = (float)uniform(rng, 1, 3);
    c->spectral_cycles = (float)uniform(rng, 0, 0.25);
    c->latency = (float)uniform(rng, 1, 4);
    c->lag_sigma = (float)uniform(rng, 1, 2.5);
    c->temporal_cycles = (float)uniform(rng, 0, 0.15);
    c->phase = (float)uniform(rng, 0, 2 * M_PI);
    float *K = p->kernels + (size_t)n * B * STRF_LAGS;
    double env_sum = 0, mean = 0, norm = 0;
    for (int b = 0; b < B; b++)
        for (int l = 0; l < STRF_LAGS; l++) {
            double db = (b - c->band) / c->band_sigma, dl = (l - c->latency) / c->lag_sigma;
            double env = exp(-0.5 * (db * db + dl * dl));
            env_sum += env;
            mean += env * cos(2 * M_PI * (c->spectral_cycles * (b - c->band) +
                                          c->temporal_cycles * (l - c->latency)) + c->phase);
        }
    mean /= env_sum;
    for (int b = 0; b < B; b++)
        for (int l = 0; l < STRF_LAGS; l++) {
            double db = (b - c->band) / c->band_sigma, dl = (l - c->latency) / c->lag_sigma;
            double env = exp(-0.5 * (db * db + dl * dl));
            double v = env * (cos(2 * M_PI * (c->spectral_cycles * (b - c->band) +
                                              c->temporal_cycles * (l - c->latency)) + c->phase) -
                              mean);
            K[b * STRF_LAGS + l] = (float)v;
            norm += v * v;
        }
    for (int i = 0; i < B * STRF_LAGS; i++)
        K[i] = (float)(K[i] / sqrt(norm));
}

static void draw_cell(auditory_population *p, int n, model_rng *rng, double budget_nats)
{
    auditory_cell *c = &p->cells[n];
    auditory_cell_type type = c->type;
    memset(c, 0, sizeof *c);
    memset(p->kernels + (size_t)n * p->bands * STRF_LAGS, 0,
           sizeof(float) * (size_t)p->bands * STRF_LAGS);
    c->type = type;
    int B = p->bands;
    if (type == AUDITORY_STRF) {
        draw_strf(p, n, rng);
    } else if (type == AUDITORY_FACILITATION) {
        static const double ratios[3] = {1.5, 2.0, 3.0};
        for (int tries = 0; tries < 100; tries++) {
            c->band = (int)uniform(rng, 1, B / 2);
            c->ratio = (float)ratios[(int)uniform(rng, 0, 3)];
            c->band2 = nearest_band(p, cochleagram_band_hz(p->cochlea, c->band) * c->ratio);
            if (c->band2 - c->band >= 3 && c->band2 < B - 1)
                break;
        }
        if (c->band2 - c->band < 3 || c->band2 >= B - 1) { /* a cochleagram of few bands */
            c->band = 1;
            c->band2 = 4;
        }
        c->threshold = (float)(budget_nats - uniform(rng, 6, 9));
    } else if (type == AUDITORY_ONSET) {
        c->band = (int)uniform(rng, 0, B - 6);
        c->band2 = c->band + 2 + (int)uniform(rng, 0, 4);
        c->polarity = model_rng_uniform(rng) < 0.75 ? 1 : -1;
        c->threshold = (float)uniform(rng, 0.2, 1.0);
    } else {
        c->band = (int)uniform(rng, 1, B - 1);
        c->best_level = (float)(budget_nats - uniform(rng, 3, 8));
        c->level_width = (float)uniform(rng, 1, 2);
    }
    c->best_hz = (float)cochleagram_band_hz(p->cochlea, c->band);
    c->offset = (float)uniform(rng, 0.1, 1.0);
    c->gain = (float)uniform(rng, 4, 12); /* the target; divided by the drive below */
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void auditory_population_destroy(auditory_population *p)
{
    if (!p)
        return;
    cochleagram_destroy(p->cochlea);
    free(p->cells);
    free(p->kernels);
    free(p->image);
    free(p->dimage);
    free(p->calibration);
    free(p);
}

int auditory_population_create(auditory_population **out, const auditory_config *c, char *err)
{
    *out = NULL;
    if (c->neurons < 1 || c->neurons > 100000) {
        return model_fail(err, "auditory population: %d neurons (1..100000)", c->neurons);
    }
    auditory_population *p = calloc(1, sizeof *p);
    if (!p) {
        return model_fail(err, "auditory population: out of memory");
    }
    p->config = *c;
    if (cochleagram_create(&p->cochlea, &c->cochlea, err)) {
        free(p);
        return 1;
    }
    p->bands = c->cochlea.bands;
    p->frames = cochleagram_frames(p->cochlea);
    int N = c->neurons, S = c->cochlea.samples, BT = p->bands * p->frames;
    if (p->frames < STRF_LAGS + 1 || p->bands < 8) {
        model_fail(err, "auditory population: a cochleagram of %d bands × %d "
                   "frames is too small (8 bands, %d frames at least)", p->bands, p->frames,
                   STRF_LAGS + 1);
        auditory_population_destroy(p);
        return 1;
    }
    p->cells = calloc((size_t)N, sizeof *p->cells);
    p->kernels = calloc((size_t)N * p->bands * STRF_LAGS, sizeof(float));
    p->image = malloc(sizeof(float) * (size_t)BT);
    p->dimage = malloc(sizeof(float) * (size_t)BT);
    p->calibration = malloc(sizeof(float) * (size_t)CALIBRATION_CLIPS * S);
    float *images = malloc(sizeof(float) * (size_t)CALIBRATION_CLIPS * BT);
    double *drives = malloc(sizeof(double) * CALIBRATION_CLIPS);
    if (!p->cells || !p->kernels || !p->image || !p->dimage || !p->calibration || !images ||
        !drives) {
        free(images);
        free(drives);
        auditory_population_destroy(p);
        return model_fail(err, "auditory population: out of memory");
    }
    char inner[MODEL_ERR_SIZE];
    if (clip_synthetic(p->calibration, CALIBRATION_CLIPS, S, c->cochlea.sample_rate, c->rms_db,
                       c->ramp_ms, model_rng_stream(c->seed, 1), NULL, inner)) {
        model_fail(err, "auditory population: calibration clips: %s", inner);
        free(images);
        free(drives);
        auditory_population_destroy(p);
        return 1;
    }
    cochleagram_forward(p->cochlea, images, p->calibration, CALIBRATION_CLIPS);
    /* The budget as a band's log power: a tone of that RMS puts about
     * RMS²/2 (its power A²/4 at the peak bin, and Hann's leakage) in its band. */
    double budget_nats = log(pow(10, c->rms_db / 10) / 2);
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(c->seed, 2));
    for (int n = 0; n < N; n++) {
        p->cells[n].type = (auditory_cell_type)(n % AUDITORY_CELL_TYPES);
        int tries = 0;
        for (;; tries++) {
            draw_cell(p, n, &rng, budget_nats);
            for (int i = 0; i < CALIBRATION_CLIPS; i++)
                drives[i] = cell_drive(p, n, images + (size_t)i * BT, NULL);
            qsort(drives, CALIBRATION_CLIPS, sizeof(double), compare_double);
            double p90 = drives[CALIBRATION_CLIPS * 9 / 10];
            if (p90 > 0) {
                p->cells[n].gain = (float)(p->cells[n].gain / p90);
                break;
            }
            if (tries == 200) {
                model_fail(err, "auditory population: no %s cell that natural "
                           "sounds drive in 200 draws", auditory_cell_type_name(p->cells[n].type));
                free(images);
                free(drives);
                auditory_population_destroy(p);
                return 1;
            }
        }
    }
    free(images);
    free(drives);
    *out = p;
    return 0;
}

int auditory_population_neurons(const auditory_population *p)
{
    return p->config.neurons;
}

const auditory_cell *auditory_population_cell(const auditory_population *p, int n)
{
    return &p->cells[n];
}

const auditory_config *auditory_population_config(const auditory_population *p)
{
    return &p->config;
}

int auditory_population_kernel(const auditory_population *p, int n, const float **kernel,
                               int *lags)
{
    *lags = STRF_LAGS;
    *kernel = p->kernels + (size_t)n * p->bands * STRF_LAGS;
    return p->cells[n].type == AUDITORY_STRF ? 0 : 1;
}

void auditory_population_rates_image(const auditory_population *p, const float *images,
                                     int batch, float *rates)
{
    int N = p->config.neurons, BT = p->bands * p->frames;
    for (int i = 0; i < batch; i++)
        for (int n = 0; n < N; n++)
            rates[(size_t)i * N + n] = (float)(p->cells[n].offset +
                                               p->cells[n].gain *
                                                   cell_drive(p, n, images + (size_t)i * BT, NULL));
}

void auditory_population_rates(auditory_population *p, const float *clips, int batch,
                               float *rates)
{
    int N = p->config.neurons, S = p->config.cochlea.samples;
    for (int i = 0; i < batch; i++) {
        cochleagram_forward(p->cochlea, p->image, clips + (size_t)i * S, 1);
        auditory_population_rates_image(p, p->image, 1, rates + (size_t)i * N);
    }
}

void auditory_population_sample(auditory_population *p, const float *clips, int batch,
                                 model_rng *rng, float *counts)
{
    int N = p->config.neurons;
    auditory_population_rates(p, clips, batch, counts);
    for (size_t i = 0; i < (size_t)batch * N; i++)
        counts[i] = (float)model_rng_poisson(rng, counts[i]);
}

double auditory_cell_gradient_image(const auditory_population *p, int n, const float *image,
                                    float *dimage)
{
    int BT = p->bands * p->frames;
    memset(dimage, 0, sizeof(float) * (size_t)BT);
    const auditory_cell *c = &p->cells[n];
    double rate = c->offset + c->gain * cell_drive(p, n, image, dimage);
    for (int i = 0; i < BT; i++)
        dimage[i] *= c->gain;
    return rate;
}

double auditory_cell_gradient(auditory_population *p, int n, const float *clip, float *grad)
{
    cochleagram_forward(p->cochlea, p->image, clip, 1);
    double rate = auditory_cell_gradient_image(p, n, p->image, p->dimage);
    cochleagram_backward(p->cochlea, grad, p->dimage, clip, 1);
    return rate;
}

/* ---- Optima ---- */

typedef struct cell_target {
    auditory_population *p;
    int n;
} cell_target;

static double cell_objective(const float *clip, float *grad, void *user)
{
    cell_target *t = user;
    return auditory_cell_gradient(t->p, t->n, clip, grad);
}

int auditory_cell_ascend(auditory_population *p, int n, const clip_ascent_options *o,
                         float *clip, double *rate, char *err)
{
    cell_target target = {p, n};
    return clip_ascend(clip, p->config.cochlea.samples, o, cell_objective, &target, rate, err);
}

static double cell_rate(auditory_population *p, int n, const float *clip)
{
    cochleagram_forward(p->cochlea, p->image, clip, 1);
    return p->cells[n].offset + p->cells[n].gain * cell_drive(p, n, p->image, NULL);
}

static void add_tone(float *x, int S, double hz, double amp, int rate)
{
    for (int i = 0; i < S; i++)
        x[i] += (float)(amp * sin(2 * M_PI * hz * i / rate));
}

/* The frequency (on a grid over band b's triangle) whose tone puts the most
 * power into band b. */
static double best_tone_hz(auditory_population *p, int b, float *x)
{
    const cochleagram_config *c = &p->config.cochlea;
    double lo = b > 0 ? cochleagram_band_hz(p->cochlea, b - 1) : c->low_hz;
    double hi = b + 1 < p->bands ? cochleagram_band_hz(p->cochlea, b + 1) : c->high_hz;
    double best_hz = cochleagram_band_hz(p->cochlea, b), best = -INFINITY;
    int S = c->samples, T = p->frames;
    for (int k = 0; k <= 24; k++) {
        double hz = lo + (hi - lo) * k / 24;
        memset(x, 0, sizeof(float) * (size_t)S);
        add_tone(x, S, hz, 0.1, c->sample_rate);
        cochleagram_forward(p->cochlea, p->image, x, 1);
        double v = p->image[(size_t)b * T + T / 2];
        if (v > best) {
            best = v;
            best_hz = hz;
        }
    }
    return best_hz;
}

/* Two tones with powers share and 1 - share, ramped, at the budget. */
static int two_tones(auditory_population *p, float *x, double hz1, double hz2, double share)
{
    const auditory_config *c = &p->config;
    int S = c->cochlea.samples;
    memset(x, 0, sizeof(float) * (size_t)S);
    add_tone(x, S, hz1, sqrt(share), c->cochlea.sample_rate);
    add_tone(x, S, hz2, sqrt(1 - share), c->cochlea.sample_rate);
    clip_ramp(x, S, (int)lround(c->ramp_ms * 1e-3 * c->cochlea.sample_rate));
    char err[MODEL_ERR_SIZE];
    return clip_set_rms_db(x, S, c->rms_db, err);
}

int auditory_cell_optimum(auditory_population *p, int n, const clip_ascent_options *search,
                          float *clip, double *rate, int *known, char *err)
{
    const auditory_cell *c = &p->cells[n];
    const auditory_config *k = &p->config;
    int S = k->cochlea.samples;
    float *x = malloc(sizeof(float) * (size_t)S);
    if (!x) {
        return model_fail(err, "auditory optimum: out of memory");
    }
    *known = c->type == AUDITORY_FACILITATION || c->type == AUDITORY_LEVEL;
    double best = -INFINITY;
    if (c->type == AUDITORY_FACILITATION || c->type == AUDITORY_LEVEL) {
        double hz1 = best_tone_hz(p, c->band, x);
        /* The level cell's filler tone: half the bands away. */
        int far = c->band < p->bands / 2 ? c->band + p->bands / 2 : c->band - p->bands / 2;
        double hz2 = c->type == AUDITORY_FACILITATION ? best_tone_hz(p, c->band2, x)
                                                      : cochleagram_band_hz(p->cochlea, far);
        /* Facilitation: shares near 1/2; level: the tone's share over 60 dB. */
        int steps = c->type == AUDITORY_FACILITATION ? 20 : 120;
        for (int i = 0; i <= steps; i++) {
            double share = c->type == AUDITORY_FACILITATION ? 0.3 + 0.4 * i / steps
                                                            : pow(10, -6.0 * i / steps);
            if (share >= 1)
                share = 0.999999;
            if (two_tones(p, x, hz1, hz2, share))
                continue;
            double r = cell_rate(p, n, x);
            if (r > best) {
                best = r;
                memcpy(clip, x, sizeof(float) * (size_t)S);
            }
        }
        if (c->type == AUDITORY_LEVEL)
            best = c->offset + c->gain; /* the supremum (see the top of this file) */
    } else {
        /* Starts: the calibration clip that drives the cell most, and noise. */
        int top = 0;
        double top_rate = -INFINITY;
        for (int i = 0; i < CALIBRATION_CLIPS; i++) {
            double r = cell_rate(p, n, p->calibration + (size_t)i * S);
            if (r > top_rate) {
                top_rate = r;
                top = i;
            }
        }
        for (int start = 0; start < 2; start++) {
            if (start == 0) {
                memcpy(x, p->calibration + (size_t)top * S, sizeof(float) * (size_t)S);
            } else {
                model_rng rng;
                model_rng_seed(&rng, model_rng_stream(k->seed, 100 + (uint64_t)n));
                for (int i = 0; i < S; i++)
                    x[i] = (float)model_rng_normal(&rng);
            }
            double v;
            if (auditory_cell_ascend(p, n, search, x, &v, err)) {
                free(x);
                return 1;
            }
            if (v > best) {
                best = v;
                memcpy(clip, x, sizeof(float) * (size_t)S);
            }
        }
    }
    free(x);
    if (!(best > -INFINITY)) {
        return model_fail(err, "auditory optimum: no candidate for cell %d fits the "
                          "budget", n);
    }
    *rate = best;
    return 0;
}

void auditory_search_default(const auditory_population *p, clip_ascent_options *o)
{
    o->rms_db = p->config.rms_db;
    o->ramp = (int)lround(p->config.ramp_ms * 1e-3 * p->config.cochlea.sample_rate);
    o->steps = 1000;
    o->step_size = 0.05;
}

/* ---- A simulated recording ---- */

void auditory_dataset_options_default(auditory_dataset_options *o)
{
    memset(o, 0, sizeof *o);
    auditory_config_default(&o->population);
    o->train_clips = 2000;
    o->validation_fraction = 0.1f;
    o->test_clips = 50;
    o->test_repeats = 10;
    o->seed = 1;
}

int auditory_dataset(const auditory_dataset_options *o, dataset *out, float **clips_out,
                     char *err)
{
    memset(out, 0, sizeof *out);
    if (clips_out)
        *clips_out = NULL;
    if (o->train_clips < 1 || o->test_clips < 0 || o->test_repeats < 1 ||
        !(o->validation_fraction >= 0 && o->validation_fraction < 1)) {
        return model_fail(err, "auditory dataset: %d training clips, %d test clips × %d "
                          "repeats, validation fraction %g", o->train_clips, o->test_clips,
                          o->test_repeats, o->validation_fraction);
    }
    auditory_population *p;
    if (auditory_population_create(&p, &o->population, err))
        return 1;
    int S = o->population.cochlea.samples, BT = p->bands * p->frames;
    int N = o->population.neurons, distinct = o->train_clips + o->test_clips;
    int trials = o->train_clips + o->test_clips * o->test_repeats;
    float *clips = malloc(sizeof(float) * (size_t)distinct * S);
    float *images = malloc(sizeof(float) * (size_t)distinct * BT);
    if (!clips || !images || dataset_alloc(out, trials, p->bands, p->frames, N)) {
        free(clips);
        free(images);
        auditory_population_destroy(p);
        dataset_free(out);
        memset(out, 0, sizeof *out);
        return model_fail(err, "auditory dataset: out of memory for %d trials", trials);
    }
    char inner[MODEL_ERR_SIZE];
    if (clip_synthetic(clips, distinct, S, o->population.cochlea.sample_rate,
                       o->population.rms_db, o->population.ramp_ms, model_rng_stream(o->seed, 3),
                       NULL, inner)) {
        model_fail(err, "auditory dataset: %s", inner);
        free(clips);
        free(images);
        auditory_population_destroy(p);
        dataset_free(out);
        return 1;
    }
    cochleagram_forward(p->cochlea, images, clips, distinct);
    int validation = (int)(o->train_clips * o->validation_fraction);
    for (int t = 0; t < trials; t++) {
        int clip = t < o->train_clips ? t : o->train_clips + (t - o->train_clips) % o->test_clips;
        memcpy(out->images + (size_t)t * BT, images + (size_t)clip * BT, sizeof(float) * BT);
        out->image_ids[t] = clip;
        out->tiers[t] = t < o->train_clips - validation ? TIER_TRAIN
                        : t < o->train_clips            ? TIER_VALIDATION
                                                        : TIER_TEST;
    }
    float *rates = malloc(sizeof(float) * (size_t)distinct * N);
    if (!rates) {
        free(clips);
        free(images);
        auditory_population_destroy(p);
        dataset_free(out);
        return model_fail(err, "auditory dataset: out of memory");
    }
    auditory_population_rates_image(p, images, distinct, rates);
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(o->seed, 4));
    for (int t = 0; t < trials; t++)
        for (int n = 0; n < N; n++)
            out->responses[(size_t)t * N + n] =
                (float)model_rng_poisson(&rng, rates[(size_t)out->image_ids[t] * N + n]);
    free(rates);
    free(images);
    auditory_population_destroy(p);
    if (clips_out)
        *clips_out = clips;
    else
        free(clips);
    return 0;
}
