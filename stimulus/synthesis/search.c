/* search.c: a model-free search for a neuron's most exciting image on its
 * recorded responses (issue 16; XDream, Ponce et al. 2019; Chambers et al.
 * 2014 in audition). No model: each generation's images are shown and the
 * spike counts are the fitness, so it is the check and the fallback for
 * neurons a model predicts badly.
 *
 * The image space: a sum of K localized Gabor primitives, each with a
 * position, orientation, spatial frequency, phase, envelope size and weight
 * (7 genes in [0,1], mapped to those), the sum rendered at the budget
 * (stimulus_render_at_budget: the mean luminance and RMS contrast of every
 * synthesized stimulus). Why this space: no pretrained generator is
 * available (XDream's GAN); V1-like cells are driven by localized oriented
 * structure, and sums of a few such parts express what one Gabor cannot
 * (corners and crosses, arcs, a centre with its end zones, textured patches)
 * with 7·K numbers instead of H·W pixels, so a few thousand noisy trials can
 * search it. A low-frequency Fourier code was the other candidate; it
 * spreads every change over the whole image, where these cells care about
 * one place.
 *
 * The algorithm: a genetic algorithm as XDream's. Each generation keeps its
 * best `elites` individuals (shown again in the next generation), the rest
 * are children of two parents drawn by rank from the better half, made by
 * recombination of whole primitives (a part of one parent, a part of the
 * other: the unit that means something in this space) and Gaussian mutation
 * of genes. Why a GA and not CMA-ES: selection by rank alone is blind to the
 * scale of the counts (a cell's rate is unknown), recombination of parts
 * suits a space of parts, and an elite shown again is the natural answer to
 * noisy fitness. Noise: spike counts are Poisson, so a newcomer's one
 * evaluation is often lucky (the winner's curse); every individual keeps the
 * sum of all its evaluations and is ranked by their mean, so an elite that
 * was lucky falls back as it is re-shown, and search_best hands over the
 * elite whose mean is highest less one Poisson standard error (a lower
 * confidence bound: a mean of few counts is no evidence). */
#include "synthesis/synthesis.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Genes of a primitive, each in [0,1]. */
enum { GENE_X, GENE_Y, GENE_ORIENTATION, GENE_FREQUENCY, GENE_PHASE, GENE_SIGMA, GENE_WEIGHT,
       GENES };

/* Ranges of the physical parameters: frequencies of the simulated cells and
 * textures (0.06..0.33 cycles per pixel) with room on both sides; envelopes
 * from a blob of a few pixels to a quarter of the image's short side. */
#define FREQUENCY_MIN 0.03
#define FREQUENCY_MAX 0.35
#define SIGMA_MIN 1.5
#define WEIGHT_MIN 0.1 /* a primitive never vanishes: the sum is never flat */
/* With a contrast gene, the lowest share of the budget it asks for: near
 * gray, never flat (the render needs a contrast to map to). */
#define CONTRAST_SHARE_MIN 0.02

/* A render whose contrast is this far below the budget (relative) was held
 * back by the display range (a small blob cannot reach the contrast without
 * clipping): its envelopes are widened and it is rendered again. The render
 * itself lands within 1e-6 (synthesis_space.c's CONTRAST_TOLERANCE). */
#define CONTRAST_SHORT 1e-5
#define WIDEN_TRIES 8

typedef struct individual {
    float *genes;    /* primitives × GENES, then the contrast gene where asked */
    float *image;    /* its render at the budget */
    double sum;      /* of all its evaluations */
    int evaluations;
} individual;

struct search {
    search_config c;
    int P, genes;
    individual *pop, *next; /* population each */
    int *order;             /* population: indices by mean fitness, best first */
    float *scratch;         /* P: one primitive */
    model_rng rng;
    int generation;
    int asked;              /* search_ask since the last search_tell */
    int shortfalls;         /* renders still short of the contrast after widening */
};

void search_config_default(search_config *c)
{
    memset(c, 0, sizeof *c);
    c->population = 40;
    c->elites = 4;
    c->primitives = 4;
    c->mutation_rate = 0.25f;
    c->mutation_sd = 0.1f;
    c->crossover = 0.5f;
    c->trials_per_fitness = 1;
    c->seed = 1;
}

