/* mei_search.h: `inception search`'s work as a library (controller/mei/): the
 * model-free search (stimulus/synthesis/search.c) run offline against the
 * simulated population of a dataset written by `inception simulate`. Each
 * chosen neuron's search is shown its images, and its fitness is Poisson
 * spike counts drawn from the simulated cell's true rate as the virtual rig
 * draws them; then the best image's true response is compared with the
 * truly best natural training image at the same budget and with the cell's
 * known optimum (stimulus_truth); run downhill (least), with the truly least
 * exciting natural image and the cell's gray rate. Writes each neuron's best image as a PNG,
 * stimuli.npy and manifest.json.
 *
 * Nothing here prints: progress goes to an event callback, a failure is a
 * status with a one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). */
#ifndef INCEPTION_MEI_SEARCH_H
#define INCEPTION_MEI_SEARCH_H

#include "controller_util.h"
#include "model.h"
#include "stimulus.h"

enum { MEI_SEARCH_ALL, MEI_SEARCH_TUNING, MEI_SEARCH_HELD_OUT };

/* The strings are not owned: they must outlive the run. */
typedef struct mei_search_config {
    const char *data_dir; /* `inception simulate`'s folder: population.npy and the images */
    const char *neurons;  /* "3,7,10-19" or "all" */
    int split;            /* of those, MEI_SEARCH_ALL, or the zoo's tuning or held-out
                             families only (sim_family_held_out) */
    const char *out_dir;  /* created if missing */
    search_config search; /* the GA's settings; size, budget and seed are set per neuron */
    int generations;
    int repeats;          /* trials per image and generation; the fitness is their mean count */
    float contrast;       /* > 0: the budget's contrast, else the training images' median */
    int least;            /* 1: search for the least exciting image (the fitness is minus
                             the mean count), scored against the truly least exciting
                             natural training image at the budget */
    const char *surround_dir; /* non-NULL: a surround search around the centres of this
                                 `inception mei --kind surround` folder (below) */
    int surround_ring;    /* a surround search's space: 1 the ring code's evolution
                             strategy (surround_es.c), 0 the genetic search over Gabor
                             primitives; -1 (default) ring for most, Gabors for least,
                             the measured better of each */
} mei_search_config;

/* One neuron's outcome: the search's side (what it saw) and the truth's. */
typedef struct mei_search_neuron {
    int neuron, type;     /* type: sim_cell_type */
    int trials;           /* images shown × repeats, all generations */
    float fitness;        /* the best image's mean count over its evaluations (least too) */
    int evaluations;      /* generations that showed it */
    float true_rate;      /* its expected count (the simulated cell's rate) */
    float first_rate;     /* the true rate of the first generation's truly best image */
    float natural;        /* the truly best natural training image's, at the budget (least:
                             the truly least exciting one's) */
    float optimum;        /* the cell's optimum (stimulus_truth: exact or searched; NaN for
                             least: unknown) */
    float gray;           /* the uniform mean-luminance image's: the cell's baseline */
    int trials_to_natural; /* trials until the search's best truly beat the natural, went
                              below it for least (-1: never); for a surround search the
                              centre alone */
    /* A surround search's (NaN otherwise): the true rates of the centre alone
     * (the masked MEI, gray around it: the control), of the model's own
     * surround of the same direction (NaN where the folder has none) and,
     * for the most exciting one, with the cell's own best surround
     * (stimulus_true_best_surround: what a surround could do). */
    float centre_alone, model_surround, possible;
    uint64_t seed;        /* the search's */
} mei_search_neuron;

typedef struct mei_search_event {
    int index, count;       /* the neuron's place in the run */
    int generation, generations;
    const mei_search_neuron *done; /* set once the neuron's search is finished */
    search_result best;     /* the search's best after `generation` generations */
} mei_search_event;
typedef void (*mei_search_event_fn)(const mei_search_event *e, void *user);

typedef struct mei_search_run {
    mei_search_config c;
    int H, W, P;
    stimulus_budget budget;
    int *neurons, count;
    mei_search_neuron *rows; /* count */
    float *best;             /* count × P: each neuron's best image */
} mei_search_run;

/* ---- Surround searches (mei_search_surround.c) ----
 * A surround search fixes the centre to a neuron's MEI inside its mask (the
 * classical receptive field of `inception mei --kind surround`) and searches
 * the surround: each image s the search asks for is shown as
 * mei_surround_compose(MEI, mask, s), the surround alone holding the budget
 * (as the model's surround MEIs do); the control is the centre alone. */
typedef struct mei_search_centre {
    int neuron;
    int mei, centre;                   /* their places in stimuli.npy */
    int surround_most, surround_least; /* the model's surrounds' (-1: none) */
    mei_mask mask;                     /* the centre entry's */
} mei_search_centre;

typedef struct mei_search_surround {
    float *images;        /* count_images × H × W: the folder's stimuli.npy */
    int count_images;
    mei_search_centre *centres;
    int count;
    float mean_luminance; /* the manifest's (NaN: it has none) */
} mei_search_surround;

/* The centres named by a surround folder's manifest.json (text of `size`
 * bytes, `name` for messages), checked against the images' size and count:
 * every field a surround search uses is refused by name when missing or
 * out of range. 0 with *out (free it), *count and the manifest's mean
 * luminance (NaN where it has none), else 1 and the reason. */
int mei_search_centres_parse(const char *text, size_t size, const char *name, int height,
                             int width, int images, mei_search_centre **out, int *count,
                             float *mean_luminance, char *err);
/* A folder's stimuli.npy and manifest.json (mei_search_surround_free). */
int mei_search_surround_load(mei_search_surround *out, const char *dir, int height, int width,
                             char *err);
void mei_search_surround_free(mei_search_surround *s);
const mei_search_centre *mei_search_surround_find(const mei_search_surround *s, int neuron);

/* Everything: dataset and population loaded, each neuron searched, its best
 * scored against the truth, the files written. 0 on success with *out the
 * run (mei_search_destroy); else 1, or MEI_BATCH_USAGE for a request that
 * cannot be met (bad --neurons), with the reason in err. */
int mei_search_run_all(mei_search_run **out, const mei_search_config *c, mei_search_event_fn fn,
                       void *user, char *err);
void mei_search_destroy(mei_search_run *r);

#endif
