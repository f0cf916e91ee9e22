/* mei_search.c: `inception search` (mei_search.h): the model-free search
 * run against the simulated population offline, scored against the truth,
 * its files written. The search itself is the synthesis library's
 * (search.c); this is the loading, the simulated trials and the files. */
#include "controller.h"
#include "json_out.h"
#include "mei_search.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The working state of one run beside its results. */
typedef struct run_state {
    mei_search_run *r;
    dataset d;
    float *train;        /* n_train × P: the training tier, the natural images */
    int n_train, N;      /* N: the population's neurons */
    stimulus_truth *truth;
    const sim_population *pop;
    float *images;       /* population × P: one generation, as the search asks */
    float *shown;        /* population × P: as shown (a surround search's composed;
                            else `images` itself) */
    mei_search_surround surround; /* a surround search's centres (else empty) */
    float *masks;        /* count × P: each chosen neuron's mask (surround search) */
    float *rates;        /* population × N */
    float *fitness;      /* population */
    mei_search_event_fn fn;
    void *user;
} run_state;

static int collect_naturals(run_state *s, char *err)
{
    mei_search_run *r = s->r;
    s->n_train = dataset_count_tier(&s->d, TIER_TRAIN);
    if (s->n_train < 1)
        return controller_fail(err, "%s has no training images to compare with",
                               r->c.data_dir);
    s->train = malloc((size_t)s->n_train * r->P * sizeof(float));
    if (!s->train)
        return controller_fail(err, "out of memory for %d training images", s->n_train);
    for (int t = 0, k = 0; t < s->d.trials; t++)
        if (s->d.tiers[t] == TIER_TRAIN)
            memcpy(s->train + (size_t)k++ * r->P, s->d.images + (size_t)t * r->P,
                   (size_t)r->P * sizeof(float));
    /* The budget of `inception mei`: the training images' mean luminance and
     * median RMS contrast, so that the two commands' images compare. */
    r->budget.mean_luminance = stimulus_mean(s->train, s->n_train * r->P);
    r->budget.contrast = r->c.contrast > 0.0f
        ? r->c.contrast : stimulus_median_contrast(s->train, s->n_train, r->P);
    return 0;
}

/* A surround search takes the neurons of its folder: "all" is every one
 * with a centre there, and each one asked for must have one. */
static int choose_surround_neurons(run_state *s, char *err)
{
    mei_search_run *r = s->r;
    const mei_search_surround *sur = &s->surround;
    if (strcmp(r->c.neurons, "all") != 0) {
        int status = mei_batch_parse_ids(r->c.neurons, s->N, &r->neurons, &r->count, err);
        for (int j = 0; j < r->count && !status; j++)
            if (!mei_search_surround_find(sur, r->neurons[j])) {
                controller_fail(err, "neuron %d has no surround MEI in %s (write it with "
                                     "`inception mei --kind surround`)", r->neurons[j],
                                r->c.surround_dir);
                status = MEI_BATCH_USAGE;
            }
        return status;
    }
    r->neurons = malloc((size_t)sur->count * sizeof(int));
    if (!r->neurons)
        return controller_fail(err, "out of memory");
    r->count = 0;
    for (int i = 0; i < sur->count; i++) {
        if (sur->centres[i].neuron >= s->N)
            return controller_fail(err, "%s: neuron %d, but the population has %d",
                                   r->c.surround_dir, sur->centres[i].neuron, s->N);
        r->neurons[r->count++] = sur->centres[i].neuron;
    }
    return 0;
}

static int choose_neurons(run_state *s, char *err)
{
    mei_search_run *r = s->r;
    if (r->c.surround_dir)
        return choose_surround_neurons(s, err);
    if (strcmp(r->c.neurons, "all") != 0)
        return mei_batch_parse_ids(r->c.neurons, s->N, &r->neurons, &r->count, err);
    r->neurons = malloc((size_t)s->N * sizeof(int));
    if (!r->neurons)
        return controller_fail(err, "out of memory");
    for (int n = 0; n < s->N; n++)
        r->neurons[n] = n;
    r->count = s->N;
    return 0;
}

/* Keep the chosen neurons of the split's families only: settings are
 * compared on the tuning families, the held-out ones reported apart. */
