/* command_model.c: `inception fit` and `inception evaluate`: options, one
 * library call (session_fit_dataset, session_evaluate_dataset in
 * controller/session/session_fit_dataset.c), the progress and tables printed. */
#include "commands.h"
#include "controller.h"
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void print_summary_row(const char *label, const metric_summary *s, int n)
{
    printf("  %-22s %7.3f %7.3f %7.3f %7.3f   (%d neurons)\n", label, s->mean, s->median,
           s->q25, s->q75, n);
}

/* The table every fit and evaluation ends with: per-neuron test metrics
 * summarized (session_test_summary). */
static void print_test_summary(const session_test_summary *t)
{
    if (t->trials < 2) {
        printf("no test trials: skipping the test metrics\n");
        return;
    }
    int N = t->neurons;
    printf("\ntest metrics (%d trials):      mean  median     q25     q75\n", t->trials);
    print_summary_row("single-trial corr", &t->single_trial_corr, N);
    print_summary_row("corr to average", &t->corr_to_average, N);
    print_summary_row("oracle corr", &t->oracle, N);
    print_summary_row("FEV (explainable)", &t->fev, N);
    print_summary_row("FEVE (all neurons)", &t->feve, N);
    if (t->kept)
        print_summary_row("FEVE (FEV >= 0.15)", &t->feve_kept, t->kept);
    if (t->has_cell_types) {
        printf("\nby ground-truth cell type:        n    FEVE  corr to average  single-trial\n");
        for (int k = 0; k < SIM_CELL_TYPES; k++) {
            const cell_type_metrics *b = &t->by_type[k];
            if (b->neurons)
                printf("  %-28s %4d %7.3f %16.3f %13.3f\n", sim_cell_type_name(k), b->neurons,
                       b->feve, b->corr_to_average, b->single_trial_corr);
        }
    }
}

/* The fit's and evaluation's progress on stdout. */
static void print_event(const session_fit_dataset_event *e, void *user)
{
    const char *path = user;
    switch (e->stage) {
    case SESSION_FIT_DATASET_MODEL_READ:
        printf("%s: written by %s\n", path,
               *e->writer ? e->writer : "an unrecorded writer (model file format version 1)");
        break;
    case SESSION_FIT_DATASET_BUILT: {
        const dataset *d = e->data;
        printf("fitting a %s model (%zu parameters) to %d neurons: %d training, %d validation, "
               "%d test trials of %d×%d images\n",
               model_kind_name(e->config->kind), e->parameters, d->neurons,
               dataset_count_tier(d, TIER_TRAIN), dataset_count_tier(d, TIER_VALIDATION),
               dataset_count_tier(d, TIER_TEST), d->height, d->width);
        break;
    }
    case SESSION_FIT_DATASET_EPOCH: {
        const fit_progress *p = e->epoch;
        printf("epoch %3d  loss %9.4f  validation corr %.4f  lr %.5f  %6.0f images/s  %6.1f s%s\n",
               p->epoch, p->train_loss, p->validation_corr, p->learning_rate,
               p->images_per_second, p->seconds, p->best_epoch == p->epoch ? "  *" : "");
        fflush(stdout);
        break;
    }
    case SESSION_FIT_DATASET_SAVED: {
        const fit_report *r = e->report;
        printf("best validation correlation %.4f at epoch %d of %d (%.1f s); saved %s\n",
               r->best_validation_corr, r->best_epoch, r->epochs, r->seconds, path);
        break;
    }
    }
}

