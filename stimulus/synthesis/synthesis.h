/* synthesis.h: the synthesis library's one public header: most exciting
 * inputs (MEIs and sounds) through the model, the control stimuli that go
 * with them, ensembles, the simulated population's ground truth, and sound
 * files read as clips. It depends on model/ (and FFTW, libsndfile,
 * libsamplerate), nothing of the presenter.
 *
 * Conventions: images are float32 luminance in [0,1], H×W row-major, a batch
 * stored image after image; functions that can fail return 0 on success and
 * non-zero on failure with a one-line reason in `err` (STIMULUS_ERR_SIZE
 * bytes); nothing here prints. */
#ifndef INCEPTION_SYNTHESIS_H
#define INCEPTION_SYNTHESIS_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"
#include "stimulus_base.h"

/* ---- Sounds from files: reading, clips (sound_files.c; resampled by sound_resample) ---- */

/* A sound file (anything libsndfile reads) as mono (the mean of its
 * channels) at `rate`, into a malloc'd buffer. Errors name the file. */
int sound_file_read(const char *path, int rate, float **samples, int *frames, char *err);

/* A mono clip written with libsndfile: .wav as 32-bit float (the samples
 * exactly), .flac as 24-bit. Samples outside full scale are refused. */
int sound_file_write(const char *path, const float *samples, int frames, int rate, char *err);

typedef struct sound_clip_options {
    int rate, samples; /* the clips' sample rate and length */
    int max_clips;
    double rms_db;     /* the level budget, dBFS (clip_set_rms_db) */
    double ramp_ms;    /* onset and offset ramps (clip_ramp) */
    /* NULL, or max_clips entries: entry i gets the file name (in the folder,
     * malloc'd: the caller frees those of the clips returned) of clip i. */
    char **clip_files;
} sound_clip_options;

/* Clips from a folder's sound files (every regular file not starting with
 * '.', in byte order of names; one libsndfile cannot read is an error naming
 * it): each file made mono and resampled, cut into consecutive clips (a
 * remainder shorter than a clip is not used), each ramped and set to the
 * budget. Clips that cannot be (silent, or peaks that would pass full scale)
 * are counted in *skipped, not returned. At most max_clips, into a malloc'd
 * count × samples buffer; none at all is an error. */
int sound_clips_read(const char *folder, const sound_clip_options *o, float **clips,
                     int *count, int *skipped, char *err);

/* A most exciting sound (sound_mei.c): gradient ascent on the samples of
 * `clip` (the start in, the best clip out, samples as the cochleagram's
 * config) through the cochleagram and the model, for one neuron's predicted
 * rate, at the budget of `o` (clip_ascend). The model must read the
 * cochleagram's bands × frames. *predicted: the rate the model predicts for
 * the returned clip. */
int sound_mei(model *m, cochleagram *cochlea, int neuron, const clip_ascent_options *o,
              float *clip, double *predicted, char *err);
/* The same through an ensemble (models of one image size and neurons, e.g.
 * fitted with different seeds): J is the mean of their predicted rates. */
int sound_mei_ensemble(model *const *models, int count, cochleagram *cochlea, int neuron,
                       const clip_ascent_options *o, float *clip, double *predicted, char *err);
/* sound_mei_ensemble on `count` clips at once (count × samples, clip c
 * ascending neurons[c]; predicted: count values): one cochleagram and model
 * pass per step for the whole batch (clip_ascend_batch), cheaper per clip than
 * one at a time. sound_mei_ensemble is its one-clip case. */
int sound_mei_batch(model *const *models, int count_models, cochleagram *cochlea,
                    const int *neurons, int count, const clip_ascent_options *o, float *clips,
                    double *predicted, char *err);
/* sound_mei_ensemble from each of `count` starts (count × samples) and the
 * result the ensemble predicts highest into clip, its start's index in
 * *chosen. The choice uses the models alone (no true response). */
int sound_mei_from_starts(model *const *models, int count_models, cochleagram *cochlea,
                          int neuron, const clip_ascent_options *o, const float *starts, int count,
                          float *clip, double *predicted, int *chosen, char *err);

