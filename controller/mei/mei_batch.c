/* mei_batch.c: the batch of `inception mei` (mei_batch.h): the models and the
 * data, the chosen neurons, the synthesized stimuli and their controls, the
 * predictions; the files are mei_batch_files.c's, the ground truth
 * mei_batch_truth.c's, --kind pattern mei_batch_pattern.c's. */
#include "mei_batch_internal.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The synthesis' and the model's reasons are copied into the batch's err as they are. */
_Static_assert(STIMULUS_ERR_SIZE == CONTROLLER_ERR_SIZE && MODEL_ERR_SIZE == CONTROLLER_ERR_SIZE,
               "one size of error buffer");

/* The slots' names (file names, the manifest's `kind`): the stimulus kinds'
 * (stimulus_base.h), the best natural image told apart as predicted or recorded. */
static const char *kind_names[MEI_BATCH_SLOTS] = {STIMULUS_KIND_NAME_MEI, "natural-predicted",
                                                  "natural-recorded", STIMULUS_KIND_NAME_GABOR,
                                                  STIMULUS_KIND_NAME_RF};
static const char *kind_labels[MEI_BATCH_SLOTS] = {"MEI", "NATP", "NATR", "GAB", "RF"};
/* --kind least: the synthesized slot holds the least exciting input, the
 * predicted-best slot the natural image predicted lowest (at the budget);
 * the others stay empty (a Gabor or RF map is no control of suppression). */
static const char *least_names[MEI_BATCH_SLOTS] = {STIMULUS_KIND_NAME_LEAST, "natural-least", "",
                                                   "", ""};
static const char *least_labels[MEI_BATCH_SLOTS] = {"LEI", "NATL", "", "", ""};
/* --kind surround: the centre alone (the masked MEI), then the most and the
 * least exciting surrounds. */
static const char *region_names[3] = {"centre", "surround-most", "surround-least"};
static const char *region_labels[3] = {"CTR", "SUR+", "SUR-"};

float *mei_batch_stimulus(const mei_batch *b, int j, int slot)
{
    return b->stimuli + ((size_t)j * b->K + slot) * b->P;
}

void mei_batch_tell(const mei_batch *b, mei_batch_event *e)
{
    e->batch = b;
    if (b->on_event)
        b->on_event(e, b->user);
}

/* ------------------------------------------------------------------------ */
/* The neurons */

static int add_neuron(int **list, int *count, size_t *cap, int n)
{
    if (grow_array(list, cap, (size_t)*count + 1, sizeof **list, 64))
        return 1;
    (*list)[(*count)++] = n;
    return 0;
}

int mei_batch_parse_ids(const char *spec, int N, int **out, int *count, char *err)
{
    size_t cap = 0;
    const char *s = spec;
    while (*s) {
        char *end;
        errno = 0;
        long a = strtol(s, &end, 10), b = a;
        if (end == s || errno)
            goto bad;
        s = end;
        if (*s == '-') {
            const char *t = s + 1;
            b = strtol(t, &end, 10);
            if (end == t)
                goto bad;
            s = end;
        }
        if (a < 0 || b >= N || a > b) {
            controller_fail(err, "--neurons: %ld-%ld not within 0..%d", a, b, N - 1);
            return MEI_BATCH_USAGE;
        }
        for (long n = a; n <= b; n++)
            if (add_neuron(out, count, &cap, (int)n))
                goto bad;
        if (*s == ',')
            s++;
        else if (*s)
            goto bad;
    }
    if (*count > 0)
        return 0;
bad:
    controller_fail(err, "--neurons wants ids and ranges like 3,7,10-19, \"top N\", \"random N\" "
                         "or \"all\", not '%s'", spec);
    return MEI_BATCH_USAGE;
}

/* Test-trial correlation of each neuron's prediction with its average
 * response over repeats. */
