/* run_search.c: the search phase of `inception run`, the model-free search
 * (docs/search.md): per target a genetic search whose fitness is the
 * recorded counts. Each generation is one block "search" of every target's
 * images × search.repeats, shuffled, shown and recorded like every other
 * stimulus (kind "search"); an image's fitness is its target's mean count
 * over its unflagged trials (search.direction least: minus it, so that the
 * search, which maximizes, looks for the image the target answers least).
 * A resumed search is rebuilt here too, from its seed and the recorded
 * counts. */
#include "run_internal.h"
#include "stimulus.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The search library writes its reasons straight into the run's error buffer. */
_Static_assert(STIMULUS_ERR_SIZE <= CONTROLLER_ERR_SIZE, "a search error fits s->err");

typedef struct search_phase {
    search **per_target;
    float *images;      /* targets × population × P: the generation's */
    int64_t *ids;       /* targets × population: the generation's stimulus ids */
    int *slot;          /* per stimulus id: its place in `ids`, -1 if not the generation's */
    float *fitness;     /* population */
    int population;
    /* A resumed session: per target the search images the record holds, in
     * record order (the order they were asked for), and how many are used. */
    int64_t *recorded;  /* targets × generations × population */
    int *n_recorded, *used;
} search_phase;

static void search_phase_free(search_phase *sp, int targets)
{
    for (int j = 0; sp->per_target && j < targets; j++)
        search_destroy(sp->per_target[j]);
    free(sp->per_target);
    free(sp->images);
    free(sp->ids);
    free(sp->slot);
    free(sp->fitness);
    free(sp->recorded);
    free(sp->n_recorded);
    free(sp->used);
}

/* What the search is told: the mean count, or minus it for search.direction
 * least (the search maximizes). */
static double fitness_sign(const run_state *s)
{
    return s->p->search.direction == PROTOCOL_SEARCH_LEAST ? -1.0 : 1.0;
}

/* The search's elites: 4 as `inception search`, fewer in a small population. */
static int search_elites(int population) { return population >= 8 ? 4 : population / 2; }

/* The search images already in the image table (a resumed session's, from
 * its record), per target in record order. */
static void search_phase_recorded(run_state *s, search_phase *sp)
{
    size_t per = (size_t)s->p->search.generations * (size_t)sp->population;
    for (int i = 0; i < s->images.count; i++) {
        if (s->images.kind[i] != STIMULUS_KIND_SEARCH)
            continue;
        for (int j = 0; j < s->n_targets; j++)
            if (s->images.neuron[i] == s->targets[j] && (size_t)sp->n_recorded[j] < per)
                sp->recorded[(size_t)j * per + (size_t)sp->n_recorded[j]++] = i;
    }
}

static int search_phase_create(run_state *s, search_phase *sp)
{
    const protocol_search *ps = &s->p->search;
    int n = s->n_targets;
    memset(sp, 0, sizeof *sp);
    sp->population = ps->population_size;
    size_t per = (size_t)ps->generations * (size_t)sp->population;
    sp->per_target = calloc((size_t)n, sizeof *sp->per_target);
    sp->images = malloc((size_t)n * (size_t)sp->population * (size_t)s->P * sizeof(float));
    sp->ids = malloc((size_t)n * (size_t)sp->population * sizeof *sp->ids);
    sp->fitness = malloc((size_t)sp->population * sizeof *sp->fitness);
    sp->recorded = malloc((size_t)(n ? n : 1) * per * sizeof *sp->recorded);
    sp->n_recorded = calloc((size_t)(n ? n : 1), sizeof *sp->n_recorded);
    sp->used = calloc((size_t)(n ? n : 1), sizeof *sp->used);
    if (!sp->per_target || !sp->images || !sp->ids || !sp->fitness || !sp->recorded ||
        !sp->n_recorded || !sp->used)
        return run_fail(s, "out of memory for %s", "the search");
    search_phase_recorded(s, sp);
    for (int j = 0; j < n; j++) {
        search_config c;
        search_config_default(&c);
        c.height = s->H;
        c.width = s->W;
        c.budget = s->budget; /* the MEIs' and controls' mean luminance and contrast */
        c.population = sp->population;
        c.elites = search_elites(sp->population);
        c.primitives = ps->primitives;
        c.trials_per_fitness = ps->repeats;
        c.seed = model_rng_stream(ps->seed, (uint64_t)s->targets[j]); /* a stream per target */
        if (search_create(&sp->per_target[j], &c, s->err))
            return 1;
    }
    return 0;
}