/* The pure-tone control (sound_mei.c). Its frequencies: log-spaced from the
 * cochleagram's low to its high edge, SOUND_TONE_STEPS_PER_HALF_BAND steps
 * per half of the narrowest band's triangle (peak to edge) in log frequency,
 * so that every band's peak lies within 1/8 of its half-width of a grid
 * frequency. *hz: malloc'd, *count of them. */
#define SOUND_TONE_STEPS_PER_HALF_BAND 4
int sound_tone_grid(const cochleagram *cochlea, double **hz, int *count, char *err);
/* For each of `n` neurons, the tone on that grid (clip_tone: steady, ramped by
 * `ramp` samples, at rms_db) the ensemble predicts highest (the lowest such
 * frequency on ties): its clip into clips (n × samples), its frequency into
 * hz[i] and the ensemble's predicted rate into predicted[i]. The choice uses
 * the models alone. */
int sound_best_tones(model *const *models, int count_models, cochleagram *cochlea,
                     const int *neurons, int n, double rms_db, int ramp, float *clips,
                     double *hz, double *predicted, char *err);

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
    /* Where the ascent starts: NULL (default) low-contrast noise for every
     * start; else count × H × W images, one per target in the order of the
     * targets, and each target's start 0 begins at its image (the latent z
     * is the image itself; the caller puts it in the space), its further
     * starts at noise as without it. (Not owned.) */
    const float *init_images;
    float temperature;     /* MEI_ONE_HOT_SOFTMAX (default 1) */
    stimulus_budget budget;/* required: see stimulus_budget */
    int threads;           /* model threads and the synthesis' own loops (default 2) */
    uint64_t seed;         /* start (t, s) uses a seed derived from seed, the target's
                              neuron and s: a target's MEI does not depend on which other
                              targets share its batch */
    const char *wisdom_path; /* MEI_SPACE_FOURIER: FFTW wisdom cache (NULL: none) */
    /* An ensemble: ensemble_size further models (not owned; m's image size and
     * neurons) whose rates are averaged with m's. The objective is a function
     * of the mean rates r̄ and ascended through all the models; the kept
     * start, early stopping and mei_result.response use r̄. Default none (0):
     * m alone, exactly as without the field. */
    model *const *ensemble;
    int ensemble_size;
    /* Early stopping where an ensemble disagrees: 0 (default) none; else an
     * image stops ascending at the first step at which its models' objectives
     * spread by more than this share of their mean (standard deviation over
     * the models / |mean|), evaluated at the step's input (jittered, as the
     * models see it), after an earlier step at which they agreed within it
     * (at the starting noise they often do not); the image kept is that
     * step's, not updated further.
     * Past that point the ascent gains in what the models do not agree on.
     * Needs an ensemble, objectives single or group, and no diverse set. */
    float disagreement;
    /* 1: the least exciting input: the objective is minimized (descent on it,
     * the same step, budget and preconditioning; the kept start is the one
     * with the lowest objective). Default 0: maximized, the MEI. */
    int least;
    /* Diverse MEIs (mei_synthesize_diverse): the weight λ of the diversity
     * term, the response traded per unit of the set's mean pairwise
     * correlation, as a share of the set's mean response (default 0.15). */
    float diversity;
    void (*progress)(const mei_progress *p, void *user); /* every 50 steps and the last */
    void *user;
} mei_options;

