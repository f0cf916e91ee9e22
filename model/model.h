/* model.h: the one public header of the model library.
 *
 * A deep predictive model of recorded neurons (system identification, see
 * shared/SCIENCE.md section 2): a convolutional core shared by all neurons and
 * a readout per neuron, fitted with a Poisson loss; the LNP baseline; the data
 * it is fitted to (NPY files, dataset layouts, a simulated population); and the
 * metrics that judge it.
 *
 * Conventions used throughout:
 * - Images are grayscale float32, luminance in [0,1] (0 black, 1 white, 0.5 the
 *   mean gray), row-major H×W, a batch stored image after image (B×H×W).
 * - Responses are spike counts per trial window, float32, trial-major (B×N).
 * - Functions that can fail return 0 on success and a non-zero value on
 *   failure, with a one-line reason written into `err` (MODEL_ERR_SIZE bytes).
 *   Library code never prints.
 * - Structs own their memory: every `_create` has its `_destroy`.
 */
#ifndef INCEPTION_MODEL_H
#define INCEPTION_MODEL_H

#include <stddef.h>
#include <stdint.h>

#define MODEL_ERR_SIZE 256
#define MODEL_MAX_NORMALIZATION_POOL 16.0f /* px: the pool's σ at most */
#define MODEL_MAX_LAYERS 8

/* The library's one error helper (model_error.c). model_fail writes the
 * one-line reason into `err` (MODEL_ERR_SIZE bytes; NULL takes none) and
 * returns 1, so a failure is `return model_fail(err, ...)`. The _in_file
 * forms say which file: "path: reason", a long path keeping its tail (the
 * part that names the file); model_error_in_file prefixes a reason already
 * in `err`. */