static int test_correlations(mei_batch *b, float *corr, char *err)
{
    int n_test = dataset_count_tier(&b->d, TIER_TEST), N = b->N;
    if (n_test < 2)
        return controller_fail(err, "\"top N\" needs test trials, and the dataset has %d", n_test);
    float *images = malloc((size_t)n_test * b->P * sizeof(float));
    float *resp = malloc((size_t)n_test * N * sizeof(float));
    float *pred = malloc((size_t)n_test * N * sizeof(float));
    int64_t *ids = malloc((size_t)n_test * sizeof(int64_t));
    neuron_metrics *nm = malloc((size_t)N * sizeof *nm);
    int status = 1;
    if (!images || !resp || !pred || !ids || !nm) {
        controller_fail(err, "out of memory for the test metrics");
        goto done;
    }
    for (int t = 0, k = 0; t < b->d.trials; t++) {
        if (b->d.tiers[t] != TIER_TEST)
            continue;
        memcpy(images + (size_t)k * b->P, b->d.images + (size_t)t * b->P, b->P * sizeof(float));
        memcpy(resp + (size_t)k * N, b->d.responses + (size_t)t * N, N * sizeof(float));
        ids[k++] = b->d.image_ids[t];
    }
    if (ensemble_predict(b->models, b->c.n_models, images, n_test, pred, err) ||
        metrics_evaluate(pred, resp, ids, n_test, N, nm, err))
        goto done;
    for (int n = 0; n < N; n++)
        corr[n] = isfinite(nm[n].corr_to_average) ? nm[n].corr_to_average : -2.0f;
    status = 0;
done:
    free(images);
    free(resp);
    free(pred);
    free(ids);
    free(nm);
    return status;
}

/* The k largest entries' indices, largest first (ties: lower index first). */
static void top_k(const float *value, int n, int k, int *order)
{
    for (int i = 0; i < n; i++)
        order[i] = i;
    for (int i = 0; i < k; i++) {
        int best = i;
        for (int j = i + 1; j < n; j++)
            if (value[order[j]] > value[order[best]] ||
                (value[order[j]] == value[order[best]] && order[j] < order[best]))
                best = j;
        int t = order[i];
        order[i] = order[best];
        order[best] = t;
    }
}

static int int_less(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* The N of "top N" or "random N" (`word` is top or random): 1..N of the
 * population, else 1 with the reason. */
static int spec_count(const mei_batch *b, const char *spec, const char *word, long *k, char *err)
{
    size_t skip = strlen(word);
    char *end;
    *k = strtol(spec + skip, &end, 10);
    if (end == spec + skip || *end || *k < 1 || *k > b->N)
        return controller_fail(err, "--neurons \"%s N\" wants N in 1..%d, not '%s'", word, b->N,
                               spec);
    return 0;
}

/* "random N": N distinct neurons drawn uniformly (seeded), in id order. */
static int choose_random(mei_batch *b, const char *spec, char *err)
{
    long k;
    if (spec_count(b, spec, "random", &k, err))
        return MEI_BATCH_USAGE;
    int64_t *ids = malloc((size_t)b->N * sizeof *ids);
    b->neurons = malloc((size_t)k * sizeof *b->neurons);
    if (!ids || !b->neurons) {
        free(ids);
        return controller_fail(err, "out of memory");
    }
    for (int n = 0; n < b->N; n++)
        ids[n] = n;
    model_rng rng;
    model_rng_seed(&rng, b->o.seed);
    model_rng_shuffle_i64(&rng, ids, b->N);
    for (int j = 0; j < (int)k; j++)
        b->neurons[j] = (int)ids[j];
    free(ids);
    b->count = (int)k;
    qsort(b->neurons, (size_t)k, sizeof *b->neurons, int_less);
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_RANDOM, .n = b->count});
    return 0;
}

