/* sound_mei.c: most exciting sounds: gradient ascent on a clip's samples
 * through the cochleagram and a fitted model (clip_ascend at the level
 * budget). J is the model's predicted rate of one neuron for the clip's
 * cochleagram; ∂J/∂image comes from model_input_gradient_objective and is
 * taken back to the samples by cochleagram_backward. */
#include "synthesis/synthesis.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sound_mei_target {
    model *const *models;
    int count;
    cochleagram *cochlea;
    int clips, neurons; /* clips in the batch; the models' neurons */
    float *image, *dimage, *sum, *weights, *objective;
    int failed;
    char err[MODEL_ERR_SIZE];
} sound_mei_target;

/* The predicted rates of a batch of clips (clip c's for its own neuron, the
 * one-hot row c of t->weights) and their gradients to the samples. */
static void predicted_rates(const float *clips, int count, float *grads, double *values,
                            void *user)
{
    sound_mei_target *t = user;
    const cochleagram_config *cc = cochleagram_get_config(t->cochlea);
    size_t pixels = (size_t)count * cc->bands * cochleagram_frames(t->cochlea);
    assert(count == t->clips); /* the clips the weights were made for */
    for (int c = 0; c < count; c++)
        values[c] = 0;
    cochleagram_forward(t->cochlea, t->image, clips, count);
    /* An ensemble's rate is the mean of its models': so are its value and
     * its gradient. */
    for (int k = 0; k < t->count; k++) {
        if (model_input_gradient_objective(t->models[k], t->image, count, t->weights,
                                           k ? t->dimage : t->sum, t->objective, t->err)) {
            t->failed = 1;
            for (int c = 0; c < count; c++)
                values[c] = NAN; /* clip_ascend_batch stops on a non-finite value */
            return;
        }
        if (k)
            for (size_t i = 0; i < pixels; i++)
                t->sum[i] += t->dimage[i];
        for (int c = 0; c < count; c++)
            values[c] += t->objective[c];
    }
    if (t->count > 1)
        for (size_t i = 0; i < pixels; i++)
            t->sum[i] /= (float)t->count;
    cochleagram_backward(t->cochlea, grads, t->sum, clips, count);
    for (int c = 0; c < count; c++)
        values[c] /= t->count;
}

int sound_mei(model *m, cochleagram *cochlea, int neuron, const clip_ascent_options *o,
              float *clip, double *predicted, char *err)
{
    return sound_mei_ensemble(&m, 1, cochlea, neuron, o, clip, predicted, err);
}

int sound_mei_ensemble(model *const *models, int count, cochleagram *cochlea, int neuron,
                       const clip_ascent_options *o, float *clip, double *predicted, char *err)
{
    return sound_mei_batch(models, count, cochlea, &neuron, 1, o, clip, predicted, err);
}