/* Generation g's images of every target: those a resumed session recorded
 * already are taken from the record (and must be what the search, rebuilt
 * from its seed and the recorded counts, asks for again: else the session
 * stops, naming the image); the others are recorded as stimuli and loaded. */
static int search_add_generation(run_state *s, search_phase *sp, int g)
{
    size_t per = (size_t)sp->population * (size_t)s->P;
    size_t recorded_per = (size_t)s->p->search.generations * (size_t)sp->population;
    for (int j = 0; j < s->n_targets; j++) {
        float *x = sp->images + (size_t)j * per;
        search_ask(sp->per_target[j], x);
        for (int i = 0; i < sp->population; i++) {
            int id;
            const float *image = x + (size_t)i * s->P;
            if (sp->used[j] < sp->n_recorded[j]) {
                id = (int)sp->recorded[(size_t)j * recorded_per + (size_t)sp->used[j]++];
                if (memcmp(run_image_at(s, id), image, (size_t)s->P * sizeof *image)) {
                    return controller_fail(s->err, "resume: the search rebuilt from its seed "
                                           "and the recorded counts asks for another image %d "
                                           "of generation %d of target %d (stimulus %d) than "
                                           "the record holds", i, g, s->targets[j], id);
                }
            } else if (run_image_add(s, image, NULL, STIMULUS_KIND_SEARCH, s->targets[j],
                                 TIER_NONE, &id) ||
                       run_record_shown(s, id, s->targets[j], STIMULUS_KIND_NAME_SEARCH, NAN)) {
                return 1;
            }
            sp->ids[(size_t)j * sp->population + i] = id;
        }
    }
    return 0;
}

/* Generation g's schedule: every image × repeats, shuffled from the search's
 * seed and g (a resumed session's generation gets the same order). */
static int64_t *search_order(run_state *s, const search_phase *sp, int g, int *total)
{
    int images = s->n_targets * sp->population, repeats = s->p->search.repeats;
    *total = images * repeats;
    int64_t *order = malloc((size_t)(*total ? *total : 1) * sizeof *order);
    if (!order)
        return NULL;
    for (int r = 0; r < repeats; r++)
        memcpy(order + (size_t)r * images, sp->ids, (size_t)images * sizeof *order);
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(s->p->search.seed ^ 0x736561726368ull, (uint64_t)g));
    model_rng_shuffle_i64(&rng, order, *total);
    return order;
}

/* Each target's fitness from the closed rows of the generation's images
 * (their unflagged trials, a resumed session's earlier ones included:
 * flagged ones never reach the rows) and told to its search: the mean count,
 * or minus it (least). An image whose every trial was flagged has no mean:
 * it gets the lowest fitness of its generation (kept out of the elites,
 * never credited). */