static int keep_split(run_state *s, const sim_config *pc, char *err)
{
    mei_search_run *r = s->r;
    if (r->c.split == MEI_SEARCH_ALL)
        return 0;
    sim_population *pop;
    if (sim_population_create(&pop, pc, err))
        return 1;
    int kept = 0;
    for (int j = 0; j < r->count; j++) {
        int held = sim_family_held_out(sim_population_cell(pop, r->neurons[j])->type);
        if (held == (r->c.split == MEI_SEARCH_HELD_OUT))
            r->neurons[kept++] = r->neurons[j];
    }
    sim_population_destroy(pop);
    r->count = kept;
    if (!kept) {
        controller_fail(err, "none of the neurons asked for is of the %s families",
                        r->c.split == MEI_SEARCH_HELD_OUT ? "held-out" : "tuning");
        return MEI_BATCH_USAGE;
    }
    return 0;
}

static int load(run_state *s, char *err)
{
    mei_search_run *r = s->r;
    sim_config pc;
    if (sim_config_read(r->c.data_dir, &pc, err) || dataset_load(r->c.data_dir, &s->d, err))
        return 1;
    if (s->d.height != pc.height || s->d.width != pc.width || s->d.neurons != pc.neurons)
        return controller_fail(err, "%s: the images are %d×%d of %d neurons, population.npy "
                                    "%d×%d of %d", r->c.data_dir, s->d.height, s->d.width,
                               s->d.neurons, pc.height, pc.width, pc.neurons);
    r->H = pc.height;
    r->W = pc.width;
    r->P = r->H * r->W;
    s->N = pc.neurons;
    if (collect_naturals(s, err))
        return 1;
    if (r->c.surround_dir &&
        mei_search_surround_load(&s->surround, r->c.surround_dir, r->H, r->W, err))
        return 1;
    /* A folder made from other images (its MEIs at another mean) would put
     * the centre on a surround of another luminance: refused. 1e-4 is far
     * above float rounding of the same mean and far below any two image
     * sets' difference. */
    float folder_mean = s->surround.mean_luminance;
    if (r->c.surround_dir && !isnan(folder_mean) &&
        fabsf(folder_mean - r->budget.mean_luminance) > 1e-4f)
        return controller_fail(err, "%s was made at mean luminance %.6f, this population's "
                                    "training images have %.6f: a folder of another dataset?",
                               r->c.surround_dir, (double)folder_mean,
                               (double)r->budget.mean_luminance);
    int status = choose_neurons(s, err);
    if (status)
        return status;
    if ((status = keep_split(s, &pc, err)) != 0)
        return status;
    if (stimulus_truth_create(&s->truth, &pc, r->neurons, r->count, &r->budget, err))
        return 1;
    stimulus_truth_add_naturals(s->truth, s->train, s->n_train);
    s->pop = stimulus_truth_population(s->truth);
    int n = r->c.search.population > 0 ? r->c.search.population : 1;
    s->images = malloc((size_t)n * r->P * sizeof(float));
    s->shown = r->c.surround_dir ? malloc((size_t)n * r->P * sizeof(float)) : s->images;
    s->masks = r->c.surround_dir ? malloc((size_t)r->count * r->P * sizeof(float)) : NULL;
    s->rates = malloc((size_t)n * s->N * sizeof(float));
    s->fitness = malloc((size_t)n * sizeof(float));
    r->rows = calloc((size_t)r->count, sizeof *r->rows);
    r->best = malloc((size_t)r->count * r->P * sizeof(float));
    if (!s->images || !s->shown || (r->c.surround_dir && !s->masks) || !s->rates ||
        !s->fitness || !r->rows || !r->best)
        return controller_fail(err, "out of memory for %d neurons' searches", r->count);
    for (int j = 0; j < r->count && r->c.surround_dir; j++)
        mei_mask_render(&mei_search_surround_find(&s->surround, r->neurons[j])->mask, r->H,
                        r->W, s->masks + (size_t)j * r->P);
    return 0;
}

/* A surround search's neuron j: its MEI, whose centre is kept. */
static const float *centre_mei(const run_state *s, int j)
{
    const mei_search_centre *c = mei_search_surround_find(&s->surround, s->r->neurons[j]);
    return s->surround.images + (size_t)c->mei * s->r->P;
}