int sound_mei_batch(model *const *models, int count_models, cochleagram *cochlea,
                    const int *neurons, int count, const clip_ascent_options *o, float *clips,
                    double *predicted, char *err)
{
    if (count_models < 1) {
        return stimulus_fail(err, "sound MEI: no model");
    }
    if (count < 1) {
        return stimulus_fail(err, "sound MEI: no clip");
    }
    if (ensemble_check(models, count_models, err))
        return 1;
    const model_config *mc = model_get_config(models[0]);
    const cochleagram_config *cc = cochleagram_get_config(cochlea);
    int frames = cochleagram_frames(cochlea);
    if (mc->height != cc->bands || mc->width != frames) {
        return stimulus_fail(err, "sound MEI: the model reads %d × %d images, the "
                             "cochleagram makes %d bands × %d frames", mc->height, mc->width,
                             cc->bands, frames);
    }
    for (int c = 0; c < count; c++)
        if (neurons[c] < 0 || neurons[c] >= mc->neurons) {
            return stimulus_fail(err, "sound MEI: neuron %d of %d", neurons[c], mc->neurons);
        }
    sound_mei_target t = {.models = models, .count = count_models, .cochlea = cochlea,
                          .clips = count, .neurons = mc->neurons};
    size_t pixels = (size_t)count * cc->bands * frames;
    t.image = malloc(sizeof(float) * pixels);
    t.dimage = malloc(sizeof(float) * pixels);
    t.sum = malloc(sizeof(float) * pixels);
    t.weights = calloc((size_t)count * mc->neurons, sizeof(float));
    t.objective = malloc(sizeof(float) * (size_t)count);
    int status = 1;
    if (!t.image || !t.dimage || !t.sum || !t.weights || !t.objective) {
        stimulus_fail(err, "sound MEI: out of memory");
    } else {
        for (int c = 0; c < count; c++)
            t.weights[(size_t)c * mc->neurons + neurons[c]] = 1;
        char inner[MODEL_ERR_SIZE];
        status = clip_ascend_batch(clips, count, cc->samples, o, predicted_rates, &t, predicted,
                                   inner);
        if (status && count == 1)
            stimulus_fail(err, "sound MEI of neuron %d: %s", neurons[0], t.failed ? t.err : inner);
        else if (status)
            stimulus_fail(err, "sound MEIs of %d clips: %s", count, t.failed ? t.err : inner);
    }
    free(t.image);
    free(t.dimage);
    free(t.sum);
    free(t.weights);
    free(t.objective);
    return status;
}

int sound_mei_from_starts(model *const *models, int count_models, cochleagram *cochlea,
                          int neuron, const clip_ascent_options *o, const float *starts, int count,
                          float *clip, double *predicted, int *chosen, char *err)
{
    int samples = cochleagram_get_config(cochlea)->samples;
    if (count < 1) {
        return stimulus_fail(err, "sound MEI of neuron %d: no start", neuron);
    }
    float *x = malloc(sizeof(float) * (size_t)samples);
    if (!x) {
        return stimulus_fail(err, "sound MEI: out of memory");
    }
    double best = -INFINITY;
    int status = 0;
    for (int k = 0; k < count && !status; k++) {
        double v;
        memcpy(x, starts + (size_t)k * samples, sizeof(float) * (size_t)samples);
        status = sound_mei_ensemble(models, count_models, cochlea, neuron, o, x, &v, err);
        /* Chosen by the model's prediction: the true response is never seen. */
        if (!status && v > best) {
            best = v;
            *chosen = k;
            memcpy(clip, x, sizeof(float) * (size_t)samples);
        }
    }
    free(x);
    if (!status)
        *predicted = best;
    return status;
}

int sound_tone_grid(const cochleagram *cochlea, double **hz, int *count, char *err)
{
    const cochleagram_config *c = cochleagram_get_config(cochlea);
    /* Band b's triangle runs from band b-1's peak to band b+1's (the
     * cochleagram's edges outside): its narrowest half in log frequency sets
     * the step. On the mel scale that is the highest band's upper half (the
     * scale is nearly logarithmic there, nearly linear at the bottom). */
    double narrowest = INFINITY;
    for (int b = 0; b < c->bands; b++) {
        double lo = b > 0 ? cochleagram_band_hz(cochlea, b - 1) : c->low_hz;
        double hi = b + 1 < c->bands ? cochleagram_band_hz(cochlea, b + 1) : c->high_hz;
        double peak = cochleagram_band_hz(cochlea, b);
        narrowest = fmin(narrowest, fmin(log(peak / lo), log(hi / peak)));
    }
    double span = log(c->high_hz / c->low_hz);
    if (!(narrowest > 0) || !(span > 0)) {
        return stimulus_fail(err, "tone grid: the bands do not rise from %g to %g Hz",
                             c->low_hz, c->high_hz);
    }
    int n = (int)ceil(span / (narrowest / SOUND_TONE_STEPS_PER_HALF_BAND)) + 1;
    double *f = malloc(sizeof(double) * (size_t)n);
    if (!f) {
        return stimulus_fail(err, "tone grid: out of memory");
    }
    /* high_hz may be the Nyquist frequency, whose samples a sine of phase 0
     * would all put near 0: the grid stops at 0.49 × rate at most. */
    double top = fmin(c->high_hz, 0.49 * c->sample_rate);
    for (int i = 0; i < n; i++)
        f[i] = c->low_hz * pow(top / c->low_hz, (double)i / (n - 1));
    *hz = f;
    *count = n;
    return 0;
}

