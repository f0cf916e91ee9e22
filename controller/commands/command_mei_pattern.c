/* command_mei_pattern.c: `inception mei --kind pattern`: population control
 * with target patterns (Bashivan, Kar & DiCarlo 2019). The chosen neurons
 * are one group; each of --count target patterns (seeded, uniform in [0, 1)
 * per neuron) gets one synthesized image (mei_pattern) and its control, the
 * natural training image whose predicted pattern is closest at the budget.
 * "Close" is the Pearson correlation across the group (synthesis_pattern.c).
 * With --ground-truth the simulated cells score both and the truly closest
 * natural training image. */
#include "commands.h"
#include "controller.h"
#include "mei_pattern.h"
#include "stimulus.h"

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

static int write_manifest(const mei_pattern_job *job, const float *targets,
                          const float *similarity, const int *natural, const float *natural_sim,
                          const char *out, char *err)
{
    json_out o;
    if (json_out_begin(&o))
        return controller_fail(err, "out of memory for the manifest");
    json_out_text(&o, o.root, "inception_version", inception_version_string());
    json_out_text(&o, o.root, "kind", "pattern");
    json_out_text(&o, o.root, "similarity", "Pearson correlation across the group");
    json_out_int(&o, o.root, "height", job->height);
    json_out_int(&o, o.root, "width", job->width);
    json_out_real(&o, o.root, "mean_luminance", job->o.budget.mean_luminance);
    json_out_real(&o, o.root, "contrast_budget", job->o.budget.contrast);
    json_t *group = json_out_array(&o, o.root, "group");
    for (int i = 0; i < job->k; i++)
        json_out_int(&o, group, "group", job->group[i]);
    json_t *list = json_out_array(&o, o.root, "stimuli");
    for (int q = 0; q < job->count; q++)
        for (int c = 0; c < 2; c++) {
            json_t *s = json_out_object(&o, list, "stimulus");
            char file[64];
            snprintf(file, sizeof file, "p%03d_%s.png", q, c ? "natural-pattern" : "pattern");
            json_out_int(&o, s, "pattern", q);
            json_out_text(&o, s, "kind", c ? "natural-pattern" : "pattern");
            json_out_text(&o, s, "file", file);
            json_out_int(&o, s, "index", 2 * q + c);
            json_out_real(&o, s, "predicted_similarity", c ? natural_sim[q] : similarity[q]);
            if (c)
                json_out_int(&o, s, "training_image", natural[q]);
            json_t *t = json_out_array(&o, s, "target");
            for (int i = 0; i < job->k; i++)
                json_out_real(&o, t, "target", targets[q * job->k + i]);
        }
    char path[4096];
    snprintf(path, sizeof path, "%s/manifest.json", out);
    int status = json_out_write(&o, path) ? controller_fail(err, "%s not written: %s", path, o.err)
                                          : 0;
    json_out_end(&o);
    return status;
}

/* The simulated cells' similarity to each pattern: the synthesized image,
 * the model's natural control and the truly closest natural training image. */
