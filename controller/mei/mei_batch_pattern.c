/* mei_batch_pattern.c: --kind pattern (mei_batch.h): population control with
 * target patterns (Bashivan, Kar & DiCarlo 2019). The chosen neurons are one
 * group; each of `count` target patterns (seeded, uniform in [0, 1) per
 * neuron) gets one synthesized image (mei_pattern) and its control, the
 * natural training image whose predicted pattern is closest at the budget.
 * "Close" is the Pearson correlation across the group (synthesis_pattern.c).
 * Against the ground truth the simulated cells score both and the truly
 * closest natural training image. */
#include "controller.h"
#include "json_out.h"
#include "mei_batch_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The seeded target patterns: count × k. */
static void draw_patterns(uint64_t seed, int count, int k, float *out)
{
    model_rng rng;
    model_rng_seed(&rng, seed ^ 0x7061747465726eull); /* "pattern" */
    for (int i = 0; i < count * k; i++)
        out[i] = (float)model_rng_uniform(&rng);
}

static int write_manifest(const mei_batch *b, char *err)
{
    int k = b->count;
    json_out o;
    if (json_out_begin(&o))
        return controller_fail(err, "out of memory for the manifest");
    json_out_text(&o, o.root, "inception_version", inception_version_string());
    json_out_text(&o, o.root, "kind", "pattern");
    json_out_text(&o, o.root, "similarity", "Pearson correlation across the group");
    json_out_int(&o, o.root, "height", b->H);
    json_out_int(&o, o.root, "width", b->W);
    json_out_real(&o, o.root, "mean_luminance", b->o.budget.mean_luminance);
    json_out_real(&o, o.root, "contrast_budget", b->o.budget.contrast);
    json_t *group = json_out_array(&o, o.root, "group");
    for (int i = 0; i < k; i++)
        json_out_int(&o, group, "group", b->neurons[i]);
    json_t *list = json_out_array(&o, o.root, "stimuli");
    for (int q = 0; q < b->patterns; q++)
        for (int c = 0; c < 2; c++) {
            json_t *s = json_out_object(&o, list, "stimulus");
            char file[64];
            snprintf(file, sizeof file, "p%03d_%s.png", q, c ? "natural-pattern" : "pattern");
            json_out_int(&o, s, "pattern", q);
            json_out_text(&o, s, "kind", c ? "natural-pattern" : "pattern");
            json_out_text(&o, s, "file", file);
            json_out_int(&o, s, "index", 2 * q + c);
            json_out_real(&o, s, "predicted_similarity",
                          c ? b->natural_similarity[q] : b->similarity[q]);
            if (c)
                json_out_int(&o, s, "training_image", b->natural[q]);
            json_t *t = json_out_array(&o, s, "target");
            for (int i = 0; i < k; i++)
                json_out_real(&o, t, "target", b->targets[q * k + i]);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", b->c.out_dir);
    int status = json_out_write(&o, path) ? controller_fail(err, "%s not written: %s", path, o.err)
                                          : 0;
    json_out_end(&o);
    return status;
}

int mei_batch_pattern_run(mei_batch *b, char *err)
{
    if (b->count < 2 || b->count > PATTERN_MAX_GROUP) {
        controller_fail(err, "--kind pattern wants a group of 2..%d neurons, not %d",
                        PATTERN_MAX_GROUP, b->count);
        return MEI_BATCH_USAGE;
    }
    int P = b->P, n = b->patterns = b->c.count ? b->c.count : 4, k = b->count;
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_PATTERNS_BEGIN, .total = n, .n = k});
    b->targets = malloc((size_t)n * k * sizeof(float));
    b->pattern_images = malloc((size_t)2 * n * P * sizeof(float));
    b->similarity = malloc((size_t)n * sizeof(float));
    b->natural_similarity = malloc((size_t)n * sizeof(float));
    b->natural = malloc((size_t)n * sizeof(int));
    char path[4096], serr[STIMULUS_ERR_SIZE];
    if (!b->targets || !b->pattern_images || !b->similarity || !b->natural_similarity ||
        !b->natural)
        return controller_fail(err, "out of memory for the patterns");
    draw_patterns(b->o.seed, n, k, b->targets);
    for (int q = 0; q < n; q++) {
        float *x = b->pattern_images + (size_t)2 * q * P, *y = x + P;
        const float *target = b->targets + (size_t)q * k;
        if (mei_pattern(b->models[0], b->neurons, k, target, &b->o, x, &b->similarity[q], serr) ||
            control_pattern_natural(b->models[0], b->train_images, b->n_train, b->neurons, k,
                                    target, &b->o.budget, &b->natural[q],
                                    &b->natural_similarity[q], serr))
            return controller_fail(err, "pattern %d: %s", q, serr);
        memcpy(y, b->train_images + (size_t)b->natural[q] * P, (size_t)P * sizeof(float));
        stimulus_render_at_budget(y, P, &b->o.budget);
        mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_PATTERN_MADE, .index = q,
                                             .n = b->natural[q],
                                             .value = {b->similarity[q],
                                                       b->natural_similarity[q]}});
        for (int c = 0; c < 2; c++) {
            snprintf(path, sizeof path, "%s/p%03d_%s.png", b->c.out_dir, q,
                     c ? "natural-pattern" : "pattern");
            if (png_write_gray(path, c ? y : x, b->H, b->W, err))
                return 1;
        }
    }
    int64_t shape[3] = {2 * n, b->H, b->W};
    snprintf(path, sizeof path, "%s/stimuli.npy", b->c.out_dir);
    if (npy_write(path, NPY_FLOAT32, 3, shape, b->pattern_images, err))
        return 1;
    return write_manifest(b, err);
}