int model_fail(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int model_fail_in_file(char *err, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void model_error_in_file(char *err, const char *path);
/* Growable arrays: grow_array (base/grow.h, the project's one). */
#include "grow.h"

/* ------------------------------------------------------------------------ */
/* Random numbers: xoshiro256** seeded with splitmix64, so every random choice
 * in the project is reproducible from one 64-bit seed. */
typedef struct model_rng {
    uint64_t s[4];
} model_rng;

void model_rng_seed(model_rng *rng, uint64_t seed);
/* The seed of independent stream `stream` derived from `seed` (splitmix64 of
 * seed + stream · golden ratio), so that parts drawn from one seed do not
 * depend on each other's draws. */
uint64_t model_rng_stream(uint64_t seed, uint64_t stream);
uint64_t model_rng_next(model_rng *rng);
double model_rng_uniform(model_rng *rng);  /* in [0,1) */
double model_rng_normal(model_rng *rng);   /* standard normal */
/* Poisson sample with mean `mean` >= 0. */
unsigned model_rng_poisson(model_rng *rng, double mean);
/* Shuffles v[0..n) in place (Fisher–Yates): every order equally likely,
 * the same order for the same rng state. */
void model_rng_shuffle_i64(model_rng *rng, int64_t *v, int n);

/* ------------------------------------------------------------------------ */
/* A zero-mean, unit-norm Gabor filter into out (height × width, row-major):
 * a Gaussian envelope of `sigma` pixels centred at (cx, cy) times a cosine
 * carrier of `frequency` cycles per pixel along `orientation` (radians) with
 * `phase`, less the envelope-weighted mean of the carrier (so the filter sums
 * to zero even where the image border cuts the envelope), scaled to unit L2
 * norm (all zeros when the envelope vanishes on the image). gabor.c. */
void gabor_zero_mean(float *out, int height, int width, double cx, double cy, double sigma,
                     double frequency, double orientation, double phase);

/* ------------------------------------------------------------------------ */
/* NPY files (NumPy's array format, versions 1.0 and 2.0), little-endian,
 * C order. Anything else is refused by name. */
typedef enum npy_dtype {
    NPY_FLOAT32 = 0, /* '<f4' */
    NPY_FLOAT64,     /* '<f8' */
    NPY_UINT8,       /* '|u1' */
    NPY_INT64,       /* '<i8' */
    NPY_UNICODE      /* '<U<n>': fixed-width UTF-32LE strings, itemsize 4n */
} npy_dtype;

#define NPY_MAX_DIMS 8

typedef struct npy_array {
    npy_dtype dtype;
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    size_t itemsize; /* bytes per element */
    size_t count;    /* product of shape (1 for a 0-d array) */
    void *data;      /* count * itemsize bytes, owned */
} npy_array;

/* Parse an NPY file held in memory (the fuzz target's entry point). */
int npy_parse(const unsigned char *bytes, size_t size, npy_array *out, char *err);
int npy_read(const char *path, npy_array *out, char *err);
/* Write `data` (C order) as an NPY 1.0 file (2.0 when the header needs it). */
int npy_write(const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
              const void *data, char *err);
/* Same for a whole array, using its dtype, ndim, shape and itemsize (the only
 * way to write NPY_UNICODE, whose width npy_write cannot know). */
int npy_write_array(const char *path, const npy_array *a, char *err);
void npy_free(npy_array *a);
/* Create an NPY file of the given shape to be filled in pieces (arrays too
 * large for memory): writes the header and sizes the file, zero-filled, and
 * gives the byte offset where the C-order data starts. Write the data with
 * pwrite at *data_offset + element index × itemsize. */
int npy_create(const char *path, npy_dtype dtype, int ndim, const int64_t *shape,
               long long *data_offset, char *err);
/* Convert any numeric array to a newly allocated float32 buffer. */
float *npy_to_float32(const npy_array *a, char *err);

/* ------------------------------------------------------------------------ */
/* Datasets: trials of (image, response). Tiers say what a trial is for. */
enum { TIER_TRAIN = 0, TIER_VALIDATION = 1, TIER_TEST = 2, TIER_NONE = 3 };

typedef struct dataset {
    int trials, height, width, neurons;
    float *images;     /* trials × height × width, luminance in [0,1] */
    float *responses;  /* trials × neurons, spike counts */
    uint8_t *tiers;    /* trials, TIER_* */
    int64_t *image_ids;/* trials; repeats of one image share an id */
} dataset;

/* Load a dataset folder, detecting its layout:
 * - compact: images.npy (N×H×W), responses.npy (N×M), tiers.npy (N, uint8
 *   TIER_* codes or unicode 'train'/'validation'/'test'), image_ids.npy (N);
 * - Sensorium 2022: data/images/<i>.npy (1×H×W, 0..255), data/responses/<i>.npy
 *   (M), meta/trials/tiers.npy (unicode), meta/trials/frame_image_id.npy.
 * Sensorium images are rescaled to [0,1]. */
int dataset_load(const char *dir, dataset *out, char *err);
/* Shrink every image by an integer factor, averaging factor×factor blocks
 * (Sensorium's 144×256 frames become the models' 36×64 with factor 4). */
int dataset_downsample(dataset *d, int factor, char *err);
/* Write the compact layout into `dir` (created if missing). */
int dataset_save_compact(const char *dir, const dataset *d, char *err);
/* Allocate an empty dataset of the given shape (zeroed). */
int dataset_alloc(dataset *d, int trials, int height, int width, int neurons);
void dataset_free(dataset *d);
int dataset_count_tier(const dataset *d, int tier);

/* ------------------------------------------------------------------------ */
/* The simulated population: a stand-in for an animal. V1-like simple cells
 * (a Gabor filter, rectified), complex cells (energy of a quadrature pair),
 * conjunction cells (geometric mean of two rectified Gabor subunits at
 * different orientations and positions: corner-, cross- and curve-like
 * preferences whose optimum is no single Gabor), energy-conjunction cells
 * (the same with two complex-cell subunits, phase-invariant, so that their
 * linear receptive field is flat) and cells with divisive
 * normalization by a pool of neighbours, receptive fields
 * scattered over the image, Poisson spiking, mean rates between 0.1 and 20
 * spikes per trial window. */
typedef enum sim_cell_type {
    SIM_SIMPLE = 0,
    SIM_COMPLEX = 1,
    SIM_NORMALIZED = 2,
    SIM_CONJUNCTION = 3,
    SIM_ENERGY_CONJUNCTION = 4,
    /* The zoo (docs/ground-truth.md): families whose optimum is no single
     * Gabor, none of them used to design the loop. */
    SIM_END_STOPPED = 5, /* a simple centre minus the energy of two end zones */
    SIM_SURROUND = 6,    /* a complex centre normalized by the local contrast around it */
    SIM_CURVATURE = 7,   /* an AND of three simple subunits along an arc */
    SIM_TEXTURE = 8,     /* second order: fine-scale energies weighted by a coarse profile */
    SIM_DEEP = 9         /* a unit of a small random convolutional network */
} sim_cell_type;
#define SIM_CELL_TYPES 10
/* The zoo's rule, fixed before any setting was tuned (docs/ground-truth.md):
 * synthesis settings are chosen on every family but these, which are only
 * reported on. 1 for a held-out family. */
int sim_family_held_out(int type);

typedef struct sim_config {
    int neurons;
    int height, width;
    float fraction_simple, fraction_complex; /* the rest are normalized */
    uint64_t seed;
    float fraction_conjunction; /* also taken from the normalized share */
    float fraction_energy_conjunction; /* likewise */
    /* The zoo's families, likewise (population.npy version 4). */
    float fraction_end_stopped, fraction_surround, fraction_curvature, fraction_texture;
    float fraction_deep; /* likewise (population.npy version 5) */
    /* A spontaneous rate that stimuli can suppress (population.npy version 6;
     * docs/ground-truth.md, "Baseline rates"): a baseline_share of the cells,
     * of every type, chosen from the seed's own stream, fire baseline_rate
     * spikes per window at gray and are suppressed below it by contrast at
     * the orthogonal orientation. 0 and 0: none (the population a seed made
     * before). */
    float baseline_rate, baseline_share;
} sim_config;
/* The highest baseline_rate accepted, spikes per window. */
#define SIM_BASELINE_RATE_MAX 1000.0f

/* One cell's ground truth, for checking MEIs against known optima. The cell's
 * filter is the Gabor exp(-((x-cx)² + (y-cy)²) / 2σ²) · cos(2π f u + phase),
 * u = (x-cx) cos(orientation) + (y-cy) sin(orientation), x the column and y
 * the row (pixel centres at integers), made zero-mean and unit-norm. Simple
 * and normalized cells' drives grow with the filter's rectified response,
 * complex cells' with the energy of it and its partner at phase + π/2;
 * conjunction cells' with the geometric mean of the rectified responses of
 * that filter and of a second subunit (x2, y2, orientation2, phase2; same σ
 * and f), so their optimum at fixed contrast is the sum of the two filters;
 * energy-conjunction cells' with the geometric mean of the two subunits'
 * energy amplitudes (each subunit a quadrature pair), whose optimum is the
 * sum of the two subunits' Gabors at a best pair of phases.
 * Details at the top of simulate.c. */
typedef struct sim_cell {
    sim_cell_type type;
    float x, y;          /* RF centre, pixels */
    float sigma;         /* Gaussian envelope, pixels */
    float orientation;   /* radians, direction of the carrier's wave vector */
    float frequency;     /* cycles per pixel */
    float phase;         /* radians (irrelevant for complex cells) */
    float gain, offset;  /* rate = offset + gain * drive, spikes per window */
    float x2, y2, orientation2, phase2; /* (energy-)conjunction cells' second subunit;
                                           curvature cells' arc centre (x2, y2) and the
                                           angle between subunits (orientation2); texture
                                           cells' carrier orientation (orientation2) and
                                           the phase of their coarse profile (phase2);
                                           else 0 */
    int unit;            /* deep cells: which channel of the random network's second
                            layer (x, y: where); else 0 */
    /* A cell with a baseline (baseline > 0) has no offset: its rate is
     * softplus_b(gain · (drive − drive at gray) − suppression · s), s the
     * amplitude of a quadrature pair at its centre, σ and f at orientation
     * + π/2, and softplus_b a smooth [b + x]₊ equal to b at x = 0; else 0. */
    float baseline, suppression;
} sim_cell;

typedef struct sim_population sim_population;

void sim_config_default(sim_config *c);
/* population.npy beside a simulated dataset (simulate_file.c): the config
 * that rebuilds the population, the ground truth, exactly. `dir` holds the
 * file; errors name it. Older format versions are read where the same seed
 * still makes the same population, else refused. */
int sim_config_write(const char *dir, const sim_config *c, char *err);
int sim_config_read(const char *dir, sim_config *c, char *err);
/* The same from the file's bytes (the fuzz target's entry point). */
int sim_config_parse(const unsigned char *bytes, size_t size, sim_config *c, char *err);
int sim_population_create(sim_population **out, const sim_config *c, char *err);
void sim_population_destroy(sim_population *p);
int sim_population_neurons(const sim_population *p);
const sim_cell *sim_population_cell(const sim_population *p, int n);
/* "simple", "complex", "normalized", "conjunction", "energy-conjunction",
 * "end-stopped", "surround", "curvature", "texture", "deep" ("?" for others). */
const char *sim_cell_type_name(int type);
/* The type so named, or -1. */
int sim_cell_type_of_name(const char *name);
/* A cell's share of the population in the config, by type. */
float *sim_config_fraction(sim_config *c, int type);
/* The expected spike count of cell `neuron` for one image (H×W) and its
 * gradient with respect to the pixels, written to `gradient` (H×W): the true
 * cell's, for searching its optimum. Where a drive is not differentiable (a
 * rectifier at exactly zero) the gradient of the zero side is taken. */
float sim_population_gradient(const sim_population *p, int neuron, const float *image,
                              float *gradient);
/* A start for searching a cell's optimum (H×W, zero-mean, not at any
 * budget): the sum of the filters that excite it (a simple or normalized
 * cell's own; both subunits of a conjunction cell; an end-stopped cell's
 * centre; all three of a curvature cell's subunits; a texture cell's carrier
 * where its profile peaks; a deep cell's first-layer filters weighted by
 * their positive second-layer weights; the first filter of each pair
 * otherwise). */
void sim_population_preferred_pattern(const sim_population *p, int neuron, float *out);
/* Expected spike counts (B×N) for a batch of images (B×H×W). */
void sim_population_rates(const sim_population *p, const float *images, int batch, float *rates);
/* Poisson spike counts drawn around the expected rates. */
void sim_population_sample(const sim_population *p, const float *images, int batch,
                           model_rng *rng, float *counts);

/* Synthetic natural-like images: 1/f amplitude spectrum plus occluding
 * shapes, scaled to mean 0.5 and a natural RMS contrast, clipped to [0,1]. */
void sim_natural_images(float *out, int count, int height, int width, uint64_t seed);

/* What the simulated population is shown. */
typedef enum sim_image_kind {
    SIM_IMAGES_SYNTHETIC = 0, /* sim_natural_images: 1/f spectrum and occlusion */
    SIM_IMAGES_NOISE = 1,     /* white noise at a natural RMS contrast (another kind of
                                 stimulus, for generalization checks) */
    SIM_IMAGES_PHOTOS = 2     /* photo_patches from photo_folder */
} sim_image_kind;

typedef struct simulate_options {
    sim_config population;
    int train_images;       /* each shown once (the validation share is cut from them) */
    float validation_fraction;
    int test_images;        /* each shown test_repeats times */
    int test_repeats;
    sim_image_kind images;
    const char *photo_folder; /* SIM_IMAGES_PHOTOS: PNG/JPEG files to cut patches from */
    uint64_t seed;
} simulate_options;

void simulate_options_default(simulate_options *o);
/* Build a dataset from the simulated population (images, Poisson responses,
 * tiers, image ids). */
int simulate_dataset(const simulate_options *o, dataset *out, char *err);
/* `inception simulate`'s folder (simulate_file.c): the dataset simulated
 * (*out, the caller frees it) and saved in the compact layout in `dir`, with
 * cell_types.npy (each neuron's SIM_CELL_* type, uint8) and population.npy
 * (sim_config_write) beside it. */
int simulate_folder_write(const char *dir, const simulate_options *o, dataset *out, char *err);
/* cell_types.npy of a simulated folder: the ground-truth type of each of
 * `neurons` neurons (malloc'd); NULL when the folder holds none of that
 * length (a dataset that did not come from `inception simulate`). */
uint8_t *sim_cell_types_read(const char *dir, int neurons);

/* ------------------------------------------------------------------------ */
/* Photographs: PNG and JPEG files decoded to luminance and cut into patches,
 * the natural images shown to the simulated population. */

/* Decoding limits, checked from the header before anything is allocated. */
#define IMAGE_MAX_SIDE 16384
#define IMAGE_MAX_PIXELS 100000000LL

/* Decode a PNG (any colour type and bit depth, palette, 16-bit, interlaced;
 * alpha ignored) or a JPEG (gray or colour), recognized by its signature, into
 * a malloc'd height × width float luminance image in [0,1]. Colour pixels are
 * combined with the Rec. 709 weights 0.2126 R + 0.7152 G + 0.0722 B on the
 * encoded (gamma-compressed) values, no colour management. Truncated or
 * corrupt data, unknown formats and images beyond the limits are refused. */
int image_decode_gray(const unsigned char *bytes, size_t size, int *height, int *width,
                      float **pixels, char *err);
int image_load_gray(const char *path, int *height, int *width, float **pixels, char *err);
/* What a file is by its first bytes: PNG or JPEG (their signatures), an NPY
 * array (its magic), or neither (also a file that cannot be read). */
enum { IMAGE_FILE_OTHER, IMAGE_FILE_IMAGE, IMAGE_FILE_NPY };
int image_file_kind(const char *path);
/* The one lister of folders (image_set.c, photo_patches, and synthesis'
 * sound_clips_read for sound folders): the full
 * paths of the folder's regular files whose names do not start with '.',
 * sorted by name in byte order (not locale: the same on every machine);
 * *paths malloc'd (image_folder_list_free). Errors name the folder. */
int image_folder_list(const char *folder, char ***paths, int *count, char *err);
void image_folder_list_free(char **paths, int count);

/* Cut `count` patches (count × height × width, luminance in [0,1]) from the
 * PNG/JPEG files of `folder`, reproducibly from `seed`: files in name order,
 * an image drawn uniformly, a scale drawn log-uniformly so that the patch
 * spans 1/8 to 1/2 of the image's shorter side (area-averaged, never
 * upsampled), a uniform position and a horizontal flip half of the time.
 * Files that are not PNG/JPEG (by signature), images smaller than the patch
 * and blank images (luminance std < 0.02) are skipped; a PNG/JPEG that fails
 * to decode is an error naming it, except in a scikit-image data folder
 * (path ending in skimage/data), which ships deliberately broken test files. */
int photo_patches(const char *folder, int count, int height, int width, uint64_t seed,
                  float *out, char *err);
/* scikit-image's photographs (Debian python3-skimage) when that folder holds
 * at least one usable image of 64×64 or more, else NULL. */
const char *photo_default_folder(void);

/* ------------------------------------------------------------------------ */
/* Metrics. `pred` and `resp` are trials × neurons. */

/* Pearson correlation per neuron between columns of a and b (0 when either
 * column is constant). */
void metrics_correlation(const float *a, const float *b, int trials, int neurons, float *out);

typedef struct neuron_metrics {
    float single_trial_corr;  /* prediction vs each trial */
    float corr_to_average;    /* prediction vs mean over repeats of each image */
    float feve;               /* fraction of explainable variance explained */
    float fev;                /* fraction of variance that is explainable */
    float oracle;             /* each repeat vs mean of the other repeats */
} neuron_metrics;

/* Metrics over trials that repeat images (image_ids groups the repeats):
 * single-trial and to-average correlation, FEVE = 1 - (MSE - noise var) /
 * (total var - noise var) with the noise variance estimated from repeats, and
 * the leave-one-out oracle correlation. Images seen once contribute to the
 * single-trial correlation only. */
int metrics_evaluate(const float *pred, const float *resp, const int64_t *image_ids,
                     int trials, int neurons, neuron_metrics *out, char *err);

/* The population's FEVE as Sensorium reports it: the mean over the neurons
 * whose fraction of explainable variance is at least METRICS_FEV_MIN (below
 * it, the explainable variance is a small difference of noisy estimates and a
 * neuron's FEVE can be any size). NaN when no neuron qualifies; *kept (may be
 * NULL) is how many did. */
#define METRICS_FEV_MIN 0.15f
double metrics_feve_mean(const neuron_metrics *m, int neurons, int *kept);
/* Whether one neuron's FEVE counts in that mean. */
int metrics_feve_counts(const neuron_metrics *m);
/* The FEVEs that count in that mean, summarized: how many (`kept`), their
 * mean (metrics_feve_mean's) and median, how many lie below −1 and the
 * lowest with its neuron. A near-silent neuron's explainable variance is tiny
 * in spikes², so a prediction off by a spike or two is a huge negative FEVE
 * that alone can pull the mean below 0: the median is the robust figure.
 * None kept: mean, median and lowest NaN, lowest_neuron -1; the median is NaN
 * also when its working copy cannot be allocated. */
typedef struct metrics_feve_summary {
    int kept, below_minus_one, lowest_neuron;
    double mean, median, lowest;
} metrics_feve_summary;
void metrics_feve_summarize(const neuron_metrics *m, int neurons, metrics_feve_summary *out);

/* The metrics of each ground-truth cell type of a simulated population
 * (types: each neuron's SIM_CELL_*, sim_cell_types_read): how many neurons,
 * their mean correlation to average and single-trial correlation, and the
 * mean FEVE over those where it is finite (FEVE is NaN for a neuron with no
 * explainable variance; NaN when none is). */
typedef struct cell_type_metrics {
    int neurons;
    double feve, corr_to_average, single_trial_corr;
} cell_type_metrics;
void metrics_by_cell_type(const neuron_metrics *m, const uint8_t *types, int neurons,
                          cell_type_metrics out[SIM_CELL_TYPES]);

typedef struct metric_summary {
    float mean, median, q25, q75, min, max;
} metric_summary;

void metrics_summarize(const float *values, int n, metric_summary *out);

/* ------------------------------------------------------------------------ */
/* The model. */
typedef enum model_kind {
    MODEL_CNN = 0,         /* conv core + readout, all trained */
    MODEL_RANDOM_CORE = 1, /* conv core with fixed random weights, readout trained */
    MODEL_LNP = 2          /* r = exp(wᵀφ(x) + b), fixed features φ */
} model_kind;

typedef enum readout_kind { READOUT_GAUSSIAN = 0, READOUT_FACTORIZED = 1 } readout_kind;
typedef enum lnp_features { LNP_PIXELS = 0, LNP_GABOR = 1 } lnp_features;

typedef struct model_config {
    model_kind kind;
    int height, width; /* input size */
    int neurons;
    /* core */
    int layers;
    int channels;
    int kernel[MODEL_MAX_LAYERS]; /* odd sizes, same padding */
    int batch_norm;               /* 1: batch normalization after each conv */
    /* Divisive normalization of the core's output (layers.h divnorm): the
     * Gaussian pool's σ in pixels; 0: no normalization stage. */
    float normalization_pool;
    readout_kind readout;
    float init_sigma;   /* Gaussian readout: initial position spread ([-1,1] units) */
    float init_mu_range;/* Gaussian readout: initial positions uniform in ±range */
    /* LNP */
    lnp_features features;
    uint64_t seed;      /* initial weights */
} model_config;

void model_config_default(model_config *c);
const char *model_kind_name(model_kind k);
const char *readout_kind_name(readout_kind k);

typedef struct model model;

int model_create(model **out, const model_config *c, char *err);
void model_destroy(model *m);
const model_config *model_get_config(const model *m);
size_t model_parameter_count(const model *m);
/* Threads used by forward/backward passes (default 2). Results are
 * deterministic for a given seed and thread count. */
void model_set_threads(model *m, int threads);

/* Input standardization: the model subtracts `mean` and divides by `std`
 * before the core. model_fit sets them from the training images. */
void model_set_standardization(model *m, float mean, float std);
void model_get_standardization(const model *m, float *mean, float *std);
/* Each neuron's Gaussian readout position, its mean (x, y) in [-1,1]² of the
 * core's last feature map (x along the width; layers.h), into xy (N×2). A
 * factorized readout or the LNP has no position: 1 with the reason. */
int model_readout_positions(const model *m, float *xy, char *err);

/* Predicted rates (batch × neurons) in evaluation mode (readout at its mean
 * positions, batch norm with running statistics). A non-finite pixel, or a
 * non-finite predicted rate (a model whose numbers overflow), is an error:
 * no caller ever receives a NaN rate. */
int model_predict(model *m, const float *images, int batch, float *rates, char *err);

/* Rates of chosen neurons to images moved by whole pixels, from one core
 * pass per image: a core of stride-1, same-padded convolutions is
 * translation-equivariant, so moving an image by (dx, dy) moves its feature
 * map, and a Gaussian readout at μ reads the moved map as it reads the
 * unmoved one at μ − (dx, dy). Exact up to float rounding where the moved
 * content stays inside the image and clear of the border's zero padding;
 * near the border an estimate (the caller predicts the moved images it
 * keeps). rates[(b·S + s)·n + j] is neuron neurons[j]'s rate to image b moved
 * by shifts[2s], shifts[2s + 1] (x then y, pixels; S = n_shifts), −∞ where
 * the read position leaves the feature map. A model without positions (a
 * factorized readout, the LNP): 1 with the reason. */
int model_predict_translated(model *m, const float *images, int batch, const int *neurons,
                             int n, const int *shifts, int n_shifts, float *rates, char *err);
/* 1 when model_predict_translated serves this model (a core with a
 * Gaussian readout), else 0. */
int model_can_translate(const model *m);

/* Gradient with respect to the input images of the objective
 *   J = Σ_b Σ_n weights[b·N + n] · rate[b][n]
 * in evaluation mode, for a batch of images (batch×H×W), written to `grad`
 * (batch×H×W). `rates` (batch×N) receives the predictions if not NULL. This
 * is what MEI synthesis ascends. Non-finite pixels, rates or gradients are
 * errors, as for model_predict. */
int model_input_gradient(model *m, const float *images, int batch, const float *weights,
                         float *grad, float *rates, char *err);

/* The same gradient for weights that depend on the rates (a soft max over the
 * population): after each chunk's forward pass, weights_of(rates, first,
 * count, weights, ctx) writes the weights (count×N) of images first ..
 * first+count−1 from their rates (count×N; not yet checked: they may be non-
 * finite, which the call then reports). One forward pass where a prediction
 * and model_input_gradient would take two, with the same result to the bit. */
typedef void (*model_weights_fn)(const float *rates, int first, int count, float *weights,
                                 void *ctx);
int model_input_gradient_by(model *m, const float *images, int batch,
                            model_weights_fn weights_of, void *ctx, float *grad, float *rates,
                            char *err);

/* The same gradient for an objective that may weight few neurons per image,
 * with each image's value J_b = Σ_n weights[b·N + n] · rate[b][n] written to
 * objective[b] (batch floats) instead of all rates. With a Gaussian readout,
 * an image whose weights are nonzero for a few neurons (at most 16) is
 * computed over those neurons' receptive fields only (receptive_field.c):
 * the same result up to float rounding, at a fraction of the cost. Other
 * batches (many weighted neurons, a factorized readout, the LNP) take the
 * full path of model_input_gradient. Deterministic for a given thread count;
 * the batch is split between threads. */
int model_input_gradient_objective(model *m, const float *images, int batch,
                                   const float *weights, float *grad, float *objective,
                                   char *err);
/* 1 when model_input_gradient_objective would take the receptive-field path
 * for these weights (batch × N), else 0. */
int model_input_gradient_uses_windows(const model *m, const float *weights, int batch);

/* Training. */
typedef struct fit_progress {
    int epoch;
    double train_loss;        /* mean Poisson NLL per trial over the epoch */
    double validation_corr;   /* mean over neurons */
    double learning_rate;
    double seconds;           /* since the fit started */
    double images_per_second; /* this epoch */
    int best_epoch;
} fit_progress;

typedef struct fit_options {
    int batch_size;
    int max_epochs;
    float learning_rate;
    float lr_decay;          /* multiply the rate by this on a plateau */
    int patience;            /* epochs without improvement before a decay */
    int max_lr_decays;       /* stop after this many decays */
    float laplace_weight;    /* first-layer kernel smoothness */
    float l1_weight;         /* readout feature weights */
    int threads;
    int position_init;       /* 1: Gaussian readout positions start at each neuron's
                                peak of response-weighted local contrast energy */
    uint64_t seed;
    void (*progress)(const fit_progress *p, void *user);
    void *user;
} fit_options;

typedef struct fit_report {
    int epochs;
    int best_epoch;
    double best_validation_corr;
    double seconds;
} fit_report;

void fit_options_default(fit_options *o);
/* Fit on the dataset's TIER_TRAIN trials with early stopping on the mean
 * validation correlation of TIER_VALIDATION trials; the best weights are
 * restored at the end. */
int model_fit(model *m, const dataset *d, const fit_options *o, fit_report *report, char *err);

/* Save and load a fitted model: a versioned binary file with a CRC-32. A
 * truncated, corrupt or foreign file fails with a reason, never a crash. */
int model_save(const model *m, const char *path, char *err);
/* The model file's writer: which program (and build) wrote it, a text of at
 * most MODEL_WRITER_MAX bytes that model_save records and model_load gives
 * back ("" for a version-1 file or when none was set). The model library
 * knows no versions of its own: the caller names itself before saving. A text
 * too long is refused (returns 1, reason in err) and the writer kept. */
#define MODEL_WRITER_MAX 256
int model_set_writer(model *m, const char *text, char *err);
const char *model_writer(const model *m);
int model_load(model **out, const char *path, char *err);
/* Same, from memory (the fuzz target's entry point). */
int model_load_bytes(model **out, const unsigned char *bytes, size_t size, char *err);

/* ------------------------------------------------------------------------ */
/* Image sets: a user's images brought to a model's input (`inception export`).
 *
 * A set is one PNG/JPEG file, an NPY array, or a folder of them (every
 * regular file not starting with '.', in byte order of names, an NPY file
 * giving its images in order; a file that is neither is an error naming it).
 * An NPY array is H×W (one image), N×H×W (grayscale) or N×H×W×3 (RGB,
 * combined with the Rec. 709 weights 0.2126 R + 0.7152 G + 0.0722 B like
 * image_decode_gray), uint8 (divided by 255) or float32/float64 (taken as
 * luminance in [0,1]; NaN and infinities are refused at opening).
 *
 * Resizing (images_resize) first crops the centre of the image to the target's
 * aspect ratio (a fractional crop, so no rounding), then resamples each axis:
 * area averaging when shrinking (each output pixel is the mean of the source
 * over the interval it covers, partial pixels weighted by their overlap),
 * bilinear interpolation when enlarging (pixel centres at i + 0.5, edge pixels
 * repeated: PyTorch's align_corners=False). */
void images_resize(const float *src, int src_height, int src_width, float *dst, int height,
                   int width);

typedef struct image_set image_set;

int image_set_open(image_set **out, const char *path, char *err);
void image_set_destroy(image_set *s);
int image_set_count(const image_set *s);
/* Image i's file name inside the folder (the path for a single PNG/JPEG);
 * NULL when the set is one NPY file. */
const char *image_set_name(const image_set *s, int i);
/* The path of the file holding image i, to name it in errors. */
const char *image_set_path(const image_set *s, int i);
/* Size of image i before resizing (a PNG/JPEG is decoded for it: a file that
 * fails to decode is an error naming it). Reading image i at this size gives
 * its pixels unresampled. */
int image_set_size(const image_set *s, int i, int *height, int *width, char *err);
/* Images first..first+count-1, resized to height × width, into out
 * (count × height × width). Folder images are decoded here; a file that fails
 * to decode is an error naming it. */
int image_set_read(image_set *s, int first, int count, int height, int width, float *out,
                   char *err);

/* ------------------------------------------------------------------------ */
/* The cochleagram: a sound clip's log power on a mel or ERB frequency axis,
 * the input image of an auditory model (bands × frames, band 0 the lowest
 * frequency, frame 0 the earliest), and its gradient back to the samples for
 * synthesis. STFT with a periodic Hann window (FFTW), power |X|² (the
 * spectrum divided by the window's sum: a sinusoid of amplitude A at a bin
 * centre has power A²/4 there), triangular filters, log(epsilon + ·).
 * Formulas at the top of cochleagram.c. Samples are mono float32, full scale
 * ±1. The plan owns FFTW plans and scratch: one thread per cochleagram. */
typedef enum cochleagram_scale { COCHLEAGRAM_MEL = 0, COCHLEAGRAM_ERB = 1 } cochleagram_scale;

typedef struct cochleagram_config {
    int sample_rate;        /* Hz */
    int samples;            /* clip length */
    int window, hop;        /* STFT frame and step, samples (window even) */
    int bands;
    float low_hz, high_hz;  /* outer edges of the lowest and highest triangles */
    cochleagram_scale scale;
    float epsilon;          /* added to the band power before the log */
} cochleagram_config;

typedef struct cochleagram cochleagram;

/* 16 kHz, 0.5 s clips, 25 ms window, 10 ms hop, 32 mel bands 100..7600 Hz. */
void cochleagram_config_default(cochleagram_config *c);
/* A band that would hold no FFT bin is refused (the reason names it). */
int cochleagram_create(cochleagram **out, const cochleagram_config *c, char *err);
void cochleagram_destroy(cochleagram *c);
const cochleagram_config *cochleagram_get_config(const cochleagram *c);
/* 1 + (samples - window) / hop: frames start at 0, hop, 2·hop, ... */
int cochleagram_frames(const cochleagram *c);
int cochleagram_bins(const cochleagram *c);             /* window / 2 + 1 */
float cochleagram_filter(const cochleagram *c, int band, int bin);
double cochleagram_band_hz(const cochleagram *c, int band); /* the triangle's peak */
double cochleagram_hz_to_scale(cochleagram_scale scale, double hz);
double cochleagram_scale_to_hz(cochleagram_scale scale, double value);
/* out (batch × bands × frames) from samples (batch × samples). */
void cochleagram_forward(cochleagram *c, float *out, const float *samples, int batch);
/* dsamples (batch × samples, written) = ∂J/∂samples for dout = ∂J/∂out. */
void cochleagram_backward(cochleagram *c, float *dsamples, const float *dout,
                          const float *samples, int batch);

/* ------------------------------------------------------------------------ */
/* Sound clips: mono float32 samples at a fixed rate, full scale ±1 (clips.c).
 * The level budget is the RMS in dB re full scale, 20 log10(RMS): a
 * full-scale square wave is 0 dBFS, a full-scale sine −3.01 dBFS. */
double clip_rms_db(const float *x, int n); /* -inf for silence */
/* Scale x so its level is `db` (≤ 0) to float rounding. A silent or
 * non-finite clip, or one whose peak would then pass full scale, is refused
 * (returns 1, x unchanged): never clipped. */
int clip_set_rms_db(float *x, int n, double db, char *err);
/* Raised-cosine onset and offset ramps of `ramp` samples (at most n/2 each):
 * the first and last samples become 0. */
void clip_ramp(float *x, int n, int ramp);
/* A steady sine of `hz` (0 < hz < rate / 2; phase 0 at sample 0), ramped by
 * `ramp` samples at both ends (clip_ramp) and set to `db` (clip_set_rms_db):
 * a pure tone at the level budget. */
int clip_tone(float *x, int n, int rate, double hz, int ramp, double db, char *err);

typedef enum clip_kind {
    CLIP_HARMONIC = 0, /* harmonic stack with a pitch contour */
    CLIP_NOISE = 1,    /* band noise with a 1/f modulation spectrum */
    CLIP_CLICKS = 2,   /* train of damped tone pips */
    CLIP_SWEEP = 3     /* logarithmic FM sweeps */
} clip_kind;
#define CLIP_KINDS 4
const char *clip_kind_name(int kind); /* "harmonic", "noise", "clicks", "sweep" */
/* `count` synthetic clips (count × samples) with some of natural sounds'
 * statistics (details at the top of clips.c): clip i is kind i mod
 * CLIP_KINDS, drawn from (seed, i) alone, ramped by ramp_ms at both ends and
 * set to rms_db. kinds (count ints) may be NULL. A clip whose peak would pass
 * full scale at rms_db is an error naming it (−30 dBFS leaves room for all). */
int clip_synthetic(float *out, int count, int samples, int rate, double rms_db,
                   double ramp_ms, uint64_t seed, int *kinds, char *err);

/* Gradient ascent on a clip's samples at the level budget (clip_ascent.c):
 * the clip stays ramped (x = ramp ⊙ z, the ascent moves z), each step is
 * the gradient normalized to the budget's RMS times a step size falling
 * linearly to 0, and each iterate is put back at rms_db with no sample past
 * 0.99 of full scale. `objective` returns J(clip) and writes ∂J/∂clip into
 * grad (n floats). The best clip seen replaces `clip` (the start, any level
 * but not silent), its value in *best_value. */
typedef double (*clip_objective)(const float *clip, float *grad, void *user);
typedef struct clip_ascent_options {
    double rms_db;    /* the budget */
    int ramp;         /* onset/offset ramp, samples */
    int steps;
    double step_size; /* the first step's RMS over the budget's RMS */
} clip_ascent_options;
int clip_ascend(float *clip, int n, const clip_ascent_options *o, clip_objective objective,
                void *user, double *best_value, char *err);
/* clip_ascend on `count` clips at once (count × n), for objectives cheaper
 * per clip in a batch (a model's pass): objective writes J of each clip into
 * values[c] and its gradient into grads (count × n). Each clip's ascent is
 * clip_ascend's with the same values and gradients, to the bit (a clip whose
 * objective is flat stops moving and is still evaluated); a non-finite value
 * or an unprojectable clip ends the whole batch with an error naming it. The
 * best clips replace `clips`, their values in best_values (count). */
typedef void (*clip_batch_objective)(const float *clips, int count, float *grads,
                                     double *values, void *user);
int clip_ascend_batch(float *clips, int count, int n, const clip_ascent_options *o,
                      clip_batch_objective objective, void *user, double *best_values, char *err);

/* ------------------------------------------------------------------------ */
/* The simulated auditory population (auditory.c): a stand-in for an animal in
 * auditory experiments, with a ground truth. Cells read the population's
 * cochleagram S (log band power) of a clip; rate = offset + gain · drive,
 * Poisson counts over the clip. Drives and the optima at the budget are
 * described at the top of auditory.c. */
typedef enum auditory_cell_type {
    AUDITORY_STRF = 0,         /* linear STRF, threshold-linear output */
    AUDITORY_FACILITATION = 1, /* AND of two bands a harmonic ratio apart */
    AUDITORY_ONSET = 2,        /* rectified rise (or fall) of a few bands' level */
    AUDITORY_LEVEL = 3         /* non-monotonic level tuning in one band */
} auditory_cell_type;
#define AUDITORY_CELL_TYPES 4

typedef struct auditory_cell {
    auditory_cell_type type;
    int band, band2;        /* best band; facilitation's second band, onset's last band */
    float best_hz;          /* centre of `band` */
    float ratio;            /* facilitation: the frequency ratio drawn for band2 */
    float threshold;        /* facilitation (nats of band power), onset (nats per frame) */
    int polarity;           /* onset: 1 onsets, -1 offsets */
    float best_level, level_width; /* level: L and w, nats of band power */
    /* strf: a Gabor over bands × lags (units of bands and frames) */
    float band_sigma, spectral_cycles, latency, lag_sigma, temporal_cycles, phase;
    float gain, offset;     /* rate = offset + gain · drive, spikes per clip */
} auditory_cell;

typedef struct auditory_config {
    int neurons;            /* cell n is of type n mod AUDITORY_CELL_TYPES */
    cochleagram_config cochlea;
    double rms_db;          /* the level budget the population is calibrated at */
    double ramp_ms;
    uint64_t seed;
} auditory_config;

typedef struct auditory_population auditory_population;

/* 40 cells, the default cochleagram, -30 dBFS, 5 ms ramps. */
void auditory_config_default(auditory_config *c);
/* The default at another rate, clip length, band count and budget: the
 * same 25 ms window and 10 ms hop, bands up to min(7600 Hz, 0.475 × rate). */
void auditory_config_for(int rate, int samples, int bands, double rms_db, auditory_config *c);
int auditory_population_create(auditory_population **out, const auditory_config *c, char *err);
void auditory_population_destroy(auditory_population *p);
int auditory_population_neurons(const auditory_population *p);
const auditory_config *auditory_population_config(const auditory_population *p);
const auditory_cell *auditory_population_cell(const auditory_population *p, int n);
/* The STRF kernel of cell n (bands × lags, lag 0 the current frame); returns
 * 1 (kernel all zeros) when the cell is not an STRF cell. */
int auditory_population_kernel(const auditory_population *p, int n, const float **kernel,
                               int *lags);
const char *auditory_cell_type_name(int type); /* "strf", "facilitation", "onset", "level" */
/* Expected counts (batch × neurons) for clips (batch × samples), or for
 * their cochleagrams (batch × bands × frames, the population's cochleagram). */
void auditory_population_rates(auditory_population *p, const float *clips, int batch,
                               float *rates);
void auditory_population_rates_image(const auditory_population *p, const float *images,
                                     int batch, float *rates);
void auditory_population_sample(auditory_population *p, const float *clips, int batch,
                                model_rng *rng, float *counts);
/* Cell n's expected count for one clip, and its gradient with respect to the
 * samples into grad (the next function's, through cochleagram_backward). */
double auditory_cell_gradient(auditory_population *p, int n, const float *clip, float *grad);
/* The same for one cochleagram (bands × frames): the gradient with respect to
 * it into dimage (written). Rectified drives have no gradient where they are
 * 0 (the subgradient 0 is taken). */
double auditory_cell_gradient_image(const auditory_population *p, int n, const float *image,
                                    float *dimage);
/* clip_ascend on cell n's expected count (auditory_cell_gradient): the best
 * clip reached from `clip` (samples floats) replaces it, its rate in *rate. */
int auditory_cell_ascend(auditory_population *p, int n, const clip_ascent_options *o,
                         float *clip, double *rate, char *err);
/* Cell n's best clip at the budget into clip (samples floats) and its rate.
 * *known = 1 where the optimum is known (facilitation, level: built from
 * tones, the level cell's rate being its supremum), 0 where it is searched
 * (strf, onset: clip_ascend with `search` from two starts). */
int auditory_cell_optimum(auditory_population *p, int n, const clip_ascent_options *search,
                          float *clip, double *rate, int *known, char *err);
/* The population's budget and ramp, 1000 steps from 0.05. */
void auditory_search_default(const auditory_population *p, clip_ascent_options *o);

/* A simulated recording: synthetic clips (clip_synthetic at the population's
 * budget), their cochleagrams as the dataset's images (H = bands, W =
 * frames), Poisson counts; tiers and repeats as simulate_dataset's. */
typedef struct auditory_dataset_options {
    auditory_config population;
    int train_clips;          /* each heard once (the validation share is cut from them) */
    float validation_fraction;
    int test_clips, test_repeats;
    uint64_t seed;
} auditory_dataset_options;
void auditory_dataset_options_default(auditory_dataset_options *o);
/* clips_out (may be NULL): the distinct clips (train then test, image_ids
 * index them), malloc'd. */
int auditory_dataset(const auditory_dataset_options *o, dataset *out, float **clips_out,
                     char *err);

/* ------------------------------------------------------------------------ */
/* The shared core's output, for aligning another network's layers with it.
 * pool = 1: the last core layer's feature maps (after its nonlinearity), per
 * image C × H × W; pool = k > 1: averaged over k × k blocks (edge blocks over
 * the pixels they hold), C × ceil(H/k) × ceil(W/k); pool = 0: averaged over
 * the whole map, C × 1 × 1. Evaluation mode, like model_predict. The LNP has
 * no core: an error. */
int model_core_features_shape(const model *m, int pool, int *channels, int *height,
                              int *width, char *err);
int model_core_features(model *m, const float *images, int batch, int pool, float *out,
                        char *err);

#endif