/* "top N": the N best predicted neurons by test correlation. */
static int choose_top(mei_batch *b, const char *spec, char *err)
{
    long k;
    if (spec_count(b, spec, "top", &k, err))
        return MEI_BATCH_USAGE;
    float *corr = malloc((size_t)b->N * sizeof(float));
    int *order = malloc((size_t)b->N * sizeof(int));
    if (!corr || !order || test_correlations(b, corr, err)) {
        if (!corr || !order)
            controller_fail(err, "out of memory");
        free(corr);
        free(order);
        return 1;
    }
    top_k(corr, b->N, (int)k, order);
    b->neurons = order;
    b->count = (int)k;
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_TOP, .n = b->count,
                                         .value = {corr[order[0]], corr[order[b->count - 1]]}});
    free(corr);
    return 0;
}

static int choose_neurons(mei_batch *b, const char *spec, char *err)
{
    if (!strncmp(spec, "random", 6))
        return choose_random(b, spec, err);
    if (!strcmp(spec, "all")) {
        size_t cap = 0;
        for (int n = 0; n < b->N; n++)
            if (add_neuron(&b->neurons, &b->count, &cap, n))
                return controller_fail(err, "out of memory");
        return 0;
    }
    if (strncmp(spec, "top", 3) != 0)
        return mei_batch_parse_ids(spec, b->N, &b->neurons, &b->count, err);
    return choose_top(b, spec, err);
}

/* ------------------------------------------------------------------------ */
/* The kind's slots */

/* --kind diverse: the MEI's slots, then diverse-1 .. diverse-N; --kind
 * masked|surround: the MEI's slots, then the region's. */
static void name_slots(mei_batch *b, int extra)
{
    for (int k = 0; k < MEI_BATCH_SLOTS; k++) {
        b->slot_names[k] = kind_names[k];
        b->slot_labels[k] = kind_labels[k];
    }
    for (int s = 0; s < extra; s++) {
        if (b->diverse) {
            snprintf(b->slot_text[s][0], sizeof b->slot_text[s][0], "diverse-%d", s + 1);
            snprintf(b->slot_text[s][1], sizeof b->slot_text[s][1], "DIV%d", s + 1);
            b->slot_names[MEI_BATCH_SLOTS + s] = b->slot_text[s][0];
            b->slot_labels[MEI_BATCH_SLOTS + s] = b->slot_text[s][1];
        } else {
            int masked = b->region == MEI_BATCH_MASKED;
            b->slot_names[MEI_BATCH_SLOTS + s] = masked ? STIMULUS_KIND_NAME_MASKED : region_names[s];
            b->slot_labels[MEI_BATCH_SLOTS + s] = masked ? "MASK" : region_labels[s];
        }
    }
    b->K = MEI_BATCH_SLOTS + extra;
    b->kind_names = b->slot_names;
    b->kind_labels = b->slot_labels;
}

static void set_kind(mei_batch *b)
{
    b->kind_names = kind_names;
    b->kind_labels = kind_labels;
    b->K = MEI_BATCH_SLOTS;
    switch (b->c.kind) {
    case MEI_BATCH_DIVERSE:
        /* the MEI's random starts as many as the set: their agreement is the
         * set's baseline */
        b->diverse = b->c.count ? b->c.count : 4;
        b->o.starts = b->diverse;
        name_slots(b, b->diverse);
        break;
    case MEI_BATCH_LEAST:
        b->o.least = 1;
        b->kind_names = least_names;
        b->kind_labels = least_labels;
        break;
    case MEI_BATCH_MASKED:
    case MEI_BATCH_SURROUND:
        b->region = b->c.kind;
        name_slots(b, b->c.kind == MEI_BATCH_MASKED ? 1 : 3);
        break;
    default:
        break;
    }
}

/* ------------------------------------------------------------------------ */
/* The models and the data */

