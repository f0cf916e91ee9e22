/* command_simulate.c: `inception simulate`: a dataset recorded from the
 * built-in simulated population, in the compact layout, with the cells'
 * ground-truth types beside it. */
#include "commands.h"
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const char simulate_help[] =
    "usage: inception simulate --out DIR [options]\n\n"
    "Show images to the built-in simulated population (V1-like simple, complex,\n"
    "divisively normalized, conjunction and energy-conjunction cells, and the zoo's\n"
    "end-stopped, surround, curvature, texture and deep cells of docs/ground-truth.md, with\n"
    "Poisson spiking) and write the dataset in the compact layout (images.npy,\n"
    "responses.npy, tiers.npy, image_ids.npy) plus cell_types.npy (0 simple,\n"
    "1 complex, 2 normalized, 3 conjunction, 4 energy-conjunction, 5 end-stopped,\n"
    "6 surround, 7 curvature, 8 texture, 9 deep) and population.npy (the population's config,\n"
    "to rebuild the ground truth).\n\n"
    "  --out DIR           output folder (required; created if missing)\n"
    "  --neurons N         population size (default 200)\n"
    "  --train N           training + validation images, each shown once (default 4000)\n"
    "  --validation X      share of those used for validation (default 0.1)\n"
    "  --test N            test images (default 100)\n"
    "  --repeats N         repeats of each test image (default 10)\n"
    "  --height N, --width N   image size (default 36×64)\n"
    "  --fraction-simple X, --fraction-complex X, --fraction-conjunction X,\n"
    "  --fraction-energy-conjunction X\n"
    "                      shares of the cell types (default 0.4, 0.4, 0, 0; the rest\n"
    "                      are normalized cells)\n"
    "  --fraction-end-stopped X, --fraction-surround X, --fraction-curvature X,\n"
    "  --fraction-texture X, --fraction-deep X    shares of the zoo's families (default 0)\n"
    "  --families LIST     equal shares of the named types instead, e.g.\n"
    "                      \"simple,complex,surround,texture\" (any of the ten names above)\n"
    "  --baseline-rate R   give cells a spontaneous rate of R spikes per window at gray,\n"
    "                      which contrast at their orthogonal orientation suppresses\n"
    "                      (docs/ground-truth.md, \"Baseline rates\"; default 0: none)\n"
    "  --baseline-share X  the share of the cells, of every type, that have it (default 1)\n"
    "  --images KIND       what the population is shown: auto (default: photographs\n"
    "                      from Debian's python3-skimage when installed, else synthetic),\n"
    "                      synthetic (1/f spectrum and occluding shapes), noise (white\n"
    "                      noise, for generalization checks), or a folder of PNG/JPEG\n"
    "                      photographs to cut patches from\n"
    "  --seed N            seed of the population, images and spikes (default 1)\n";

/* --families: equal shares of the named types, every other share 0 (a
 * normalized share is what the others leave). */
static int set_families(const char *list, sim_config *c)
{
    int named[SIM_CELL_TYPES] = {0}, count = 0;
    char copy[512];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save = NULL, *name = strtok_r(copy, ",", &save); name;
         name = strtok_r(NULL, ",", &save)) {
        int t = sim_cell_type_of_name(name);
        if (t < 0) {
            fprintf(stderr, "inception simulate: --families: '%s' is not a cell type (simple, "
                            "complex, normalized, conjunction, energy-conjunction, end-stopped, "
                            "surround, curvature, texture, deep)\n", name);
            return 1;
        }
        if (named[t]) {
            fprintf(stderr, "inception simulate: --families names '%s' twice\n", name);
            return 1;
        }
        named[t] = 1;
        count++;
    }
    if (!count) {
        fprintf(stderr, "inception simulate: --families names no cell type\n");
        return 1;
    }
    for (int t = 0; t < SIM_CELL_TYPES; t++) {
        float *share = sim_config_fraction(c, t);
        if (share)
            *share = named[t] ? 1.0f / count : 0.0f;
    }
    return 0;
}

/* --images: auto prefers real photographs, and says what it used. */
static int choose_images(const char *kind, simulate_options *s)
{
    if (!kind || !strcmp(kind, "auto")) {
        s->photo_folder = photo_default_folder();
        s->images = s->photo_folder ? SIM_IMAGES_PHOTOS : SIM_IMAGES_SYNTHETIC;
    } else if (!strcmp(kind, "synthetic")) {
        s->images = SIM_IMAGES_SYNTHETIC;
    } else if (!strcmp(kind, "noise")) {
        s->images = SIM_IMAGES_NOISE;
    } else {
        struct stat st;
        if (stat(kind, &st) != 0 || !S_ISDIR(st.st_mode)) {
            fprintf(stderr, "inception simulate: --images wants auto, synthetic, noise or a "
                            "folder of photographs; '%s' is none of these\n", kind);
            return 1;
        }
        s->images = SIM_IMAGES_PHOTOS;
        s->photo_folder = kind;
    }
    return 0;
}

static const char *image_description(const simulate_options *s, int asked_synthetic,
                                     char *text, size_t size)
{
    if (s->images == SIM_IMAGES_NOISE)
        return "white-noise";
    if (s->images == SIM_IMAGES_SYNTHETIC && asked_synthetic)
        return "synthetic natural-like";
    if (s->images == SIM_IMAGES_SYNTHETIC)
        return "synthetic natural-like (no photographs found; install python3-skimage or "
               "pass --images FOLDER)";
    snprintf(text, size, "photograph-patch (from %s)", s->photo_folder);
    return text;
}

