/* ensemble.c: several fitted models of one population (same architecture,
 * different seeds) used as one: their mean predicted rate. Averaging keeps
 * what the models agree on and damps the errors each makes on its own, the
 * errors an MEI otherwise climbs into (SCIENCE.md section 3). */
#include "synthesis/synthesis.h"

#include <stdio.h>
#include <stdlib.h>

int ensemble_check(model *const *models, int count, char *err)
{
    if (count < 1 || !models || !models[0]) {
        return stimulus_fail(err, "ensemble: no models");
    }
    const model_config *c = model_get_config(models[0]);
    for (int k = 1; k < count; k++) {
        if (!models[k]) {
            return stimulus_fail(err, "ensemble: model %d is missing", k);
        }
        const model_config *d = model_get_config(models[k]);
        if (d->neurons != c->neurons || d->height != c->height || d->width != c->width) {
            return stimulus_fail(err, "ensemble: model %d has %d neurons of %d×%d images, "
                                 "model 0 %d of %d×%d", k, d->neurons, d->height, d->width,
                                 c->neurons, c->height, c->width);
        }
    }
    return 0;
}

/* sum = (sum + part) over n floats. */
static void add_into(float *sum, const float *part, size_t n)
{
    for (size_t i = 0; i < n; i++)
        sum[i] += part[i];
}

static void scale_by(float *v, size_t n, float s)
{
    for (size_t i = 0; i < n; i++)
        v[i] *= s;
}

int ensemble_predict(model *const *models, int count, const float *images, int batch,
                     float *rates, char *err)
{
    if (count == 1) /* the model itself, to the bit */
        return model_predict(models[0], images, batch, rates, err);
    if (ensemble_check(models, count, err))
        return 1;
    size_t n = (size_t)batch * model_get_config(models[0])->neurons;
    float *part = malloc(n * sizeof(float));
    if (!part) {
        return stimulus_fail(err, "ensemble: out of memory for %d images", batch);
    }
    int status = model_predict(models[0], images, batch, rates, err);
    for (int k = 1; k < count && !status; k++)
        if (!(status = model_predict(models[k], images, batch, part, err)))
            add_into(rates, part, n);
    if (!status)
        scale_by(rates, n, 1.0f / (float)count);
    free(part);
    return status;
}

int ensemble_predict_translated(model *const *models, int count, const float *images,
                                int batch, const int *neurons, int n, const int *shifts,
                                int n_shifts, float *rates, char *err)
{
    if (count == 1)
        return model_predict_translated(models[0], images, batch, neurons, n, shifts,
                                        n_shifts, rates, err);
    if (ensemble_check(models, count, err))
        return 1;
    size_t total = (size_t)batch * n_shifts * n;
    float *part = malloc(total * sizeof(float));
    if (!part)
        return stimulus_fail(err, "ensemble: out of memory for %d moved images", batch);
    int status = model_predict_translated(models[0], images, batch, neurons, n, shifts,
                                          n_shifts, rates, err);
    for (int k = 1; k < count && !status; k++)
        if (!(status = model_predict_translated(models[k], images, batch, neurons, n, shifts,
                                                n_shifts, part, err)))
            add_into(rates, part, total); /* −∞ stays −∞: no model reads +∞ */
    if (!status)
        scale_by(rates, total, 1.0f / (float)count);
    free(part);
    return status;
}

int ensemble_input_gradient(model *const *models, int count, const float *images, int batch,
                            const float *weights, float *grad, char *err)
{
    if (count == 1)
        return model_input_gradient(models[0], images, batch, weights, grad, NULL, err);
    if (ensemble_check(models, count, err))
        return 1;
    const model_config *c = model_get_config(models[0]);
    size_t n = (size_t)batch * c->height * c->width;
    float *part = malloc(n * sizeof(float));
    if (!part) {
        return stimulus_fail(err, "ensemble: out of memory for %d images", batch);
    }
    int status = model_input_gradient(models[0], images, batch, weights, grad, NULL, err);
    for (int k = 1; k < count && !status; k++)
        if (!(status = model_input_gradient(models[k], images, batch, weights, part, NULL, err)))
            add_into(grad, part, n);
    if (!status)
        scale_by(grad, n, 1.0f / (float)count);
    free(part);
    return status;
}