/* Every model of the list, each with the first one's neurons and image size. */
static int load_models(mei_batch *b, char *err)
{
    for (int m = 0; m < b->c.n_models; m++) {
        if (model_load(&b->models[m], b->c.models[m], err))
            return 1;
        const model_config *c = model_get_config(b->models[0]), *d = model_get_config(b->models[m]);
        if (d->neurons != c->neurons || d->height != c->height || d->width != c->width)
            return controller_fail(err, "%s: %d neurons of %d×%d images, but %s has %d of %d×%d: "
                                        "an ensemble's models must be of the same data",
                                   b->c.models[m], d->neurons, d->height, d->width,
                                   b->c.models[0], c->neurons, c->height, c->width);
    }
    return 0;
}

/* Training images and responses; the budget from them. */
static int collect_training(mei_batch *b, char *err)
{
    b->n_train = dataset_count_tier(&b->d, TIER_TRAIN);
    if (b->n_train < 1)
        return controller_fail(err, "the dataset has no training trials");
    b->train_images = malloc((size_t)b->n_train * b->P * sizeof(float));
    b->train_resp = malloc((size_t)b->n_train * b->N * sizeof(float));
    if (!b->train_images || !b->train_resp)
        return controller_fail(err, "out of memory for the training images");
    for (int t = 0, k = 0; t < b->d.trials; t++) {
        if (b->d.tiers[t] != TIER_TRAIN)
            continue;
        memcpy(b->train_images + (size_t)k * b->P, b->d.images + (size_t)t * b->P,
               b->P * sizeof(float));
        memcpy(b->train_resp + (size_t)k * b->N, b->d.responses + (size_t)t * b->N,
               b->N * sizeof(float));
        k++;
    }
    double sum = 0.0;
    for (size_t i = 0; i < (size_t)b->n_train * b->P; i++)
        sum += b->train_images[i];
    b->budget.mean_luminance = (float)(sum / ((double)b->n_train * b->P));
    b->budget.contrast = stimulus_median_contrast(b->train_images, b->n_train, b->P);
    return 0;
}

static int load_inputs(mei_batch *b, char *err)
{
    if (load_models(b, err))
        return 1;
    if (b->c.n_models > 1)
        mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_ENSEMBLE, .n = b->c.n_models});
    if (dataset_load(b->c.data_dir, &b->d, err))
        return 1;
    const model_config *c = model_get_config(b->models[0]);
    b->H = c->height;
    b->W = c->width;
    b->P = b->H * b->W;
    b->N = c->neurons;
    if (b->d.height != b->H || b->d.width != b->W || b->d.neurons != b->N)
        return controller_fail(err, "%s is %d×%d images of %d neurons, the model %d×%d of %d: "
                                    "not the data it was fitted to", b->c.data_dir, b->d.height,
                               b->d.width, b->d.neurons, b->H, b->W, b->N);
    return collect_training(b, err);
}

static int alloc_stimuli(mei_batch *b, char *err)
{
    size_t n = (size_t)b->count;
    b->stimuli = calloc(n * b->K * b->P, sizeof(float));
    b->predicted = calloc(n * b->K, sizeof(float));
    b->present = calloc(n * b->K, 1);
    b->results = calloc(n, sizeof(mei_result));
    b->by_model = calloc(n * b->K * b->c.n_models, sizeof(float));
    b->diverse_results = calloc(n * (b->diverse ? b->diverse : 1), sizeof(mei_result));
    b->masks = calloc(n, sizeof *b->masks);
    if (!b->stimuli || !b->predicted || !b->present || !b->results || !b->by_model ||
        !b->diverse_results || !b->masks)
        return controller_fail(err, "out of memory for %d neurons", b->count);
    /* Unfilled controls stay flat gray, harmless if ever shown. */
    for (size_t i = 0; i < n * b->K * b->P; i++)
        b->stimuli[i] = b->budget.mean_luminance;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Synthesis */

static void tell_step(const mei_progress *p, void *user)
{
    mei_batch *b = user;
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_STEP, .index = b->label, .step = p});
}

/* How much the random starts agree: their MEIs' mean pairwise correlation,
 * summarized over neurons. */