static int config_check(const search_config *c, char *err)
{
    if (c->height < 1 || c->width < 1)
        return stimulus_fail(err, "search: image size %d x %d", c->height, c->width);
    if (!(c->budget.mean_luminance > 0.0f && c->budget.mean_luminance < 1.0f) ||
        !(c->budget.contrast > 0.0f && c->budget.contrast < 0.5f))
        return stimulus_fail(err, "search: the budget (mean %g, contrast %g) needs a mean in "
                                  "(0,1) and a contrast in (0,0.5)",
                             (double)c->budget.mean_luminance, (double)c->budget.contrast);
    if (c->population < 2 || c->population > SEARCH_MAX_POPULATION)
        return stimulus_fail(err, "search: population %d outside 2..%d", c->population,
                             SEARCH_MAX_POPULATION);
    if (c->elites < 1 || c->elites >= c->population)
        return stimulus_fail(err, "search: elites %d outside 1..%d (fewer than the population)",
                             c->elites, c->population - 1);
    if (c->primitives < 1 || c->primitives > SEARCH_MAX_PRIMITIVES)
        return stimulus_fail(err, "search: primitives %d outside 1..%d", c->primitives,
                             SEARCH_MAX_PRIMITIVES);
    if (!(c->mutation_rate >= 0.0f && c->mutation_rate <= 1.0f) ||
        !(c->crossover >= 0.0f && c->crossover <= 1.0f))
        return stimulus_fail(err, "search: mutation rate %g and crossover %g must be in [0,1]",
                             (double)c->mutation_rate, (double)c->crossover);
    if (c->trials_per_fitness < 1)
        return stimulus_fail(err, "search: trials per fitness %d: at least 1",
                             c->trials_per_fitness);
    if (!(c->mutation_sd > 0.0f && c->mutation_sd <= 1.0f))
        return stimulus_fail(err, "search: mutation sd %g outside (0,1]",
                             (double)c->mutation_sd);
    return 0;
}

/* ---- The image space ---------------------------------------------------- */

static double log_range(double lo, double hi, float g) { return lo * pow(hi / lo, g); }

static double sigma_max(const search *s)
{
    int side = s->c.height < s->c.width ? s->c.height : s->c.width;
    return side / 4.0 > SIGMA_MIN ? side / 4.0 : SIGMA_MIN;
}

/* The contrast an individual is rendered at: the budget's, or with a
 * contrast gene its share of it. */
static float target_contrast(const search *s, const float *genes)
{
    if (!s->c.contrast_gene)
        return s->c.budget.contrast;
    float g = genes[(size_t)s->c.primitives * GENES];
    return s->c.budget.contrast * (float)(CONTRAST_SHARE_MIN + (1.0 - CONTRAST_SHARE_MIN) * g);
}

/* The sum of the primitives (zero-mean, each unit-norm times its weight),
 * then mapped to the budget (its contrast the gene's share of it, where
 * asked). Returns the rendered contrast. */
static float render(search *s, const float *genes, float *image)
{
    int H = s->c.height, W = s->c.width;
    memset(image, 0, (size_t)s->P * sizeof(float));
    for (int k = 0; k < s->c.primitives; k++) {
        const float *g = genes + (size_t)k * GENES;
        gabor_zero_mean(s->scratch, H, W, g[GENE_X] * (W - 1), g[GENE_Y] * (H - 1),
                        log_range(SIGMA_MIN, sigma_max(s), g[GENE_SIGMA]),
                        log_range(FREQUENCY_MIN, FREQUENCY_MAX, g[GENE_FREQUENCY]),
                        2.0 * M_PI * g[GENE_ORIENTATION], 2.0 * M_PI * g[GENE_PHASE]);
        float w = (float)(WEIGHT_MIN + (1.0 - WEIGHT_MIN) * g[GENE_WEIGHT]);
        for (int p = 0; p < s->P; p++)
            image[p] += w * s->scratch[p];
    }
    stimulus_budget b = s->c.budget;
    b.contrast = target_contrast(s, genes);
    stimulus_render_at_budget(image, s->P, &b);
    return stimulus_rms_contrast(image, s->P);
}

/* Render an individual; where the display range holds its contrast short of
 * the budget, widen its envelopes (halfway to the widest, in the gene) until
 * it reaches it, so that every image asked is at the budget. */
static void render_individual(search *s, individual *ind)
{
    float target = target_contrast(s, ind->genes) * (float)(1.0 - CONTRAST_SHORT);
    for (int t = 0; render(s, ind->genes, ind->image) < target; t++) {
        if (t == WIDEN_TRIES) {
            s->shortfalls++;
            return;
        }
        for (int k = 0; k < s->c.primitives; k++) {
            float *g = &ind->genes[(size_t)k * GENES + GENE_SIGMA];
            *g += 0.5f * (1.0f - *g);
        }
    }
}

