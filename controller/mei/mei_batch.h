/* mei_batch.h: `inception mei`'s work as a library (controller/mei/): a batch
 * of chosen neurons of a fitted model (or an ensemble), each neuron's
 * synthesized stimulus of one kind (mei, least, diverse, masked, surround;
 * or the neurons as one group, pattern), its controls, the model's
 * predictions, the files to look at and to present (one PNG per stimulus,
 * stimuli.npy, manifest.json, gallery.png), and for a simulated dataset the
 * comparison with the ground truth. The math is the synthesis library's
 * (stimulus/synthesis/); this is the choosing, the bookkeeping and the files.
 *
 * Nothing here prints: what happens while the batch works is told to an event
 * callback, the results are the batch's fields, and a failure is a status
 * with a one-line reason in `err` (CONTROLLER_ERR_SIZE bytes). */
#ifndef INCEPTION_MEI_BATCH_H
#define INCEPTION_MEI_BATCH_H

#include "controller_util.h"
#include "model.h"
#include "stimulus.h"

#define MEI_BATCH_MAX_MODELS 64
#define MEI_BATCH_MAX_DIVERSE 64 /* the largest diverse set */
#define MEI_BATCH_USAGE 2        /* a status: the request itself is wrong (e.g. --neurons) */

typedef enum mei_batch_kind {
    MEI_BATCH_MEI,
    MEI_BATCH_LEAST,    /* the least exciting input, the natural image predicted lowest */
    MEI_BATCH_DIVERSE,  /* the MEI (count random starts) and a set of count images */
    MEI_BATCH_MASKED,   /* the MEI under its learned soft disc */
    MEI_BATCH_SURROUND, /* the masked MEI, the most and the least exciting surrounds */
    MEI_BATCH_PATTERN   /* the neurons as one group, count target patterns */
} mei_batch_kind;

/* A neuron's slots, in gallery order: the MEI (or the least exciting input)
 * and its controls, then the kind's further images (MEI_BATCH_SLOTS on). */
enum { MEI_BATCH_SLOT_MEI, MEI_BATCH_SLOT_NAT_PRED, MEI_BATCH_SLOT_NAT_REC, MEI_BATCH_SLOT_GABOR,
       MEI_BATCH_SLOT_RF, MEI_BATCH_SLOTS };

/* The strings are not owned: they must outlive the batch. */
typedef struct mei_batch_config {
    const char *const *models; /* model files; more than one: an ensemble, predictions their mean */
    int n_models;
    const char *data_dir;      /* the dataset they were fitted to */
    const char *neurons;       /* "3,7,10-19", "top N", "random N" or "all" */
    const char *out_dir;       /* created if missing */
    mei_batch_kind kind;
    int count;                 /* diverse: the set's size (default 4); pattern: patterns (4) */
    mei_options o;             /* the ascent's options; the budget is the batch's */
    mei_objective objective;
    int batch;                 /* neurons per batch through the model */
    float contrast;            /* > 0: the budget's contrast, else the training images' median */
    int init_natural;          /* start each MEI at its best natural image */
    int init_gabor;            /* ... or at its matched Gabor (least: its least exciting Gabor) */
    int controls;              /* 0: the synthesized stimuli only */
} mei_batch_config;

/* What the batch is doing, told as it happens (for a progress display). */
typedef enum mei_batch_stage {
    MEI_BATCH_ENSEMBLE,   /* models loaded (told for an ensemble only) */
    MEI_BATCH_TOP,        /* "top N" chosen: value[0], value[1] the first's and last's
                             test correlation */
    MEI_BATCH_RANDOM,     /* "random N" drawn with o.seed */
    MEI_BATCH_READY,      /* the neurons chosen, the budget set, the folder made */
    MEI_BATCH_MEIS,       /* MEI batch `index` of `total` begins: `n` neurons */
    MEI_BATCH_STEP,       /* `step` of the MEI batch or the diverse sets numbered `index` */
    MEI_BATCH_AGREEMENT,  /* the random starts' agreement: `summary` over the neurons */
    MEI_BATCH_SETS,       /* diverse sets `index` begin: `n` neurons, value[0] the weight */
    MEI_BATCH_REGION,     /* a neuron's mask (and surrounds): neuron `n`, `index` of `total` */
    MEI_BATCH_REGIONS_DONE,
    MEI_BATCH_CONTROLS,   /* controls of `control` begin, from `n` training images */
    MEI_BATCH_PATTERNS_BEGIN, /* --kind pattern: `total` patterns over a group of `n` */
    MEI_BATCH_PATTERN_MADE    /* pattern `index` made: value[0] its predicted similarity, `n`
                             the closest natural training image, value[1] its similarity */
} mei_batch_stage;

typedef enum mei_batch_control {
    MEI_BATCH_LEAST_NATURAL, MEI_BATCH_BEST_NATURAL, MEI_BATCH_GABORS, MEI_BATCH_RF_MAPS
} mei_batch_control;