static int print_truth(const mei_pattern_job *job, const float *targets, const float *images,
                       char *err)
{
    sim_config c;
    char serr[STIMULUS_ERR_SIZE];
    if (population_config_read(job->truth_dir, &c, serr))
        return controller_fail(err, "--ground-truth: %s", serr);
    sim_population *pop;
    if (c.neurons != job->neurons || c.height != job->height || c.width != job->width)
        return controller_fail(err, "--ground-truth: population.npy does not match the model");
    if (sim_population_create(&pop, &c, serr))
        return controller_fail(err, "--ground-truth: %s", serr);
    int P = job->height * job->width, closer = 0;
    float *rates = malloc((size_t)c.neurons * sizeof(float)), *x = malloc((size_t)P * sizeof(float));
    if (!rates || !x) {
        free(rates), free(x);
        sim_population_destroy(pop);
        return controller_fail(err, "out of memory for the ground truth");
    }
    printf("\nground truth (similarity of the simulated cells' expected rates to the target, "
           "Pearson across the %d neurons)\n%7s %10s %14s %14s\n", job->k, "pattern",
           "synthesized", "natural-model", "natural-best");
    for (int q = 0; q < job->count; q++) {
        const float *target = targets + (size_t)q * job->k;
        float s[2], best = -INFINITY;
        for (int k = 0; k < 2; k++) {
            sim_population_rates(pop, images + (size_t)(2 * q + k) * P, 1, rates);
            s[k] = pattern_similarity(rates, job->group, job->k, target, NULL);
        }
        for (int i = 0; i < job->n_train; i++) {
            memcpy(x, job->train + (size_t)i * P, (size_t)P * sizeof(float));
            stimulus_render_at_budget(x, P, &job->o.budget);
            sim_population_rates(pop, x, 1, rates);
            float v = pattern_similarity(rates, job->group, job->k, target, NULL);
            best = v > best ? v : best;
        }
        closer += s[0] > best;
        printf("%7d %10.3f %14.3f %14.3f\n", q, s[0], s[1], best);
    }
    printf("synthesized closer than every natural training image: %d of %d patterns\n", closer,
           job->count);
    free(rates), free(x);
    sim_population_destroy(pop);
    return 0;
}

int mei_pattern_command(const mei_pattern_job *job, const char *out, char *err)
{
    int P = job->height * job->width, n = job->count;
    float *targets = malloc((size_t)n * job->k * sizeof(float));
    float *images = malloc((size_t)2 * n * P * sizeof(float));
    float *similarity = malloc((size_t)n * sizeof(float)), *natural_sim = malloc((size_t)n * sizeof(float));
    int *natural = malloc((size_t)n * sizeof(int));
    char serr[STIMULUS_ERR_SIZE], path[4096];
    int status = !targets || !images || !similarity || !natural_sim || !natural
                     ? controller_fail(err, "out of memory for the patterns")
                     : 0;
    if (!status)
        draw_patterns(job->o.seed, n, job->k, targets);
    for (int q = 0; !status && q < n; q++) {
        float *x = images + (size_t)2 * q * P, *y = x + P;
        const float *target = targets + (size_t)q * job->k;
        if (mei_pattern(job->m, job->group, job->k, target, &job->o, x, &similarity[q], serr) ||
            control_pattern_natural(job->m, job->train, job->n_train, job->group, job->k, target,
                                    &job->o.budget, &natural[q], &natural_sim[q], serr)) {
            status = controller_fail(err, "pattern %d: %s", q, serr);
            break;
        }
        memcpy(y, job->train + (size_t)natural[q] * P, (size_t)P * sizeof(float));
        stimulus_render_at_budget(y, P, &job->o.budget);
        printf("pattern %d: predicted similarity %.3f (closest natural training image %d: "
               "%.3f)\n", q, similarity[q], natural[q], natural_sim[q]);
        for (int c = 0; !status && c < 2; c++) {
            snprintf(path, sizeof path, "%s/p%03d_%s.png", out, q, c ? "natural-pattern" : "pattern");
            if (png_write_gray(path, c ? y : x, job->height, job->width, serr))
                status = controller_fail(err, "%s", serr);
        }
    }
    int64_t shape[3] = {2 * n, job->height, job->width};
    snprintf(path, sizeof path, "%s/stimuli.npy", out);
    if (!status && npy_write(path, NPY_FLOAT32, 3, shape, images, serr))
        status = controller_fail(err, "%s", serr);
    if (!status)
        status = write_manifest(job, targets, similarity, natural, natural_sim, out, err);
    if (!status)
        printf("wrote %s: PNGs, stimuli.npy, manifest.json\n", out);
    if (!status && job->truth_dir)
        status = print_truth(job, targets, images, err);
    free(targets), free(images), free(similarity), free(natural_sim), free(natural);
    return status;
}
