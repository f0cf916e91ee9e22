/* command_search.c: `inception search`: its options, then the model-free
 * search of the controller library (controller/mei/mei_search.h) against a
 * simulated dataset's population, and its findings printed: per neuron and
 * by the zoo's tuning and held-out families. */
#include "commands.h"
#include "controller.h"
#include "model.h"
#include "stimulus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char search_help[] =
    "usage: inception search --population PATH --neurons SPEC --out DIR [options]\n\n"
    "A model-free search for each chosen neuron's most exciting image, run against the\n"
    "simulated population of `inception simulate` (no model: the check and fallback for\n"
    "neurons a model predicts badly). A genetic algorithm over sums of localized Gabor\n"
    "primitives: each generation's images are shown --repeats times each, the fitness is\n"
    "the mean Poisson spike count drawn from the simulated cell's true rate (as the\n"
    "virtual rig draws it). Every image has the dataset's mean luminance and the RMS\n"
    "contrast budget of `inception mei` (by default the training images' median).\n"
    "Writes each neuron's best image as a PNG, stimuli.npy (count×H×W float32) and\n"
    "manifest.json, and prints its true response beside the truly best natural training\n"
    "image at the budget and the cell's optimum. docs/search.md.\n\n"
    "  --population PATH   population.npy of `inception simulate`, or its folder (which\n"
    "                      holds the natural images too) (required)\n"
    "  --neurons SPEC      ids and ranges (\"3,7,10-19\") or \"all\" (required)\n"
    "  --split WHICH       of those, all (default), tuning or held-out: the zoo's families\n"
    "                      settings are chosen on, or those only reported on\n"
    "  --out DIR           output folder (required; created if missing)\n"
    "  --generations N     generations per neuron (default 50)\n"
    "  --population-size N images per generation (default 40)\n"
    "  --repeats N         trials per image and generation (default 1); trials per neuron:\n"
    "                      generations x population-size x repeats (default 2,000)\n"
    "  --elites N          best images kept and shown again each generation (default 4)\n"
    "  --primitives N      Gabors summed per image (default 4)\n"
    "  --mutation-rate X   each gene's chance of a mutation (default 0.25)\n"
    "  --mutation-sd X     its size, a share of the gene's range (default 0.1)\n"
    "  --crossover X       a child's chance of mixing two parents (default 0.5)\n"
    "  --contrast X        RMS contrast budget (default: median of the training images)\n"
    "  --seed N            the searches and the simulated spikes (default 1)\n"
    "  --least             search for the least exciting image instead (the fitness is\n"
    "                      minus the mean count), scored against the truly least exciting\n"
    "                      natural training image at the budget and the cell's gray rate\n"
    "  --surround DIR      search the surround instead, around the centres of DIR (an\n"
    "                      `inception mei --kind surround` folder of this population): each\n"
    "                      image is shown through 1 - mask around the neuron's masked MEI,\n"
    "                      scored against the centre alone (gray around it) and the model's\n"
    "                      own surround; --neurons all: every neuron DIR has; with --least\n"
    "                      the surround that lowers the response most\n"
    "  --surround-space S  ring: an evolution strategy on a ring code around the centre\n"
    "                      (14 numbers; its mean is handed over), gabor: the genetic search\n"
    "                      over Gabor primitives (a most exciting one at most the budget);\n"
    "                      default ring for the most exciting surround, gabor for --least\n";

/* user: the run's least flag (its fitness is minus the mean count). */
static void show_event(const mei_search_event *e, void *user)
{
    int least = *(const int *)user;
    if (e->generation == e->generations && e->best.evaluations == 0) /* the ring code's */
        fprintf(stderr, "searched %d of %d: %d generations, the last one's mean count %.2f\n",
                e->index + 1, e->count, e->generation,
                least ? -(double)e->best.fitness : (double)e->best.fitness);
    else if (e->generation == e->generations)
        fprintf(stderr, "searched %d of %d: %d generations, %s mean count %.2f over %d "
                        "showings\n", e->index + 1, e->count, e->generation,
                least ? "least" : "best", least ? -(double)e->best.fitness
                                                : (double)e->best.fitness,
                e->best.evaluations);
}

