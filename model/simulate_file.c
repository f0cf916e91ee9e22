/* simulate_file.c: population.npy, written by `inception simulate` beside
 * the dataset, so that the simulated population (the ground truth) can be
 * rebuilt exactly. Format version 3: ten float64 values, the version (3),
 * neurons, height, width, fraction_simple, fraction_complex,
 * fraction_conjunction, the 64-bit seed as its low and high 32-bit halves
 * (float64 holds each half and the float32 fractions exactly), and
 * fraction_energy_conjunction; version 4 adds four more (fourteen values):
 * fraction_end_stopped, fraction_surround, fraction_curvature and
 * fraction_texture (the zoo, docs/ground-truth.md); version 5 one more
 * (fifteen): fraction_deep; version 6 two more (seventeen): baseline_rate
 * and baseline_share (simulate.c, "Baseline rates"). Version 5 is read with
 * no baselines. Version 4 is read with that share 0. Version 3 (ten values,
 * before the zoo) is read with those shares 0: the same seed makes the same
 * population. Version 2 (nine values, before
 * energy-conjunction cells) is read with that share 0: a seed makes the same
 * population as it did then. Version 1 (seven values, no version, before
 * conjunction cells) is refused: the same seed makes another population now,
 * so the ground truth would be wrong. It goes through the project's NPY
 * parser, which is fuzzed. Beside it cell_types.npy (each neuron's type, for
 * `inception fit`'s table by type), and the folder written as a whole
 * (simulate_folder_write). */
#include "model.h"

#include <stdint.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POPULATION_VERSION 6
#define POPULATION_FIELDS 17
#define POPULATION_FIELDS_V5 15
#define POPULATION_FIELDS_V4 14
#define POPULATION_FIELDS_V3 10
#define POPULATION_FIELDS_V2 9
#define POPULATION_FIELDS_V1 7

int sim_config_write(const char *dir, const sim_config *c, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/population.npy", dir);
    double v[POPULATION_FIELDS] = {POPULATION_VERSION,
                                   c->neurons,
                                   c->height,
                                   c->width,
                                   c->fraction_simple,
                                   c->fraction_complex,
                                   c->fraction_conjunction,
                                   (double)(c->seed & 0xffffffffu),
                                   (double)(c->seed >> 32),
                                   c->fraction_energy_conjunction,
                                   c->fraction_end_stopped,
                                   c->fraction_surround,
                                   c->fraction_curvature,
                                   c->fraction_texture,
                                   c->fraction_deep,
                                   c->baseline_rate,
                                   c->baseline_share};
    int64_t shape[1] = {POPULATION_FIELDS};
    return npy_write(path, NPY_FLOAT64, 1, shape, v, err);
}

static int whole_in(double x, double lo, double hi)
{
    return isfinite(x) && x == floor(x) && x >= lo && x <= hi;
}

static int fraction_ok(double f) { return f >= 0 && f <= 1; }

