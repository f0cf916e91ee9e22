/* test_sound_strf.c: the audio sessions' STRF control (controller/
 * session_sounds.c): its ridge regression recovers a known linear cell's
 * weights from noisy responses, and finds nothing in a cell that is noise. */
#include "controller.h"
#include "test.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { H = 4, W = 5, P = H * W, TRAIN = 300, VALIDATION = 100, TRIALS = TRAIN + VALIDATION };

int main(void)
{
    char err[CONTROLLER_ERR_SIZE];
    model_rng rng;
    model_rng_seed(&rng, 11);
    dataset d = {TRIALS, H, W, 2, NULL, NULL, NULL, NULL};
    d.images = malloc(sizeof(float) * TRIALS * P);
    d.responses = malloc(sizeof(float) * TRIALS * 2);
    d.tiers = malloc(TRIALS);
    d.image_ids = malloc(sizeof(int64_t) * TRIALS);
    float truth[P];
    for (int p = 0; p < P; p++)
        truth[p] = (float)model_rng_normal(&rng);
    /* Neuron 0: 5 + truth · x + N(0, 0.1²); neuron 1: N(5, 1) whatever x is. */
    for (int t = 0; t < TRIALS; t++) {
        double v = 5;
        for (int p = 0; p < P; p++) {
            d.images[t * P + p] = (float)model_rng_normal(&rng);
            v += truth[p] * d.images[t * P + p];
        }
        d.responses[t * 2] = (float)(v + 0.1 * model_rng_normal(&rng));
        d.responses[t * 2 + 1] = (float)(5 + model_rng_normal(&rng));
        d.tiers[t] = t < TRAIN ? TIER_TRAIN : TIER_VALIDATION;
        d.image_ids[t] = t;
    }
    int targets[2] = {0, 1};
    float w[2 * P];
    CHECK(session_sound_fit_strfs(&d, targets, 2, w, err) == 0, "fitted: %s", err);
    /* The least-squares error of each weight is about 0.1 / sqrt(300) = 0.006
     * (unit-variance features); the smallest penalty (1e-4 of the feature
     * variance per trial) shrinks by 1e-4 relative. 0.03 is 5 standard errors. */
    double worst = 0, noise = 0;
    for (int p = 0; p < P; p++) {
        worst = fmax(worst, fabs(w[p] - truth[p]));
        noise += (double)w[P + p] * w[P + p];
    }
    CHECK(worst < 0.03, "the linear cell's weights recovered within %.4f (0.03 allowed)", worst);
    /* The noise cell's fitted weights: least squares alone would give a norm
     * of about sqrt(20 / 300) = 0.26; ridge with the penalty chosen on the
     * validation trials must not give more. */
    CHECK(sqrt(noise) < 0.4, "the noise cell's weights stay small (norm %.3f)", sqrt(noise));
    dataset few = d;
    few.trials = TRAIN; /* no validation trial */
    CHECK(session_sound_fit_strfs(&few, targets, 1, w, err) == 1 && strstr(err, "validation"),
          "no validation trials: refused (%s)", err);
    free(d.images);
    free(d.responses);
    free(d.tiers);
    free(d.image_ids);
    return test_done();
}