static float ratio(float a, float b) { return b > 0.0f ? a / b : NAN; }

/* Whether the search's image truly did better than the natural image:
 * above it, or below it for least. */
static int beat_natural(const mei_search_neuron *w, int least)
{
    return least ? w->true_rate < w->natural : w->true_rate > w->natural;
}

static void print_row(const mei_search_neuron *w, int least)
{
    float other = least ? w->gray : w->optimum; /* least: no known optimum, the gray rate */
    printf("%6d %-18s %-8s %7d %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %4s %7d\n", w->neuron,
           sim_cell_type_name(w->type), sim_family_held_out(w->type) ? "held-out" : "tuning",
           w->trials, (double)w->true_rate, (double)w->first_rate, (double)w->natural,
           (double)other, (double)ratio(w->true_rate, w->natural),
           (double)ratio(w->true_rate, other), beat_natural(w, least) ? "yes" : "no",
           w->trials_to_natural);
}

/* The median of n values (metrics_summarize's; NaN for none). */
static float median(const float *v, int n)
{
    metric_summary m;
    metrics_summarize(v, n, &m);
    return m.median;
}

/* One split's line: how many beat the natural image, the medians. */
static void print_split(const mei_search_run *r, int held_out, const char *name)
{
    int least = r->c.least;
    float *nat = malloc((size_t)r->count * sizeof(float) * 3), *opt = nat + r->count;
    float *to = opt + r->count; /* trials to beat the natural image, where it was beaten */
    if (!nat)
        return;
    int n = 0, beats = 0, m = 0, k = 0;
    for (int j = 0; j < r->count; j++) {
        const mei_search_neuron *w = &r->rows[j];
        if (sim_family_held_out(w->type) != held_out)
            continue;
        beats += beat_natural(w, least);
        nat[n++] = ratio(w->true_rate, w->natural);
        float other = least ? w->gray : w->optimum;
        if (isfinite(ratio(w->true_rate, other)))
            opt[m++] = ratio(w->true_rate, other);
        if (w->trials_to_natural >= 0)
            to[k++] = (float)w->trials_to_natural;
    }
    if (n && least)
        printf("%s: below the least exciting natural image for %d of %d; median "
               "search/natural %.3f, search/gray %.3f; ", name, beats, n,
               (double)median(nat, n), (double)median(opt, m));
    else if (n)
        printf("%s: beats the best natural image for %d of %d; median search/natural %.3f, "
               "search/optimum %.3f; ", name, beats, n, (double)median(nat, n),
               (double)median(opt, m));
    if (n && k)
        printf("median trials until it first did %.0f (of %d neurons)\n", (double)median(to, k),
               k);
    else if (n)
        printf("it never did\n");
    free(nat);
}

/* A surround search's rows: the true rates of the search's composition,
 * the centre alone and the model's surround, and whether each surround
 * moved the response the asked way from the centre alone. */
static int moved(float rate, float centre, int least)
{
    return least ? rate < centre : rate > centre;
}

static void print_surround_line(const mei_search_run *r, int only_type, const char *name)
{
    int least = r->c.least, n = 0, search_moved = 0, model_moved = 0, with_model = 0;
    float *ratios = malloc((size_t)r->count * 2 * sizeof(float)), *model = ratios + r->count;
    if (!ratios)
        return;
    for (int j = 0; j < r->count; j++) {
        const mei_search_neuron *w = &r->rows[j];
        if (only_type >= 0 && w->type != only_type)
            continue;
        search_moved += moved(w->true_rate, w->centre_alone, least);
        ratios[n++] = ratio(w->true_rate, w->centre_alone);
        if (isfinite(w->model_surround)) {
            model_moved += moved(w->model_surround, w->centre_alone, least);
            model[with_model++] = ratio(w->model_surround, w->centre_alone);
        }
    }
    const char *verb = least ? "lowers" : "raises";
    if (n)
        printf("%s: the search's surround %s the true response from the centre alone for %d of "
               "%d (median search / centre alone %.3f); the model's %s surround for %d of %d "
               "(median %.3f)\n", name, verb, search_moved, n, (double)median(ratios, n),
               least ? "least exciting" : "most exciting", model_moved, with_model,
               (double)median(model, with_model));
    free(ratios);
}

