/* command_export.c: `inception export`: its options, then the export of the
 * controller library (controller/export/export.h: a fitted model's
 * predictions for a user's image set, written as co-training targets), with
 * its progress and what it wrote printed. */
#include "commands.h"
#include "controller.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char export_help[] =
    "usage: inception export --model MODEL --images SET --out DIR [options]\n\n"
    "Write a fitted model's predictions for a set of images as co-training targets:\n"
    "NPY files plus manifest.json. SET is a folder of PNG/JPEG files (name order) or an\n"
    "NPY array N×H×W (grayscale) or N×H×W×3 (RGB), uint8 0..255 or float 0..1; images are\n"
    "centre-cropped to the model's aspect and resized to its input (area averaging when\n"
    "shrinking, bilinear when enlarging), as luminance in [0,1].\n\n"
    "  --model FILE        a model saved by `inception fit` (required)\n"
    "  --images SET        folder or .npy file of images (required)\n"
    "  --out DIR           output folder, created if missing (required)\n"
    "  --what LIST         any of responses,similarity,features (default\n"
    "                      responses,similarity)\n"
    "  --pool N            features: average N×N blocks of the core's maps (default 1:\n"
    "                      full maps; 0: one value per channel)\n"
    "  --controls LIST     any of shuffled (rows permuted, permutation.npy) and gaussian\n"
    "                      (Gaussian vectors with the responses' mean and covariance)\n"
    "  --seed N            seed of the controls (default 1)\n"
    "  --data DIR          the dataset the model was fitted on: adds each neuron's test\n"
    "                      correlations to the manifest, to weight or select neurons\n"
    "  --threads N         threads (default 2)\n"
    "  --strip-rows N      similarity rows computed at once (default: as many as fit in\n"
    "                      64 MiB; memory use does not grow with the number of images)\n";

/* ------------------------------------------------------------------------ */
/* Options */

/* Set *flags[i] for each word of a comma-separated list; unknown words fail. */
static int parse_list(const char *option, const char *list, const char *const *words,
                      int **flags, int n)
{
    for (int i = 0; i < n; i++)
        *flags[i] = 0;
    const char *p = list;
    while (*p) {
        size_t len = strcspn(p, ",");
        int found = 0;
        for (int i = 0; i < n; i++)
            if (strlen(words[i]) == len && !strncmp(p, words[i], len))
                found = *flags[i] = 1;
        if (!found) {
            fprintf(stderr, "inception export: --%s: unknown item '%.*s' (choose from", option,
                    (int)len, p);
            for (int i = 0; i < n; i++)
                fprintf(stderr, "%s%s", i ? ", " : " ", words[i]);
            fprintf(stderr, ")\n");
            return 1;
        }
        p += len + (p[len] == ',');
    }
    return 0;
}

static int parse_options(int argc, char **argv, export_config *c)
{
    cli_option o[] = {{"model", 1, NULL},    {"images", 1, NULL}, {"out", 1, NULL},
                      {"what", 1, NULL},     {"pool", 1, NULL},   {"controls", 1, NULL},
                      {"seed", 1, NULL},     {"data", 1, NULL},   {"threads", 1, NULL},
                      {"strip-rows", 1, NULL}};
    if (cli_parse("export", argc, argv, o, COUNT(o)))
        return 1;
    c->model_path = cli_get(o, COUNT(o), "model");
    c->images_path = cli_get(o, COUNT(o), "images");
    c->out_dir = cli_get(o, COUNT(o), "out");
    c->data_dir = cli_get(o, COUNT(o), "data");
    if (!c->model_path || !c->images_path || !c->out_dir) {
        fprintf(stderr, "inception export: --model, --images and --out are required "
                        "(see --help)\n");
        return 1;
    }
    const char *what = cli_get(o, COUNT(o), "what"), *controls = cli_get(o, COUNT(o), "controls");
    static const char *const what_words[] = {"responses", "similarity", "features"};
    static const char *const control_words[] = {"shuffled", "gaussian"};
    int *what_flags[] = {&c->want_responses, &c->want_similarity, &c->want_features};
    int *control_flags[] = {&c->shuffled, &c->gaussian};
    c->want_responses = c->want_similarity = 1;
    c->pool = 1;
    c->threads = 2;
    c->seed = 1;
    if ((what && parse_list("what", what, what_words, what_flags, 3)) ||
        (controls && parse_list("controls", controls, control_words, control_flags, 2)))
        return 1;
    if (!c->want_responses && !c->want_similarity && !c->want_features) {
        fprintf(stderr, "inception export: --what names nothing to export\n");
        return 1;
    }
    return cli_get_int(o, COUNT(o), "pool", 0, 4096, &c->pool) ||
           cli_get_int(o, COUNT(o), "threads", 1, 256, &c->threads) ||
           cli_get_int(o, COUNT(o), "strip-rows", 0, INT32_MAX, &c->strip_rows) ||
           cli_get_u64(o, COUNT(o), "seed", &c->seed);
}

/* ------------------------------------------------------------------------ */
/* What the export tells while it works */

/* Progress: one line, rewritten in place on a terminal, every half second. */
typedef struct export_display {
    const export_config *c;
    double last; /* seconds into the pass when last shown */
    int tty;
} export_display;

static void show_progress(const export_event *e, export_display *p)
{
    if (e->start) {
        p->last = 0.0;
        p->tty = isatty(fileno(stdout));
        return;
    }
    int final = e->done >= e->total;
    if (!final && e->seconds - p->last < 0.5)
        return;
    p->last = e->seconds;
    double rate = e->seconds > 0 ? e->done / e->seconds : 0.0;
    printf("%s%-12s %3.0f%%  %lld/%lld %s  %.0f %s/s  %.1f s%s", p->tty ? "\r" : "", e->label,
           e->total ? 100.0 * e->done / e->total : 100.0, e->done, e->total, e->unit, rate,
           e->unit, e->seconds, final || !p->tty ? "\n" : "");
    fflush(stdout);
}

static void show_event(const export_event *e, void *user)
{
    if (e->stage == EXPORT_PROGRESS) {
        show_progress(e, user);
        return;
    }
    const export_config *c = ((const export_display *)user)->c;
    printf("exporting %d images (resized to %dx%d) through a %s model of %d neurons to %s\n",
           e->images, e->width, e->height, e->model_kind, e->neurons, c->out_dir);
}

int command_export(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(export_help, stdout);
        return 0;
    }
    export_config c;
    memset(&c, 0, sizeof c);
    if (parse_options(argc, argv, &c))
        return 2;
    export_display display = {&c, 0.0, 0};
    export_result result;
    char err[CONTROLLER_ERR_SIZE];
    if (export_run(&c, show_event, &display, &result, err)) {
        fprintf(stderr, "inception export: %s\n", err);
        return 1;
    }
    if (result.out_of_range_pixels)
        fprintf(stderr, "inception export: warning: %d pixels outside [0,1]: float images are "
                        "taken as luminance in [0,1]\n", result.out_of_range_pixels);
    printf("wrote %d files and manifest.json to %s\n", result.files, c.out_dir);
    return 0;
}