static void tell_agreement(const mei_batch *b)
{
    float *a = malloc((size_t)b->count * sizeof(float));
    if (!a)
        return;
    for (int j = 0; j < b->count; j++)
        a[j] = b->results[j].start_agreement;
    metric_summary s;
    metrics_summarize(a, b->count, &s);
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_AGREEMENT, .summary = &s});
    free(a);
}

/* --kind diverse: each neuron's set, `batch` neurons at a time. */
static int synthesize_sets(mei_batch *b, const mei_target *t, char *err)
{
    int S = b->diverse, status = 0, batch = b->c.batch;
    float *set = malloc((size_t)batch * S * b->P * sizeof(float));
    if (!set)
        return controller_fail(err, "out of memory");
    for (int first = 0; first < b->count && !status; first += batch) {
        int n = b->count - first < batch ? b->count - first : batch;
        b->label = first / batch + 1;
        mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_SETS, .index = b->label, .n = n,
                                             .value = {b->o.diversity}});
        status = mei_synthesize_diverse(b->models[0], t + first, n, &b->o, set,
                                        b->diverse_results + (size_t)first * S, err);
        for (int j = 0; !status && j < n; j++)
            for (int s = 0; s < S; s++) {
                memcpy(mei_batch_stimulus(b, first + j, MEI_BATCH_SLOTS + s),
                       set + ((size_t)j * S + s) * b->P, b->P * sizeof(float));
                b->present[(size_t)(first + j) * b->K + MEI_BATCH_SLOTS + s] = 1;
            }
    }
    free(set);
    return status;
}

/* --kind masked|surround: each neuron's mask (its classical receptive field
 * by the response it keeps), and for surround the surrounds outside it. */
static int synthesize_regions(mei_batch *b, char *err)
{
    mei_mask_options mo;
    mei_mask_options_default(&mo);
    mei_options least = b->o;
    least.least = 1;
    float *mask = malloc((size_t)b->P * sizeof(float)), *scratch = malloc((size_t)b->P * sizeof(float));
    int status = !mask || !scratch ? controller_fail(err, "out of memory") : 0;
    for (int j = 0; j < b->count && !status; j++) {
        int n = b->neurons[j];
        const float *mei = mei_batch_stimulus(b, j, MEI_BATCH_SLOT_MEI);
        mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_REGION, .n = n, .index = j + 1,
                                             .total = b->count});
        float most_rate, least_rate;
        status = mei_mask_fit(b->models[0], n, mei, &b->budget, &mo, &b->masks[j],
                              mei_batch_stimulus(b, j, MEI_BATCH_SLOTS), err);
        if (!status && b->region == MEI_BATCH_SURROUND) {
            mei_mask_render(&b->masks[j].mask, b->H, b->W, mask);
            status = mei_surround(b->models[0], n, mei, mask, &b->o,
                                  mei_batch_stimulus(b, j, MEI_BATCH_SLOTS + 1), scratch,
                                  &most_rate, err) ||
                     mei_surround(b->models[0], n, mei, mask, &least,
                                  mei_batch_stimulus(b, j, MEI_BATCH_SLOTS + 2), scratch,
                                  &least_rate, err);
        }
        for (int k = MEI_BATCH_SLOTS; !status && k < b->K; k++)
            b->present[(size_t)j * b->K + k] = 1;
    }
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_REGIONS_DONE});
    free(mask);
    free(scratch);
    return status;
}

/* --init natural: each neuron's best natural training image by predicted
 * response at the budget (the best-natural control; for --kind least the
 * least natural control: the image predicted lowest), rendered at the
 * budget, into init (count × P). */