/* What the cell sees of the search's image `image` (in place: `out` may be
 * `image`): the image itself, or for a surround search the image seen
 * around neuron j's centre. */
static void as_shown(const run_state *s, int j, const float *image, float *out)
{
    int P = s->r->P;
    if (s->r->c.surround_dir)
        mei_surround_compose(centre_mei(s, j), s->masks + (size_t)j * P, image, P, out);
    else if (out != image)
        memcpy(out, image, (size_t)P * sizeof(float));
}

/* One generation's trials: each image shown `repeats` times to the cell,
 * Poisson counts around its true rate (as the virtual rig draws them); the
 * fitness is the mean count (minus it for least: the search maximizes).
 * Returns the truly best image's rate (least: the lowest). */
static float show_generation(run_state *s, int j, int n, model_rng *spikes)
{
    int repeats = s->r->c.repeats, least = s->r->c.least, neuron = s->r->neurons[j];
    for (int i = 0; i < n && s->shown != s->images; i++)
        as_shown(s, j, s->images + (size_t)i * s->r->P, s->shown + (size_t)i * s->r->P);
    sim_population_rates(s->pop, s->shown, n, s->rates);
    float top = least ? INFINITY : 0.0f;
    for (int i = 0; i < n; i++) {
        float rate = s->rates[(size_t)i * s->N + neuron];
        double sum = 0.0;
        for (int k = 0; k < repeats; k++)
            sum += model_rng_poisson(spikes, rate);
        s->fitness[i] = (float)(least ? -sum / repeats : sum / repeats);
        top = least ? fminf(top, rate) : fmaxf(top, rate);
    }
    return top;
}

static float true_rate(run_state *s, int neuron, const float *image)
{
    sim_population_rates(s->pop, image, 1, s->rates);
    return s->rates[neuron];
}

/* A surround search's controls, truly: the centre alone (gray around it)
 * and the model's own surround of the search's direction (NaN: none). */
static void score_surround_controls(run_state *s, int j, mei_search_neuron *row)
{
    mei_search_run *r = s->r;
    float *gray = r->best + (size_t)j * r->P; /* scratch until the search fills it */
    for (int i = 0; i < r->P; i++)
        gray[i] = r->budget.mean_luminance;
    as_shown(s, j, gray, gray);
    row->centre_alone = true_rate(s, row->neuron, gray);
    const mei_search_centre *c = mei_search_surround_find(&s->surround, row->neuron);
    int model = r->c.least ? c->surround_least : c->surround_most;
    row->model_surround = model < 0 ? NAN
        : true_rate(s, row->neuron, s->surround.images + (size_t)model * r->P);
    row->possible = r->c.least ? NAN
        : stimulus_true_best_surround(s->pop, row->neuron, r->H, r->W, centre_mei(s, j),
                                      s->masks + (size_t)j * r->P, NULL, &r->budget, 600,
                                      row->seed);
}

/* After generation g of neuron j (`shown` images, the truly best of them
 * `top`): the trials counted, the hand-over `best` (as the search gives it)
 * made what the cell sees and scored by the truth, which the search never
 * sees, until it first beats `control`; the event sent. */
static void generation_done(run_state *s, int j, int g, int shown, float top, float control,
                            float *best, mei_search_event *e)
{
    mei_search_run *r = s->r;
    mei_search_neuron *row = &r->rows[j];
    if (g == 0)
        row->first_rate = top;
    row->trials += shown * r->c.repeats;
    as_shown(s, j, best, best);
    float now = row->trials_to_natural < 0 ? true_rate(s, row->neuron, best) : NAN;
    if (r->c.least ? now < control : now > control)
        row->trials_to_natural = row->trials;
    e->generation = g + 1;
    if (s->fn)
        s->fn(e, s->user);
}

/* Whether neuron searches use the ring code's evolution strategy. */
static int uses_ring(const mei_search_run *r)
{
    if (!r->c.surround_dir)
        return 0;
    return r->c.surround_ring >= 0 ? r->c.surround_ring : !r->c.least;
}

