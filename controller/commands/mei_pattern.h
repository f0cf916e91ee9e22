/* mei_pattern.h: `inception mei --kind pattern`'s part (command_mei_pattern.c). */
#ifndef INCEPTION_MEI_PATTERN_H
#define INCEPTION_MEI_PATTERN_H
#include "stimulus.h"

/* `inception mei --kind pattern` (command_mei_pattern.c): count seeded
 * target patterns over the group, each one image (mei_pattern) and its
 * natural control, written to `out` as p000_pattern.png,
 * p000_natural-pattern.png, ..., stimuli.npy and manifest.json; with
 * truth_dir (a simulated dataset) the ground-truth table. */
typedef struct mei_pattern_job {
    model *m;
    const float *train;    /* n_train training images, H × W each */
    int n_train;
    const int *group;      /* k neurons */
    int k, count;
    int height, width, neurons;
    mei_options o;         /* steps, step size, seed, budget */
    const char *truth_dir; /* NULL: no ground truth */
} mei_pattern_job;
int mei_pattern_command(const mei_pattern_job *job, const char *out, char *err);

#endif
