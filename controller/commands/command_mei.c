/* command_mei.c: `inception mei`: most exciting inputs for chosen neurons of
 * a fitted model, their control stimuli, files to look at and to present,
 * and (for a simulated dataset) the check against the ground truth. */
#include "commands.h"
#include "controller.h"
#include "mei_pattern.h"
#include "model.h"
#include "stimulus.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char mei_help[] =
    "usage: inception mei --model MODEL[,MODEL...] --data DIR --neurons SPEC --out DIR\n"
    "       [options]\n\n"
    "Synthesize each chosen neuron's most exciting input (MEI) by gradient ascent on the\n"
    "image, with its controls: the best natural training image by predicted and by\n"
    "recorded response, a matched Gabor and the receptive-field map. Every stimulus has\n"
    "the dataset's mean luminance and the same RMS contrast budget (pixel standard\n"
    "deviation, luminance in [0,1]); by default the median RMS contrast of the natural\n"
    "training images. Writes one PNG per stimulus, stimuli.npy (K×H×W float32),\n"
    "manifest.json and gallery.png.\n\n"
    "An ensemble: --model A.bin,B.bin,C.bin (models of the same data, e.g. `inception\n"
    "fit --seed 1`, `--seed 2`, ...; all with the same neurons and image size). Their\n"
    "predictions are averaged: the MEIs ascend the mean, the controls are chosen by it,\n"
    "\"top N\" ranks by it and the manifest records it (and each model's).\n\n"
    "  --model FILE[,FILE...]  fitted model, or a comma list of them (required)\n"
    "  --data DIR          the dataset it was fitted to (required)\n"
    "  --neurons SPEC      ids and ranges (\"3,7,10-19\"), \"top N\" (by test correlation to\n"
    "                      the average over repeats), \"random N\" (N drawn uniformly with\n"
    "                      --seed: a sample free of top N's bias to well-predicted\n"
    "                      cells) or \"all\" (required)\n"
    "  --out DIR           output folder (required; created if missing)\n"
    "  --steps N           ascent steps (default 1000)\n"
    "  --patience N        stop an image after N steps without improvement (default 0:\n"
    "                      run all steps)\n"
    "  --disagreement X    an ensemble: stop an image at the first step where its models'\n"
    "                      predictions spread by more than X (standard deviation over\n"
    "                      the models / their mean), once they have agreed within X\n"
    "                      (default 0: never)\n"
    "  --starts N          random starts per neuron, best kept (default 1)\n"
    "  --step-size X       mean pixel change per step (default 0.01)\n"
    "  --space KIND        pixel (gradient blurred, default) or fourier (1/f)\n"
    "  --sigma X           gradient blur sigma in pixels (default 0: none)\n"
    "  --sigma-end X       ... changing linearly to this by the last step (default: same)\n"
    "  --jitter N          random shifts of up to N pixels each step (default 1 for MEIs,\n"
    "                      0 for --kind least)\n"
    "  --init KIND         where each neuron's first start begins: noise (low-contrast\n"
    "                      white noise) or natural (the training image the model predicts\n"
    "                      highest at the budget: the best-natural control); default noise\n"
    "  --objective KIND    single (default), one-hot-mean or one-hot-softmax\n"
    "  --temperature X     one-hot-softmax temperature (default 1)\n"
    "  --contrast X        RMS contrast budget (default: median of the training images)\n"
    "  --batch N           neurons per batch through the model (default 100)\n"
    "  --no-controls       MEIs only\n"
    "  --ground-truth      the dataset came from `inception simulate`: show every stimulus\n"
    "                      to the simulated population and print the comparison table,\n"
    "                      overall and by cell type\n"
    "  --kind KIND         mei (default); least: the least exciting input, the same\n"
    "                      descent on the rate at the same budget, with the natural image\n"
    "                      the model predicts lowest at the budget as its control; diverse:\n"
    "                      the MEI (--count random starts) and its controls, then a set of\n"
    "                      --count images ascended together with a penalty on their mean\n"
    "                      pairwise correlation (weight 0.15 of the set's mean response)\n"
    "                      masked: the MEI and its controls, then the MEI under a learned\n"
    "                      soft disc (gray outside), the smallest that keeps 0.95 of the\n"
    "                      MEI's predicted rate; surround: that masked MEI as the centre\n"
    "                      (the control), then the surround outside the disc optimized for\n"
    "                      most and for least excitation (see docs/mei.md); pattern:\n"
    "                      the neurons as one group, --count seeded target patterns, for\n"
    "                      each the image whose predicted pattern comes closest (Pearson\n"
    "                      across the group) and the closest natural training image\n"
    "  --count N           --kind diverse: images per set (default 4, 2..64); --kind\n"
    "                      pattern: target patterns (default 4)\n"
    "  --wisdom FILE       FFTW wisdom cache for --space fourier\n"
    "  --threads N         threads (default 2)\n"
    "  --seed N            seed of the starts and the Gabor search (default 1)\n";

/* The kinds of stimuli per neuron, in gallery order. */
enum { K_MEI, K_NAT_PRED, K_NAT_REC, K_GABOR, K_RF, K_COUNT };
/* The slots' names (file names, the manifest's `kind`): the stimulus kinds'
 * (stimulus_base.h), the best natural image told apart as predicted or recorded. */
static const char *kind_names[K_COUNT] = {STIMULUS_KIND_NAME_MEI, "natural-predicted",
                                          "natural-recorded", STIMULUS_KIND_NAME_GABOR,
                                          STIMULUS_KIND_NAME_RF};
static const char *kind_labels[K_COUNT] = {"MEI", "NATP", "NATR", "GAB", "RF"};
/* --kind least: the synthesized slot holds the least exciting input, the
 * predicted-best slot the natural image predicted lowest (at the budget);
 * the others stay empty (a Gabor or RF map is no control of suppression). */
static const char *least_names[K_COUNT] = {STIMULUS_KIND_NAME_LEAST, "natural-least", "", "", ""};
static const char *least_labels[K_COUNT] = {"LEI", "NATL", "", "", ""};
/* --kind diverse --count N: the MEI and its controls, then N further slots
 * for the diverse set, named diverse-1 .. diverse-N. */
#define MAX_DIVERSE 64
/* --kind masked: one further slot; --kind surround: the centre alone (the
 * masked MEI), then the most and the least exciting surrounds. */
enum { REGION_NONE, REGION_MASKED, REGION_SURROUND };
static const char *region_names[3] = {"centre", "surround-most", "surround-least"};
static const char *region_labels[3] = {"CTR", "SUR+", "SUR-"};

#define MAX_MODELS 64

typedef struct mei_run {
    model *models[MAX_MODELS]; /* an ensemble when n_models > 1 */
    char *paths[MAX_MODELS];
    int n_models;
    dataset d;
    int H, W, P, N;
    int *neurons, count;
    int K;               /* slots per neuron: K_COUNT, + the diverse set's size */
    float *stimuli;      /* count × K × P (controls absent: only MEIs filled) */
    float *predicted;    /* count × K: the ensemble's mean */
    float *by_model;     /* count × K × n_models (ensembles only) */
    uint8_t *present;    /* count × K */
    mei_result *results; /* count */
    float *train_images; /* training-tier images */
    float *train_resp;
    int n_train;
    stimulus_budget budget;
    mei_options o;
    const char **kind_names, **kind_labels; /* by slot: this run's kinds */
    int diverse;          /* --kind diverse: the set's size, else 0 */
    mei_result *diverse_results; /* count × diverse */
    const char *diverse_names[K_COUNT + MAX_DIVERSE], *diverse_labels[K_COUNT + MAX_DIVERSE];
    char diverse_text[MAX_DIVERSE][2][16];
    int region;           /* REGION_*: --kind masked or surround */
    mei_mask_result *masks; /* count (region kinds) */
    int init_natural;     /* --init natural: start 0 at the best natural image */
    int pattern;          /* --kind pattern: the neurons are one group (command_mei_pattern.c) */
} mei_run;

/* ------------------------------------------------------------------------ */
/* --neurons SPEC */

static int add_neuron(int **list, int *count, int *cap, int n)
{
    if (*count == *cap) {
        int next = *cap ? 2 * *cap : 64;
        int *grown = realloc(*list, (size_t)next * sizeof(int));
        if (!grown)
            return 1;
        *list = grown;
        *cap = next;
    }
    (*list)[(*count)++] = n;
    return 0;
}