/* A surround search by the ring code's evolution strategy (surround_es.c):
 * each generation's surrounds shown `repeats` times around the centre, the
 * mean counts told; the hand-over is the strategy's mean surround, scored
 * by the truth after every generation (trials until it beat the control).
 * Its fitness in the row: the last generation's mean count (the mean's own
 * surround is never shown to the cell). */
static int search_neuron_ring(run_state *s, int j, float control, model_rng *spikes,
                              char *err)
{
    mei_search_run *r = s->r;
    mei_search_neuron *row = &r->rows[j];
    const mei_search_centre *c = mei_search_surround_find(&s->surround, row->neuron);
    surround_es_config ec;
    surround_es_config_default(&ec);
    ec.height = r->H;
    ec.width = r->W;
    ec.budget = r->budget;
    ec.centre_x = c->mask.x;
    ec.centre_y = c->mask.y;
    ec.radius = c->mask.radius;
    ec.pairs = r->c.search.population / 2 > 0 ? r->c.search.population / 2 : 1;
    ec.least = r->c.least;
    ec.seed = row->seed;
    surround_es *es;
    if (surround_es_create(&es, &ec, err))
        return 1;
    int n = surround_es_population(es), least = r->c.least;
    mei_search_event e = {.index = j, .count = r->count, .generations = r->c.generations};
    float *best = r->best + (size_t)j * r->P;
    for (int g = 0; g < r->c.generations; g++) {
        surround_es_ask(es, s->images);
        float top = show_generation(s, j, n, spikes);
        double mean = 0.0;
        for (int i = 0; i < n; i++) {
            s->fitness[i] = least ? -s->fitness[i] : s->fitness[i]; /* counts, either way */
            mean += s->fitness[i] / n;
        }
        if (surround_es_tell(es, s->fitness, err)) {
            surround_es_destroy(es);
            return 1;
        }
        surround_es_mean(es, best);
        e.best = (search_result){.fitness = (float)(least ? -mean : mean), .evaluations = 0,
                                 .generation = g + 1, .index = -1};
        generation_done(s, j, g, n, top, control, best, &e);
        row->fitness = (float)mean;
    }
    row->true_rate = stimulus_truth_score(s->truth, j, -1, best);
    surround_es_destroy(es);
    return 0;
}

static int search_neuron(run_state *s, int j, char *err)
{
    mei_search_run *r = s->r;
    mei_search_neuron *row = &r->rows[j];
    const truth_row *truth = stimulus_truth_row(s->truth, j);
    int neuron = r->neurons[j];
    search_config sc = r->c.search;
    sc.height = r->H;
    sc.width = r->W;
    sc.budget = r->budget;
    sc.trials_per_fitness = r->c.repeats;
    /* A most exciting surround holds at most the budget, as the model's does
     * (gray around the centre is then nearly in the space); the least
     * exciting one exactly the budget. */
    sc.contrast_gene = r->c.surround_dir && !r->c.least;
    /* Two streams per neuron: the search's choices and the cell's spikes. */
    sc.seed = model_rng_stream(r->c.search.seed, 2 * (uint64_t)neuron);
    model_rng spikes;
    model_rng_seed(&spikes, model_rng_stream(r->c.search.seed, 2 * (uint64_t)neuron + 1));
    int least = r->c.least;
    *row = (mei_search_neuron){.neuron = neuron, .type = truth->type,
                               .natural = least ? truth->natural_least : truth->natural,
                               .trials_to_natural = -1, .seed = sc.seed,
                               .centre_alone = NAN, .model_surround = NAN, .possible = NAN};
    if (r->c.surround_dir)
        score_surround_controls(s, j, row);
    /* What the search's best must truly beat: the centre alone for a
     * surround search, else the natural image. */
    float control = r->c.surround_dir ? row->centre_alone : row->natural;
    if (uses_ring(r))
        return search_neuron_ring(s, j, control, &spikes, err);
    search *se;
    if (search_create(&se, &sc, err))
        return 1;
    mei_search_event e = {.index = j, .count = r->count, .generations = r->c.generations};
    float *best = r->best + (size_t)j * r->P;
    for (int g = 0; g < r->c.generations; g++) {
        search_ask(se, s->images);
        float top = show_generation(s, j, sc.population, &spikes);
        if (search_tell(se, s->fitness, err)) {
            search_destroy(se);
            return 1;
        }
        search_best(se, best, &e.best);
        generation_done(s, j, g, sc.population, top, control, best, &e);
    }
    row->fitness = least ? -e.best.fitness : e.best.fitness; /* a mean count either way */
    row->evaluations = e.best.evaluations;
    /* A surround search's image is not the kind the truth keeps (-1: scored only). */
    int kind = r->c.surround_dir ? -1 : least ? STIMULUS_KIND_LEAST : STIMULUS_KIND_MEI;
    row->true_rate = stimulus_truth_score(s->truth, j, kind, best);
    search_destroy(se);
    return 0;
}