static int natural_starts(mei_batch *b, float *init, char *err)
{
    int *bp = malloc((size_t)b->count * sizeof(int)), *br = malloc((size_t)b->count * sizeof(int));
    int status = !bp || !br;
    if (status)
        controller_fail(err, "out of memory for the natural starts");
    else if (b->o.least)
        status = control_least_natural_ensemble(b->models, b->c.n_models, b->train_images,
                                                b->n_train, b->neurons, b->count, &b->budget,
                                                bp, err);
    else
        status = control_best_natural_ensemble(b->models, b->c.n_models, b->train_images,
                                               b->n_train, NULL, b->neurons, b->count,
                                               &b->budget, bp, br, err);
    for (int j = 0; j < b->count && !status; j++) {
        memcpy(init + (size_t)j * b->P, b->train_images + (size_t)bp[j] * b->P,
               b->P * sizeof(float));
        stimulus_render_at_budget(init + (size_t)j * b->P, b->P, &b->budget);
    }
    free(bp);
    free(br);
    return status;
}

/* --init gabor: each neuron's matched Gabor (for --kind least its least
 * exciting Gabor: the same search for the lowest prediction), at the budget. */
static int gabor_starts(mei_batch *b, float *init, char *err)
{
    gabor_params *g = malloc((size_t)b->count * sizeof *g);
    if (!g)
        return controller_fail(err, "out of memory for the Gabor starts");
    int status = b->o.least
                     ? control_least_gabor_ensemble(b->models, b->c.n_models, b->neurons,
                                                    b->count, &b->budget, b->o.seed, g, init, err)
                     : control_matched_gabor_ensemble(b->models, b->c.n_models, b->neurons,
                                                      b->count, &b->budget, b->o.seed, g, init,
                                                      err);
    free(g);
    return status;
}

/* The MEIs (or least exciting inputs), `batch` neurons at a time; then the
 * kind's further images. */
static int synthesize_all(mei_batch *b, char *err)
{
    int batch = b->c.batch;
    mei_target *t = malloc((size_t)b->count * sizeof *t);
    float *images = malloc((size_t)batch * b->P * sizeof(float));
    int starts_given = b->c.init_natural || b->c.init_gabor;
    float *init = starts_given ? malloc((size_t)b->count * b->P * sizeof(float)) : NULL;
    int status = !t || !images || (starts_given && !init) ? controller_fail(err, "out of memory")
                                                          : 0;
    if (!status && init)
        status = b->c.init_gabor ? gabor_starts(b, init, err) : natural_starts(b, init, err);
    for (int j = 0; !status && j < b->count; j++)
        t[j] = (mei_target){b->c.objective, b->neurons[j], NULL};
    int batches = (b->count + batch - 1) / batch;
    for (int i = 0; i < batches && !status; i++) {
        int first = i * batch, n = b->count - first < batch ? b->count - first : batch;
        b->label = i + 1;
        b->o.progress = tell_step;
        b->o.user = b;
        mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_MEIS, .index = b->label,
                                             .total = batches, .n = n});
        b->o.init_images = init ? init + (size_t)first * b->P : NULL;
        status = mei_synthesize(b->models[0], t + first, n, &b->o, images, b->results + first,
                                err);
        for (int j = 0; !status && j < n; j++) {
            memcpy(mei_batch_stimulus(b, first + j, MEI_BATCH_SLOT_MEI),
                   images + (size_t)j * b->P, b->P * sizeof(float));
            b->present[(size_t)(first + j) * b->K + MEI_BATCH_SLOT_MEI] = 1;
        }
    }
    b->o.init_images = NULL; /* the sets and regions start from noise */
    free(init);
    if (!status && b->o.starts > 1)
        tell_agreement(b);
    if (!status && b->diverse)
        status = synthesize_sets(b, t, err);
    if (!status && b->region)
        status = synthesize_regions(b, err);
    free(t);
    free(images);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Controls */

/* A training image rendered at the budget into slot (j, slot). */
static void place_natural(mei_batch *b, int j, int slot, int image)
{
    memcpy(mei_batch_stimulus(b, j, slot), b->train_images + (size_t)image * b->P,
           b->P * sizeof(float));
    stimulus_render_at_budget(mei_batch_stimulus(b, j, slot), b->P, &b->budget);
    b->present[(size_t)j * b->K + slot] = 1;
}

