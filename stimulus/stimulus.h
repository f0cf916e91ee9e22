/* stimulus.h: the one public header of the stimulus library: what is shown
 * to the animal. Two parts: the presenter (the display) and the synthesis of
 * most exciting inputs (MEIs) with the control stimuli that go with them.
 *
 * Conventions: images are float32 luminance in [0,1], H×W row-major, a batch
 * stored image after image; functions that can fail return 0 on success and
 * non-zero on failure with a one-line reason in `err` (STIMULUS_ERR_SIZE
 * bytes); nothing here prints. */
#ifndef INCEPTION_STIMULUS_H
#define INCEPTION_STIMULUS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

#define STIMULUS_ERR_SIZE 256

/* ---- Synthesis: MEIs and control stimuli ---- */

/* The stimulus space. Every synthesized or control stimulus lives in
 *     { x ∈ [0,1]^(H·W) : mean(x) = mean_luminance, std(x) ≤ contrast }
 * where std is the RMS contrast: the standard deviation of the pixel
 * luminances (in the [0,1] display units, not divided by the mean). Without
 * a contrast budget the most exciting input is unbounded contrast, so
 * responses are only comparable between stimuli of equal RMS contrast; the
 * default budget is the median RMS contrast of the natural training images
 * and the mean the model's training pixel mean. */
typedef struct stimulus_budget {
    float mean_luminance;
    float contrast; /* RMS contrast ceiling */
} stimulus_budget;

float stimulus_mean(const float *image, int pixels);
float stimulus_rms_contrast(const float *image, int pixels);
/* Median RMS contrast of `count` images (the default budget). */
float stimulus_median_contrast(const float *images, int count, int pixels);

/* Map an image into the stimulus space, in place: x ← clip(a + s·(x − x̄))
 * with the largest s ≤ 1 whose result has std ≤ budget and the offset a that
 * makes the mean exact. An image already in the space is left untouched.
 * This is the form of the exact optimum of a linear objective over the space
 * (KKT conditions), so ascent followed by this map can reach it. */
void stimulus_constrain(float *image, int pixels, const stimulus_budget *b);
/* Same, but with the contrast brought to exactly the budget first (scaled up
 * or down): how controls are rendered so that all stimuli are compared at
 * equal contrast. A flat image stays flat at the mean. */
void stimulus_render_at_budget(float *image, int pixels, const stimulus_budget *b);

/* Gaussian blur, zero padding outside the image, a kernel of radius ⌈3σ⌉
 * normalized to sum 1; self-adjoint. σ ≤ 0 copies. `scratch` holds H×W. */
void stimulus_blur(const float *in, float *out, float *scratch, int height, int width,
                   float sigma);

/* The Fourier parameterization of an image: x = A p, A = F⁻¹ diag(S) F, with
 * S(f) = 1/max(|f|, 1/max(H,W)) (frequency in cycles per pixel) normalized to
 * mean S² = 1: white p gives x a 1/f amplitude spectrum, the natural images'.
 * A is symmetric (S is real and even), so the parameter gradient is A ∇ₓ and
 * one ascent step in p, re-encoded by p = A⁻¹x after the constraint map, is
 * x ← x + η A² ∇ₓ: what the synthesis does. FFTW plans are made once, at
 * create; execution uses `slots` independent scratch sets so that threads can
 * share one object (FFTW's planner is process-global and not thread-safe;
 * executing plans is). With `wisdom_path` the plans are measured
 * (FFTW_MEASURE), the wisdom read from and saved to that file so later runs
 * reuse it; without, FFTW_ESTIMATE (reproducible on every run). */
typedef struct fourier_param fourier_param;
int fourier_param_create(fourier_param **out, int height, int width, int slots,
                         const char *wisdom_path, char *err);
void fourier_param_destroy(fourier_param *f);
void fourier_param_forward(fourier_param *f, int slot, const float *p, float *x);  /* x = A p */
void fourier_param_backward(fourier_param *f, int slot, const float *gx, float *gp); /* gp = Aᵀ gx */
void fourier_param_inverse(fourier_param *f, int slot, const float *x, float *p);  /* p = A⁻¹ x */
/* out = A² g: the step direction in image space. */
void fourier_param_precondition(fourier_param *f, int slot, const float *g, float *out);

/* What an MEI maximizes, as a function of the predicted rates r (N). */
typedef enum mei_objective {
    MEI_SINGLE = 0,          /* r[neuron] */
    MEI_ONE_HOT_MEAN = 1,    /* r[neuron] − mean of the others (Bashivan et al. 2019) */
    MEI_ONE_HOT_SOFTMAX = 2, /* r[neuron] − T·log Σ_{k≠neuron} exp(r[k]/T): a soft max of the others */
    MEI_GROUP = 3            /* Σ weights[k]·r[k] */
} mei_objective;

typedef struct mei_target {
    mei_objective objective;
    int neuron;            /* the target; for MEI_GROUP an id that seeds the starts */
    const float *weights;  /* MEI_GROUP: N weights (not owned) */
} mei_target;

typedef enum mei_space { MEI_SPACE_PIXEL = 0, MEI_SPACE_FOURIER = 1 } mei_space;