static void random_genes(search *s, float *genes)
{
    for (int i = 0; i < s->genes; i++)
        genes[i] = (float)model_rng_uniform(&s->rng);
}

/* ---- Create and destroy ------------------------------------------------- */

static int individuals_alloc(individual *pop, int n, int genes, int P)
{
    for (int i = 0; i < n; i++) {
        pop[i].genes = malloc((size_t)genes * sizeof(float));
        pop[i].image = malloc((size_t)P * sizeof(float));
        if (!pop[i].genes || !pop[i].image)
            return 1;
    }
    return 0;
}

static void individuals_free(individual *pop, int n)
{
    for (int i = 0; pop && i < n; i++) {
        free(pop[i].genes);
        free(pop[i].image);
    }
    free(pop);
}

int search_create(search **out, const search_config *c, char *err)
{
    *out = NULL;
    if (config_check(c, err))
        return 1;
    search *s = calloc(1, sizeof *s);
    if (!s)
        return stimulus_fail(err, "search: out of memory");
    s->c = *c;
    s->P = c->height * c->width;
    s->genes = c->primitives * GENES + (c->contrast_gene ? 1 : 0);
    s->pop = calloc((size_t)c->population, sizeof *s->pop);
    s->next = calloc((size_t)c->population, sizeof *s->next);
    s->order = malloc((size_t)c->population * sizeof *s->order);
    s->scratch = malloc((size_t)s->P * sizeof(float));
    if (!s->pop || !s->next || !s->order || !s->scratch ||
        individuals_alloc(s->pop, c->population, s->genes, s->P) ||
        individuals_alloc(s->next, c->population, s->genes, s->P)) {
        search_destroy(s);
        return stimulus_fail(err, "search: out of memory for %d images of %d x %d",
                             c->population, c->height, c->width);
    }
    model_rng_seed(&s->rng, c->seed);
    for (int i = 0; i < c->population; i++) {
        random_genes(s, s->pop[i].genes);
        render_individual(s, &s->pop[i]);
    }
    *out = s;
    return 0;
}

void search_destroy(search *s)
{
    if (!s)
        return;
    individuals_free(s->pop, s->c.population);
    individuals_free(s->next, s->c.population);
    free(s->order);
    free(s->scratch);
    free(s);
}

/* ---- Ask and tell ------------------------------------------------------- */

int search_population(const search *s) { return s->c.population; }
int search_generation(const search *s) { return s->generation; }
int search_shortfalls(const search *s) { return s->shortfalls; }

void search_ask(search *s, float *images)
{
    for (int i = 0; i < s->c.population; i++)
        memcpy(images + (size_t)i * s->P, s->pop[i].image, (size_t)s->P * sizeof(float));
    s->asked = 1;
}

static double mean_fitness(const individual *ind)
{
    assert(ind->evaluations > 0);
    return ind->sum / ind->evaluations;
}

/* The population's indices by mean fitness, best first: an insertion sort
 * (populations are small) that keeps ties in index order (elites first),
 * so the ranking is deterministic. */
static void rank(search *s)
{
    for (int v = 0; v < s->c.population; v++) {
        int j = v;
        double m = mean_fitness(&s->pop[v]);
        while (j > 0 && mean_fitness(&s->pop[s->order[j - 1]]) < m) {
            s->order[j] = s->order[j - 1];
            j--;
        }
        s->order[j] = v;
    }
}

/* A parent from the better half by linear rank weight: rank r of m has
 * weight m − r. */
static const individual *pick_parent(search *s)
{
    int m = s->c.population / 2 > 2 ? s->c.population / 2 : 2;
    double total = m * (m + 1) / 2.0, u = model_rng_uniform(&s->rng) * total;
    int r = 0;
    for (double w = m; r < m - 1 && u >= w; w = m - ++r)
        u -= w;
    return &s->pop[s->order[r]];
}

static float reflect01(float g)
{
    g = fmodf(fabsf(g), 2.0f);
    return g > 1.0f ? 2.0f - g : g;
}

static float wrap01(float g) { return g - floorf(g); }

static void mutate(search *s, float *genes)
{
    for (int i = 0; i < s->genes; i++) {
        if (model_rng_uniform(&s->rng) >= s->c.mutation_rate)
            continue;
        float g = genes[i] + s->c.mutation_sd * (float)model_rng_normal(&s->rng);
        /* Angles wrap around, the rest (the contrast gene too) reflect at their ends. */
        int kind = i < s->c.primitives * GENES ? i % GENES : GENE_WEIGHT;
        if (kind == GENE_ORIENTATION || kind == GENE_PHASE) {
            genes[i] = wrap01(g);
            if (genes[i] >= 1.0f) /* a value just below an integer can round up to 1 */
                genes[i] = 0.0f;
        } else {
            genes[i] = reflect01(g);
        }
        assert(genes[i] >= 0.0f && genes[i] <= 1.0f);
    }
}