int command_simulate(int argc, char **argv)
{
    if (cli_wants_help(argc, argv)) {
        fputs(simulate_help, stdout);
        return 0;
    }
    cli_option o[] = {{"out", 1, NULL},        {"neurons", 1, NULL}, {"train", 1, NULL},
                      {"validation", 1, NULL}, {"test", 1, NULL},    {"repeats", 1, NULL},
                      {"height", 1, NULL},     {"width", 1, NULL},   {"images", 1, NULL},
                      {"seed", 1, NULL},       {"fraction-simple", 1, NULL},
                      {"fraction-complex", 1, NULL}, {"fraction-conjunction", 1, NULL},
                      {"fraction-energy-conjunction", 1, NULL},
                      {"fraction-end-stopped", 1, NULL}, {"fraction-surround", 1, NULL},
                      {"fraction-curvature", 1, NULL}, {"fraction-texture", 1, NULL},
                      {"fraction-deep", 1, NULL},      {"families", 1, NULL},
                      {"baseline-rate", 1, NULL},      {"baseline-share", 1, NULL}};
    if (cli_parse("simulate", argc, argv, o, COUNT(o)))
        return 2;
    const char *dir = cli_get(o, COUNT(o), "out");
    if (!dir) {
        fprintf(stderr, "inception simulate: --out is required (see --help)\n");
        return 2;
    }
    simulate_options s;
    simulate_options_default(&s);
    if (cli_get_int(o, COUNT(o), "neurons", 1, 100000, &s.population.neurons) ||
        cli_get_int(o, COUNT(o), "train", 2, 10000000, &s.train_images) ||
        cli_get_float(o, COUNT(o), "validation", 0.0f, 0.9f, &s.validation_fraction) ||
        cli_get_int(o, COUNT(o), "test", 0, 1000000, &s.test_images) ||
        cli_get_int(o, COUNT(o), "repeats", 1, 1000, &s.test_repeats) ||
        cli_get_int(o, COUNT(o), "height", 4, 1024, &s.population.height) ||
        cli_get_int(o, COUNT(o), "width", 4, 1024, &s.population.width) ||
        cli_get_u64(o, COUNT(o), "seed", &s.seed) ||
        cli_get_float(o, COUNT(o), "fraction-simple", 0, 1, &s.population.fraction_simple) ||
        cli_get_float(o, COUNT(o), "fraction-complex", 0, 1, &s.population.fraction_complex) ||
        cli_get_float(o, COUNT(o), "fraction-conjunction", 0, 1,
                      &s.population.fraction_conjunction) ||
        cli_get_float(o, COUNT(o), "fraction-energy-conjunction", 0, 1,
                      &s.population.fraction_energy_conjunction) ||
        cli_get_float(o, COUNT(o), "fraction-end-stopped", 0, 1,
                      &s.population.fraction_end_stopped) ||
        cli_get_float(o, COUNT(o), "fraction-surround", 0, 1, &s.population.fraction_surround) ||
        cli_get_float(o, COUNT(o), "fraction-curvature", 0, 1, &s.population.fraction_curvature) ||
        cli_get_float(o, COUNT(o), "fraction-texture", 0, 1, &s.population.fraction_texture) ||
        cli_get_float(o, COUNT(o), "fraction-deep", 0, 1, &s.population.fraction_deep))
        return 2;
    if (cli_get_baseline(o, COUNT(o), "simulate", &s.population))
        return 2;
    const char *families = cli_get(o, COUNT(o), "families");
    if (families && set_families(families, &s.population))
        return 2;
    const sim_config *pc = &s.population;
    if (pc->fraction_simple + pc->fraction_complex + pc->fraction_conjunction +
            pc->fraction_energy_conjunction + pc->fraction_end_stopped + pc->fraction_surround +
            pc->fraction_curvature + pc->fraction_texture + pc->fraction_deep > 1.0001f) {
        char named[512] = "";
        size_t used = 0;
        for (int t = 0; t < SIM_CELL_TYPES && used < sizeof named; t++) {
            float *share = sim_config_fraction(&s.population, t);
            if (share && *share > 0.0f)
                used += (size_t)snprintf(named + used, sizeof named - used, "%s--fraction-%s %g",
                                         used ? ", " : "", sim_cell_type_name(t), (double)*share);
        }
        fprintf(stderr, "inception simulate: the shares add to more than 1: %s\n", named);
        return 2;
    }
    char err[MODEL_ERR_SIZE], what[512];
    s.population.seed = s.seed;
    const char *images = cli_get(o, COUNT(o), "images");
    if (choose_images(images, &s))
        return 2;

    dataset d;
    if (simulate_folder_write(dir, &s, &d, err)) {
        fprintf(stderr, "inception simulate: %s\n", err);
        return 1;
    }
    printf("wrote %s: %d neurons, %d trials (%d training, %d validation, %d test) of %d×%d "
           "%s images\n",
           dir, d.neurons, d.trials, dataset_count_tier(&d, TIER_TRAIN),
           dataset_count_tier(&d, TIER_VALIDATION), dataset_count_tier(&d, TIER_TEST), d.height,
           d.width, image_description(&s, images && !strcmp(images, "synthetic"), what, sizeof what));
    dataset_free(&d);
    return 0;
}