static void print_surround_results(const mei_search_run *r)
{
    int least = r->c.least;
    printf("\nground truth (expected spike counts of the simulated cells; every surround at "
           "contrast %.4f, mean %.4f, around the centres of %s)\n", (double)r->budget.contrast,
           (double)r->budget.mean_luminance, r->c.surround_dir);
    printf("%6s %-18s %7s %8s %8s %8s %8s %8s %6s %6s %7s %8s\n", "neuron", "type", "trials",
           "search", "centre", "model", "s/centre", "m/centre", least ? "s-low" : "s-up",
           least ? "m-low" : "m-up", "to-ctr", "possible");
    for (int j = 0; j < r->count; j++) {
        const mei_search_neuron *w = &r->rows[j];
        printf("%6d %-18s %7d %8.3f %8.3f %8.3f %8.3f %8.3f %6s %6s %7d %8.3f\n", w->neuron,
               sim_cell_type_name(w->type), w->trials, (double)w->true_rate,
               (double)w->centre_alone, (double)w->model_surround,
               (double)ratio(w->true_rate, w->centre_alone),
               (double)ratio(w->model_surround, w->centre_alone),
               moved(w->true_rate, w->centre_alone, least) ? "yes" : "no",
               !isfinite(w->model_surround) ? "-"
               : moved(w->model_surround, w->centre_alone, least) ? "yes" : "no",
               w->trials_to_natural, (double)w->possible);
    }
    printf("(search: the true rate of the search's surround around the centre; centre: of the "
           "centre alone, gray around it; model: of the model's %s surround from the folder; "
           "to-ctr: trials until the search's image truly went %s the centre alone, -1 never; "
           "possible: with the cell's own best surround, ascended on its analytic gradient, "
           "most only)\n", least ? "least exciting" : "most exciting",
           least ? "below" : "above");
    print_surround_line(r, -1, "all neurons");
    print_surround_line(r, SIM_SURROUND, "surround cells");
}

static void print_results(const mei_search_run *r)
{
    if (r->c.surround_dir) {
        print_surround_results(r);
        return;
    }
    printf("\nground truth (expected spike counts of the simulated cells; every image at "
           "contrast %.4f, mean %.4f)\n", (double)r->budget.contrast,
           (double)r->budget.mean_luminance);
    int least = r->c.least;
    printf("%6s %-18s %-8s %7s %8s %8s %8s %8s %8s %8s %4s %7s\n", "neuron", "type", "split",
           "trials", "search", "first", "natural", least ? "gray" : "optimum", "s/nat",
           least ? "s/gray" : "s/opt", least ? "below" : "beat", "to-nat");
    for (int j = 0; j < r->count; j++)
        print_row(&r->rows[j], least);
    if (least)
        printf("(search: the true rate of the search's least exciting image; first: of the "
               "first generation's truly least exciting; natural: of the truly least exciting "
               "natural training image at the budget; gray: the uniform mean-luminance image's "
               "(a cell's baseline); to-nat: trials until the search's image truly went below "
               "the natural image, -1 never)\n");
    else
        printf("(search: the true rate of the search's best image; first: of the first "
               "generation's truly best; natural: of the truly best natural training image at "
               "the budget; optimum: exact for simple, complex and both conjunction types, "
               "searched for the zoo's families; to-nat: trials until the search's best truly "
               "beat the natural image, -1 never)\n");
    print_split(r, 0, "tuning families");
    print_split(r, 1, "held-out families");
}

/* --population names population.npy or its folder: the folder either way. */
static char *population_folder(const char *path)
{
    char *dir = strdup(path);
    size_t n = dir ? strlen(dir) : 0;
    const char *file = "population.npy";
    size_t f = strlen(file);
    if (dir && n >= f && !strcmp(dir + n - f, file) && (n == f || dir[n - f - 1] == '/')) {
        dir[n - f] = '\0';
        if (!dir[0])
            strcpy(dir, ".");
    }
    return dir;
}