static int search_tell_generation(run_state *s, search_phase *sp, int g)
{
    int pop = sp->population, n = s->n_targets;
    double *sum = calloc((size_t)n * (size_t)pop, sizeof *sum);
    int *trials = calloc((size_t)n * (size_t)pop, sizeof *trials);
    free(sp->slot);
    sp->slot = malloc((size_t)(s->images.count ? s->images.count : 1) * sizeof *sp->slot);
    if (!sum || !trials || !sp->slot) {
        free(sum);
        free(trials);
        return run_fail(s, "out of memory for %s", "the search's fitness");
    }
    for (int i = 0; i < s->images.count; i++)
        sp->slot[i] = -1;
    for (int k = 0; k < n * pop; k++)
        sp->slot[sp->ids[k]] = k;
    for (int r = 0; r < s->closed.count; r++) {
        int64_t id = s->closed.image_id[r];
        int k = id >= 0 && id < s->images.count ? sp->slot[id] : -1;
        if (k >= 0) {
            sum[k] += s->closed.counts[(size_t)r * s->N + s->targets[k / pop]];
            trials[k]++;
        }
    }
    double sign = fitness_sign(s);
    int status = 0;
    for (int j = 0; j < n && !status; j++) {
        const double *sj = sum + (size_t)j * pop;
        const int *tj = trials + (size_t)j * pop;
        double lowest = INFINITY;
        for (int i = 0; i < pop; i++)
            if (tj[i] && sign * sj[i] / tj[i] < lowest)
                lowest = sign * sj[i] / tj[i];
        if (!isfinite(lowest)) {
            status = controller_fail(s->err, "search: every trial of generation %d of target "
                                     "%d was flagged", g, s->targets[j]);
            break;
        }
        for (int i = 0; i < pop; i++)
            sp->fitness[i] = (float)(tj[i] ? sign * sj[i] / tj[i] : lowest);
        if (search_tell(sp->per_target[j], sp->fitness, s->err))
            status = 1;
    }
    free(sum);
    free(trials);
    return status;
}

/* Per target, the image the search hands over (search_best: an elite of the
 * last generation told, its index there naming its stimulus: one of the
 * recorded stimuli), kept for the ground truth and, unless a resumed
 * session's search phase had ended, recorded: its stimulus id and mean
 * count (either direction: a count, never minus it) as evaluations
 * "search_best_stimulus" and "search_best_mean". */
static int search_record_best(run_state *s, search_phase *sp, int record)
{
    free(s->search_best);
    s->search_best = malloc((size_t)s->n_targets * sizeof *s->search_best);
    if (!s->search_best)
        return run_fail(s, "out of memory for %s", "the search's best");
    float sign = (float)fitness_sign(s);
    int status = 0;
    for (int j = 0; j < s->n_targets && !status; j++) {
        search_result r;
        search_best(sp->per_target[j], NULL, &r);
        /* Every generation was told (search.generations >= 1): sp->ids holds the last's. */
        assert(r.index >= 0 && r.index < sp->population);
        int64_t id = sp->ids[(size_t)j * sp->population + r.index];
        s->search_best[j] = id;
        status = record &&
                 (run_record_value(s, s->targets[j], "search_best_stimulus", (double)id) ||
                  run_record_value(s, s->targets[j], "search_best_mean",
                                   sign * r.fitness + 0.0f)); /* + 0: never -0 */
    }
    return status;
}

/* The search phase, fresh or resumed (r: the earlier trials; NULL fresh). A
 * resumed search is rebuilt from its seed: each generation's recorded images
 * are asked for again, only the trials the record lacks are shown, and the
 * recorded counts are told; a phase that ended shows nothing and records
 * nothing again, and only restores what the evaluation needs. */
int run_search(run_state *s, const struct resume_scan *r)
{
    if (!s->p->search.enabled)
        return 0;
    int ended = r && (s->ended >> 6 & 1);
    search_phase sp;
    int status = search_phase_create(s, &sp) || (!ended && run_phase(s, "search", "begin"));
    for (int g = 0; !status && g < s->p->search.generations; g++) {
        int total = 0;
        status = search_add_generation(s, &sp, g);
        int64_t *order = status ? NULL : search_order(s, &sp, g, &total);
        if (!status && !order)
            status = run_fail(s, "out of memory for %s", "the search's schedule");
        if (!status && r)
            total = run_resume_remaining(r, 2, order, total);
        if (!status && total < 0)
            status = run_fail(s, "out of memory for %s", "the search's schedule");
        status = status || (total > 0 && run_block(s, "search", order, total, 0)) ||
                 search_tell_generation(s, &sp, g);
        free(order);
    }
    status = status || search_record_best(s, &sp, !ended) ||
             (!ended && run_phase(s, "search", "end"));
    search_phase_free(&sp, s->n_targets);
    return status;
}