static const char fit_help[] =
    "usage: inception fit --data DIR --out MODEL [options]\n\n"
    "Fit a predictive model to a dataset (compact or Sensorium 2022 layout), with early\n"
    "stopping on the validation trials, and report per-neuron metrics on the test trials.\n\n"
    "  --data DIR          dataset folder (required)\n"
    "  --out FILE          where to save the fitted model (required)\n"
    "  --model KIND        cnn (default), random-core (core fixed at random, readout\n"
    "                      fitted), or lnp (linear-nonlinear Poisson baseline)\n"
    "  --readout KIND      gaussian (default) or factorized\n"
    "  --features KIND     LNP features: pixels (default) or gabor\n"
    "  --layers N          conv layers (default 3)\n"
    "  --channels N        channels per layer (default 32)\n"
    "  --kernels LIST      kernel sizes, e.g. 9,7,7 (default; the last repeats)\n"
    "  --no-batch-norm     no batch normalization in the core\n"
    "  --normalization PX  a divisive normalization stage after the core: each channel\n"
    "                      divided by its channels' energy pooled over a Gaussian of\n"
    "                      PX pixels (docs/model.md; 0, the default: none)\n"
    "  --epochs N          at most N epochs (default 200)\n"
    "  --batch N           batch size (default 64)\n"
    "  --lr X              Adam learning rate (default 0.005; 0.0003 for lnp)\n"
    "  --random-positions  Gaussian readout positions start at random, not at each\n"
    "                      neuron's peak of response-weighted contrast energy\n"
    "  --patience N        epochs without improvement before a decay (default 5)\n"
    "  --laplace X         first-layer smoothness weight (default 0.01)\n"
    "  --l1 X              readout L1 weight (default 0.0001)\n"
    "  --threads N         threads (default 2)\n"
    "  --seed N            seed for weights and batches (default 1)\n"
    "  --downsample N      average N×N pixel blocks first (4 turns Sensorium's 144×256\n"
    "                      frames into 36×64)\n";

static int parse_kernels(const char *list, model_config *c)
{
    int n = 0;
    const char *p = list;
    while (*p && n < MODEL_MAX_LAYERS) {
        char *end;
        long k = strtol(p, &end, 10);
        if (end == p || k < 1 || k > 31 || k % 2 == 0) {
            fprintf(stderr, "inception fit: --kernels wants odd sizes 1..31, like 9,7,7\n");
            return 1;
        }
        c->kernel[n++] = (int)k;
        p = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') {
            fprintf(stderr, "inception fit: --kernels wants a comma-separated list\n");
            return 1;
        }
    }
    for (int l = n; l < MODEL_MAX_LAYERS; l++)
        c->kernel[l] = c->kernel[n - 1];
    return 0;
}

static int parse_model_options(cli_option *o, int n, model_config *c, fit_options *f)
{
    const char *kind = cli_get(o, n, "model"), *readout = cli_get(o, n, "readout");
    const char *features = cli_get(o, n, "features"), *kernels = cli_get(o, n, "kernels");
    if (kind) {
        if (!strcmp(kind, "cnn"))
            c->kind = MODEL_CNN;
        else if (!strcmp(kind, "random-core"))
            c->kind = MODEL_RANDOM_CORE;
        else if (!strcmp(kind, "lnp"))
            c->kind = MODEL_LNP;
        else {
            fprintf(stderr, "inception fit: --model must be cnn, random-core or lnp\n");
            return 1;
        }
    }
    if (readout) {
        if (!strcmp(readout, "gaussian"))
            c->readout = READOUT_GAUSSIAN;
        else if (!strcmp(readout, "factorized"))
            c->readout = READOUT_FACTORIZED;
        else {
            fprintf(stderr, "inception fit: --readout must be gaussian or factorized\n");
            return 1;
        }
    }
    if (features) {
        if (!strcmp(features, "pixels"))
            c->features = LNP_PIXELS;
        else if (!strcmp(features, "gabor"))
            c->features = LNP_GABOR;
        else {
            fprintf(stderr, "inception fit: --features must be pixels or gabor\n");
            return 1;
        }
    }
    if (kernels && parse_kernels(kernels, c))
        return 1;
    if (cli_get(o, n, "no-batch-norm"))
        c->batch_norm = 0;
    if (cli_get(o, n, "random-positions"))
        f->position_init = 0;
    /* exp(wᵀφ) with thousands of correlated features: Adam's first steps,
     * each moving every weight by the learning rate, overflow at the CNN's
     * rate (measured: diverges at 0.005, fits at 0.0003). */
    if (c->kind == MODEL_LNP)
        f->learning_rate = 0.0003f;
    return cli_get_int(o, n, "layers", 1, MODEL_MAX_LAYERS, &c->layers) ||
           cli_get_int(o, n, "channels", 1, 512, &c->channels) ||
           cli_get_int(o, n, "epochs", 1, 100000, &f->max_epochs) ||
           cli_get_int(o, n, "batch", 2, 4096, &f->batch_size) ||
           cli_get_int(o, n, "patience", 1, 1000, &f->patience) ||
           cli_get_int(o, n, "threads", 1, 256, &f->threads) ||
           cli_get_float(o, n, "lr", 1e-7f, 10.0f, &f->learning_rate) ||
           cli_get_float(o, n, "laplace", 0.0f, 1e6f, &f->laplace_weight) ||
           cli_get_float(o, n, "l1", 0.0f, 1e6f, &f->l1_weight) ||
           cli_get_float(o, n, "normalization", 0.0f, MODEL_MAX_NORMALIZATION_POOL,
                         &c->normalization_pool) ||
           cli_get_u64(o, n, "seed", &c->seed) || cli_get_u64(o, n, "seed", &f->seed);
}