struct mei_batch;
typedef struct mei_batch_event {
    mei_batch_stage stage;
    const struct mei_batch *batch;
    int index, total, n;
    float value[2];
    mei_batch_control control;
    const mei_progress *step;
    const metric_summary *summary;
} mei_batch_event;
typedef void (*mei_batch_event_fn)(const mei_batch_event *e, void *user);

/* The comparison with the simulated population (mei_batch_truth). */
typedef struct mei_batch_family {
    const char *name, *split; /* a cell type (split: held-out or tuning) or a split's all */
    int count;
    float over_natural, over_own, above_natural, over_optimum, predicted_over_true;
} mei_batch_family;

typedef struct mei_batch_truth {
    stimulus_truth *t;            /* its rows: one per neuron */
    int with_controls;
    truth_summary all, gabor_types, other, by_type[SIM_CELL_TYPES];
    mei_batch_family family[SIM_CELL_TYPES + 2];
    int families;
    /* diverse: per neuron the set's least driving image's true response and
     * the set's and the starts' mean pairwise correlations */
    float *lowest, *set_corr, *start_corr;
    int held;                     /* sets at >= 0.8 of their MEI */
    metric_summary set_summary, start_summary;
    /* masked, surround: per neuron the masked MEI's true response, its mask's
     * share of the true RF, the cell's sigma, the surrounds' responses and
     * what a surround could do (stimulus_true_best_surround: the cell's own
     * best, from noise); of the surround cells, `headroom` whose own best
     * surround raises the response by more than 1 % */
    float *masked, *cover, *sigma, *most, *least, *possible;
    int kept, covered, suppressed, raised, lowered, headroom;
    float possible_median; /* of possible / centre alone over the surround cells */
    metric_summary cover_summary;
    /* pattern: per pattern the simulated cells' similarity to the target for
     * the synthesized image, the model's natural control and the truly
     * closest natural training image */
    float *pattern_synthesized, *pattern_natural, *pattern_best;
    int closer;
} mei_batch_truth;

typedef struct mei_batch {
    mei_batch_config c;
    model *models[MEI_BATCH_MAX_MODELS];
    dataset d;
    int H, W, P, N;
    int *neurons, count;  /* the chosen neurons */
    int K;                /* slots per neuron: MEI_BATCH_SLOTS and the kind's */
    float *stimuli;       /* count × K × P; absent slots flat gray */
    float *predicted;     /* count × K: the ensemble's mean */
    float *by_model;      /* count × K × n_models */
    uint8_t *present;     /* count × K */
    mei_result *results;  /* count */
    float *train_images, *train_resp; /* the training tier */
    int n_train;
    stimulus_budget budget;
    mei_options o;
    const char **kind_names, **kind_labels; /* by slot: file names, gallery labels */
    int diverse;          /* the set's size, else 0 */
    mei_result *diverse_results; /* count × diverse */
    const char *slot_names[MEI_BATCH_SLOTS + MEI_BATCH_MAX_DIVERSE];
    const char *slot_labels[MEI_BATCH_SLOTS + MEI_BATCH_MAX_DIVERSE];
    char slot_text[MEI_BATCH_MAX_DIVERSE][2][16];
    int region;           /* MEI_BATCH_MASKED or _SURROUND, else 0 */
    mei_mask_result *masks; /* count */
    /* --kind pattern: count × group targets, the images (synthesized, natural
     * control, per pattern) and their predicted similarities */
    int patterns;
    float *targets, *pattern_images, *similarity, *natural_similarity;
    int *natural;
    mei_batch_truth truth;
    int label;            /* the MEI batch or diverse sets being made, for their steps */
    mei_batch_event_fn on_event;
    void *user;
} mei_batch;

/* The whole batch: models and data loaded, neurons chosen, stimuli
 * synthesized with their controls, predictions made and the files written
 * into c->out_dir. 0 on success with *out the batch (mei_batch_destroy);
 * else 1, or MEI_BATCH_USAGE for a request that cannot be met (a bad
 * --neurons, a group of the wrong size), with the reason in err. */
int mei_batch_run(mei_batch **out, const mei_batch_config *c, mei_batch_event_fn on_event,
                  void *user, char *err);
/* "3,7,10-19": ids and inclusive ranges, each in 0..N-1, appended to *out
 * (malloc'd, *count of them); MEI_BATCH_USAGE with the reason otherwise. */
int mei_batch_parse_ids(const char *spec, int N, int **out, int *count, char *err);
/* Shows every stimulus (and the training images) to the simulated
 * population `population` (the dataset's population.npy) and fills b->truth. */
int mei_batch_truth_compute(mei_batch *b, const sim_config *population, char *err);
void mei_batch_destroy(mei_batch *b);

#endif