int sound_best_tones(model *const *models, int count_models, cochleagram *cochlea,
                     const int *neurons, int n, double rms_db, int ramp, float *clips,
                     double *hz, double *predicted, char *err)
{
    enum { CHUNK = 32 }; /* tones per prediction: bounded memory at any clip length */
    const cochleagram_config *c = cochleagram_get_config(cochlea);
    int S = c->samples, G, N;
    size_t P = (size_t)c->bands * (size_t)cochleagram_frames(cochlea);
    double *grid = NULL;
    if (count_models < 1)
        return stimulus_fail(err, "tone: no model");
    if (ensemble_check(models, count_models, err))
        return 1;
    const model_config *mc = model_get_config(models[0]);
    if ((size_t)mc->height * (size_t)mc->width != P || mc->height != c->bands)
        return stimulus_fail(err, "tone: the model reads %d × %d images, the cochleagram makes "
                             "%d bands × %d frames", mc->height, mc->width, c->bands,
                             cochleagram_frames(cochlea));
    N = mc->neurons;
    if (sound_tone_grid(cochlea, &grid, &G, err))
        return 1;
    float *tones = malloc(sizeof(float) * (size_t)CHUNK * S);
    float *images = malloc(sizeof(float) * CHUNK * P);
    float *rates = malloc(sizeof(float) * (size_t)CHUNK * N);
    int *best = malloc(sizeof(int) * (size_t)(n ? n : 1));
    int status = 1;
    char merr[MODEL_ERR_SIZE];
    if (!tones || !images || !rates || !best) {
        stimulus_fail(err, "tone: out of memory");
        goto done;
    }
    for (int j = 0; j < n; j++) {
        if (neurons[j] < 0 || neurons[j] >= N) {
            stimulus_fail(err, "tone: neuron %d of %d", neurons[j], N);
            goto done;
        }
        best[j] = -1;
        predicted[j] = -INFINITY;
    }
    for (int g0 = 0; g0 < G; g0 += CHUNK) {
        int m = G - g0 < CHUNK ? G - g0 : CHUNK;
        for (int k = 0; k < m; k++)
            if (clip_tone(tones + (size_t)k * S, S, c->sample_rate, grid[g0 + k], ramp, rms_db,
                          merr)) {
                stimulus_fail(err, "tone: %s", merr);
                goto done;
            }
        cochleagram_forward(cochlea, images, tones, m);
        if (ensemble_predict(models, count_models, images, m, rates, err))
            goto done;
        for (int j = 0; j < n; j++)
            for (int k = 0; k < m; k++)
                if (rates[(size_t)k * N + neurons[j]] > predicted[j]) {
                    predicted[j] = rates[(size_t)k * N + neurons[j]];
                    best[j] = g0 + k;
                }
    }
    for (int j = 0; j < n; j++) {
        if (best[j] < 0) {
            stimulus_fail(err, "tone: no finite prediction for neuron %d", neurons[j]);
            goto done;
        }
        hz[j] = grid[best[j]];
        /* Made again alone: the same call gives the same samples. */
        if (clip_tone(clips + (size_t)j * S, S, c->sample_rate, hz[j], ramp, rms_db, merr)) {
            stimulus_fail(err, "tone: %s", merr);
            goto done;
        }
    }
    status = 0;
done:
    free(grid);
    free(tones);
    free(images);
    free(rates);
    free(best);
    return status;
}
