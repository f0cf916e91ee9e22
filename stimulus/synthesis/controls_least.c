/* controls_least.c: the natural control of a least exciting input: per
 * neuron the training image the model predicts lowest once it is shown as
 * every stimulus is, at the contrast budget. (A natural image of low
 * contrast would otherwise win by being nearly gray, not by its content.) */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEAST_CHUNK 256

int control_least_natural_ensemble(model *const *models, int n_models, const float *images,
                                   int count, const int *neurons, int n,
                                   const stimulus_budget *b, int *least, char *err)
{
    if (ensemble_check(models, n_models, err))
        return 1;
    if (count < 1) {
        return stimulus_fail(err, "least natural image: no images to choose from");
    }
    const model_config *c = model_get_config(models[0]);
    int P = c->height * c->width, N = c->neurons;
    int chunk_max = count < LEAST_CHUNK ? count : LEAST_CHUNK;
    float *rendered = malloc((size_t)chunk_max * P * sizeof(float));
    float *rates = malloc((size_t)chunk_max * N * sizeof(float));
    float *lowest = malloc((size_t)n * sizeof(float));
    int status = 1;
    if (!rendered || !rates || !lowest) {
        stimulus_fail(err, "least natural image: out of memory");
        goto done;
    }
    for (int j = 0; j < n; j++) {
        lowest[j] = INFINITY;
        least[j] = 0; /* replaced by the first finite prediction below */
    }
    for (int first = 0; first < count; first += chunk_max) {
        int chunk = count - first < chunk_max ? count - first : chunk_max;
        memcpy(rendered, images + (size_t)first * P, (size_t)chunk * P * sizeof(float));
        for (int i = 0; i < chunk; i++)
            stimulus_render_at_budget(rendered + (size_t)i * P, P, b);
        if (ensemble_predict(models, n_models, rendered, chunk, rates, err))
            goto done;
        for (int i = 0; i < chunk; i++)
            for (int j = 0; j < n; j++) {
                float r = rates[(size_t)i * N + neurons[j]];
                if (r < lowest[j]) {
                    lowest[j] = r;
                    least[j] = first + i;
                }
            }
    }
    for (int j = 0; j < n; j++)
        if (!(lowest[j] < INFINITY)) {
            stimulus_fail(err, "least natural image: no finite prediction for "
                          "neuron %d", neurons[j]);
            goto done;
        }
    status = 0;
done:
    free(rendered);
    free(rates);
    free(lowest);
    return status;
}
