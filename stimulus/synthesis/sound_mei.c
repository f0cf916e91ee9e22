/* sound_mei.c: most exciting sounds: gradient ascent on a clip's samples
 * through the cochleagram and a fitted model (clip_ascend at the level
 * budget). J is the model's predicted rate of one neuron for the clip's
 * cochleagram; ∂J/∂image comes from model_input_gradient_objective and is
 * taken back to the samples by cochleagram_backward. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sound_mei_target {
    model *const *models;
    int count;
    cochleagram *cochlea;
    int neuron, neurons;
    float *image, *dimage, *sum, *weights;
    int failed;
    char err[MODEL_ERR_SIZE];
} sound_mei_target;

static double predicted_rate(const float *clip, float *grad, void *user)
{
    sound_mei_target *t = user;
    const cochleagram_config *cc = cochleagram_get_config(t->cochlea);
    size_t pixels = (size_t)cc->bands * cochleagram_frames(t->cochlea);
    double total = 0;
    cochleagram_forward(t->cochlea, t->image, clip, 1);
    /* An ensemble's rate is the mean of its models': so are its value and
     * its gradient. */
    for (int k = 0; k < t->count; k++) {
        float objective;
        if (model_input_gradient_objective(t->models[k], t->image, 1, t->weights,
                                           k ? t->dimage : t->sum, &objective, t->err)) {
            t->failed = 1;
            return NAN; /* clip_ascend stops on a non-finite value */
        }
        if (k)
            for (size_t i = 0; i < pixels; i++)
                t->sum[i] += t->dimage[i];
        total += objective;
    }
    if (t->count > 1)
        for (size_t i = 0; i < pixels; i++)
            t->sum[i] /= (float)t->count;
    cochleagram_backward(t->cochlea, grad, t->sum, clip, 1);
    return total / t->count;
}

int sound_mei(model *m, cochleagram *cochlea, int neuron, const clip_ascent_options *o,
              float *clip, double *predicted, char *err)
{
    return sound_mei_ensemble(&m, 1, cochlea, neuron, o, clip, predicted, err);
}

int sound_mei_ensemble(model *const *models, int count, cochleagram *cochlea, int neuron,
                       const clip_ascent_options *o, float *clip, double *predicted, char *err)
{
    if (count < 1) {
        snprintf(err, STIMULUS_ERR_SIZE, "sound MEI: no model");
        return 1;
    }
    if (ensemble_check(models, count, err))
        return 1;
    const model_config *mc = model_get_config(models[0]);
    const cochleagram_config *cc = cochleagram_get_config(cochlea);
    int frames = cochleagram_frames(cochlea);
    if (mc->height != cc->bands || mc->width != frames) {
        snprintf(err, STIMULUS_ERR_SIZE, "sound MEI: the model reads %d × %d images, the "
                 "cochleagram makes %d bands × %d frames", mc->height, mc->width, cc->bands,
                 frames);
        return 1;
    }
    if (neuron < 0 || neuron >= mc->neurons) {
        snprintf(err, STIMULUS_ERR_SIZE, "sound MEI: neuron %d of %d", neuron, mc->neurons);
        return 1;
    }
    sound_mei_target t = {.models = models, .count = count, .cochlea = cochlea, .neuron = neuron, .neurons = mc->neurons};
    size_t pixels = (size_t)cc->bands * frames;
    t.image = malloc(sizeof(float) * pixels);
    t.dimage = malloc(sizeof(float) * pixels);
    t.sum = malloc(sizeof(float) * pixels);
    t.weights = calloc((size_t)mc->neurons, sizeof(float));
    int status = 1;
    if (!t.image || !t.dimage || !t.sum || !t.weights) {
        snprintf(err, STIMULUS_ERR_SIZE, "sound MEI: out of memory");
    } else {
        t.weights[neuron] = 1;
        char inner[MODEL_ERR_SIZE];
        status = clip_ascend(clip, cc->samples, o, predicted_rate, &t, predicted, inner);
        if (status)
            snprintf(err, STIMULUS_ERR_SIZE, "sound MEI of neuron %d: %s", neuron,
                     t.failed ? t.err : inner);
    }
    free(t.image);
    free(t.dimage);
    free(t.sum);
    free(t.weights);
    return status;
}

int sound_mei_from_starts(model *const *models, int count_models, cochleagram *cochlea,
                          int neuron, const clip_ascent_options *o, const float *starts, int count,
                          float *clip, double *predicted, int *chosen, char *err)
{
    int samples = cochleagram_get_config(cochlea)->samples;
    if (count < 1) {
        snprintf(err, STIMULUS_ERR_SIZE, "sound MEI of neuron %d: no start", neuron);
        return 1;
    }
    float *x = malloc(sizeof(float) * (size_t)samples);
    if (!x) {
        snprintf(err, STIMULUS_ERR_SIZE, "sound MEI: out of memory");
        return 1;
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
