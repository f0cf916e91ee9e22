/* adam.c: Adam (Kingma & Ba 2015) with bias-corrected moments. */
#include "layers.h"

#include <math.h>
#include <stdlib.h>

int adam_init(adam_state *a, size_t n)
{
    a->m = calloc(n ? n : 1, sizeof(float));
    a->v = calloc(n ? n : 1, sizeof(float));
    a->n = n;
    a->step = 0;
    a->beta1 = 0.9f;
    a->beta2 = 0.999f;
    a->eps = 1e-8f;
    if (!a->m || !a->v) {
        adam_free(a);
        return 1;
    }
    return 0;
}

void adam_free(adam_state *a)
{
    free(a->m);
    free(a->v);
    a->m = a->v = NULL;
    a->n = 0;
}

void adam_step(adam_state *a, float *params, const float *grads, const unsigned char *mask,
               float lr)
{
    a->step++;
    /* The moments start at zero; dividing by 1 - β^t undoes that bias. */
    double correction1 = 1.0 - pow(a->beta1, (double)a->step);
    double correction2 = 1.0 - pow(a->beta2, (double)a->step);
    float step_size = (float)(lr / correction1);
    float rsqrt_correction2 = (float)(1.0 / sqrt(correction2));
    float b1 = a->beta1, b2 = a->beta2;
    for (size_t i = 0; i < a->n; i++) {
        if (mask && !mask[i])
            continue;
        float g = grads[i];
        a->m[i] = b1 * a->m[i] + (1.0f - b1) * g;
        a->v[i] = b2 * a->v[i] + (1.0f - b2) * g * g;
        params[i] -= step_size * a->m[i] / (sqrtf(a->v[i]) * rsqrt_correction2 + a->eps);
    }
}