/* A child: parent a's primitives (and contrast), each primitive replaced
 * by b's at the same place with probability ½ when the child recombines,
 * then mutated. */
static void breed(search *s, individual *child)
{
    const individual *a = pick_parent(s), *b = pick_parent(s);
    int recombine = model_rng_uniform(&s->rng) < s->c.crossover;
    for (int k = 0; k < s->c.primitives; k++) {
        const individual *from = recombine && model_rng_uniform(&s->rng) < 0.5 ? b : a;
        memcpy(child->genes + (size_t)k * GENES, from->genes + (size_t)k * GENES,
               GENES * sizeof(float));
    }
    if (s->c.contrast_gene)
        child->genes[s->genes - 1] = a->genes[s->genes - 1];
    mutate(s, child->genes);
    child->sum = 0.0;
    child->evaluations = 0;
    render_individual(s, child);
}

static void copy_individual(const search *s, individual *to, const individual *from)
{
    memcpy(to->genes, from->genes, (size_t)s->genes * sizeof(float));
    memcpy(to->image, from->image, (size_t)s->P * sizeof(float));
    to->sum = from->sum;
    to->evaluations = from->evaluations;
}

int search_tell(search *s, const float *fitness, char *err)
{
    if (!s->asked)
        return stimulus_fail(err, "search: told fitness for generation %d before asking for "
                                  "its images", s->generation);
    for (int i = 0; i < s->c.population; i++)
        if (!isfinite(fitness[i]))
            return stimulus_fail(err, "search: the fitness of image %d of generation %d is "
                                      "not finite (%g): refused, nothing changed",
                                 i, s->generation, (double)fitness[i]);
    for (int i = 0; i < s->c.population; i++) {
        s->pop[i].sum += fitness[i];
        s->pop[i].evaluations++;
    }
    rank(s);
    for (int e = 0; e < s->c.elites; e++)
        copy_individual(s, &s->next[e], &s->pop[s->order[e]]);
    for (int i = s->c.elites; i < s->c.population; i++)
        breed(s, &s->next[i]);
    individual *t = s->pop;
    s->pop = s->next;
    s->next = t;
    s->generation++;
    s->asked = 0;
    return 0;
}

/* The lower confidence bound on an individual's mean: the mean less one
 * standard error, that of a mean of Poisson counts (variance = mean) over
 * all the trials behind it. Why: with one trial per showing at a few spikes,
 * the Poisson noise outweighs the differences between the elites, and the
 * highest mean is often a lucky one (docs/search.md); an elite shown more
 * often has a tighter bound and wins a near tie. A fitness may be minus a
 * count (a search for the least exciting image): the variance is the count's,
 * |mean|. A mean of no spikes is no certainty either: the variance is never
 * taken below one spike's over the trials (without that floor a search for
 * the least exciting image hands over an image that drew no spike in its few
 * showings, however high its rate). */
static double lower_bound(const search *s, const individual *ind)
{
    double m = mean_fitness(ind);
    double trials = (double)ind->evaluations * s->c.trials_per_fitness;
    double variance = fabs(m), floor = 1.0 / trials;
    return m - sqrt((variance > floor ? variance : floor) / trials);
}

/* The best so far: of the elites (the population's first `elites`, ranked,
 * after a tell), the one with the highest lower bound on its mean. Before
 * any tell, nothing has been evaluated: the first image, fitness NaN. Elite
 * e is the told generation's individual order[e] (search_tell copies them
 * so): its index there. */
void search_best(const search *s, float *image, search_result *result)
{
    int best = 0;
    if (s->generation > 0) {
        double top = -INFINITY;
        for (int e = 0; e < s->c.elites; e++) {
            const individual *ind = &s->pop[e];
            assert(ind->evaluations > 0);
            if (lower_bound(s, ind) > top) {
                top = lower_bound(s, ind);
                best = e;
            }
        }
    }
    const individual *ind = &s->pop[best];
    if (image)
        memcpy(image, ind->image, (size_t)s->P * sizeof(float));
    if (result) {
        result->fitness = ind->evaluations ? (float)mean_fitness(ind) : NAN;
        result->evaluations = ind->evaluations;
        result->generation = s->generation;
        result->index = s->generation > 0 ? s->order[best] : -1;
    }
}