/* ---- Files -------------------------------------------------------------- */

static int rows_finite(const mei_search_run *r, char *err)
{
    for (int j = 0; j < r->count; j++) {
        const mei_search_neuron *w = &r->rows[j];
        if (!isfinite(w->fitness) || !isfinite(w->true_rate) || !isfinite(w->natural) ||
            (r->c.surround_dir && !isfinite(w->centre_alone)))
            return !controller_fail(err, "neuron %d: its search's fitness or true response is "
                                         "not finite: no manifest written", w->neuron);
    }
    return 1;
}

static void manifest_neuron(json_out *o, json_t *list, const mei_search_run *r, int j,
                            const char *file)
{
    const mei_search_neuron *w = &r->rows[j];
    const float *x = r->best + (size_t)j * r->P;
    json_t *s = json_out_object(o, list, "stimuli");
    json_out_int(o, s, "index", j);
    json_out_int(o, s, "neuron", w->neuron);
    json_out_text(o, s, "kind", r->c.surround_dir ? "search-surround" : "search");
    json_out_text(o, s, "direction", r->c.least ? "least" : "most");
    json_out_text(o, s, "file", file);
    json_out_text(o, s, "cell_type", sim_cell_type_name(w->type));
    json_out_real(o, s, "contrast", stimulus_rms_contrast(x, r->P));
    json_out_real(o, s, "mean", stimulus_mean(x, r->P));
    json_out_seed(o, s, "seed", w->seed);
    json_out_int(o, s, "trials", w->trials);
    json_out_real(o, s, "fitness", w->fitness);
    json_out_int(o, s, "evaluations", w->evaluations);
    json_out_real(o, s, "true_response", w->true_rate);
    json_out_real(o, s, r->c.least ? "true_least_natural" : "true_best_natural", w->natural);
    json_out_real_or_null(o, s, "true_optimum", w->optimum);
    json_out_real(o, s, "true_gray", w->gray);
    if (r->c.surround_dir) {
        json_out_real(o, s, "true_centre_alone", w->centre_alone);
        json_out_real_or_null(o, s, "true_model_surround", w->model_surround);
        json_out_real_or_null(o, s, "true_possible_surround", w->possible);
    }
    const char *to = r->c.surround_dir ? (r->c.least ? "trials_to_go_below_centre_alone"
                                                     : "trials_to_beat_centre_alone")
                   : r->c.least ? "trials_to_go_below_natural" : "trials_to_beat_natural";
    if (w->trials_to_natural >= 0)
        json_out_int(o, s, to, w->trials_to_natural);
    else
        json_out_null(o, s, to);
}

static void manifest_settings(json_out *o, const mei_search_run *r)
{
    const search_config *c = &r->c.search;
    json_t *s = json_out_object(o, o->root, "search");
    json_out_text(o, s, "space", uses_ring(r) ? "a ring code around the centre (evolution "
                                                "strategy)" : "sums of Gabor primitives");
    if (r->c.surround_dir) /* the centres it searched around: the masks are theirs */
        json_out_text(o, s, "surround", r->c.surround_dir);
    json_out_int(o, s, "generations", r->c.generations);
    json_out_int(o, s, "population", c->population);
    json_out_int(o, s, "repeats", r->c.repeats);
    json_out_int(o, s, "elites", c->elites);
    json_out_int(o, s, "primitives", c->primitives);
    json_out_real(o, s, "mutation_rate", c->mutation_rate);
    json_out_real(o, s, "mutation_sd", c->mutation_sd);
    json_out_real(o, s, "crossover", c->crossover);
    json_out_seed(o, s, "seed", c->seed);
}