int command_fit(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(fit_help, stdout);
        return 0;
    }
    cli_option o[] = {{"data", 1, NULL},     {"out", 1, NULL},      {"model", 1, NULL},
                      {"readout", 1, NULL},  {"features", 1, NULL}, {"layers", 1, NULL},
                      {"channels", 1, NULL}, {"kernels", 1, NULL},  {"no-batch-norm", 0, NULL},
                      {"normalization", 1, NULL},
                      {"epochs", 1, NULL},   {"batch", 1, NULL},    {"lr", 1, NULL},
                      {"patience", 1, NULL}, {"laplace", 1, NULL},  {"l1", 1, NULL},
                      {"threads", 1, NULL},  {"seed", 1, NULL},     {"downsample", 1, NULL},
                      {"random-positions", 0, NULL}};
    if (cli_parse("fit", argc, argv, o, COUNT(o)))
        return 2;
    const char *dir = cli_get(o, COUNT(o), "data"), *out = cli_get(o, COUNT(o), "out");
    if (!dir || !out) {
        fprintf(stderr, "inception fit: --data and --out are required (see --help)\n");
        return 2;
    }
    model_config c;
    fit_options f;
    model_config_default(&c);
    fit_options_default(&f);
    if (parse_model_options(o, COUNT(o), &c, &f))
        return 2;

    session_fit_dataset_settings s = {.data_dir = dir, .out_path = out, .downsample = 1,
                                      .model = c, .fit = f};
    if (cli_get_int(o, COUNT(o), "downsample", 1, 64, &s.downsample))
        return 2;
    char err[CONTROLLER_ERR_SIZE];
    fit_report report;
    session_test_summary test;
    if (session_fit_dataset(&s, print_event, (void *)out, &report, &test, err)) {
        fprintf(stderr, "inception fit: %s\n", err);
        return 1;
    }
    print_test_summary(&test);
    return 0;
}

static const char evaluate_help[] =
    "usage: inception evaluate --model MODEL --data DIR\n\n"
    "Predict the test trials of a dataset with a fitted model and report per-neuron\n"
    "metrics (the generalization check: data of another kind than the model was fitted on).\n\n"
    "  --model FILE        a model saved by `inception fit` (required)\n"
    "  --data DIR          dataset folder with test trials (required)\n"
    "  --threads N         threads (default 2)\n"
    "  --downsample N      as for fit: must match what the model was fitted on\n";

int command_evaluate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(evaluate_help, stdout);
        return 0;
    }
    cli_option o[] = {{"model", 1, NULL}, {"data", 1, NULL}, {"threads", 1, NULL},
                      {"downsample", 1, NULL}};
    if (cli_parse("evaluate", argc, argv, o, COUNT(o)))
        return 2;
    const char *path = cli_get(o, COUNT(o), "model"), *dir = cli_get(o, COUNT(o), "data");
    int threads = 2, downsample = 1;
    if (!path || !dir) {
        fprintf(stderr, "inception evaluate: --model and --data are required (see --help)\n");
        return 2;
    }
    if (cli_get_int(o, COUNT(o), "threads", 1, 256, &threads) ||
        cli_get_int(o, COUNT(o), "downsample", 1, 64, &downsample))
        return 2;
    char err[CONTROLLER_ERR_SIZE];
    session_test_summary test;
    if (session_evaluate_dataset(path, dir, downsample, threads, print_event, (void *)path, &test,
                                 err)) {
        fprintf(stderr, "inception evaluate: %s\n", err);
        return 1;
    }
    print_test_summary(&test);
    return 0;
}