/* The simulated cells' similarity to each pattern: the synthesized image,
 * the model's natural control and the truly closest natural training image. */
int mei_batch_pattern_truth(mei_batch *b, const sim_config *c, char *err)
{
    mei_batch_truth *d = &b->truth;
    char serr[STIMULUS_ERR_SIZE];
    sim_population *pop;
    if (c->neurons != b->N || c->height != b->H || c->width != b->W)
        return controller_fail(err, "--ground-truth: population.npy does not match the model");
    if (sim_population_create(&pop, c, serr))
        return controller_fail(err, "--ground-truth: %s", serr);
    int P = b->P, n = b->patterns, k = b->count;
    float *rates = malloc((size_t)c->neurons * sizeof(float)), *x = malloc((size_t)P * sizeof(float));
    d->pattern_synthesized = malloc((size_t)n * sizeof(float));
    d->pattern_natural = malloc((size_t)n * sizeof(float));
    d->pattern_best = malloc((size_t)n * sizeof(float));
    int status = 0;
    if (!rates || !x || !d->pattern_synthesized || !d->pattern_natural || !d->pattern_best) {
        status = controller_fail(err, "out of memory for the ground truth");
        goto done;
    }
    for (int q = 0; q < n; q++) {
        const float *target = b->targets + (size_t)q * k;
        float s[2], best = -INFINITY;
        for (int i = 0; i < 2; i++) {
            sim_population_rates(pop, b->pattern_images + (size_t)(2 * q + i) * P, 1, rates);
            s[i] = pattern_similarity(rates, b->neurons, k, target, NULL);
        }
        for (int i = 0; i < b->n_train; i++) {
            memcpy(x, b->train_images + (size_t)i * P, (size_t)P * sizeof(float));
            stimulus_render_at_budget(x, P, &b->o.budget);
            sim_population_rates(pop, x, 1, rates);
            float v = pattern_similarity(rates, b->neurons, k, target, NULL);
            best = v > best ? v : best;
        }
        d->closer += s[0] > best;
        d->pattern_synthesized[q] = s[0];
        d->pattern_natural[q] = s[1];
        d->pattern_best[q] = best;
    }
done:
    free(rates);
    free(x);
    sim_population_destroy(pop);
    return status;
}