typedef struct mei_progress {
    int step, steps;
    int active;            /* images still improving */
    int images;            /* in the batch (targets × starts) */
    double mean_objective; /* over the batch */
    double seconds;
} mei_progress;

typedef struct mei_options {
    int steps;             /* at most this many (default 1000) */
    int patience;          /* 0: run all steps; else an image stops after this many
                              steps without its objective rising by tolerance·|best| */
    float tolerance;       /* default 1e-3 */
    float step_size;       /* mean absolute pixel change per step (default 0.01) */
    mei_space space;       /* preconditioning: blurred pixel gradients or 1/f Fourier */
    float blur_sigma;      /* pixel space: gradient blur σ in pixels at the first step
                              (default 0: none; see mei_options_default) */
    float blur_sigma_end;  /* ... changing linearly to this at the last step (default:
                              = blur_sigma, no decay) */
    float init_contrast;   /* RMS contrast of the starting noise (default 0.01) */
    int jitter;            /* random circular shift of up to ± this many pixels each
                              step (default 0) */
    int starts;            /* random starts per target; the best is kept (default 1) */
    float temperature;     /* MEI_ONE_HOT_SOFTMAX (default 1) */
    stimulus_budget budget;/* required: see stimulus_budget */
    int threads;           /* model threads and the synthesis' own loops (default 2) */
    uint64_t seed;         /* start (t, s) uses a seed derived from seed, the target's
                              neuron and s: a target's MEI does not depend on which other
                              targets share its batch */
    const char *wisdom_path; /* MEI_SPACE_FOURIER: FFTW wisdom cache (NULL: none) */
    void (*progress)(const mei_progress *p, void *user); /* every 50 steps and the last */
    void *user;
} mei_options;

typedef struct mei_result {
    float response;        /* predicted rate of the target (MEI_GROUP: Σ w·r) */
    float objective;
    float contrast;        /* RMS contrast of the MEI */
    int steps;             /* steps the kept start ran */
    int best_start;
    uint64_t seed;         /* the kept start's seed */
    float start_agreement; /* mean pairwise correlation of the starts' images (1 start: 1) */
} mei_result;

void mei_options_default(mei_options *o);
/* The objective's value at rates r (N) and its gradient ∂J/∂r into w (N):
 * the weights model_input_gradient turns into the image gradient. */
float mei_objective_weights(const mei_target *t, const float *rates, int N, float temperature,
                            float *w);
/* The seed of start `start` of a target with `neuron`. */
uint64_t mei_start_seed(uint64_t seed, int neuron, int start);
/* MEIs for `count` targets, all targets × starts ascended as one batch
 * through the model. `images` receives count × H × W, `results` count. */
int mei_synthesize(model *m, const mei_target *targets, int count, const mei_options *o,
                   float *images, mei_result *results, char *err);

/* Controls. */

/* Best natural images: for each of `n` neurons the index (into `images`) of
 * the image with the highest predicted rate, and with the highest recorded
 * response when `responses` (count × N) is given (else -1). */
int control_best_natural(model *m, const float *images, int count, const float *responses,
                         const int *neurons, int n, int *best_predicted, int *best_recorded,
                         char *err);

typedef struct gabor_params {
    float x, y;          /* centre, pixels (x the column) */
    float orientation;   /* radians, direction of the wave vector */
    float frequency;     /* cycles per pixel */
    float phase;         /* radians */
    float sigma;         /* Gaussian envelope, pixels */
} gabor_params;

/* envelope · cos(2π f u + phase), rendered at the budget. */
void gabor_render(const gabor_params *g, int height, int width, const stimulus_budget *b,
                  float *out);
/* Matched Gabors: for each neuron the Gabor (position, orientation, spatial
 * frequency, phase, size) that maximizes the model's predicted rate, all
 * rendered at the budget: a coarse bank shared by all neurons, then a local
 * random search per neuron. */
int control_matched_gabor(model *m, const int *neurons, int n, const stimulus_budget *b,
                          uint64_t seed, gabor_params *out, float *images, char *err);
/* Receptive-field maps: the gradient of each neuron's rate at the uniform
 * mean-luminance image (its linear receptive field), rendered at the budget
 * (n × H × W). */
int control_rf_map(model *m, const int *neurons, int n, const stimulus_budget *b,
                   float *images, char *err);

/* Ground truth from the simulated population: the stimulus at the budget
 * that maximizes a cell's true drive (a simple cell's own filter mapped into
 * the space, a complex cell's best over 64 phases; for a normalized cell its
 * filter's, which is an approximation), and its true rate. */
int sim_optimal_stimulus(const sim_population *p, int neuron, int height, int width,
                         const stimulus_budget *b, float *image, float *rate, char *err);

/* Output: 8-bit grayscale PNG of luminance in [0,1] (rounded, clipped). */
int png_write_gray(const char *path, const float *image, int height, int width, char *err);

/* A gallery: rows × cols tiles of H×W images (NULL tiles blank), each shown
 * `scale` times larger with a label under it (digits, letters, '.', '-',
 * drawn with a built-in 3×5 font), and a label at the start of each row. */
typedef struct gallery_tile {
    const float *image;
    const char *label;
} gallery_tile;
int gallery_write_png(const char *path, const gallery_tile *tiles, const char *const *row_labels,
                      int rows, int cols, int height, int width, int scale, char *err);

#endif