static void tell_controls(const mei_batch *b, mei_batch_control which)
{
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_CONTROLS, .control = which,
                                         .n = b->n_train});
}

/* --kind least: the natural image each neuron's prediction is lowest for,
 * at the budget, in the predicted-best slot. */
static int make_least_controls(mei_batch *b, char *err)
{
    int *least = malloc((size_t)b->count * sizeof(int));
    if (!least)
        return controller_fail(err, "out of memory for the controls");
    tell_controls(b, MEI_BATCH_LEAST_NATURAL);
    int status = control_least_natural_ensemble(b->models, b->c.n_models, b->train_images,
                                                b->n_train, b->neurons, b->count, &b->budget,
                                                least, err);
    for (int j = 0; j < b->count && !status; j++)
        place_natural(b, j, MEI_BATCH_SLOT_NAT_PRED, least[j]);
    free(least);
    return status;
}

static int make_controls(mei_batch *b, char *err)
{
    if (b->o.least)
        return make_least_controls(b, err);
    int n = b->count, status = 1, M = b->c.n_models;
    int *bp = malloc((size_t)n * sizeof(int)), *br = malloc((size_t)n * sizeof(int));
    gabor_params *g = malloc((size_t)n * sizeof *g);
    float *gab = malloc((size_t)n * b->P * sizeof(float));
    float *rf = malloc((size_t)n * b->P * sizeof(float));
    if (!bp || !br || !g || !gab || !rf) {
        controller_fail(err, "out of memory for the controls");
        goto done;
    }
    tell_controls(b, MEI_BATCH_BEST_NATURAL);
    if (control_best_natural_ensemble(b->models, M, b->train_images, b->n_train, b->train_resp,
                                      b->neurons, n, &b->budget, bp, br, err))
        goto done;
    tell_controls(b, MEI_BATCH_GABORS);
    if (control_matched_gabor_ensemble(b->models, M, b->neurons, n, &b->budget, b->o.seed, g, gab,
                                       err))
        goto done;
    tell_controls(b, MEI_BATCH_RF_MAPS);
    if (control_rf_map_ensemble(b->models, M, b->neurons, n, &b->budget, rf, err))
        goto done;
    for (int j = 0; j < n; j++) {
        place_natural(b, j, MEI_BATCH_SLOT_NAT_PRED, bp[j]);
        place_natural(b, j, MEI_BATCH_SLOT_NAT_REC, br[j]);
        memcpy(mei_batch_stimulus(b, j, MEI_BATCH_SLOT_GABOR), gab + (size_t)j * b->P,
               b->P * sizeof(float));
        memcpy(mei_batch_stimulus(b, j, MEI_BATCH_SLOT_RF), rf + (size_t)j * b->P,
               b->P * sizeof(float));
        b->present[(size_t)j * b->K + MEI_BATCH_SLOT_GABOR] = 1;
        b->present[(size_t)j * b->K + MEI_BATCH_SLOT_RF] = 1;
    }
    status = 0;
done:
    free(bp);
    free(br);
    free(g);
    free(gab);
    free(rf);
    return status;
}

/* The ensemble's (the model's) prediction for every stimulus, for the
 * manifest and labels; an ensemble's members' too. */