typedef struct mei_result {
    float response;        /* predicted rate of the target (MEI_GROUP: Σ w·r) */
    float objective;       /* its value (least: the minimized value, not negated) */
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
/* Diverse MEIs: for each target a set of o->starts images ascended together
 * on J = mean_i r_i − λ R̄ · mean_{i<k} corr(x_i, x_k), λ = o->diversity and
 * R̄ the set's mean response at the step (a constant in the gradient, so
 * that λ is a share of the response whatever the neuron's rate). Each image
 * stays in the space. All o->starts images are kept: `images` receives
 * count × starts × H × W, `results` count × starts (start_agreement: the
 * set's mean pairwise correlation). Needs starts ≥ 2, patience 0 and not
 * least. */
int mei_synthesize_diverse(model *m, const mei_target *targets, int count, const mei_options *o,
                           float *images, mei_result *results, char *err);
/* The set's mean pairwise Pearson correlation D = mean_{i<k} corr(x_i, x_k)
 * of n ≥ 2 images, and its gradient with respect to each (n × pixels):
 * ∂D/∂x_i = (2 / (n(n−1))) Σ_{k≠i} (u_k − c_ik u_i) / |x_i − x̄_i|, u the
 * centred, unit-norm images. A flat image has correlation 0 and gradient 0. */
float mei_set_correlation(const float *images, int n, int pixels, float *grad);

/* Region MEIs (synthesis_region.c). A soft disc mask
 * m_p = sigmoid(4 (1 − d_p² / radius²)), d_p the distance of pixel p from
 * (x, y): 1 inside, ½ at the radius. */
typedef struct mei_mask {
    float x, y;      /* centre, pixels (x the column) */
    float radius;    /* where the mask is ½, pixels */
} mei_mask;

typedef struct mei_mask_options {
    int steps;         /* Adam steps on (x, y, log radius) (default 150) */
    float area_weight; /* λ: J = r(masked) / r(MEI) − λ · mean(mask) (default 0.3) */
    float keep;        /* after the ascent the radius grows until the masked MEI
                          keeps this share of the MEI's predicted rate (0.95) */
} mei_mask_options;

typedef struct mei_mask_result {
    mei_mask mask;
    float area;          /* Σ mask, pixels */
    float response;      /* predicted rate of the masked MEI */
    float mei_response;  /* of the MEI */
} mei_mask_result;

void mei_mask_options_default(mei_mask_options *o);
void mei_mask_render(const mei_mask *k, int height, int width, float *mask);
float mei_mask_area(const float *mask, int pixels);
/* out = mean_luminance + mask ⊙ (mei − mean_luminance): gray outside. */
void mei_mask_apply(const float *mei, const float *mask, int pixels, float mean_luminance,
                    float *out);
/* The mask's objective J = r(masked MEI) / reference − λ · mean(mask) and
 * its gradient with respect to (x, y, log radius) (for gradient checks). */
int mei_mask_objective(model *m, int neuron, const float *mei, const stimulus_budget *b,
                       float lambda, float reference, const mei_mask *k, float *value,
                       double grad[3], char *err);
/* A masked MEI: the mask ascended on J from a disc centred on the MEI's
 * contrast energy, then grown until it keeps o->keep of the MEI's rate;
 * `image` (H × W) receives the masked MEI. The mask is the neuron's
 * classical receptive field for mei_surround. */
int mei_mask_fit(model *m, int neuron, const float *mei, const stimulus_budget *b,
                 const mei_mask_options *o, mei_mask_result *out, float *image, char *err);
/* The share of a simulated cell's classical receptive field under a mask:
 * Σ m·e / Σ e, e the energy of its Gaussian envelope exp(−d²/σ²) (both
 * subunits' for conjunction types; a surround cell's centre only). */
float mei_mask_rf_coverage(const sim_cell *c, const float *mask, int height, int width);
/* out = mask ⊙ centre + (1 − mask) ⊙ surround. */
void mei_surround_compose(const float *centre, const float *mask, const float *surround,
                          int pixels, float *out);
/* A surround MEI: the centre fixed to the MEI under `mask`, the surround a
 * full image of the stimulus space (o->budget: contrast at most the budget,
 * or exactly it with o->least) shown through 1 − mask, ascended (descended
 * with o->least) on the neuron's predicted rate for o->steps steps of
 * o->step_size from noise of o->init_contrast (seed from o->seed and the
 * neuron; the gray surround is a candidate of the most exciting one, so it
 * never predicts below the centre alone). `image` receives the composed
 * image, `surround` the surround's
 * full image, `response` the predicted rate. Gray (the budget's mean) as the
 * surround gives the masked MEI: the control. */
int mei_surround(model *m, int neuron, const float *mei, const float *mask,
                 const mei_options *o, float *image, float *surround, float *response,
                 char *err);

/* Population control with a target pattern (synthesis_pattern.c): one image
 * for a group of k neurons (2..PATTERN_MAX_GROUP) whose rates come as close
 * as possible to `target` (k values; relative: any offset and gain). */
#define PATTERN_MAX_GROUP 256
/* `values` (k >= 1) centred on their mean and scaled to unit norm into `out`
 * (which may be `values`): a pattern as the similarity compares it. Returns
 * the centred values' norm: `out` is that direction when it is finite and
 * above 0; at 0 (a flat pattern) `out` holds the centred values unscaled;
 * not finite (a value that is not), `out` is no direction. */
double pattern_centre_normalize(const double *values, int k, double *out);
/* The Pearson correlation across the group between rates[group[i]] and
 * target[i] (NaN for a flat target or k outside 2..PATTERN_MAX_GROUP); with
 * grad (N, its group entries written) its gradient with respect to the rates. */
float pattern_similarity(const float *rates, const int *group, int k, const float *target,
                         float *grad);
/* Projected ascent on the predicted rates' similarity to the target from
 * low-contrast noise (o->init_contrast, seeded by o->seed and group[0]),
 * o->steps steps of o->step_size mean pixel change, in the stimulus space of
 * o->budget; `image` receives the most similar image seen, `similarity` its
 * similarity. One model, run on o->threads threads. */
int mei_pattern(model *m, const int *group, int k, const float *target, const mei_options *o,
                float *image, float *similarity, char *err);
/* Its control: the natural image (of `count`) whose predicted pattern,
 * rendered at the budget, is most similar to the target. */
int control_pattern_natural(model *m, const float *images, int count, const int *group, int k,
                            const float *target, const stimulus_budget *b, int *index,
                            float *similarity, char *err);

/* Ensembles: models of one population (same image size and neurons; in
 * practice the same architecture fitted with different seeds) used as one
 * through their mean predicted rates. A count of 1 is the model alone, to
 * the bit. */

/* 0 when every model has models[0]'s image size and neurons; else the first
 * that does not, by index. */
int ensemble_check(model *const *models, int count, char *err);
/* rates (batch × N) = (1/count) Σ_k model_predict(models[k], images). */
int ensemble_predict(model *const *models, int count, const float *images, int batch,
                     float *rates, char *err);
/* The mean of the models' model_predict_translated (batch × n_shifts × n;
 * −∞ where any model's read position leaves its map). */
int ensemble_predict_translated(model *const *models, int count, const float *images,
                                int batch, const int *neurons, int n, const int *shifts,
                                int n_shifts, float *rates, char *err);
/* grad (batch × H × W) = the image gradient of Σ_b weights_b · r̄_b: the
 * mean of the models' model_input_gradient. */
int ensemble_input_gradient(model *const *models, int count, const float *images, int batch,
                            const float *weights, float *grad, char *err);

/* Controls. Each has an _ensemble form that ranks by the ensemble's mean
 * prediction (so that an ensemble's MEIs meet equally chosen controls); the
 * plain form is the _ensemble form with the one model. */

/* Best natural images: for each of `n` neurons the index (into `images`) of
 * the image with the highest predicted rate, and with the highest recorded
 * response when `responses` (count × N) is given (else -1). With a budget
 * `b` the prediction is of each image rendered at the budget, as the control
 * is shown: the best natural image at the MEI's contrast, the comparison
 * Walker et al. made (an image chosen at its own contrast and then rescaled
 * is often a weak control). NULL ranks the images as they are. The recorded
 * choice is of the responses as recorded (the images at their own
 * contrast: nothing was recorded at the budget). No images, or a neuron
 * without a finite response to any, is an error: on success every index
 * asked for is valid. */
int control_best_natural(model *m, const float *images, int count, const float *responses,
                         const int *neurons, int n, const stimulus_budget *b,
                         int *best_predicted, int *best_recorded, char *err);
int control_best_natural_ensemble(model *const *models, int n_models, const float *images,
                                  int count, const float *responses, const int *neurons, int n,
                                  const stimulus_budget *b, int *best_predicted,
                                  int *best_recorded, char *err);

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
/* Least natural images: for each of `n` neurons the index of the image
 * whose predicted rate is lowest once rendered at the budget (every image
 * brought to the budget's mean and contrast first, as it is shown): the
 * natural control of a least exciting input. */
int control_least_natural_ensemble(model *const *models, int n_models, const float *images,
                                   int count, const int *neurons, int n,
                                   const stimulus_budget *b, int *least, char *err);

/* Matched Gabors: for each neuron the Gabor (position, orientation, spatial
 * frequency, phase, size) that maximizes the model's predicted rate, all
 * rendered at the budget: a coarse bank shared by all neurons, then a local
 * random search per neuron. With a Gaussian readout the bank is screened by
 * translation (one position's Gabors through the core, the others read by
 * moving the readout) and each neuron's 32 best predicted as shown; other
 * models predict the whole bank. */
int control_matched_gabor(model *m, const int *neurons, int n, const stimulus_budget *b,
                          uint64_t seed, gabor_params *out, float *images, char *err);
int control_matched_gabor_ensemble(model *const *models, int n_models, const int *neurons,
                                   int n, const stimulus_budget *b, uint64_t seed,
                                   gabor_params *out, float *images, char *err);
/* Least exciting Gabors: the same search for each neuron's lowest predicted
 * rate (a least exciting input restricted to one Gabor at the budget). */
int control_least_gabor_ensemble(model *const *models, int n_models, const int *neurons, int n,
                                 const stimulus_budget *b, uint64_t seed, gabor_params *out,
                                 float *images, char *err);
/* Receptive-field maps: the gradient of each neuron's rate at the uniform
 * mean-luminance image (its linear receptive field), rendered at the budget
 * (n × H × W). */
int control_rf_map(model *m, const int *neurons, int n, const stimulus_budget *b,
                   float *images, char *err);
/* The ensemble's: the mean of the models' gradients, rendered at the budget. */
int control_rf_map_ensemble(model *const *models, int n_models, const int *neurons, int n,
                            const stimulus_budget *b, float *images, char *err);

/* Ground truth from the simulated population: the stimulus at the budget
 * that maximizes a cell's true drive (a simple cell's own filter mapped into
 * the space, a complex cell's best over 64 phases, a conjunction cell's sum
 * of its two subunits, an energy-conjunction cell's best sum of its two
 * subunits' Gabors over 8 × 8 phases; for a normalized cell its filter's,
 * which is an approximation; for the zoo's families sim_search_optimum's),
 * and its true rate. Exact up to the budget's clipping to
 * the display range. */
int sim_optimal_stimulus(const sim_population *p, int neuron, int height, int width,
                         const stimulus_budget *b, float *image, float *rate, char *err);
/* The zoo's families (end-stopped, surround, curvature, texture) have no
 * closed-form optimum: sim_optimal_stimulus finds theirs with this search,
 * projected gradient ascent on the true cell's analytic gradient at the
 * budget from 8 starts (the cell's preferred pattern, mixtures of it with
 * white noise, noise alone), 300 steps each, the best image kept: a lower
 * bound on the optimum (stimulus/synthesis/truth_optimum.c). */
int sim_search_optimum(const sim_population *p, int neuron, int height, int width,
                       const stimulus_budget *b, float *image, float *rate, char *err);

/* The ground truth of MEIs and controls: the simulated cells' expected
 * responses, all stimuli at one budget. Shared by `inception mei
 * --ground-truth` and the inception loop's evaluation. Use: create for the
 * targets, add the natural training images (any number of calls), score each
 * stimulus shown, finish (optima, best controls), then read rows and
 * summaries. */
/* The stimuli scored, indexed by their kinds (stimulus_base.h): the MEI, its
 * controls (STIMULUS_KIND_MEI..RF), the least exciting input and the natural
 * image the model predicts lowest (STIMULUS_KIND_LEAST, _LEAST_NATURAL). */
enum { TRUTH_KINDS = STIMULUS_KIND_LEAST_NATURAL + 1 };

typedef struct truth_row {
    int neuron;
    int type;                 /* sim_cell_type */
    float shown[TRUTH_KINDS]; /* expected rate to each stimulus scored (NaN: none) */
    float natural;            /* to the truly best natural training image, at the budget */
    float natural_raw;        /* the same, each image at its own contrast */
    float natural_least;      /* to the truly least exciting natural training image, at
                                 the budget (NaN: no naturals added) */
    float gray;               /* to the uniform image at the budget's mean (the floor of
                                 a cell without a baseline: its drive is 0 there and never
                                 below; a baseline cell's spontaneous rate) */
    float baseline;           /* the cell's baseline rate (sim_cell.baseline; 0: none) */
    float optimum;            /* to the cell's optimum (sim_optimal_stimulus; exact for
                                 simple, complex and both conjunction types without a
                                 baseline, a lower bound otherwise) */
    float best_control;       /* the best of the Gabor, RF, shown and true best natural */
} truth_row;

/* Over the rows of some cell types: medians of MEI / each denominator (over
 * the rows where both are finite) and how many rows the MEI beats it in. */
typedef struct truth_summary {
    int count, with_gabor, with_rf;
    float over_natural, over_natural_raw, over_optimum, over_gabor, over_rf, over_best_control;
    int beats_natural, beats_gabor, beats_rf, beats_best_control;
    /* Against the best-natural control shown (shown[STIMULUS_KIND_BEST_NATURAL],
     * the model's choice), over the `with_shown_natural` rows that have it. */
    float over_shown_natural;
    int beats_shown_natural, with_shown_natural;
    /* Least exciting inputs (rows with shown[STIMULUS_KIND_LEAST]). Of the
     * rows of cells without a baseline: `suppressible` rows whose least
     * natural image drives the cell above its gray rate (by more than 1% of
     * the gray rate), of which `least_below_natural` the least exciting
     * input drives less than that image; of the others (the least natural
     * image already at the floor) `least_at_floor` within 1% of the gray
     * rate. Of the `with_baseline` rows of cells with a baseline (issue 16's
     * criterion): `baseline_below_natural` whose least exciting input drives
     * less than the least natural image, and the medians of least / least
     * natural and least / gray over them. Median least / least natural over
     * all rows. */
    int with_least, suppressible, least_below_natural, least_at_floor;
    float least_over_natural;
    int with_baseline, baseline_below_natural;
    float baseline_least_over_natural, baseline_least_over_gray;
} truth_summary;

/* Bit masks of cell types for stimulus_truth_summarize. */
#define TRUTH_ALL_TYPES (~0u)
#define TRUTH_TYPE(t) (1u << (t))
/* The types whose optimum is a single Gabor (the matched Gabor's ceiling). */
#define TRUTH_GABOR_TYPES (TRUTH_TYPE(SIM_SIMPLE) | TRUTH_TYPE(SIM_COMPLEX))

typedef struct stimulus_truth stimulus_truth;
int stimulus_truth_create(stimulus_truth **out, const sim_config *c, const int *neurons,
                          int count, const stimulus_budget *b, char *err);
void stimulus_truth_destroy(stimulus_truth *t);
const sim_population *stimulus_truth_population(const stimulus_truth *t);
int stimulus_truth_count(const stimulus_truth *t);
/* Natural training images (count × H × W), as recorded: each target's best
 * at the budget and at their own contrast. */
void stimulus_truth_add_naturals(stimulus_truth *t, const float *images, int count);
/* Target j's expected rate to `image`; kept as shown[kind] when kind is a
 * STIMULUS_KIND_* below TRUTH_KINDS (pass -1 to only compute it). */
float stimulus_truth_score(stimulus_truth *t, int j, int kind, const float *image);
int stimulus_truth_finish(stimulus_truth *t, char *err);
const truth_row *stimulus_truth_row(const stimulus_truth *t, int j);
int stimulus_truth_summarize(const stimulus_truth *t, unsigned types, truth_summary *out);
/* What a surround could do for a simulated cell around a centre (issue 16's
 * headroom, which surround MEIs and searches are judged against): the
 * surround ascended on the cell's own analytic gradient through 1 − mask,
 * `steps` steps of 0.01 mean pixel change, held to at most the budget
 * (stimulus_constrain), from low-contrast noise (`seed`) and, where `start`
 * is given (H × W, a surround), from it too. Returns the highest true rate
 * of the composed image seen, at least the centre alone's (gray around it);
 * NaN when out of memory. */
float stimulus_true_best_surround(const sim_population *p, int neuron, int height, int width,
                                  const float *mei, const float *mask, const float *start,
                                  const stimulus_budget *b, int steps, uint64_t seed);

/* ---- A model-free search on recorded responses (search.c) ----
 * A genetic algorithm over sums of localized Gabor primitives, every image
 * at the budget; why this space and algorithm: search.c's header. Ask for a
 * generation's images, show them, tell one fitness per image (e.g. a mean
 * spike count: noisy is expected); deterministic from the seed. */
#define SEARCH_MAX_POPULATION 1024
#define SEARCH_MAX_PRIMITIVES 32

typedef struct search_config {
    int height, width;
    stimulus_budget budget; /* required: mean in (0,1), contrast in (0,0.5) */
    int population;         /* images per generation (default 40) */
    int elites;             /* the best kept and shown again, 1..population−1 (4) */
    int primitives;         /* Gabors summed per image (4) */
    float mutation_rate;    /* each gene's chance of a mutation (0.25) */
    float mutation_sd;      /* its size, a share of the gene's range (0.1) */
    float crossover;        /* a child's chance of mixing two parents' primitives (0.5) */
    int trials_per_fitness; /* spike counts averaged in each fitness told (1): the
                               hand-over's Poisson noise estimate (search_best) */
    int contrast_gene;      /* 1: the budget's contrast is at most, not exactly: each
                               image carries one more gene, its contrast as a share of
                               the budget's (0.02..1) (0: every image at the budget) */
    uint64_t seed;
} search_config;

typedef struct search_result {
    float fitness;   /* the mean of its evaluations (NaN: none yet) */
    int evaluations; /* how many generations showed it */
    int generation;  /* generations told so far */
    int index;       /* its place in the last generation told (that search_ask's order, as
                        its fitness was told), -1 before any tell */
} search_result;

typedef struct search search;
void search_config_default(search_config *c); /* everything but size and budget */
/* A bad config is refused with the reason. */
int search_create(search **out, const search_config *c, char *err);
void search_destroy(search *s);
int search_population(const search *s);
int search_generation(const search *s); /* generations told */
/* Images the display range held below the budget's contrast (0 in practice:
 * such an image's envelopes are widened until it reaches it). */
int search_shortfalls(const search *s);
/* The generation's images (population × H × W), each at the budget's mean
 * and contrast (its gene's share of it with contrast_gene); the elites
 * (shown before) come first. */
void search_ask(search *s, float *images);
/* One fitness per image asked, in order; a non-finite one is refused by
 * index, as is a tell without an ask, and nothing changes. Then the next
 * generation is bred. */
int search_tell(search *s, const float *fitness, char *err);
/* The best image so far (H × W; NULL: none wanted) and its fitness: the
 * elite with the highest lower confidence bound on its mean, the mean less
 * one Poisson standard error (fitness read as mean spike counts), and
 * which image of the last generation told it is (result->index). */
void search_best(const search *s, float *image, search_result *result);

/* ---- A model-free surround search (surround_es.c) ----
 * An evolution strategy on a ring code around a centre's mask: each
 * generation asks for 2 × pairs surrounds (the mean coefficients ± σ along
 * random directions, each held to at most the budget), told one count per
 * surround it steps the mean along the estimated gradient (down for least);
 * the hand-over is the mean's surround. Why this space and strategy:
 * surround_es.c's header. Deterministic from the seed. */
typedef struct surround_es_config {
    int height, width;
    stimulus_budget budget;           /* at most its contrast */
    float centre_x, centre_y, radius; /* the mask's (mei_mask), pixels */
    int harmonics;  /* angular harmonics m = 0..harmonics (3) */
    int radial;     /* radial frequencies across the annulus (1) */
    float inner, outer; /* the annulus, in mask radii (0.6, 1.8) */
    int pairs;      /* antithetic pairs per generation (20) */
    float sigma;    /* the directions' size, in coefficients (1) */
    float step;     /* the step per unit of relative count difference (2) */
    int least;      /* 1: down the estimated gradient */
    uint64_t seed;
} surround_es_config;

typedef struct surround_es surround_es;
void surround_es_config_default(surround_es_config *c); /* all but size, budget, mask */
int surround_es_create(surround_es **out, const surround_es_config *c, char *err);
void surround_es_destroy(surround_es *e);
int surround_es_population(const surround_es *e);   /* surrounds per generation */
int surround_es_coefficients(const surround_es *e); /* the code's size */
/* The generation's surrounds (population × H × W): pair i's + at 2i, − at 2i + 1. */
void surround_es_ask(surround_es *e, float *images);
/* One count (>= 0, e.g. a mean spike count) per surround asked, in order;
 * a negative or non-finite one, or a tell without an ask, is refused and
 * nothing changes. */
int surround_es_tell(surround_es *e, const float *counts, char *err);
/* The hand-over: the mean coefficients' surround (H × W). */
void surround_es_mean(const surround_es *e, float *image);

#endif