/* Check a parsed population.npy and fill the config; `path` names it in errors. */
static int population_from_array(const npy_array *a, const char *path, sim_config *c, char *err)
{
    if (a->dtype == NPY_FLOAT64 && a->ndim == 1 && a->shape[0] == POPULATION_FIELDS_V1)
        return model_fail(err, "%s: format version 1 (before conjunction cells): the "
                               "population it names has changed; re-run `inception "
                               "simulate`", path);
    int fields = a->ndim == 1 ? (int)a->shape[0] : 0;
    if (a->dtype != NPY_FLOAT64 ||
        (fields != POPULATION_FIELDS && fields != POPULATION_FIELDS_V5 &&
         fields != POPULATION_FIELDS_V4 &&
         fields != POPULATION_FIELDS_V3 && fields != POPULATION_FIELDS_V2))
        return model_fail(err, "%s: not a population file (expected %d float64 values)",
                          path, POPULATION_FIELDS);
    const double *v = a->data;
    int version = fields == POPULATION_FIELDS ? POPULATION_VERSION
                  : fields == POPULATION_FIELDS_V5 ? 5
                  : fields == POPULATION_FIELDS_V4 ? 4
                  : fields == POPULATION_FIELDS_V3 ? 3 : 2;
    if (v[0] != version)
        return model_fail(err, "%s: format version %g in %d values; this build reads "
                               "version 2 (9 values), 3 (10), 4 (14), 5 (15) and %d (%d)", path, v[0],
                          fields, POPULATION_VERSION, POPULATION_FIELDS);
    double energy = version == 2 ? 0.0 : v[9];
    /* end-stopped, surround, curvature, texture (version 4), deep (5) */
    double zoo[5] = {0, 0, 0, 0, 0}, zoo_sum = 0.0;
    int zoo_ok = 1;
    for (int k = 0; k < (version >= 5 ? 5 : 4) && version >= 4; k++) {
        zoo[k] = v[10 + k];
        zoo_ok = zoo_ok && fraction_ok(zoo[k]);
        zoo_sum += zoo[k];
    }
    if (!whole_in(v[1], 1, 1e6) || !whole_in(v[2], 1, 1e5) || !whole_in(v[3], 1, 1e5) ||
        !fraction_ok(v[4]) || !fraction_ok(v[5]) || !fraction_ok(v[6]) || !fraction_ok(energy) ||
        !zoo_ok || !(v[4] + v[5] + v[6] + energy + zoo_sum <= 1.0001) ||
        !whole_in(v[7], 0, 4294967295.0) ||
        !whole_in(v[8], 0, 4294967295.0))
        return model_fail(err, "%s: values out of range (neurons, height, width, "
                               "fractions, seed halves)", path);
    /* the baseline rate and share (version 6): sim_config's bounds */
    double baseline = version >= 6 ? v[15] : 0.0, share = version >= 6 ? v[16] : 0.0;
    if (!(baseline >= 0.0 && baseline <= SIM_BASELINE_RATE_MAX) || !fraction_ok(share))
        return model_fail(err, "%s: baseline rate %g outside 0..%g or share %g outside 0..1",
                          path, baseline, (double)SIM_BASELINE_RATE_MAX, share);
    sim_config_default(c);
    c->neurons = (int)v[1];
    c->height = (int)v[2];
    c->width = (int)v[3];
    c->fraction_simple = (float)v[4];
    c->fraction_complex = (float)v[5];
    c->fraction_conjunction = (float)v[6];
    c->seed = (uint64_t)v[7] | ((uint64_t)v[8] << 32);
    c->fraction_energy_conjunction = (float)energy;
    c->fraction_end_stopped = (float)zoo[0];
    c->fraction_surround = (float)zoo[1];
    c->fraction_curvature = (float)zoo[2];
    c->fraction_texture = (float)zoo[3];
    c->fraction_deep = (float)zoo[4];
    c->baseline_rate = (float)baseline;
    c->baseline_share = (float)share;
    return 0;
}

int sim_config_parse(const unsigned char *bytes, size_t size, sim_config *c, char *err)
{
    npy_array a;
    if (npy_parse(bytes, size, &a, err))
        return 1;
    int status = population_from_array(&a, "population.npy", c, err);
    npy_free(&a);
    return status;
}

int sim_config_read(const char *dir, sim_config *c, char *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/population.npy", dir);
    npy_array a;
    if (npy_read(path, &a, err))
        return 1;
    int status = population_from_array(&a, path, c, err);
    npy_free(&a);
    return status;
}

/* cell_types.npy: each neuron's type, from the population the config makes. */
static int cell_types_write(const char *dir, const sim_config *c, char *err)
{
    sim_population *p;
    if (sim_population_create(&p, c, err))
        return 1;
    int n = sim_population_neurons(p);
    uint8_t *types = malloc((size_t)n);
    int status = 1;
    if (types) {
        for (int i = 0; i < n; i++)
            types[i] = (uint8_t)sim_population_cell(p, i)->type;
        char path[4096];
        int64_t shape[1] = {n};
        snprintf(path, sizeof path, "%s/cell_types.npy", dir);
        status = npy_write(path, NPY_UINT8, 1, shape, types, err);
    }
    free(types);
    sim_population_destroy(p);
    return status;
}

uint8_t *sim_cell_types_read(const char *dir, int neurons)
{
    char path[4096], err[MODEL_ERR_SIZE];
    snprintf(path, sizeof path, "%s/cell_types.npy", dir);
    npy_array a;
    if (npy_read(path, &a, err))
        return NULL;
    uint8_t *types = NULL;
    if (a.dtype == NPY_UINT8 && a.ndim == 1 && a.shape[0] == neurons) {
        types = malloc((size_t)neurons);
        if (types)
            memcpy(types, a.data, (size_t)neurons);
    }
    npy_free(&a);
    return types;
}

int simulate_folder_write(const char *dir, const simulate_options *o, dataset *out, char *err)
{
    if (simulate_dataset(o, out, err))
        return 1;
    if (dataset_save_compact(dir, out, err) || cell_types_write(dir, &o->population, err) ||
        sim_config_write(dir, &o->population, err)) {
        dataset_free(out);
        return 1;
    }
    return 0;
}