static int predict_all(mei_batch *b, char *err)
{
    int M = b->c.n_models;
    float *rates = malloc((size_t)b->K * b->N * sizeof(float));
    int status = rates ? 0 : controller_fail(err, "out of memory");
    for (int j = 0; j < b->count && !status; j++) {
        status = ensemble_predict(b->models, M, mei_batch_stimulus(b, j, 0), b->K, rates, err);
        for (int k = 0; k < b->K && !status; k++)
            b->predicted[(size_t)j * b->K + k] = rates[(size_t)k * b->N + b->neurons[j]];
        for (int m = 0; M > 1 && m < M && !status; m++) {
            status = model_predict(b->models[m], mei_batch_stimulus(b, j, 0), b->K, rates, err);
            for (int k = 0; k < b->K && !status; k++)
                b->by_model[((size_t)j * b->K + k) * M + m] =
                    rates[(size_t)k * b->N + b->neurons[j]];
        }
    }
    free(rates);
    return status;
}

/* ------------------------------------------------------------------------ */

/* Everything after the models and the data: the neurons, the budget, the
 * folder, then the kind's work and its files. */
static int run(mei_batch *b, char *err)
{
    int status = load_inputs(b, err);
    if (status)
        return status;
    b->o.ensemble = b->models + 1;
    b->o.ensemble_size = b->c.n_models - 1;
    if ((status = choose_neurons(b, b->c.neurons, err)) != 0)
        return status;
    if (b->c.contrast > 0.0f)
        b->budget.contrast = b->c.contrast;
    b->o.budget = b->budget;
    if (mkdir(b->c.out_dir, 0777) && errno != EEXIST)
        return controller_fail(err, "cannot create %s: %s", b->c.out_dir, strerror(errno));
    mei_batch_tell(b, &(mei_batch_event){.stage = MEI_BATCH_READY, .n = b->count});
    if (b->c.kind == MEI_BATCH_PATTERN)
        return mei_batch_pattern_run(b, err);
    if (alloc_stimuli(b, err) || synthesize_all(b, err) ||
        (b->c.controls && make_controls(b, err)) || predict_all(b, err) ||
        mei_batch_write_files(b, err) || mei_batch_write_gallery(b, err))
        return 1;
    return 0;
}

int mei_batch_run(mei_batch **out, const mei_batch_config *c, mei_batch_event_fn on_event,
                  void *user, char *err)
{
    *out = NULL;
    if (c->n_models < 1 || c->n_models > MEI_BATCH_MAX_MODELS || c->batch < 1 ||
        c->count < 0 || c->count > MEI_BATCH_MAX_DIVERSE)
        return controller_fail(err, "an MEI batch wants 1..%d models, a batch of at least one "
                                    "neuron and a count up to %d", MEI_BATCH_MAX_MODELS,
                               MEI_BATCH_MAX_DIVERSE);
    mei_batch *b = calloc(1, sizeof *b);
    if (!b)
        return controller_fail(err, "out of memory");
    b->c = *c;
    b->o = c->o;
    b->on_event = on_event;
    b->user = user;
    set_kind(b);
    int status = run(b, err);
    if (status) {
        mei_batch_destroy(b);
        return status;
    }
    *out = b;
    return 0;
}

void mei_batch_destroy(mei_batch *b)
{
    if (!b)
        return;
    for (int m = 0; m < b->c.n_models; m++)
        model_destroy(b->models[m]);
    dataset_free(&b->d);
    free(b->neurons);
    free(b->stimuli);
    free(b->predicted);
    free(b->by_model);
    free(b->present);
    free(b->results);
    free(b->diverse_results);
    free(b->masks);
    free(b->train_images);
    free(b->train_resp);
    free(b->targets);
    free(b->pattern_images);
    free(b->similarity);
    free(b->natural_similarity);
    free(b->natural);
    stimulus_truth_destroy(b->truth.t);
    float *truth_arrays[] = {b->truth.lowest, b->truth.set_corr, b->truth.start_corr,
                             b->truth.masked, b->truth.cover, b->truth.sigma, b->truth.most,
                             b->truth.least, b->truth.possible, b->truth.pattern_synthesized,
                             b->truth.pattern_natural, b->truth.pattern_best};
    for (size_t i = 0; i < sizeof truth_arrays / sizeof *truth_arrays; i++)
        free(truth_arrays[i]);
    free(b);
}