/* "3,7,10-19": ids and inclusive ranges, each in 0..N-1. */
static int parse_id_list(const char *spec, int N, int **out, int *count)
{
    int cap = 0;
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
            fprintf(stderr, "inception mei: --neurons: %ld-%ld not within 0..%d\n", a, b, N - 1);
            return 1;
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
    fprintf(stderr, "inception mei: --neurons wants ids and ranges like 3,7,10-19, \"top N\", "
                    "\"random N\" or \"all\", not '%s'\n", spec);
    return 1;
}

/* Test-trial correlation of each neuron's prediction with its average
 * response over repeats. */
static int test_correlations(mei_run *r, float *corr, char *err)
{
    int n_test = dataset_count_tier(&r->d, TIER_TEST), N = r->N;
    if (n_test < 2) {
        snprintf(err, MODEL_ERR_SIZE, "\"top N\" needs test trials, and the dataset has %d", n_test);
        return 1;
    }
    float *images = malloc((size_t)n_test * r->P * sizeof(float));
    float *resp = malloc((size_t)n_test * N * sizeof(float));
    float *pred = malloc((size_t)n_test * N * sizeof(float));
    int64_t *ids = malloc((size_t)n_test * sizeof(int64_t));
    neuron_metrics *nm = malloc((size_t)N * sizeof *nm);
    int status = 1;
    if (!images || !resp || !pred || !ids || !nm) {
        snprintf(err, MODEL_ERR_SIZE, "out of memory for the test metrics");
        goto done;
    }
    for (int t = 0, k = 0; t < r->d.trials; t++) {
        if (r->d.tiers[t] != TIER_TEST)
            continue;
        memcpy(images + (size_t)k * r->P, r->d.images + (size_t)t * r->P, r->P * sizeof(float));
        memcpy(resp + (size_t)k * N, r->d.responses + (size_t)t * N, N * sizeof(float));
        ids[k++] = r->d.image_ids[t];
    }
    if (ensemble_predict(r->models, r->n_models, images, n_test, pred, err) ||
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

/* "random N": N distinct neurons drawn uniformly (seeded), in id order. */
static int choose_random(mei_run *r, const char *spec)
{
    char *end;
    long k = strtol(spec + 6, &end, 10);
    if (end == spec + 6 || *end || k < 1 || k > r->N) {
        fprintf(stderr, "inception mei: --neurons \"random N\" wants N in 1..%d, not '%s'\n",
                r->N, spec);
        return 2;
    }
    int64_t *ids = malloc((size_t)r->N * sizeof *ids);
    r->neurons = malloc((size_t)k * sizeof *r->neurons);
    if (!ids || !r->neurons) {
        free(ids);
        fprintf(stderr, "inception mei: out of memory\n");
        return 1;
    }
    for (int n = 0; n < r->N; n++)
        ids[n] = n;
    model_rng rng;
    model_rng_seed(&rng, r->o.seed);
    model_rng_shuffle_i64(&rng, ids, r->N);
    for (int j = 0; j < (int)k; j++)
        r->neurons[j] = (int)ids[j];
    free(ids);
    r->count = (int)k;
    qsort(r->neurons, (size_t)k, sizeof *r->neurons, int_less);
    printf("%d neurons drawn at random (seed %llu)\n", r->count, (unsigned long long)r->o.seed);
    return 0;
}

static int choose_neurons(mei_run *r, const char *spec)
{
    char err[MODEL_ERR_SIZE];
    if (!strncmp(spec, "random", 6))
        return choose_random(r, spec);
    if (!strcmp(spec, "all")) {
        int cap = 0;
        for (int n = 0; n < r->N; n++)
            if (add_neuron(&r->neurons, &r->count, &cap, n))
                return 1;
        return 0;
    }
    if (strncmp(spec, "top", 3) != 0)
        return parse_id_list(spec, r->N, &r->neurons, &r->count) ? 2 : 0;
    char *end;
    long k = strtol(spec + 3, &end, 10);
    if (end == spec + 3 || *end || k < 1 || k > r->N) {
        fprintf(stderr, "inception mei: --neurons \"top N\" wants N in 1..%d, not '%s'\n", r->N,
                spec);
        return 2;
    }
    float *corr = malloc((size_t)r->N * sizeof(float));
    int *order = malloc((size_t)r->N * sizeof(int));
    if (!corr || !order || test_correlations(r, corr, err)) {
        fprintf(stderr, "inception mei: %s\n", corr && order ? err : "out of memory");
        free(corr);
        free(order);
        return 1;
    }
    top_k(corr, r->N, (int)k, order);
    r->neurons = order;
    r->count = (int)k;
    printf("top %d neurons by test correlation: %.3f to %.3f\n", r->count, corr[order[0]],
           corr[order[r->count - 1]]);
    free(corr);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Options */

static int read_options(cli_option *o, int n, mei_options *mo, int *batch)
{
    const char *space = cli_get(o, n, "space"), *objective = cli_get(o, n, "objective");
    if (cli_get_int(o, n, "steps", 0, 1000000, &mo->steps) ||
        cli_get_int(o, n, "patience", 0, 1000000, &mo->patience) ||
        cli_get_float(o, n, "disagreement", 1e-6f, 100.0f, &mo->disagreement) ||
        cli_get_int(o, n, "starts", 1, 1000, &mo->starts) ||
        cli_get_float(o, n, "step-size", 1e-6f, 1.0f, &mo->step_size) ||
        cli_get_float(o, n, "sigma", 0.0f, 20.0f, &mo->blur_sigma) ||
        cli_get_int(o, n, "jitter", 0, 16, &mo->jitter) ||
        cli_get_float(o, n, "temperature", 1e-4f, 1e4f, &mo->temperature) ||
        cli_get_int(o, n, "batch", 1, 100000, batch) ||
        cli_get_int(o, n, "threads", 1, 256, &mo->threads) ||
        cli_get_u64(o, n, "seed", &mo->seed))
        return 1;
    mo->blur_sigma_end = mo->blur_sigma;
    if (cli_get_float(o, n, "sigma-end", 0.0f, 20.0f, &mo->blur_sigma_end))
        return 1;
    if (space && strcmp(space, "pixel") && strcmp(space, "fourier")) {
        fprintf(stderr, "inception mei: --space wants pixel or fourier, not '%s'\n", space);
        return 1;
    }
    mo->space = space && !strcmp(space, "fourier") ? MEI_SPACE_FOURIER : MEI_SPACE_PIXEL;
    mo->wisdom_path = cli_get(o, n, "wisdom");
    return objective && strcmp(objective, "single") && strcmp(objective, "one-hot-mean") &&
                   strcmp(objective, "one-hot-softmax")
               ? (fprintf(stderr, "inception mei: --objective wants single, one-hot-mean or "
                                  "one-hot-softmax, not '%s'\n", objective), 1)
               : 0;
}

/* --kind diverse: the MEI's slots, then diverse-1 .. diverse-N. */
static void name_diverse_slots(mei_run *r)
{
    for (int k = 0; k < K_COUNT; k++) {
        r->diverse_names[k] = kind_names[k];
        r->diverse_labels[k] = kind_labels[k];
    }
    for (int s = 0; s < r->diverse; s++) {
        snprintf(r->diverse_text[s][0], sizeof r->diverse_text[s][0], "diverse-%d", s + 1);
        snprintf(r->diverse_text[s][1], sizeof r->diverse_text[s][1], "DIV%d", s + 1);
        r->diverse_names[K_COUNT + s] = r->diverse_text[s][0];
        r->diverse_labels[K_COUNT + s] = r->diverse_text[s][1];
    }
    r->kind_names = r->diverse_names;
    r->kind_labels = r->diverse_labels;
}

/* --kind masked|surround: the MEI's slots, then the region's. */
static void name_region_slots(mei_run *r, int region)
{
    int extra = region == REGION_MASKED ? 1 : 3;
    for (int k = 0; k < K_COUNT; k++) {
        r->diverse_names[k] = kind_names[k];
        r->diverse_labels[k] = kind_labels[k];
    }
    for (int s = 0; s < extra; s++) {
        r->diverse_names[K_COUNT + s] =
            region == REGION_MASKED ? STIMULUS_KIND_NAME_MASKED : region_names[s];
        r->diverse_labels[K_COUNT + s] = region == REGION_MASKED ? "MASK" : region_labels[s];
    }
    r->region = region;
    r->K = K_COUNT + extra;
    r->kind_names = r->diverse_names;
    r->kind_labels = r->diverse_labels;
}

/* --kind: which stimulus is synthesized, and the names of the run's slots. */
static int read_kind(const char *kind, int count, mei_run *r)
{
    r->kind_names = kind_names;
    r->kind_labels = kind_labels;
    r->K = K_COUNT;
    int k = kind ? stimulus_kind_parse(kind) : STIMULUS_KIND_MEI;
    int pattern = kind && !strcmp(kind, "pattern"); /* no stimulus kind: a group's image */
    if (count && k != STIMULUS_KIND_DIVERSE && !pattern) {
        fprintf(stderr, "inception mei: --count is the size of a --kind diverse set or the "
                        "number of --kind pattern targets\n");
        return 1;
    }
    switch (k) {
    case STIMULUS_KIND_MEI:
        return 0;
    case STIMULUS_KIND_DIVERSE:
        /* the MEI's random starts as many as the set: their agreement is the
         * set's baseline */
        r->diverse = count ? count : 4;
        r->o.starts = r->diverse;
        r->K = K_COUNT + r->diverse;
        name_diverse_slots(r);
        return 0;
    case STIMULUS_KIND_LEAST:
        r->o.least = 1;
        r->kind_names = least_names;
        r->kind_labels = least_labels;
        return 0;
    case STIMULUS_KIND_MASKED:
    case STIMULUS_KIND_SURROUND:
        name_region_slots(r, k == STIMULUS_KIND_MASKED ? REGION_MASKED : REGION_SURROUND);
        return 0;
    default:
        if (pattern) {
            r->pattern = 1;
            return 0;
        }
        fprintf(stderr, "inception mei: --kind wants mei, least, diverse, masked, surround or "
                        "pattern, not '%s'\n", kind);
        return 1;
    }
}

static mei_objective objective_of(const char *name)
{
    if (name && !strcmp(name, "one-hot-mean"))
        return MEI_ONE_HOT_MEAN;
    if (name && !strcmp(name, "one-hot-softmax"))
        return MEI_ONE_HOT_SOFTMAX;
    return MEI_SINGLE;
}

/* Training images and responses; the budget from them. */
static int collect_training(mei_run *r)
{
    r->n_train = dataset_count_tier(&r->d, TIER_TRAIN);
    if (r->n_train < 1) {
        fprintf(stderr, "inception mei: the dataset has no training trials\n");
        return 1;
    }
    r->train_images = malloc((size_t)r->n_train * r->P * sizeof(float));
    r->train_resp = malloc((size_t)r->n_train * r->N * sizeof(float));
    if (!r->train_images || !r->train_resp) {
        fprintf(stderr, "inception mei: out of memory for the training images\n");
        return 1;
    }
    for (int t = 0, k = 0; t < r->d.trials; t++) {
        if (r->d.tiers[t] != TIER_TRAIN)
            continue;
        memcpy(r->train_images + (size_t)k * r->P, r->d.images + (size_t)t * r->P,
               r->P * sizeof(float));
        memcpy(r->train_resp + (size_t)k * r->N, r->d.responses + (size_t)t * r->N,
               r->N * sizeof(float));
        k++;
    }
    double sum = 0.0;
    for (size_t i = 0; i < (size_t)r->n_train * r->P; i++)
        sum += r->train_images[i];
    r->budget.mean_luminance = (float)(sum / ((double)r->n_train * r->P));
    r->budget.contrast = stimulus_median_contrast(r->train_images, r->n_train, r->P);
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Synthesis and controls */

static void show_progress(const mei_progress *p, void *user)
{
    const int *batch = user;
    fprintf(stderr, "\r  batch %d: step %d/%d, %d of %d images active, mean objective %.3f, "
                    "%.1f s   ", *batch, p->step, p->steps, p->active, p->images,
            p->mean_objective, p->seconds);
    if (p->step == p->steps || p->active == 0)
        fputc('\n', stderr);
}

static float *stimulus_at(mei_run *r, int j, int kind)
{
    return r->stimuli + ((size_t)j * r->K + kind) * r->P;
}

/* How much the random starts agree: their MEIs' mean pairwise correlation,
 * summarized over neurons. */
static void report_agreement(const mei_run *r)
{
    float *a = malloc((size_t)r->count * sizeof(float));
    if (!a)
        return;
    for (int j = 0; j < r->count; j++)
        a[j] = r->results[j].start_agreement;
    metric_summary s;
    metrics_summarize(a, r->count, &s);
    printf("%d starts per neuron: their MEIs correlate %.3f (median over neurons of the mean "
           "pairwise correlation; quartiles %.3f, %.3f)\n", r->o.starts, s.median, s.q25, s.q75);
    free(a);
}

/* --kind diverse: each neuron's set, `batch` neurons at a time. */
static int synthesize_sets(mei_run *r, const mei_target *t, int batch)
{
    char err[STIMULUS_ERR_SIZE];
    int S = r->diverse, status = 0;
    float *set = malloc((size_t)batch * S * r->P * sizeof(float));
    if (!set) {
        fprintf(stderr, "inception mei: out of memory\n");
        return 1;
    }
    for (int first = 0; first < r->count && !status; first += batch) {
        int n = r->count - first < batch ? r->count - first : batch, label = first / batch + 1;
        r->o.user = &label;
        fprintf(stderr, "diverse sets %d: %d neurons × %d images, diversity weight %.3g\n",
                label, n, S, r->o.diversity);
        status = mei_synthesize_diverse(r->models[0], t + first, n, &r->o, set,
                                        r->diverse_results + (size_t)first * S, err);
        for (int j = 0; !status && j < n; j++)
            for (int s = 0; s < S; s++) {
                memcpy(stimulus_at(r, first + j, K_COUNT + s), set + ((size_t)j * S + s) * r->P,
                       r->P * sizeof(float));
                r->present[(size_t)(first + j) * r->K + K_COUNT + s] = 1;
            }
    }
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    free(set);
    return status;
}

/* --kind masked|surround: each neuron's mask (its classical receptive field
 * by the response it keeps), and for surround the surrounds outside it. */
static int synthesize_regions(mei_run *r)
{
    char err[STIMULUS_ERR_SIZE];
    mei_mask_options mo;
    mei_mask_options_default(&mo);
    mei_options least = r->o;
    least.least = 1;
    float *mask = malloc((size_t)r->P * sizeof(float)), *scratch = malloc((size_t)r->P * sizeof(float));
    int status = !mask || !scratch;
    if (status)
        snprintf(err, sizeof err, "out of memory");
    for (int j = 0; j < r->count && !status; j++) {
        int n = r->neurons[j];
        const float *mei = stimulus_at(r, j, K_MEI);
        fprintf(stderr, "\r  %s: neuron %d (%d of %d)   ",
                r->region == REGION_MASKED ? "masks" : "masks and surrounds", n, j + 1, r->count);
        float most_rate, least_rate;
        status = mei_mask_fit(r->models[0], n, mei, &r->budget, &mo, &r->masks[j],
                              stimulus_at(r, j, K_COUNT), err);
        if (!status && r->region == REGION_SURROUND) {
            mei_mask_render(&r->masks[j].mask, r->H, r->W, mask);
            status = mei_surround(r->models[0], n, mei, mask, &r->o, stimulus_at(r, j, K_COUNT + 1),
                                  scratch, &most_rate, err) ||
                     mei_surround(r->models[0], n, mei, mask, &least,
                                  stimulus_at(r, j, K_COUNT + 2), scratch, &least_rate, err);
        }
        for (int k = K_COUNT; !status && k < r->K; k++)
            r->present[(size_t)j * r->K + k] = 1;
    }
    fputc('\n', stderr);
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    free(mask);
    free(scratch);
    return status;
}

/* --init natural: each neuron's best natural training image by predicted
 * response at the budget (the best-natural control), rendered at the
 * budget, into init (count × P). */
static int natural_starts(mei_run *r, float *init)
{
    char err[STIMULUS_ERR_SIZE];
    int *bp = malloc((size_t)r->count * sizeof(int)), *br = malloc((size_t)r->count * sizeof(int));
    int status = !bp || !br;
    if (status)
        snprintf(err, sizeof err, "out of memory for the natural starts");
    else
        status = control_best_natural_ensemble(r->models, r->n_models, r->train_images,
                                               r->n_train, NULL, r->neurons, r->count,
                                               &r->budget, bp, br, err);
    for (int j = 0; j < r->count && !status; j++) {
        memcpy(init + (size_t)j * r->P, r->train_images + (size_t)bp[j] * r->P,
               r->P * sizeof(float));
        stimulus_render_at_budget(init + (size_t)j * r->P, r->P, &r->budget);
    }
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    free(bp);
    free(br);
    return status;
}

static int synthesize_all(mei_run *r, mei_objective objective, int batch)
{
    char err[STIMULUS_ERR_SIZE];
    mei_target *t = malloc((size_t)r->count * sizeof *t);
    float *images = malloc((size_t)batch * r->P * sizeof(float));
    float *init = r->init_natural ? malloc((size_t)r->count * r->P * sizeof(float)) : NULL;
    if (!t || !images || (r->init_natural && !init)) {
        free(t);
        free(images);
        free(init);
        fprintf(stderr, "inception mei: out of memory\n");
        return 1;
    }
    if (init && natural_starts(r, init)) {
        free(t);
        free(images);
        free(init);
        return 1;
    }
    for (int j = 0; j < r->count; j++)
        t[j] = (mei_target){objective, r->neurons[j], NULL};
    int batches = (r->count + batch - 1) / batch, status = 0;
    fflush(stdout); /* what was said so far comes before the progress lines */
    for (int b = 0; b < batches && !status; b++) {
        int first = b * batch, n = r->count - first < batch ? r->count - first : batch;
        int label = b + 1;
        r->o.progress = show_progress;
        r->o.user = &label;
        fprintf(stderr, "batch %d/%d: %d neurons × %d starts\n", label, batches, n, r->o.starts);
        r->o.init_images = init ? init + (size_t)first * r->P : NULL;
        status = mei_synthesize(r->models[0], t + first, n, &r->o, images, r->results + first,
                                err);
        for (int j = 0; !status && j < n; j++) {
            memcpy(stimulus_at(r, first + j, K_MEI), images + (size_t)j * r->P,
                   r->P * sizeof(float));
            r->present[(size_t)(first + j) * r->K + K_MEI] = 1;
        }
    }
    r->o.init_images = NULL; /* the sets and regions start from noise */
    free(init);
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    else if (r->o.starts > 1)
        report_agreement(r);
    if (!status && r->diverse)
        status = synthesize_sets(r, t, batch);
    if (!status && r->region)
        status = synthesize_regions(r);
    free(t);
    free(images);
    return status;
}

/* --kind least: the natural image each neuron's prediction is lowest for,
 * at the budget, in the predicted-best slot. */
static int make_least_controls(mei_run *r)
{
    char err[STIMULUS_ERR_SIZE];
    int *least = malloc((size_t)r->count * sizeof(int));
    if (!least) {
        fprintf(stderr, "inception mei: out of memory for the controls\n");
        return 1;
    }
    fprintf(stderr, "controls: least exciting natural images of %d training images\n",
            r->n_train);
    int status = control_least_natural_ensemble(r->models, r->n_models, r->train_images,
                                                r->n_train, r->neurons, r->count, &r->budget,
                                                least, err);
    for (int j = 0; j < r->count && !status; j++) {
        memcpy(stimulus_at(r, j, K_NAT_PRED), r->train_images + (size_t)least[j] * r->P,
               r->P * sizeof(float));
        stimulus_render_at_budget(stimulus_at(r, j, K_NAT_PRED), r->P, &r->budget);
        r->present[(size_t)j * r->K + K_NAT_PRED] = 1;
    }
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    free(least);
    return status;
}

static int make_controls(mei_run *r)
{
    if (r->o.least)
        return make_least_controls(r);
    char err[STIMULUS_ERR_SIZE];
    int n = r->count, status = 1;
    int *bp = malloc((size_t)n * sizeof(int)), *br = malloc((size_t)n * sizeof(int));
    gabor_params *g = malloc((size_t)n * sizeof *g);
    float *gab = malloc((size_t)n * r->P * sizeof(float));
    float *rf = malloc((size_t)n * r->P * sizeof(float));
    if (!bp || !br || !g || !gab || !rf) {
        snprintf(err, sizeof err, "out of memory for the controls");
        goto done;
    }
    fprintf(stderr, "controls: best natural images of %d training images\n", r->n_train);
    if (control_best_natural_ensemble(r->models, r->n_models, r->train_images, r->n_train,
                                      r->train_resp, r->neurons, n, &r->budget, bp, br, err))
        goto done;
    fprintf(stderr, "controls: matched Gabors\n");
    if (control_matched_gabor_ensemble(r->models, r->n_models, r->neurons, n, &r->budget,
                                       r->o.seed, g, gab, err))
        goto done;
    fprintf(stderr, "controls: receptive-field maps\n");
    if (control_rf_map_ensemble(r->models, r->n_models, r->neurons, n, &r->budget, rf, err))
        goto done;
    for (int j = 0; j < n; j++) {
        memcpy(stimulus_at(r, j, K_NAT_PRED), r->train_images + (size_t)bp[j] * r->P,
               r->P * sizeof(float));
        memcpy(stimulus_at(r, j, K_NAT_REC), r->train_images + (size_t)br[j] * r->P,
               r->P * sizeof(float));
        stimulus_render_at_budget(stimulus_at(r, j, K_NAT_PRED), r->P, &r->budget);
        stimulus_render_at_budget(stimulus_at(r, j, K_NAT_REC), r->P, &r->budget);
        memcpy(stimulus_at(r, j, K_GABOR), gab + (size_t)j * r->P, r->P * sizeof(float));
        memcpy(stimulus_at(r, j, K_RF), rf + (size_t)j * r->P, r->P * sizeof(float));
        for (int k = K_NAT_PRED; k < K_COUNT; k++)
            r->present[(size_t)j * r->K + k] = 1;
    }
    status = 0;
done:
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    free(bp);
    free(br);
    free(g);
    free(gab);
    free(rf);
    return status;
}

/* The ensemble's (the model's) prediction for every stimulus, for the
 * manifest and labels; an ensemble's members' too. */
static int predict_all(mei_run *r)
{
    char err[MODEL_ERR_SIZE];
    int M = r->n_models;
    float *rates = malloc((size_t)r->K * r->N * sizeof(float));
    int status = rates ? 0 : 1;
    for (int j = 0; j < r->count && !status; j++) {
        status = ensemble_predict(r->models, M, stimulus_at(r, j, 0), r->K, rates, err);
        for (int k = 0; k < r->K && !status; k++)
            r->predicted[(size_t)j * r->K + k] = rates[(size_t)k * r->N + r->neurons[j]];
        for (int m = 0; M > 1 && m < M && !status; m++) {
            status = model_predict(r->models[m], stimulus_at(r, j, 0), r->K, rates, err);
            for (int k = 0; k < r->K && !status; k++)
                r->by_model[((size_t)j * r->K + k) * M + m] =
                    rates[(size_t)k * r->N + r->neurons[j]];
        }
    }
    if (status)
        fprintf(stderr, "inception mei: %s\n", rates ? err : "out of memory");
    free(rates);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Output files */

/* The models the predictions come from: predicted_response is their mean. */
static void manifest_models(json_out *o, const mei_run *r)
{
    json_t *models = json_out_array(o, o->root, "models");
    for (int m = 0; m < r->n_models; m++)
        json_out_text(o, models, "models (a model file's path)", r->paths[m]);
    json_out_text(o, o->root, "predictions_from",
                  r->n_models > 1 ? "mean of the models" : "the model");
}

/* The first number of stimulus (j, kind) the manifest would print that is
 * not finite, named in `what`; 0 when all are. JSON has no NaN or infinity,
 * so such a manifest is refused, never written. */
static int stimulus_numbers_finite(mei_run *r, int j, int kind, const char **what)
{
    const float *x = stimulus_at(r, j, kind);
    int M = r->n_models;
    *what = !isfinite(r->predicted[(size_t)j * r->K + kind]) ? "predicted response"
          : !isfinite(stimulus_rms_contrast(x, r->P))           ? "contrast"
          : !isfinite(stimulus_mean(x, r->P))                   ? "mean"
          : kind == K_MEI && !isfinite(r->results[j].start_agreement) ? "start agreement"
                                                                       : NULL;
    for (int m = 0; !*what && M > 1 && m < M; m++)
        if (!isfinite(r->by_model[((size_t)j * r->K + kind) * M + m]))
            *what = "prediction of a member model";
    return !*what;
}

static int manifest_numbers_finite(mei_run *r)
{
    if (!isfinite(r->budget.mean_luminance) || !isfinite(r->budget.contrast)) {
        fprintf(stderr, "inception mei: the budget (mean luminance %g, contrast %g) is not "
                        "finite: no manifest written\n", (double)r->budget.mean_luminance,
                (double)r->budget.contrast);
        return 0;
    }
    for (int j = 0; j < r->count; j++)
        for (int kind = 0; kind < r->K; kind++) {
            const char *what;
            if (r->present[(size_t)j * r->K + kind] &&
                !stimulus_numbers_finite(r, j, kind, &what)) {
                fprintf(stderr, "inception mei: neuron %d, %s: the %s is not finite: no "
                                "manifest written\n", r->neurons[j], r->kind_names[kind], what);
                return 0;
            }
        }
    return 1;
}

/* One stimulus' entry in the manifest. */
static void manifest_stimulus(json_out *o, json_t *list, mei_run *r, int k, int j,
                              int kind, const char *file)
{
    const float *x = stimulus_at(r, j, kind);
    int set_slot = kind >= K_COUNT && r->diverse; /* an image of a diverse set */
    const mei_result *res = set_slot
        ? &r->diverse_results[(size_t)j * r->diverse + kind - K_COUNT] : &r->results[j];
    json_t *s = json_out_object(o, list, "stimuli");
    json_out_int(o, s, "index", k);
    json_out_int(o, s, "neuron", r->neurons[j]);
    json_out_text(o, s, "kind", r->kind_names[kind]);
    json_out_text(o, s, "file", file);
    json_out_real(o, s, "predicted_response", r->predicted[(size_t)j * r->K + kind]);
    json_out_real(o, s, "contrast", stimulus_rms_contrast(x, r->P));
    json_out_real(o, s, "mean", stimulus_mean(x, r->P));
    json_out_seed(o, s, "seed", kind == K_MEI || set_slot ? res->seed : r->o.seed);
    json_out_int(o, s, "steps", kind == K_MEI || set_slot ? res->steps : 0);
    if (set_slot) {
        json_out_int(o, s, "set_size", r->diverse);
        json_out_real(o, s, "set_correlation", res->start_agreement);
    }
    if (kind >= K_COUNT && r->region) { /* the mask: the neuron's classical RF */
        const mei_mask_result *m = &r->masks[j];
        json_out_real(o, s, "mask_x", m->mask.x);
        json_out_real(o, s, "mask_y", m->mask.y);
        json_out_real(o, s, "mask_radius", m->mask.radius);
        json_out_real(o, s, "mask_area", m->area);
        json_out_real(o, s, "mask_kept", m->response / m->mei_response);
        if (kind > K_COUNT)
            json_out_text(o, s, "surround", kind == K_COUNT + 1 ? "most" : "least");
    }
    if (kind == K_MEI) {
        json_out_int(o, s, "starts", r->o.starts);
        json_out_real(o, s, "start_agreement", res->start_agreement);
    }
    if (r->n_models > 1) {
        json_t *by = json_out_array(o, s, "predicted_by_model");
        for (int m = 0; m < r->n_models; m++)
            json_out_real(o, by, "predicted_by_model",
                          r->by_model[((size_t)j * r->K + kind) * r->n_models + m]);
    }
}

static int write_outputs(mei_run *r, const char *dir)
{
    if (!manifest_numbers_finite(r))
        return 1;
    char path[4096], err[STIMULUS_ERR_SIZE];
    int K = 0;
    for (int i = 0; i < r->count * r->K; i++)
        K += r->present[i];
    float *all = malloc((size_t)K * r->P * sizeof(float));
    json_out o;
    if (!all || json_out_begin(&o)) {
        free(all);
        fprintf(stderr, "inception mei: out of memory for the manifest\n");
        return 1;
    }
    json_out_text(&o, o.root, "inception_version", inception_version_string());
    json_out_int(&o, o.root, "height", r->H);
    json_out_int(&o, o.root, "width", r->W);
    json_out_real(&o, o.root, "mean_luminance", r->budget.mean_luminance);
    json_out_real(&o, o.root, "contrast_budget", r->budget.contrast);
    manifest_models(&o, r);
    json_t *list = json_out_array(&o, o.root, "stimuli");
    int k = 0, status = 0;
    for (int j = 0; j < r->count && !status; j++)
        for (int kind = 0; kind < r->K && !status; kind++) {
            if (!r->present[(size_t)j * r->K + kind])
                continue;
            const float *x = stimulus_at(r, j, kind);
            memcpy(all + (size_t)k * r->P, x, r->P * sizeof(float));
            char name[64];
            snprintf(name, sizeof name, "n%04d_%s.png", r->neurons[j], r->kind_names[kind]);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            status = png_write_gray(path, x, r->H, r->W, err);
            manifest_stimulus(&o, list, r, k, j, kind, name);
            k++;
        }
    snprintf(path, sizeof path, "%s/manifest.json", dir);
    if (!status && json_out_write(&o, path)) {
        snprintf(err, sizeof err, "%s not written: %s", path, o.err);
        status = 1;
    }
    json_out_end(&o);
    snprintf(path, sizeof path, "%s/stimuli.npy", dir);
    int64_t shape[3] = {K, r->H, r->W};
    if (!status)
        status = npy_write(path, NPY_FLOAT32, 3, shape, all, err);
    free(all);
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    return status;
}

static int write_gallery(mei_run *r, const char *dir)
{
    int cols = 0;
    int used[K_COUNT + MAX_DIVERSE];
    for (int kind = 0; kind < r->K; kind++)
        if (r->present[kind])
            used[cols++] = kind;
    gallery_tile *tiles = calloc((size_t)r->count * cols, sizeof *tiles);
    char (*labels)[24] = calloc((size_t)r->count * cols, sizeof *labels);
    char (*rows)[16] = calloc((size_t)r->count, sizeof *rows);
    const char **row_ptr = calloc((size_t)r->count, sizeof *row_ptr);
    char path[4096], err[STIMULUS_ERR_SIZE];
    int status = 1;
    if (!tiles || !labels || !rows || !row_ptr) {
        snprintf(err, sizeof err, "out of memory for the gallery");
        goto done;
    }
    for (int j = 0; j < r->count; j++) {
        snprintf(rows[j], sizeof rows[j], "N%d", r->neurons[j]);
        row_ptr[j] = rows[j];
        for (int c = 0; c < cols; c++) {
            int kind = used[c], t = j * cols + c;
            snprintf(labels[t], sizeof labels[t], "%s %.2f", r->kind_labels[kind],
                     r->predicted[(size_t)j * r->K + kind]);
            tiles[t] = (gallery_tile){stimulus_at(r, j, kind), labels[t]};
        }
    }
    snprintf(path, sizeof path, "%s/gallery.png", dir);
    status = gallery_write_png(path, tiles, row_ptr, r->count, cols, r->H, r->W, 2, err);
done:
    if (status)
        fprintf(stderr, "inception mei: %s\n", err);
    free(tiles);
    free(labels);
    free(rows);
    free(row_ptr);
    return status;
}

/* ------------------------------------------------------------------------ */
/* Ground truth */

static void print_truth_row(const truth_row *g)
{
    printf("%6d %-18s %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f\n", g->neuron,
           sim_cell_type_name(g->type), g->shown[STIMULUS_KIND_MEI], g->natural, g->natural_raw,
           g->shown[STIMULUS_KIND_GABOR], g->shown[STIMULUS_KIND_RF], g->optimum,
           g->shown[STIMULUS_KIND_MEI] / g->natural, g->shown[STIMULUS_KIND_MEI] / g->optimum,
           g->shown[STIMULUS_KIND_MEI] / g->best_control);
}

static void print_type_summary(const char *name, const truth_summary *s)
{
    printf("  %-18s %3d %5d %5d %5d %5d %9.3f %9.3f %9.3f %9.3f %9.3f\n", name, s->count,
           s->beats_gabor, s->beats_rf, s->beats_natural, s->beats_best_control, s->over_gabor,
           s->over_rf, s->over_natural, s->over_optimum, s->over_best_control);
}

/* The per-type table: for each cell type present (and all), wins and medians. */
static int print_type_table(const stimulus_truth *t)
{
    truth_summary s;
    printf("\nby cell type (wins: how many MEIs drive the cell more than the control; "
           "medians of MEI/control)\n");
    printf("  %-18s %3s %5s %5s %5s %5s %9s %9s %9s %9s %9s\n", "type", "n", ">gab", ">rf",
           ">nat", ">all", "MEI/gab", "MEI/rf", "MEI/nat", "MEI/opt", "MEI/best");
    for (int type = 0; type < SIM_CELL_TYPES; type++) {
        if (stimulus_truth_summarize(t, TRUTH_TYPE(type), &s))
            return 1;
        if (s.count)
            print_type_summary(sim_cell_type_name(type), &s);
    }
    if (stimulus_truth_summarize(t, TRUTH_ALL_TYPES, &s))
        return 1;
    print_type_summary("all", &s);
    printf("  (>all and MEI/best: against the best of the matched Gabor, the RF map and the "
           "best natural images)\n");
    return 0;
}

static int print_truth_summary(const stimulus_truth *t, int with_controls)
{
    truth_summary all, gabor_types, other;
    if (stimulus_truth_summarize(t, TRUTH_ALL_TYPES, &all) ||
        stimulus_truth_summarize(t, TRUTH_GABOR_TYPES, &gabor_types) ||
        stimulus_truth_summarize(t, ~TRUTH_GABOR_TYPES, &other))
        return 1;
    printf("median MEI/natural %.3f (target >= 1.5; against the natural image at its own "
           "contrast %.3f)\n", all.over_natural, all.over_natural_raw);
    printf("median MEI/optimum %.3f over %d simple and complex cells (target >= 0.8)\n",
           gabor_types.over_optimum, gabor_types.count);
    printf("MEI beats the best natural image for %d of %d neurons\n", all.beats_natural,
           all.count);
    if (!with_controls)
        return 0;
    printf("MEI beats the matched Gabor for %d of %d neurons, the RF map for %d of %d\n",
           all.beats_gabor, all.with_gabor, all.beats_rf, all.with_rf);
    printf("MEI beats the best-natural control shown (the model's choice at the budget) for %d "
           "of %d neurons, median MEI/control %.3f\n", all.beats_shown_natural,
           all.with_shown_natural, all.over_shown_natural);
    printf("non-Gabor cells (every type but simple and complex: no single Gabor is their "
           "optimum): "
           "MEI beats the matched Gabor for %d of %d, the RF map for %d of %d; median MEI/best "
           "control %.3f\n", other.beats_gabor, other.with_gabor, other.beats_rf, other.with_rf,
           other.over_best_control);
    return print_type_table(t);
}

/* --kind least: each neuron's least exciting input against its truly least
 * exciting natural image (both at the budget) and its rate at gray. */
static int print_least_truth(const stimulus_truth *t)
{
    printf("%6s %-18s %8s %8s %8s %8s %9s\n", "neuron", "type", "least", "nat-low", "nat-pred",
           "gray", "least/nat");
    for (int j = 0; j < stimulus_truth_count(t); j++) {
        const truth_row *g = stimulus_truth_row(t, j);
        printf("%6d %-18s %8.3f %8.3f %8.3f %8.3f %9.3f\n", g->neuron,
               sim_cell_type_name(g->type), g->shown[STIMULUS_KIND_LEAST], g->natural_least,
               g->shown[STIMULUS_KIND_LEAST_NATURAL], g->gray,
               g->shown[STIMULUS_KIND_LEAST] / g->natural_least);
    }
    printf("(nat-low: the truly least exciting natural training image; nat-pred: the one the "
           "model predicts lowest; gray: the uniform mean-luminance image, the simulated "
           "cells' floor)\n");
    truth_summary s;
    if (stimulus_truth_summarize(t, TRUTH_ALL_TYPES, &s))
        return 1;
    printf("least exciting input below the least exciting natural image for %d of %d neurons "
           "that natural images can drive above their gray rate\n",
           s.least_below_natural, s.suppressible);
    printf("least exciting input at the floor (within 1%% of the gray rate) for %d of %d "
           "neurons whose least exciting natural image is already there\n",
           s.least_at_floor, s.with_least - s.suppressible);
    printf("median least/least natural %.3f over %d neurons\n", s.least_over_natural,
           s.with_least);
    return 0;
}

/* --kind diverse: each set's lowest true response against the MEI's, and
 * how much the set's images correlate against the MEI's random starts. */
static int print_diverse_truth(const mei_run *r, stimulus_truth *t)
{
    int S = r->diverse, held = 0;
    float *set_corr = malloc((size_t)r->count * sizeof(float));
    float *start_corr = malloc((size_t)r->count * sizeof(float));
    if (!set_corr || !start_corr) {
        free(set_corr);
        free(start_corr);
        fprintf(stderr, "inception mei: out of memory for the ground truth\n");
        return 1;
    }
    printf("\ndiverse sets of %d (true responses; lowest/MEI: the set's least driving image "
           "against the MEI)\n%6s %-18s %8s %8s %10s %8s %8s\n", S, "neuron", "type", "MEI",
           "lowest", "lowest/MEI", "set-corr", "starts");
    for (int j = 0; j < r->count; j++) {
        const truth_row *g = stimulus_truth_row(t, j);
        float lowest = INFINITY;
        for (int s = 0; s < S; s++)
            lowest = fminf(lowest, stimulus_truth_score(t, j, -1, stimulus_at((mei_run *)r, j,
                                                                             K_COUNT + s)));
        float mei = g->shown[STIMULUS_KIND_MEI];
        held += lowest >= 0.8f * mei;
        set_corr[j] = r->diverse_results[(size_t)j * S].start_agreement;
        start_corr[j] = r->results[j].start_agreement;
        printf("%6d %-18s %8.3f %8.3f %10.3f %8.3f %8.3f\n", g->neuron,
               sim_cell_type_name(g->type), mei, lowest, lowest / mei, set_corr[j],
               start_corr[j]);
    }
    metric_summary a, b;
    metrics_summarize(set_corr, r->count, &a);
    metrics_summarize(start_corr, r->count, &b);
    printf("every image of the set at >= 0.8 of the MEI's true response for %d of %d neurons\n",
           held, r->count);
    printf("median pairwise correlation: diverse sets %.3f, %d random starts of the MEI %.3f\n",
           a.median, S, b.median);
    free(set_corr);
    free(start_corr);
    return 0;
}

/* Median of the finite values among v[0..n), NaN if none (v is reordered). */
static float finite_median(float *v, int n)
{
    int m = 0;
    for (int i = 0; i < n; i++)
        if (isfinite(v[i]))
            v[m++] = v[i];
    metric_summary s;
    if (!m)
        return NAN;
    metrics_summarize(v, m, &s);
    return s.median;
}

static float quotient(float a, float b) { return isfinite(a) && isfinite(b) && b > 0 ? a / b : NAN; }

/* The evaluation table of docs/ground-truth.md, one line per family present
 * (and one over the held-out families, one over the rest): medians of the
 * MEI's true response over the truly best natural training image at the
 * budget and at its own contrast, the share of targets whose MEI beats the
 * former, the MEI over the cell's optimum, and the model's prediction for its
 * MEI over the cell's true response to it. */
static int print_family_table(const mei_run *r, const stimulus_truth *t)
{
    int n = stimulus_truth_count(t);
    float *v = malloc((size_t)(n > 0 ? n : 1) * 5 * sizeof(float));
    if (!v)
        return 1;
    printf("\nby family (medians over targets; nat: the truly best natural training image at "
           "the budget, own: the same image at its own contrast; >nat: share of MEIs above "
           "nat; pred/true: the model's prediction for its MEI over the cell's true response)\n");
    printf("  %-18s %-9s %4s %8s %8s %6s %8s %9s\n", "family", "split", "n", "MEI/nat", "MEI/own",
           ">nat", "MEI/opt", "pred/true");
    /* rows: each type, then the held-out ones together, then the tuning ones */
    for (int row = 0; row < SIM_CELL_TYPES + 2; row++) {
        int m = 0, above = 0;
        float *nat = v, *own = v + n, *opt = v + 2 * n, *pred = v + 3 * n;
        for (int j = 0; j < n; j++) {
            const truth_row *g = stimulus_truth_row(t, j);
            int held = sim_family_held_out(g->type);
            if (row < SIM_CELL_TYPES ? g->type != row : held != (row == SIM_CELL_TYPES))
                continue;
            float mei = g->shown[STIMULUS_KIND_MEI];
            nat[m] = quotient(mei, g->natural);
            own[m] = quotient(mei, g->natural_raw);
            opt[m] = quotient(mei, g->optimum);
            pred[m] = quotient(r->predicted[(size_t)j * r->K + K_MEI], mei);
            above += isfinite(nat[m]) && nat[m] > 1.0f;
            m++;
        }
        if (!m)
            continue;
        const char *name = row < SIM_CELL_TYPES ? sim_cell_type_name(row)
                           : row == SIM_CELL_TYPES ? "all held-out" : "all tuning";
        const char *split = row < SIM_CELL_TYPES
                                ? (sim_family_held_out(row) ? "held-out" : "tuning")
                                : "";
        printf("  %-18s %-9s %4d %8.3f %8.3f %6.2f %8.3f %9.3f\n", name, split, m,
               finite_median(nat, m), finite_median(own, m), (float)above / m,
               finite_median(opt, m), finite_median(pred, m));
    }
    free(v);
    return 0;
}

/* --kind masked|surround: the masked MEI's true response against the MEI's
 * and the share of the cell's true RF its mask covers; for surround the
 * surrounds' true responses against the centre alone. */
static int print_region_truth(const mei_run *r, stimulus_truth *t)
{
    const sim_population *pop = stimulus_truth_population(t);
    float *mask = malloc((size_t)r->P * sizeof(float)), *cover = malloc((size_t)r->count * sizeof(float));
    if (!mask || !cover) {
        free(mask);
        free(cover);
        fprintf(stderr, "inception mei: out of memory for the ground truth\n");
        return 1;
    }
    int kept = 0, covered = 0, suppressed = 0, raised = 0, lowered = 0;
    printf("\n%s (true responses; covered: the share of the true RF under the mask)\n"
           "%6s %-18s %8s %8s %8s %7s %7s %8s", r->region == REGION_MASKED ? "masked MEIs"
           : "surround MEIs (centre: the masked MEI, gray outside)", "neuron", "type", "MEI",
           "masked", "kept", "radius", "sigma", "covered");
    if (r->region == REGION_SURROUND)
        printf(" %8s %8s", "most", "least");
    printf("\n");
    for (int j = 0; j < r->count; j++) {
        const truth_row *g = stimulus_truth_row(t, j);
        mei_mask_render(&r->masks[j].mask, r->H, r->W, mask);
        const sim_cell *cell = sim_population_cell(pop, g->neuron);
        cover[j] = mei_mask_rf_coverage(cell, mask, r->H, r->W);
        float mei = g->shown[STIMULUS_KIND_MEI];
        float masked = stimulus_truth_score(t, j, -1, stimulus_at((mei_run *)r, j, K_COUNT));
        kept += masked >= 0.9f * mei;
        covered += cover[j] >= 0.8f;
        printf("%6d %-18s %8.3f %8.3f %8.3f %7.2f %7.2f %8.3f", g->neuron,
               sim_cell_type_name(g->type), mei, masked, masked / mei, r->masks[j].mask.radius,
               cell->sigma, cover[j]);
        if (r->region == REGION_SURROUND) {
            float most = stimulus_truth_score(t, j, -1, stimulus_at((mei_run *)r, j, K_COUNT + 1));
            float least = stimulus_truth_score(t, j, -1, stimulus_at((mei_run *)r, j, K_COUNT + 2));
            printf(" %8.3f %8.3f", most, least);
            if (g->type == SIM_SURROUND) {
                suppressed++;
                raised += most > masked;
                lowered += least < masked;
            }
        }
        printf("\n");
    }
    metric_summary c;
    metrics_summarize(cover, r->count, &c);
    printf("masked MEI at >= 0.9 of the MEI's true response for %d of %d neurons; mask covering "
           ">= 0.8 of the true RF for %d (median %.3f)\n", kept, r->count, covered, c.median);
    if (r->region == REGION_SURROUND)
        printf("surround cells: the most exciting surround raises the true response over the "
               "centre alone for %d of %d, the least exciting lowers it for %d\n", raised,
               suppressed, lowered);
    free(mask);
    free(cover);
    return 0;
}

/* Every stimulus of the run and the training images shown to the simulated
 * population of `dir`'s population.npy. */
static int ground_truth(mei_run *r, const char *dir)
{
    char err[STIMULUS_ERR_SIZE];
    sim_config c;
    if (population_config_read(dir, &c, err)) {
        fprintf(stderr, "inception mei: --ground-truth: %s (was the dataset written by "
                        "`inception simulate`?)\n", err);
        return 1;
    }
    if (c.neurons != r->N || c.height != r->H || c.width != r->W) {
        fprintf(stderr, "inception mei: --ground-truth: population.npy (%d neurons, %d×%d) does "
                        "not match the model (%d neurons, %d×%d)\n",
                c.neurons, c.height, c.width, r->N, r->H, r->W);
        return 1;
    }
    stimulus_truth *t;
    if (stimulus_truth_create(&t, &c, r->neurons, r->count, &r->budget, err)) {
        fprintf(stderr, "inception mei: %s\n", err);
        return 1;
    }
    int with_controls = r->present[K_GABOR];
    stimulus_truth_add_naturals(t, r->train_images, r->n_train);
    for (int j = 0; r->o.least && j < r->count; j++) {
        stimulus_truth_score(t, j, STIMULUS_KIND_LEAST, stimulus_at(r, j, K_MEI));
        if (r->present[(size_t)j * r->K + K_NAT_PRED])
            stimulus_truth_score(t, j, STIMULUS_KIND_LEAST_NATURAL, stimulus_at(r, j, K_NAT_PRED));
    }
    for (int j = 0; !r->o.least && j < r->count; j++) {
        stimulus_truth_score(t, j, STIMULUS_KIND_MEI, stimulus_at(r, j, K_MEI));
        if (!with_controls)
            continue;
        stimulus_truth_score(t, j, STIMULUS_KIND_BEST_NATURAL, stimulus_at(r, j, K_NAT_PRED));
        stimulus_truth_score(t, j, STIMULUS_KIND_GABOR, stimulus_at(r, j, K_GABOR));
        stimulus_truth_score(t, j, STIMULUS_KIND_RF, stimulus_at(r, j, K_RF));
    }
    int status = 1;
    if (stimulus_truth_finish(t, err)) {
        fprintf(stderr, "inception mei: %s\n", err);
        goto done;
    }
    printf("\nground truth (expected spike counts of the simulated cells; every stimulus at "
           "contrast %.4f, mean %.4f)\n", r->budget.contrast, r->budget.mean_luminance);
    if (r->o.least) {
        status = print_least_truth(t);
        if (status)
            fprintf(stderr, "inception mei: out of memory for the ground truth\n");
        goto done;
    }
    printf("%6s %-18s %8s %8s %8s %8s %8s %8s %8s %8s %8s\n", "neuron", "type", "MEI", "natural",
           "nat-raw", "gabor", "rf", "optimum", "MEI/nat", "MEI/opt", "MEI/best");
    for (int j = 0; j < r->count; j++)
        print_truth_row(stimulus_truth_row(t, j));
    printf("(optimum: exact for simple, complex and both conjunction types, a normalized "
           "cell's own filter's as an approximation, searched for the zoo's families (a lower "
           "bound, docs/ground-truth.md); MEI/best: against the best of the matched Gabor, RF "
           "map and best natural image)\n");
    if (print_truth_summary(t, with_controls)) {
        fprintf(stderr, "inception mei: out of memory for the ground truth\n");
        goto done;
    }
    if (print_family_table(r, t)) {
        fprintf(stderr, "inception mei: out of memory for the ground truth\n");
        goto done;
    }
    status = r->diverse ? print_diverse_truth(r, t) : r->region ? print_region_truth(r, t) : 0;
done:
    stimulus_truth_destroy(t);
    return status;
}

/* ------------------------------------------------------------------------ */

static void run_free(mei_run *r)
{
    for (int m = 0; m < r->n_models; m++) {
        model_destroy(r->models[m]);
        free(r->paths[m]);
    }
    free(r->by_model);
    dataset_free(&r->d);
    free(r->neurons);
    free(r->stimuli);
    free(r->predicted);
    free(r->present);
    free(r->results);
    free(r->diverse_results);
    free(r->masks);
    free(r->train_images);
    free(r->train_resp);
}

static int run_alloc(mei_run *r)
{
    size_t n = (size_t)r->count;
    r->stimuli = calloc(n * r->K * r->P, sizeof(float));
    r->predicted = calloc(n * r->K, sizeof(float));
    r->present = calloc(n * r->K, 1);
    r->results = calloc(n, sizeof(mei_result));
    r->by_model = calloc(n * r->K * r->n_models, sizeof(float));
    r->diverse_results = calloc(n * (r->diverse ? r->diverse : 1), sizeof(mei_result));
    r->masks = calloc(n, sizeof *r->masks);
    if (!r->stimuli || !r->predicted || !r->present || !r->results || !r->by_model ||
        !r->diverse_results || !r->masks) {
        fprintf(stderr, "inception mei: out of memory for %d neurons\n", r->count);
        return 1;
    }
    /* Unfilled controls stay flat gray, harmless if ever shown. */
    for (size_t i = 0; i < n * r->K * r->P; i++)
        r->stimuli[i] = r->budget.mean_luminance;
    return 0;
}

/* "A.bin,B.bin": the paths, each non-empty. */
static int split_models(mei_run *r, const char *list)
{
    const char *s = list;
    for (;;) {
        size_t len = strcspn(s, ",");
        if (len == 0 || r->n_models == MAX_MODELS) {
            fprintf(stderr, "inception mei: --model wants a model file or a comma list of at "
                            "most %d, not '%s'\n", MAX_MODELS, list);
            return 2;
        }
        if (!(r->paths[r->n_models] = strndup(s, len))) {
            fprintf(stderr, "inception mei: out of memory\n");
            return 1;
        }
        r->n_models++;
        if (!s[len])
            return 0;
        s += len + 1;
    }
}

/* Every model of the list, each with the first one's neurons and image size. */
static int load_models(mei_run *r)
{
    char err[MODEL_ERR_SIZE];
    for (int m = 0; m < r->n_models; m++) {
        if (model_load(&r->models[m], r->paths[m], err)) {
            fprintf(stderr, "inception mei: %s\n", err);
            return 1;
        }
        const model_config *c = model_get_config(r->models[0]), *d = model_get_config(r->models[m]);
        if (d->neurons != c->neurons || d->height != c->height || d->width != c->width) {
            fprintf(stderr, "inception mei: %s: %d neurons of %d×%d images, but %s has %d of "
                            "%d×%d: an ensemble's models must be of the same data\n",
                    r->paths[m], d->neurons, d->height, d->width, r->paths[0], c->neurons,
                    c->height, c->width);
            return 1;
        }
    }
    return 0;
}

static int load_inputs(mei_run *r, const char *data_dir)
{
    char err[MODEL_ERR_SIZE];
    if (load_models(r))
        return 1;
    if (r->n_models > 1)
        printf("an ensemble of %d models: predictions are their mean\n", r->n_models);
    if (dataset_load(data_dir, &r->d, err)) {
        fprintf(stderr, "inception mei: %s\n", err);
        return 1;
    }
    const model_config *c = model_get_config(r->models[0]);
    r->H = c->height;
    r->W = c->width;
    r->P = r->H * r->W;
    r->N = c->neurons;
    if (r->d.height != r->H || r->d.width != r->W || r->d.neurons != r->N) {
        fprintf(stderr, "inception mei: %s is %d×%d images of %d neurons, the model %d×%d of "
                        "%d: not the data it was fitted to\n",
                data_dir, r->d.height, r->d.width, r->d.neurons, r->H, r->W, r->N);
        return 1;
    }
    return collect_training(r);
}

/* --kind pattern: the chosen neurons as one group, `count` target patterns. */
static int run_pattern(mei_run *r, int count, const char *truth_dir, const char *out)
{
    if (r->count < 2 || r->count > PATTERN_MAX_GROUP) {
        fprintf(stderr, "inception mei: --kind pattern wants a group of 2..%d neurons, not %d\n",
                PATTERN_MAX_GROUP, r->count);
        return 2;
    }
    mei_pattern_job job = {r->models[0], r->train_images, r->n_train, r->neurons, r->count,
                           count, r->H, r->W, r->N, r->o, truth_dir};
    char err[CONTROLLER_ERR_SIZE];
    printf("--kind pattern: %d target patterns over a group of %d neurons\n", count, r->count);
    if (mei_pattern_command(&job, out, err)) {
        fprintf(stderr, "inception mei: %s\n", err);
        return 1;
    }
    return 0;
}

int command_mei(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(mei_help, stdout);
        return 0;
    }
    cli_option o[] = {{"model", 1, NULL},     {"data", 1, NULL},        {"neurons", 1, NULL},
                      {"out", 1, NULL},       {"steps", 1, NULL},       {"patience", 1, NULL},
                      {"disagreement", 1, NULL},
                      {"starts", 1, NULL},    {"step-size", 1, NULL},   {"space", 1, NULL},
                      {"sigma", 1, NULL},     {"sigma-end", 1, NULL},   {"jitter", 1, NULL},
                      {"objective", 1, NULL}, {"temperature", 1, NULL}, {"contrast", 1, NULL},
                      {"batch", 1, NULL},     {"no-controls", 0, NULL}, {"ground-truth", 0, NULL},
                      {"wisdom", 1, NULL},    {"threads", 1, NULL},     {"seed", 1, NULL},
                      {"kind", 1, NULL},      {"count", 1, NULL},       {"init", 1, NULL}};
    if (cli_parse("mei", argc, argv, o, COUNT(o)))
        return 2;
    const char *model_path = cli_get(o, COUNT(o), "model"), *data = cli_get(o, COUNT(o), "data");
    const char *spec = cli_get(o, COUNT(o), "neurons"), *out = cli_get(o, COUNT(o), "out");
    if (!model_path || !data || !spec || !out) {
        fprintf(stderr, "inception mei: --model, --data, --neurons and --out are required "
                        "(see --help)\n");
        return 2;
    }
    mei_run r;
    memset(&r, 0, sizeof r);
    mei_options_default(&r.o);
    /* Transformation robustness: the MEI is ascended through random shifts
     * of up to a pixel, so it cannot rest on a feature the model sees at one
     * position only. Chosen on the zoo's tuning families (70 cells, docs/
     * ground-truth-results.md): against no jitter the median MEI / best
     * natural image rose from 1.74 to 1.89 at the budget and from 1.10 to
     * 1.12 at its own contrast, MEI / optimum from 0.675 to 0.692; 2 pixels
     * helped less at own contrast and made the model's predictions worse.
     * The library's default (mei_options_default, which `inception run`
     * starts from and then takes its protocol's mei.jitter_px) stays 0;
     * least exciting inputs were not measured with it and keep 0. */
    r.o.jitter = 1;
    int batch = 100;
    float contrast = 0.0f;
    int diverse_count = 0;
    if (read_options(o, COUNT(o), &r.o, &batch) ||
        cli_get_float(o, COUNT(o), "contrast", 1e-4f, 0.5f, &contrast) ||
        cli_get_int(o, COUNT(o), "count", 2, MAX_DIVERSE, &diverse_count) ||
        read_kind(cli_get(o, COUNT(o), "kind"), diverse_count, &r))
        return 2;
    const char *init = cli_get(o, COUNT(o), "init");
    if (init && strcmp(init, "noise") && strcmp(init, "natural")) {
        fprintf(stderr, "inception mei: --init wants noise or natural, not '%s'\n", init);
        return 2;
    }
    r.init_natural = init && !strcmp(init, "natural");
    if (r.o.least && !cli_get(o, COUNT(o), "jitter"))
        r.o.jitter = 0;
    if (r.init_natural && r.o.least) {
        fprintf(stderr, "inception mei: --init natural starts an MEI at the best natural "
                        "image; a least exciting input starts from noise\n");
        return 2;
    }
    if (r.diverse && cli_get(o, COUNT(o), "starts")) {
        fprintf(stderr, "inception mei: --kind diverse gives the MEI --count random starts; "
                        "--starts is not for it\n");
        return 2;
    }
    int status = split_models(&r, model_path), chosen;
    if (status)
        goto done;
    if (r.o.disagreement > 0.0f && (r.n_models < 2 || r.diverse || r.region || r.pattern)) {
        fprintf(stderr, "inception mei: --disagreement stops MEIs and least exciting inputs "
                        "where the models of an ensemble disagree: it needs --model A,B,...\n");
        status = 2;
        goto done;
    }
    if ((r.region || r.pattern) && r.n_models > 1) {
        fprintf(stderr, "inception mei: --kind masked, surround and pattern take one model, "
                        "not an ensemble\n");
        status = 2;
        goto done;
    }
    status = 1;
    if (load_inputs(&r, data))
        goto done;
    r.o.ensemble = r.models + 1;
    r.o.ensemble_size = r.n_models - 1;
    if ((chosen = choose_neurons(&r, spec)) != 0) {
        status = chosen;
        goto done;
    }
    if (contrast > 0.0f)
        r.budget.contrast = contrast;
    r.o.budget = r.budget;
    if (mkdir(out, 0777) && errno != EEXIST) {
        fprintf(stderr, "inception mei: cannot create %s: %s\n", out, strerror(errno));
        goto done;
    }
    printf("%d neurons; budget: mean luminance %.4f, RMS contrast %.4f%s\n", r.count,
           r.budget.mean_luminance, r.budget.contrast,
           contrast > 0.0f ? " (--contrast)" : " (median of the training images)");
    if (r.pattern) {
        status = run_pattern(&r, diverse_count ? diverse_count : 4,
                             cli_get(o, COUNT(o), "ground-truth") ? data : NULL, out);
        goto done;
    }
    if (run_alloc(&r) || synthesize_all(&r, objective_of(cli_get(o, COUNT(o), "objective")), batch))
        goto done;
    if (!cli_get(o, COUNT(o), "no-controls") && make_controls(&r))
        goto done;
    if (predict_all(&r) || write_outputs(&r, out) || write_gallery(&r, out))
        goto done;
    printf("wrote %s: PNGs, stimuli.npy, manifest.json, gallery.png\n", out);
    if (cli_get(o, COUNT(o), "ground-truth") && ground_truth(&r, data))
        goto done;
    status = 0;
done:
    run_free(&r);
    return status;
}