static int read_options(const cli_option *o, int n, mei_search_config *c)
{
    search_config *s = &c->search;
    return cli_get_int(o, n, "generations", 1, 100000, &c->generations) ||
           cli_get_int(o, n, "population-size", 2, SEARCH_MAX_POPULATION, &s->population) ||
           cli_get_int(o, n, "repeats", 1, 1000, &c->repeats) ||
           cli_get_int(o, n, "elites", 1, SEARCH_MAX_POPULATION - 1, &s->elites) ||
           cli_get_int(o, n, "primitives", 1, SEARCH_MAX_PRIMITIVES, &s->primitives) ||
           cli_get_float(o, n, "mutation-rate", 0.0f, 1.0f, &s->mutation_rate) ||
           cli_get_float(o, n, "mutation-sd", 1e-4f, 1.0f, &s->mutation_sd) ||
           cli_get_float(o, n, "crossover", 0.0f, 1.0f, &s->crossover) ||
           cli_get_float(o, n, "contrast", 1e-4f, 0.49f, &c->contrast) ||
           cli_get_u64(o, n, "seed", &s->seed);
}

int command_search(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(search_help, stdout);
        return 0;
    }
    cli_option o[] = {{"population", 1, NULL},    {"neurons", 1, NULL},
                      {"out", 1, NULL},           {"generations", 1, NULL},
                      {"population-size", 1, NULL}, {"repeats", 1, NULL},
                      {"elites", 1, NULL},        {"primitives", 1, NULL},
                      {"mutation-rate", 1, NULL}, {"mutation-sd", 1, NULL},
                      {"crossover", 1, NULL},     {"contrast", 1, NULL},
                      {"seed", 1, NULL},          {"split", 1, NULL},
                      {"least", 0, NULL},         {"surround", 1, NULL},
                      {"surround-space", 1, NULL}};
    if (cli_parse("search", argc, argv, o, COUNT(o)))
        return 2;
    const char *population = cli_get(o, COUNT(o), "population");
    const char *spec = cli_get(o, COUNT(o), "neurons"), *out = cli_get(o, COUNT(o), "out");
    if (!population || !spec || !out) {
        fprintf(stderr, "inception search: --population, --neurons and --out are required "
                        "(see --help)\n");
        return 2;
    }
    mei_search_config c = {.neurons = spec, .out_dir = out, .generations = 50, .repeats = 1,
                           .least = cli_get(o, COUNT(o), "least") != NULL,
                           .surround_dir = cli_get(o, COUNT(o), "surround")};
    search_config_default(&c.search);
    if (read_options(o, COUNT(o), &c))
        return 2;
    if (c.search.elites >= c.search.population) {
        fprintf(stderr, "inception search: --elites %d must be fewer than --population-size "
                        "%d\n", c.search.elites, c.search.population);
        return 2;
    }
    const char *space = cli_get(o, COUNT(o), "surround-space");
    if (space && strcmp(space, "ring") && strcmp(space, "gabor")) {
        fprintf(stderr, "inception search: --surround-space wants ring or gabor, not '%s'\n",
                space);
        return 2;
    }
    c.surround_ring = !space ? -1 : !strcmp(space, "ring");
    const char *split = cli_get(o, COUNT(o), "split");
    if (split && strcmp(split, "all") && strcmp(split, "tuning") && strcmp(split, "held-out")) {
        fprintf(stderr, "inception search: --split wants all, tuning or held-out, not '%s'\n",
                split);
        return 2;
    }
    c.split = !split || !strcmp(split, "all") ? MEI_SEARCH_ALL
            : !strcmp(split, "tuning")        ? MEI_SEARCH_TUNING
                                              : MEI_SEARCH_HELD_OUT;
    char *dir = population_folder(population);
    if (!dir) {
        fprintf(stderr, "inception search: out of memory\n");
        return 1;
    }
    c.data_dir = dir;
    mei_search_run *r = NULL;
    char err[CONTROLLER_ERR_SIZE];
    int status = mei_search_run_all(&r, &c, show_event, &c.least, err);
    if (status)
        fprintf(stderr, "inception search: %s\n", err);
    else {
        printf("wrote %s: PNGs, stimuli.npy, manifest.json\n", out);
        print_results(r);
    }
    mei_search_destroy(r);
    free(dir);
    return status;
}