static int write_files(const mei_search_run *r, char *err)
{
    if (!rows_finite(r, err))
        return 1;
    char path[4096];
    json_out o;
    if (json_out_begin(&o))
        return controller_fail(err, "out of memory for the manifest");
    json_out_text(&o, o.root, "inception_version", inception_version_string());
    json_out_text(&o, o.root, "data", r->c.data_dir);
    json_out_int(&o, o.root, "height", r->H);
    json_out_int(&o, o.root, "width", r->W);
    json_out_real(&o, o.root, "mean_luminance", r->budget.mean_luminance);
    json_out_real(&o, o.root, "contrast_budget", r->budget.contrast);
    manifest_settings(&o, r);
    json_t *list = json_out_array(&o, o.root, "stimuli");
    int status = 0;
    for (int j = 0; j < r->count && !status; j++) {
        char name[64];
        if (r->c.surround_dir)
            snprintf(name, sizeof name, "n%04d_search-surround-%s.png", r->rows[j].neuron,
                     r->c.least ? "least" : "most");
        else
            snprintf(name, sizeof name, "n%04d_search.png", r->rows[j].neuron);
        snprintf(path, sizeof path, "%s/%s", r->c.out_dir, name);
        status = png_write_gray(path, r->best + (size_t)j * r->P, r->H, r->W, err);
        manifest_neuron(&o, list, r, j, name);
    }
    snprintf(path, sizeof path, "%s/manifest.json", r->c.out_dir);
    if (!status && json_out_write(&o, path))
        status = controller_fail(err, "%s not written: %s", path, o.err);
    json_out_end(&o);
    snprintf(path, sizeof path, "%s/stimuli.npy", r->c.out_dir);
    int64_t shape[3] = {r->count, r->H, r->W};
    if (!status)
        status = npy_write(path, NPY_FLOAT32, 3, shape, r->best, err);
    return status;
}

/* ---- The run ------------------------------------------------------------ */

static int check_config(const mei_search_config *c, char *err)
{
    if (c->generations < 1)
        return controller_fail(err, "generations %d: at least 1", c->generations);
    if (c->repeats < 1)
        return controller_fail(err, "repeats %d: at least 1", c->repeats);
    return 0;
}

static int run(run_state *s, char *err)
{
    mei_search_run *r = s->r;
    int status = check_config(&r->c, err) ? MEI_BATCH_USAGE : load(s, err);
    if (status)
        return status;
    if (mkdir(r->c.out_dir, 0777) && errno != EEXIST)
        return controller_fail(err, "cannot create %s: %s", r->c.out_dir, strerror(errno));
    for (int j = 0; j < r->count; j++)
        if (search_neuron(s, j, err))
            return 1;
    if (stimulus_truth_finish(s->truth, err))
        return 1;
    for (int j = 0; j < r->count; j++) { /* known once the truth is finished */
        const truth_row *t = stimulus_truth_row(s->truth, j);
        r->rows[j].optimum = r->c.least ? NAN : t->optimum; /* the most exciting one's */
        r->rows[j].gray = t->gray;
    }
    return write_files(r, err);
}

int mei_search_run_all(mei_search_run **out, const mei_search_config *c, mei_search_event_fn fn,
                       void *user, char *err)
{
    *out = NULL;
    mei_search_run *r = calloc(1, sizeof *r);
    if (!r)
        return controller_fail(err, "out of memory");
    r->c = *c;
    run_state s = {.r = r, .fn = fn, .user = user};
    int status = run(&s, err);
    dataset_free(&s.d);
    free(s.train);
    stimulus_truth_destroy(s.truth);
    if (s.shown != s.images)
        free(s.shown);
    free(s.images);
    free(s.masks);
    mei_search_surround_free(&s.surround);
    free(s.rates);
    free(s.fitness);
    if (status) {
        mei_search_destroy(r);
        return status;
    }
    *out = r;
    return 0;
}

void mei_search_destroy(mei_search_run *r)
{
    if (!r)
        return;
    free(r->neurons);
    free(r->rows);
    free(r->best);
    free(r);
}
