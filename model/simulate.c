/* simulate.c: a simulated V1 population standing in for an animal, the
 * natural-like images shown to it, and whole simulated recordings.
 *
 * Every cell looks through zero-mean, unit-norm Gabor filters
 *     g(x, y) = envelope · (cos(2π f u + φ) − dc) / norm,
 *     envelope = exp(−((x − cx)² + (y − cy)²) / 2σ²),
 *     u = (x − cx) cos θ + (y − cy) sin θ,
 * (x the column, y the row, θ the direction of the carrier's wave vector, dc
 * the envelope-weighted mean of the carrier so that g sums to zero). Because
 * the filters sum to zero, a filter's response to an image equals its
 * response to the contrast image (pixels minus any constant).
 *
 * Drives, with L the response of the cell's own filter (phase φ) and E the
 * energy of its quadrature pair (phases φ and φ + π/2):
 *   simple      [L]₊                   (half-wave rectified)
 *   complex     √E                     (the energy model's amplitude)
 *   normalized  [L]₊ / √(s² + Σ_k E_k)  over quadrature pairs at θ + kπ/4,
 *               k = 0..3 (Carandini & Heeger's divisive normalization; the
 *               pool holds every orientation, the cell's own too, so the
 *               response saturates with contrast and an orthogonal mask
 *               suppresses it)
 *   conjunction √([L]₊ [L₂]₊)          L₂ the response of a second subunit,
 *               a Gabor of the same σ and f at orientation θ ± (π/3..π/2),
 *               centred σ..2σ away (an AND of two oriented parts: a
 *               corner, a cross or a curve, the kind of selectivity of V2
 *               and of many mouse V1 MEIs that no single Gabor captures;
 *               Ito & Komatsu 2004, Walker et al. 2019)
 *   energy-conjunction (E E₂)^¼       E₂ the energy of the second subunit's
 *               quadrature pair: the geometric mean of two complex-cell
 *               amplitudes. Phase-invariant like most mouse V1 cells, and
 *               quadratic near gray, so its linear receptive field (the
 *               gradient at gray, or a spike-triggered average) is flat
 * and rate = offset + gain · drive. All drives grow monotonically with L or
 * E, so at fixed RMS contrast a simple cell's optimal stimulus is its own
 * filter and a complex cell's is its Gabor at any phase (Cauchy–Schwarz on
 * the unit-norm, nearly orthogonal pair). A conjunction cell's is the sum of
 * its two filters g + g₂: for any x of norm c, L L₂ ≤ ((L + L₂)/2)² =
 * ((g + g₂)·x / 2)² ≤ c² |g + g₂|² / 4, with equality at x ∝ g + g₂; a single
 * Gabor matched to one subunit leaves the other near zero (the filters are
 * nearly orthogonal), so it drives the cell far less. An energy-conjunction
 * cell's is u + u₂, u a unit vector of its own pair's span and u₂ of the
 * second's: with a = √E and a₂ = √E₂ (the norms of x's projections onto the
 * two spans, taken as orthogonal), √(a a₂) ≤ √((a + a₂)/2) and
 * a + a₂ ≤ √2 · √(a² + a₂²) ≤ √2 c, with equality when both projections have
 * norm c/√2 and x lies in the spans. The spans are only nearly orthogonal, so
 * the phases of u and u₂ matter slightly: the optimum is searched over them
 * (stimulus/synthesis/controls.c).
 *
 * The zoo's families (end-stopped, surround, curvature, texture; drives,
 * sources and the tuning/held-out rule in docs/ground-truth.md) have no
 * closed-form optimum: sim_population_gradient gives the true rate's analytic
 * gradient for every type, and stimulus/synthesis/truth_optimum.c searches with it.
 *
 * Deep cells (the zoo's fifth family, held out) are units of one small random
 * convolutional network shared by the population: a first layer of
 * DEEP_CHANNELS smooth random 7×7 kernels, rectified, read at a DEEP_GRID ×
 * DEEP_GRID grid of positions DEEP_STRIDE px apart around the cell's centre
 * by one of DEEP_UNITS random second-layer channels, rectified:
 *   deep        [Σ_j w_uj [k_j · x]₊]₊
 * j over (channel, position), k_j the channel's kernel placed there (one
 * filter row each), w_u the unit's second-layer weights.
 *
 * Baseline rates (sim_config.baseline_rate and baseline_share; any type):
 * many V1 cells fire spontaneously, and stimuli they do not prefer push them
 * below that maintained discharge, which needs inhibition that subtracts
 * before the output rectifier (suppressive subunits of V1 cells, Rust,
 * Schwartz, Movshon & Simoncelli 2005; cross-orientation inhibition,
 * Morrone, Burr & Maffei 1982; inhibition below the maintained discharge in
 * simple cells, Bishop, Coombs & Henry 1973). A cell with a baseline b has
 * one more quadrature pair, at its centre with its σ and f at orientation
 * θ + π/2, of amplitude s = √(E⊥ + ε) − √ε (0 at gray), and
 *   rate = softplus_b(gain · (drive − drive at gray) − w · s),
 *   softplus_b(x) = k ln(1 + exp((x + x₀)/k)), k = b/4, x₀ so that
 *   softplus_b(0) = b:
 * a smooth [b + x]₊ (rates stay > 0), b at gray. The gain is calibrated as
 * without a baseline, and w so that natural images suppress the rate by
 * BASELINE_SUPPRESSION · b on average: strong orthogonal contrast in the
 * centre silences the cell, a natural image does so only in part. */
#include "model.h"

#include <cblas.h>
#include <fftw3.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Power laws of the drives. Steeper ones make the rare strong responses to
 * natural images unrealistically large (over 200 spikes per window). */
#define SIMPLE_EXPONENT 1.0
#define COMPLEX_EXPONENT 0.5 /* applied to the energy: the pair's amplitude */
#define POOL_ORIENTATIONS 4
#define FILTERS_SIMPLE 1
#define FILTERS_COMPLEX 2
#define FILTERS_NORMALIZED (2 * POOL_ORIENTATIONS)
#define FILTERS_CONJUNCTION 2
#define FILTERS_ENERGY_CONJUNCTION 4
/* The zoo (docs/ground-truth.md). End-stopped: the centre, then a quadrature
 * pair at each end of its bars, END_DISTANCE σ along them, suppressing with
 * weight END_WEIGHT. */
#define END_DISTANCE 2.0
#define END_WEIGHT 0.6
/* Applied to the rectified difference: end-stopped cells are sparse on
 * natural images (their long contours reach the end zones), and a linear
 * drive calibrated to a natural mean rate put the rare strong responses at
 * hundreds of spikes per window. */
#define END_EXPONENT 0.5
#define FILTERS_END_STOPPED 5
/* Surround: the centre pair, then pairs at the preferred and the orthogonal
 * orientation at SURROUND_POSITIONS points of a ring SURROUND_RADIUS σ out. */
#define SURROUND_POSITIONS 6
#define SURROUND_RADIUS 2.5
#define FILTERS_SURROUND (2 + 2 * 2 * SURROUND_POSITIONS)
#define FILTERS_CURVATURE 3
/* Texture: quadrature pairs of the fine carrier at TEXTURE_POSITIONS points
 * on a line. */
#define TEXTURE_POSITIONS 6
#define FILTERS_TEXTURE (2 * TEXTURE_POSITIONS)
/* Deep cells: the random network's sizes (top of the file). */
#define DEEP_KERNEL 7
#define DEEP_CHANNELS 4
#define DEEP_GRID 4
#define DEEP_STRIDE 3
#define DEEP_UNITS 8
#define FILTERS_DEEP (DEEP_CHANNELS * DEEP_GRID * DEEP_GRID)
/* The second layer's weights are N(DEEP_WEIGHT_MEAN, 1): mostly excitatory,
 * so that a unit is driven by natural images (zero-mean weights left many
 * units silent on all of them), with inhibition from a third of its
 * inputs. */
#define DEEP_WEIGHT_MEAN 0.4
/* A baseline cell's suppressive pair (top of the file), after its own rows. */
#define FILTERS_SUPPRESSIVE 2
/* The rectifier's knee k, a share of the baseline: with a quarter the rate
 * is within 0.02 b of [b + x]₊ wherever b + x is more than 0.65 b from 0, and
 * at most k ln 2 ≈ 0.17 b above it at the corner. */
#define BASELINE_SOFTNESS 0.25
/* The suppression a natural image brings on average, a share of the
 * baseline: small enough that natural images rarely silence a cell (the
 * least exciting of 1,800 photograph patches at a natural budget leaves
 * about half the baseline, docs/ground-truth-results.md), while contrast
 * concentrated at the orthogonal orientation in the centre does
 * (test_simulate). */
#define BASELINE_SUPPRESSION 0.15
/* The most filter rows one cell has: sim_population_gradient's buffers. */
#define MAX_CELL_FILTERS (FILTERS_DEEP + FILTERS_SUPPRESSIVE)
/* Added to an energy under a square root, so the drive is differentiable
 * at a blank subunit; far below any energy a stimulus of natural contrast
 * gives (unit-norm filters, pixel deviations of ~0.2 over tens of pixels). */
#define ENERGY_EPSILON 1e-6
_Static_assert(MAX_CELL_FILTERS >= FILTERS_SURROUND + FILTERS_SUPPRESSIVE &&
                   MAX_CELL_FILTERS >= FILTERS_NORMALIZED + FILTERS_SUPPRESSIVE &&
                   MAX_CELL_FILTERS >= FILTERS_TEXTURE + FILTERS_SUPPRESSIVE &&
                   MAX_CELL_FILTERS >= FILTERS_END_STOPPED + FILTERS_SUPPRESSIVE,
               "sim_population_gradient sizes its buffers by MAX_CELL_FILTERS");
/* Mean rates (spikes per window) drawn log-uniformly in this range. */
#define TARGET_RATE_MIN 0.5
#define TARGET_RATE_MAX 8.0
#define OFFSET_MIN 0.05
#define OFFSET_MAX 0.3
/* Pixels × images used to calibrate gains at creation (bounds memory). */
#define CALIBRATION_PIXELS 2000000
#define CALIBRATION_MAX_IMAGES 500
#define CALIBRATION_MIN_IMAGES 32
/* Images per sgemm in sim_population_rates: bounds the scratch buffer. */
#define RATE_CHUNK 512

struct sim_population {
    sim_config cfg;
    int n_filters;
    sim_cell *cells;
    int *first_filter;   /* cells: index of the cell's first filter row */
    float *semi_sat;     /* cells: s² of normalized cells (0 for others) */
    float *gray_drive;   /* cells: the drive at gray (baseline cells subtract it) */
    float *filters;      /* n_filters × H·W, row-major */
    float *deep_kernels; /* DEEP_CHANNELS × DEEP_KERNEL²: the random network's first layer */
    float *deep_weights; /* DEEP_UNITS × FILTERS_DEEP: its second layer */
};

/* ------------------------------------------------------------------------ */
/* Seeds: independent streams derived from one seed (model_rng_stream). */

static double uniform_in(model_rng *rng, double lo, double hi)
{
    return lo + (hi - lo) * model_rng_uniform(rng);
}

/* ------------------------------------------------------------------------ */
/* Synthetic natural-like images. */

/* The 1/f amplitude of each coefficient of a height × (width/2+1) half
 * spectrum, zero at DC. */
static void pink_amplitudes(float *amplitude, int height, int width)
{
    int half = width / 2 + 1;
    double floor_f = 1.0 / (height > width ? height : width);
    for (int ky = 0; ky < height; ky++) {
        double fy = (ky <= height / 2 ? ky : ky - height) / (double)height;
        for (int kx = 0; kx < half; kx++) {
            double fx = kx / (double)width;
            double f = sqrt(fx * fx + fy * fy);
            amplitude[ky * half + kx] =
                (kx == 0 && ky == 0) ? 0.0f : (float)(1.0 / fmax(f, floor_f));
        }
    }
}

/* A Gaussian random field with a 1/f amplitude spectrum (power ∝ 1/f²). */
static void pink_field(float *field, fftwf_complex *spectrum, const float *amplitude,
                       fftwf_plan plan, int coefficients, model_rng *rng)
{
    float *re_im = (float *)spectrum; /* fftwf_complex is float[2] or float _Complex */
    for (int k = 0; k < coefficients; k++) {
        /* A complex Gaussian: Rayleigh modulus, uniform phase (Box–Muller
         * keeping both halves). */
        double u = 1.0 - model_rng_uniform(rng), phase = 2.0 * M_PI * model_rng_uniform(rng);
        double modulus = amplitude[k] * sqrt(-2.0 * log(u));
        re_im[2 * k] = (float)(modulus * cos(phase));
        re_im[2 * k + 1] = (float)(modulus * sin(phase));
    }
    fftwf_execute_dft_c2r(plan, spectrum, field);
}

static void mean_std(const float *x, int n, double *mean, double *std)
{
    double s = 0.0, ss = 0.0;
    for (int i = 0; i < n; i++)
        s += x[i];
    double m = s / n;
    for (int i = 0; i < n; i++)
        ss += (x[i] - m) * (x[i] - m);
    *mean = m;
    *std = sqrt(ss / n);
}

/* Occluders: discs and rectangles painted over the field, each of constant
 * luminance or carrying a shifted copy of the field as texture. Their sharp
 * edges are what a Gaussian field lacks; edges keep the 1/f² spectrum. */
static void paint_occluders(float *img, int height, int width, model_rng *rng)
{
    double mean, std;
    mean_std(img, height * width, &mean, &std);
    int small = height < width ? height : width;
    int shapes = 1 + (int)(model_rng_uniform(rng) * 4.0);
    for (int s = 0; s < shapes; s++) {
        int disc = model_rng_uniform(rng) < 0.5;
        double cx = uniform_in(rng, 0.0, width), cy = uniform_in(rng, 0.0, height);
        double rx = uniform_in(rng, 0.1, 0.35) * small, ry = rx;
        if (!disc)
            ry = uniform_in(rng, 0.1, 0.35) * small;
        double level = mean + 1.5 * std * model_rng_normal(rng);
        int textured = model_rng_uniform(rng) < 0.5;
        int dx = (int)(model_rng_uniform(rng) * width), dy = (int)(model_rng_uniform(rng) * height);
        for (int y = 0; y < height; y++) {
            for (int x = 0; x < width; x++) {
                double ox = (x - cx) / rx, oy = (y - cy) / ry;
                int inside = disc ? ox * ox + oy * oy <= 1.0 : fabs(ox) <= 1.0 && fabs(oy) <= 1.0;
                if (!inside)
                    continue;
                double texture = 0.0;
                if (textured)
                    texture = 0.6 * (img[((y + dy) % height) * width + (x + dx) % width] - mean);
                img[y * width + x] = (float)(level + texture);
            }
        }
    }
}

/* Mean 0.5, RMS contrast drawn in 0.15..0.25, clipped to [0,1]. */
static void set_contrast(float *img, int n, model_rng *rng)
{
    double mean, std;
    mean_std(img, n, &mean, &std);
    double contrast = uniform_in(rng, 0.15, 0.25);
    double scale = std > 0.0 ? contrast / std : 0.0;
    for (int i = 0; i < n; i++) {
        double v = 0.5 + (img[i] - mean) * scale;
        img[i] = (float)(v < 0.0 ? 0.0 : v > 1.0 ? 1.0 : v);
    }
}

/* Image i depends only on (seed, i), not on how many are made. FFTW's
 * planner is not thread-safe: call this from one thread at a time. */
void sim_natural_images(float *out, int count, int height, int width, uint64_t seed)
{
    if (count < 1 || height < 1 || width < 1)
        return;
    int pixels = height * width;
    size_t half = (size_t)height * (size_t)(width / 2 + 1);
    fftwf_complex *spectrum = fftwf_malloc(half * sizeof(fftwf_complex));
    float *field = fftwf_malloc((size_t)pixels * sizeof(float));
    float *amplitude = malloc(half * sizeof(float));
    fftwf_plan plan = NULL;
    if (spectrum && field && amplitude) {
        pink_amplitudes(amplitude, height, width);
        plan = fftwf_plan_dft_c2r_2d(height, width, spectrum, field, FFTW_ESTIMATE);
    }
    for (int i = 0; i < count; i++) {
        float *img = out + (size_t)i * pixels;
        if (!plan) { /* out of memory: mean gray rather than garbage */
            for (int p = 0; p < pixels; p++)
                img[p] = 0.5f;
            continue;
        }
        model_rng rng;
        model_rng_seed(&rng, model_rng_stream(seed, (uint64_t)i));
        pink_field(field, spectrum, amplitude, plan, (int)half, &rng);
        memcpy(img, field, (size_t)pixels * sizeof(float));
        paint_occluders(img, height, width, &rng);
        set_contrast(img, pixels, &rng);
    }
    if (plan)
        fftwf_destroy_plan(plan);
    fftwf_free(spectrum);
    fftwf_free(field);
    free(amplitude);
}

/* White noise at the natural images' contrast: stimuli of another kind. */
static void white_noise_images(float *out, int count, int height, int width, uint64_t seed)
{
    int pixels = height * width;
    for (int i = 0; i < count; i++) {
        model_rng rng;
        model_rng_seed(&rng, model_rng_stream(seed, (uint64_t)i));
        float *img = out + (size_t)i * pixels;
        for (int p = 0; p < pixels; p++)
            img[p] = (float)model_rng_normal(&rng);
        set_contrast(img, pixels, &rng);
    }
}

/* ------------------------------------------------------------------------ */
/* Configuration. */

void sim_config_default(sim_config *c)
{
    memset(c, 0, sizeof *c);
    c->neurons = 200;
    c->height = 36;
    c->width = 64;
    /* The three V1 types of the model issue; conjunction cells are asked for
     * (the demo protocol does): the model fits them less well. */
    c->fraction_simple = 0.4f;
    c->fraction_complex = 0.4f;
    c->fraction_conjunction = 0.0f;
    c->fraction_energy_conjunction = 0.0f;
    c->seed = 1;
}

static int validate_config(const sim_config *c, char *err)
{
    if (c->neurons < 1 || c->neurons > 100000) {
        return model_fail(err, "sim_config.neurons %d outside 1..100000", c->neurons);
    }
    if (c->height < 4 || c->width < 4 || c->height > 1024 || c->width > 1024) {
        return model_fail(err, "sim_config image size %d×%d outside 4..1024", c->height, c->width);
    }
    float fs = c->fraction_simple, fc = c->fraction_complex, fj = c->fraction_conjunction;
    float fe = c->fraction_energy_conjunction;
    float zoo = c->fraction_end_stopped + c->fraction_surround + c->fraction_curvature +
                c->fraction_texture + c->fraction_deep;
    int zoo_ok = c->fraction_end_stopped >= 0.0f && c->fraction_surround >= 0.0f &&
                 c->fraction_curvature >= 0.0f && c->fraction_texture >= 0.0f &&
                 c->fraction_deep >= 0.0f;
    if (!(fs >= 0.0f && fc >= 0.0f && fj >= 0.0f && fe >= 0.0f && zoo_ok &&
          fs + fc + fj + fe + zoo <= 1.0f + 1e-6f)) {
        return model_fail(err, "sim_config fractions simple %g, complex %g, conjunction %g, "
                          "energy-conjunction %g, end-stopped %g, surround %g, curvature %g, "
                          "texture %g and deep %g must be >= 0 and sum to <= 1",
                          (double)fs, (double)fc, (double)fj, (double)fe,
                          (double)c->fraction_end_stopped, (double)c->fraction_surround,
                          (double)c->fraction_curvature, (double)c->fraction_texture,
                          (double)c->fraction_deep);
    }
    if (!(c->baseline_rate >= 0.0f && c->baseline_rate <= SIM_BASELINE_RATE_MAX &&
          c->baseline_share >= 0.0f && c->baseline_share <= 1.0f)) {
        return model_fail(err, "sim_config baseline rate %g outside 0..%g or share %g outside 0..1",
                          (double)c->baseline_rate, (double)SIM_BASELINE_RATE_MAX,
                          (double)c->baseline_share);
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Cells and their filters. */

static int filters_of(sim_cell_type t)
{
    switch (t) {
    case SIM_SIMPLE:
        return FILTERS_SIMPLE;
    case SIM_COMPLEX:
        return FILTERS_COMPLEX;
    case SIM_CONJUNCTION:
        return FILTERS_CONJUNCTION;
    case SIM_ENERGY_CONJUNCTION:
        return FILTERS_ENERGY_CONJUNCTION;
    case SIM_END_STOPPED:
        return FILTERS_END_STOPPED;
    case SIM_SURROUND:
        return FILTERS_SURROUND;
    case SIM_CURVATURE:
        return FILTERS_CURVATURE;
    case SIM_TEXTURE:
        return FILTERS_TEXTURE;
    case SIM_DEEP:
        return FILTERS_DEEP;
    case SIM_NORMALIZED:
        break;
    }
    return FILTERS_NORMALIZED;
}

/* A cell's filter rows: its type's, then a baseline cell's suppressive pair. */
static int cell_filters(const sim_cell *c)
{
    return filters_of(c->type) + (c->baseline > 0.0f ? FILTERS_SUPPRESSIVE : 0);
}

/* How many of n cells a fraction makes, at most `room`. */
static int share_of(float fraction, int n, int room)
{
    int k = (int)lround(fraction * n);
    return k > room ? room : k;
}

/* Types in a shuffled order so that a neuron's index says nothing of it.
 * The types are laid out in this order before the shuffle (normalized cells
 * last), so a population without the zoo's families is the one a seed made
 * before they existed. */
static void assign_types(sim_cell *cells, const sim_config *c, model_rng *rng)
{
    static const sim_cell_type order[] = {SIM_SIMPLE,      SIM_COMPLEX,  SIM_CONJUNCTION,
                                          SIM_ENERGY_CONJUNCTION, SIM_END_STOPPED,
                                          SIM_SURROUND,    SIM_CURVATURE, SIM_TEXTURE,
                                          SIM_DEEP};
    int n = c->neurons, i = 0;
    sim_config copy = *c;
    double total = 0.0;
    sim_cell_type last = SIM_NORMALIZED;
    for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
        float fraction = *sim_config_fraction(&copy, order[k]);
        int share = share_of(fraction, n, n - i);
        for (int j = 0; j < share; j++)
            cells[i++].type = order[k];
        total += fraction;
        if (fraction > 0.0f)
            last = order[k];
    }
    /* Shares that add to 1 ask for no normalized cell: what rounding leaves
     * goes to the last type asked for. */
    sim_cell_type rest = total >= 1.0 - 1e-4 ? last : SIM_NORMALIZED;
    for (; i < n; i++)
        cells[i].type = rest;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(model_rng_uniform(rng) * (i + 1));
        sim_cell_type t = cells[i].type;
        cells[i].type = cells[j].type;
        cells[j].type = t;
    }
}

/* Tuning: frequency 0.06..0.2 cycles/px (log-uniform), envelope 2..5 px with
 * about 0.35..0.7 cycles per σ (V1 bandwidths of 1–2 octaves), the envelope
 * kept inside the image (σ shrinks for small images). */
static void draw_tuning(sim_cell *cell, int height, int width, model_rng *rng)
{
    double f = 0.06 * pow(0.2 / 0.06, model_rng_uniform(rng));
    double lo = fmin(5.0, fmax(2.0, 0.35 / f)), hi = fmax(lo, fmin(5.0, 0.7 / f));
    double sigma = uniform_in(rng, lo, hi);
    double sigma_max = (height < width ? height : width) / 5.0;
    if (sigma > sigma_max)
        sigma = sigma_max;
    double mx = fmin(2.0 * sigma, (width - 1) / 2.0), my = fmin(2.0 * sigma, (height - 1) / 2.0);
    cell->x = (float)uniform_in(rng, mx, width - 1 - mx);
    cell->y = (float)uniform_in(rng, my, height - 1 - my);
    cell->sigma = (float)sigma;
    cell->frequency = (float)f;
    cell->orientation = (float)uniform_in(rng, 0.0, M_PI);
    cell->phase = (float)uniform_in(rng, -M_PI, M_PI);
    cell->offset = (float)uniform_in(rng, OFFSET_MIN, OFFSET_MAX);
}

static double clamp(double v, double lo, double hi) { return v < lo ? lo : v > hi ? hi : v; }

/* A conjunction cell's second subunit: orientation θ ± π/3..π/2, centre
 * σ..2σ away in any direction (kept inside the image like the first; for an
 * energy-conjunction cell at least σ away where the image allows), its
 * own phase. Drawn for (energy-)conjunction cells only, so a population
 * without them is the one a seed made before they existed. */
static void draw_second_subunit(sim_cell *cell, int height, int width, model_rng *rng)
{
    double sigma = cell->sigma;
    double turn = uniform_in(rng, M_PI / 3, M_PI / 2) * (model_rng_uniform(rng) < 0.5 ? -1 : 1);
    double distance = uniform_in(rng, 1.0, 2.0) * sigma, direction = uniform_in(rng, 0.0, 2 * M_PI);
    double mx = fmin(2.0 * sigma, (width - 1) / 2.0), my = fmin(2.0 * sigma, (height - 1) / 2.0);
    cell->x2 = (float)clamp(cell->x + distance * cos(direction), mx, width - 1 - mx);
    cell->y2 = (float)clamp(cell->y + distance * sin(direction), my, height - 1 - my);
    /* Energy subunits that overlap are nearly one complex cell: where the
     * image's edge pulls the second closer than σ, put it on the other side
     * (conjunction cells keep the placement their seeds made before). */
    if (cell->type == SIM_ENERGY_CONJUNCTION &&
        hypot(cell->x2 - cell->x, cell->y2 - cell->y) < sigma) {
        cell->x2 = (float)clamp(cell->x - distance * cos(direction), mx, width - 1 - mx);
        cell->y2 = (float)clamp(cell->y - distance * sin(direction), my, height - 1 - my);
    }
    cell->orientation2 = (float)(cell->orientation + turn);
    cell->phase2 = (float)uniform_in(rng, -M_PI, M_PI);
}

/* A curvature cell's arc (Pasupathy & Connor 2001): the circle through the
 * cell's centre whose radius points along the carrier's wave vector, R = 2..3.5
 * σ, the centre on either side; the subunits sit 1.5..2.2 σ apart along it
 * (orientation2 holds the angle between them seen from the arc's centre). */
static void draw_arc(sim_cell *cell, model_rng *rng)
{
    double sigma = cell->sigma;
    double radius = uniform_in(rng, 2.0, 3.5) * sigma;
    double spacing = uniform_in(rng, 1.5, 2.2) * sigma;
    double side = model_rng_uniform(rng) < 0.5 ? 1.0 : -1.0;
    cell->x2 = (float)(cell->x - side * radius * cos(cell->orientation));
    cell->y2 = (float)(cell->y - side * radius * sin(cell->orientation));
    cell->orientation2 = (float)(spacing / radius);
}

/* A texture cell's fine carrier: any orientation (orientation2) and the phase
 * of its coarse profile (phase2). */
static void draw_texture(sim_cell *cell, model_rng *rng)
{
    cell->orientation2 = (float)uniform_in(rng, 0.0, M_PI);
    cell->phase2 = (float)uniform_in(rng, -M_PI, M_PI);
}

/* A texture cell's carrier: 2.5 times the cell's frequency (at most 0.33
 * cycles/px), an envelope of 0.45 cycles per σ₁ (1.2..2.5 px), positions
 * 1.2 σ₁ apart on the line through the centre along the wave vector θ, kept
 * 1 px inside the image. */
static double texture_frequency(const sim_cell *c) { return fmin(2.5 * c->frequency, 0.33); }
static double texture_sigma(const sim_cell *c)
{
    double s = 0.45 / texture_frequency(c);
    return s < 1.2 ? 1.2 : s > 2.5 ? 2.5 : s;
}
static double texture_offset(const sim_cell *c, int k)
{
    return (k - (TEXTURE_POSITIONS - 1) / 2.0) * 1.2 * texture_sigma(c);
}
/* The coarse profile's weight of position k: one cycle of a cosine across
 * the line, so part of it excites and part suppresses. */
static double texture_weight(const sim_cell *c, int k)
{
    double span = TEXTURE_POSITIONS * 1.2 * texture_sigma(c);
    return cos(2.0 * M_PI * texture_offset(c, k) / span + c->phase2);
}

/* A deep cell's second-layer channel. */
static void draw_deep(sim_cell *cell, model_rng *rng)
{
    cell->unit = (int)(model_rng_uniform(rng) * DEEP_UNITS) % DEEP_UNITS;
}

/* The random network (top of the file), from its own stream of the seed, so
 * that a population without deep cells draws nothing more than before. Each
 * first-layer kernel is white noise smoothed by a [1 2 1] binomial in each
 * direction (passing the low spatial frequencies the other families' tuning
 * covers), under a Gaussian window of σ 2 px, zero-mean and unit-norm. */
static int make_deep_network(sim_population *p)
{
    int K = DEEP_KERNEL, KK = K * K;
    p->deep_kernels = malloc((size_t)DEEP_CHANNELS * KK * sizeof(float));
    p->deep_weights = malloc((size_t)DEEP_UNITS * FILTERS_DEEP * sizeof(float));
    if (!p->deep_kernels || !p->deep_weights)
        return 1;
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(p->cfg.seed, 4));
    for (int c = 0; c < DEEP_CHANNELS; c++) {
        double noise[(DEEP_KERNEL + 2) * (DEEP_KERNEL + 2)], rows[(DEEP_KERNEL + 2) * DEEP_KERNEL];
        int N = K + 2;
        for (int i = 0; i < N * N; i++)
            noise[i] = model_rng_normal(&rng);
        for (int y = 0; y < N; y++) /* smooth along x: N rows × K columns */
            for (int x = 0; x < K; x++)
                rows[y * K + x] = noise[y * N + x] + 2 * noise[y * N + x + 1] + noise[y * N + x + 2];
        float *k = p->deep_kernels + (size_t)c * KK;
        double mean = 0.0, ss = 0.0, mid = (K - 1) / 2.0;
        for (int y = 0; y < K; y++) /* then along y, under the window */
            for (int x = 0; x < K; x++) {
                double r2 = (x - mid) * (x - mid) + (y - mid) * (y - mid);
                double v = rows[y * K + x] + 2 * rows[(y + 1) * K + x] + rows[(y + 2) * K + x];
                k[y * K + x] = (float)(v * exp(-r2 / (2.0 * 2.0 * 2.0)));
                mean += k[y * K + x] / KK;
            }
        for (int i = 0; i < KK; i++) {
            k[i] -= (float)mean;
            ss += (double)k[i] * k[i];
        }
        for (int i = 0; i < KK; i++)
            k[i] = (float)(k[i] / sqrt(ss));
    }
    for (int i = 0; i < DEEP_UNITS * FILTERS_DEEP; i++)
        p->deep_weights[i] = (float)(DEEP_WEIGHT_MEAN + model_rng_normal(&rng));
    return 0;
}

/* A deep cell's filter rows: row c·G² + gy·G + gx is first-layer kernel c
 * centred at grid point (gx, gy) around the cell's centre, cut to the image
 * and made zero-sum over what remains (so, like every filter here, it does
 * not see the mean luminance). */
static void make_deep_filters(float *out, const sim_population *p, const sim_cell *cell,
                              int height, int width)
{
    int K = DEEP_KERNEL, G = DEEP_GRID, pixels = height * width;
    int x0 = (int)lround(cell->x - (G - 1) * DEEP_STRIDE / 2.0) - K / 2;
    int y0 = (int)lround(cell->y - (G - 1) * DEEP_STRIDE / 2.0) - K / 2;
    for (int c = 0; c < DEEP_CHANNELS; c++)
        for (int gy = 0; gy < G; gy++)
            for (int gx = 0; gx < G; gx++) {
                float *row = out + (size_t)((c * G + gy) * G + gx) * pixels;
                const float *k = p->deep_kernels + (size_t)c * K * K;
                memset(row, 0, (size_t)pixels * sizeof(float));
                double sum = 0.0;
                int inside = 0;
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int y = y0 + gy * DEEP_STRIDE + ky, x = x0 + gx * DEEP_STRIDE + kx;
                        if (y < 0 || y >= height || x < 0 || x >= width)
                            continue;
                        row[y * width + x] = k[ky * K + kx];
                        sum += k[ky * K + kx];
                        inside++;
                    }
                for (int ky = 0; ky < K && inside; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        int y = y0 + gy * DEEP_STRIDE + ky, x = x0 + gx * DEEP_STRIDE + kx;
                        if (y >= 0 && y < height && x >= 0 && x < width)
                            row[y * width + x] -= (float)(sum / inside);
                    }
            }
}

/* One of the cell's Gabor filters (see the top of the file) centred at
 * (cx, cy) with its σ and f. */
static void make_gabor_at(float *out, const sim_cell *cell, double cx, double cy,
                          double orientation, double phase, int height, int width)
{
    gabor_zero_mean(out, height, width, cx, cy, cell->sigma, cell->frequency, orientation,
                    phase);
}

static void make_gabor(float *out, const sim_cell *cell, double orientation, double phase,
                       int height, int width)
{
    make_gabor_at(out, cell, cell->x, cell->y, orientation, phase, height, width);
}

/* A cell's filters: its own (phase φ), then the quadrature partner, then for
 * normalized cells the pairs at the other pool orientations; for conjunction
 * cells its own, then the second subunit's; for energy-conjunction cells its
 * own pair, then the second subunit's pair (phases φ₂, φ₂ + π/2). */
static void make_zoo_filters(float *out, const sim_cell *cell, int height, int width)
{
    int pixels = height * width;
    double ct = cos(cell->orientation), st = sin(cell->orientation), sigma = cell->sigma;
    switch (cell->type) {
    case SIM_END_STOPPED:
        make_gabor(out, cell, cell->orientation, cell->phase, height, width);
        for (int e = 0; e < 2; e++) {
            /* the bars run perpendicular to the wave vector (cos θ, sin θ) */
            double d = (e ? -1 : 1) * END_DISTANCE * sigma;
            for (int q = 0; q < 2; q++)
                make_gabor_at(out + (size_t)(1 + 2 * e + q) * pixels, cell, cell->x - d * st,
                              cell->y + d * ct, cell->orientation, cell->phase + q * M_PI / 2,
                              height, width);
        }
        return;
    case SIM_SURROUND:
        make_gabor(out, cell, cell->orientation, cell->phase, height, width);
        make_gabor(out + pixels, cell, cell->orientation, cell->phase + M_PI / 2, height, width);
        for (int k = 0; k < SURROUND_POSITIONS; k++) {
            double a = 2.0 * M_PI * k / SURROUND_POSITIONS, r = SURROUND_RADIUS * sigma;
            for (int o = 0; o < 2; o++)
                for (int q = 0; q < 2; q++)
                    make_gabor_at(out + (size_t)(2 + 4 * k + 2 * o + q) * pixels, cell,
                                  cell->x + r * cos(a), cell->y + r * sin(a),
                                  cell->orientation + o * M_PI / 2, cell->phase + q * M_PI / 2,
                                  height, width);
        }
        return;
    case SIM_CURVATURE: {
        double radius = hypot(cell->x - cell->x2, cell->y - cell->y2);
        double psi = atan2(cell->y - cell->y2, cell->x - cell->x2);
        for (int k = 0; k < 3; k++) {
            double a = psi + (k - 1) * cell->orientation2;
            make_gabor_at(out + (size_t)k * pixels, cell, cell->x2 + radius * cos(a),
                          cell->y2 + radius * sin(a), a, cell->phase, height, width);
        }
        return;
    }
    case SIM_TEXTURE:
        for (int k = 0; k < TEXTURE_POSITIONS; k++) {
            double u = texture_offset(cell, k);
            double cx = clamp(cell->x + u * ct, 1.0, width - 2.0);
            double cy = clamp(cell->y + u * st, 1.0, height - 2.0);
            for (int q = 0; q < 2; q++)
                gabor_zero_mean(out + (size_t)(2 * k + q) * pixels, height, width, cx, cy,
                                texture_sigma(cell), texture_frequency(cell), cell->orientation2,
                                q * M_PI / 2);
        }
        return;
    default:
        return;
    }
}

static void make_cell_filters(float *out, const sim_cell *cell, int height, int width)
{
    int pixels = height * width;
    if (cell->type >= SIM_END_STOPPED) {
        make_zoo_filters(out, cell, height, width);
        return;
    }
    if (cell->type == SIM_ENERGY_CONJUNCTION) {
        make_gabor(out, cell, cell->orientation, cell->phase, height, width);
        make_gabor(out + pixels, cell, cell->orientation, cell->phase + M_PI / 2, height, width);
        for (int k = 0; k < 2; k++)
            make_gabor_at(out + (size_t)(2 + k) * pixels, cell, cell->x2, cell->y2,
                          cell->orientation2, cell->phase2 + k * M_PI / 2, height, width);
        return;
    }
    if (cell->type == SIM_CONJUNCTION) {
        make_gabor(out, cell, cell->orientation, cell->phase, height, width);
        make_gabor_at(out + pixels, cell, cell->x2, cell->y2, cell->orientation2, cell->phase2,
                      height, width);
        return;
    }
    int pairs = cell->type == SIM_NORMALIZED ? POOL_ORIENTATIONS : 1;
    for (int k = 0; k < pairs; k++) {
        double theta = cell->orientation + k * M_PI / POOL_ORIENTATIONS;
        make_gabor(out + (size_t)(2 * k) * pixels, cell, theta, cell->phase, height, width);
        if (cell->type != SIM_SIMPLE)
            make_gabor(out + (size_t)(2 * k + 1) * pixels, cell, theta, cell->phase + M_PI / 2,
                       height, width);
    }
}

/* A baseline cell's suppressive pair (top of the file): at its centre, its σ
 * and f, orientation θ + π/2, phases φ and φ + π/2. */
static void make_suppressive_filters(float *out, const sim_cell *cell, int height, int width)
{
    double orthogonal = cell->orientation + M_PI / 2;
    make_gabor(out, cell, orthogonal, cell->phase, height, width);
    make_gabor(out + (size_t)height * width, cell, orthogonal, cell->phase + M_PI / 2, height,
               width);
}

/* Which cells have a baseline: each with probability baseline_share, drawn
 * from the seed's own stream (5), so that everything else about the
 * population is drawn as without baselines. */
static void assign_baselines(sim_cell *cells, const sim_config *c)
{
    if (!(c->baseline_rate > 0.0f && c->baseline_share > 0.0f))
        return;
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(c->seed, 5));
    for (int i = 0; i < c->neurons; i++)
        if (model_rng_uniform(&rng) < c->baseline_share)
            cells[i].baseline = c->baseline_rate;
}

/* ------------------------------------------------------------------------ */
/* Responses. */

static double pool_energy(const float *r, int first, int count)
{
    double e = 0.0;
    for (int j = 0; j < count; j++)
        e += (double)r[first + j] * r[first + j];
    return e;
}

/* √(E + ε) of the quadrature pair r[0], r[1], and its partials into d[0..1]
 * (scaled by `weight`), when d is given. */
static double pair_amplitude(const float *r, double weight, double *d)
{
    double a = sqrt((double)r[0] * r[0] + (double)r[1] * r[1] + ENERGY_EPSILON);
    if (d) {
        d[0] += weight * r[0] / a;
        d[1] += weight * r[1] / a;
    }
    return a;
}

/* The zoo's drives (top of the file) from the cell's filter responses r,
 * with their partials ∂drive/∂r into d (zeroed, one per filter) when given. */
static double zoo_drive(const sim_population *p, int n, const float *r, double *d)
{
    const sim_cell *c = &p->cells[n];
    switch (c->type) {
    case SIM_END_STOPPED: {
        double ends[4] = {0};
        double v = r[0] - END_WEIGHT * (pair_amplitude(r + 1, -END_WEIGHT, ends) +
                                        pair_amplitude(r + 3, -END_WEIGHT, ends + 2));
        if (v <= 0.0)
            return 0.0;
        double out = pow(v, END_EXPONENT), slope = END_EXPONENT * out / v;
        if (d) {
            d[0] = slope;
            for (int j = 0; j < 4; j++)
                d[1 + j] = slope * ends[j];
        }
        return out;
    }
    case SIM_SURROUND: {
        double pool = p->semi_sat[n] + pool_energy(r, 0, FILTERS_SURROUND);
        double a = sqrt((double)r[0] * r[0] + (double)r[1] * r[1] + ENERGY_EPSILON);
        double v = a / sqrt(pool);
        if (d) {
            /* ∂/∂r_j of a·pool^(-1/2): the centre's own term, then the pool's */
            for (int j = 0; j < FILTERS_SURROUND; j++)
                d[j] = -v * r[j] / pool;
            for (int j = 0; j < 2; j++)
                d[j] += r[j] / (a * sqrt(pool));
        }
        return v;
    }
    case SIM_CURVATURE: {
        if (r[0] <= 0.0f || r[1] <= 0.0f || r[2] <= 0.0f)
            return 0.0;
        double v = cbrt((double)r[0] * r[1] * r[2]);
        for (int k = 0; d && k < 3; k++)
            d[k] = v / (3.0 * r[k]);
        return v;
    }
    case SIM_DEEP: {
        const float *w = p->deep_weights + (size_t)c->unit * FILTERS_DEEP;
        double v = 0.0;
        for (int j = 0; j < FILTERS_DEEP; j++)
            if (r[j] > 0.0f)
                v += (double)w[j] * r[j];
        if (v <= 0.0)
            return 0.0;
        for (int j = 0; d && j < FILTERS_DEEP; j++)
            d[j] = r[j] > 0.0f ? w[j] : 0.0;
        return v;
    }
    case SIM_TEXTURE: {
        double v = 0.0, parts[FILTERS_TEXTURE] = {0};
        for (int k = 0; k < TEXTURE_POSITIONS; k++) {
            double w = texture_weight(c, k);
            v += w * pair_amplitude(r + 2 * k, w, parts + 2 * k);
        }
        if (v <= 0.0)
            return 0.0;
        if (d)
            memcpy(d, parts, sizeof parts);
        return v;
    }
    default:
        return 0.0;
    }
}

/* A cell's drive from its own filter responses r (r[0] its first filter's),
 * and ∂drive/∂r into d (one per filter, zeroed by the caller) when given. */
static double drive_of(const sim_population *p, int n, const float *r, double *d)
{
    double l = r[0];
    switch (p->cells[n].type) {
    case SIM_SIMPLE:
        if (l <= 0.0)
            return 0.0;
        if (d)
            d[0] = SIMPLE_EXPONENT * pow(l, SIMPLE_EXPONENT - 1.0);
        return pow(l, SIMPLE_EXPONENT);
    case SIM_COMPLEX: {
        double e = l * l + (double)r[1] * r[1];
        if (d && e > 0.0)
            for (int j = 0; j < 2; j++)
                d[j] = COMPLEX_EXPONENT * pow(e, COMPLEX_EXPONENT - 1.0) * 2.0 * r[j];
        return pow(e, COMPLEX_EXPONENT);
    }
    case SIM_NORMALIZED: {
        if (l <= 0.0)
            return 0.0;
        double pool = p->semi_sat[n] + pool_energy(r, 0, FILTERS_NORMALIZED);
        double v = l / sqrt(pool);
        if (d) {
            for (int j = 0; j < FILTERS_NORMALIZED; j++)
                d[j] = -v * r[j] / pool;
            d[0] += 1.0 / sqrt(pool);
        }
        return v;
    }
    case SIM_CONJUNCTION: {
        double l2 = r[1];
        if (!(l > 0.0 && l2 > 0.0))
            return 0.0;
        double v = sqrt(l * l2);
        if (d) {
            d[0] = 0.5 * v / l;
            d[1] = 0.5 * v / l2;
        }
        return v;
    }
    case SIM_ENERGY_CONJUNCTION: {
        double e = l * l + (double)r[1] * r[1];
        double e2 = (double)r[2] * r[2] + (double)r[3] * r[3];
        double v = pow(e * e2, 0.25);
        if (d && e > 0.0 && e2 > 0.0)
            for (int j = 0; j < 4; j++)
                d[j] = 0.5 * v * r[j] / (j < 2 ? e : e2);
        return v;
    }
    default:
        return zoo_drive(p, n, r, d);
    }
}

/* A cell's drive from one image's filter responses `r` (all filters). */
static double cell_drive(const sim_population *p, int n, const float *r)
{
    return drive_of(p, n, r + p->first_filter[n], NULL);
}

/* s = √(E⊥ + ε) − √ε of a baseline cell's suppressive pair q[0], q[1]: 0 at
 * gray, differentiable there. */
static double suppressive_amplitude(const float *q)
{
    return sqrt((double)q[0] * q[0] + (double)q[1] * q[1] + ENERGY_EPSILON) - sqrt(ENERGY_EPSILON);
}

/* softplus_b(x) of the top of the file, and its slope into *slope. */
static double baseline_rectifier(double b, double x, double *slope)
{
    double k = BASELINE_SOFTNESS * b, knee = k * log(expm1(1.0 / BASELINE_SOFTNESS));
    double z = (x + knee) / k;
    *slope = 1.0 / (1.0 + exp(-z));
    return k * (z > 0.0 ? z + log1p(exp(-z)) : log1p(exp(z)));
}

/* A cell's expected count from its own filter responses r (its rows, the
 * suppressive pair last), and ∂rate/∂r into d (one per row, zeroed by the
 * caller) when given. Without a baseline: offset + gain · drive. */
static double rate_of(const sim_population *p, int n, const float *r, double *d)
{
    const sim_cell *c = &p->cells[n];
    double drive = drive_of(p, n, r, d);
    int own = filters_of(c->type);
    if (!(c->baseline > 0.0f)) {
        for (int j = 0; d && j < own; j++)
            d[j] *= c->gain;
        return c->offset + c->gain * drive;
    }
    const float *q = r + own;
    double s = suppressive_amplitude(q);
    double slope, x = c->gain * (drive - p->gray_drive[n]) - c->suppression * s;
    double rate = baseline_rectifier(c->baseline, x, &slope);
    for (int j = 0; d && j < own; j++)
        d[j] *= slope * c->gain;
    /* ∂s/∂q_j = q_j / √(E⊥ + ε) */
    for (int j = 0; d && j < FILTERS_SUPPRESSIVE; j++)
        d[own + j] = -slope * c->suppression * q[j] / (s + sqrt(ENERGY_EPSILON));
    return rate;
}

/* All filter responses for a batch: one sgemm, responses = images · filtersᵀ. */
static void filter_responses(const sim_population *p, const float *images, int batch,
                             float *responses)
{
    int pixels = p->cfg.height * p->cfg.width;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, batch, p->n_filters, pixels, 1.0f,
                images, pixels, p->filters, pixels, 0.0f, responses, p->n_filters);
}

/* Rates stay NaN if the scratch buffer cannot be had (no error channel). */
void sim_population_rates(const sim_population *p, const float *images, int batch, float *rates)
{
    int n = p->cfg.neurons, pixels = p->cfg.height * p->cfg.width;
    int chunk = batch < RATE_CHUNK ? batch : RATE_CHUNK;
    if (batch < 1)
        return;
    float *responses = malloc((size_t)chunk * p->n_filters * sizeof(float));
    if (!responses) {
        for (size_t i = 0; i < (size_t)batch * n; i++)
            rates[i] = NAN;
        return;
    }
    for (int b0 = 0; b0 < batch; b0 += chunk) {
        int nb = batch - b0 < chunk ? batch - b0 : chunk;
        filter_responses(p, images + (size_t)b0 * pixels, nb, responses);
        for (int b = 0; b < nb; b++) {
            const float *r = responses + (size_t)b * p->n_filters;
            float *out = rates + (size_t)(b0 + b) * n;
            for (int i = 0; i < n; i++)
                out[i] = (float)rate_of(p, i, r + p->first_filter[i], NULL);
        }
    }
    free(responses);
}

void sim_population_sample(const sim_population *p, const float *images, int batch,
                           model_rng *rng, float *counts)
{
    int n = p->cfg.neurons;
    sim_population_rates(p, images, batch, counts);
    for (size_t i = 0; i < (size_t)batch * n; i++)
        counts[i] = (float)model_rng_poisson(rng, counts[i]);
}

/* ------------------------------------------------------------------------ */
/* Creation: draw the cells, build the filter bank, calibrate. */

/* Baseline cells (top of the file): the drive at gray (all filter responses
 * 0), and the suppression's weight from the suppressive pair's mean amplitude
 * over the calibration images' responses. */
static void calibrate_baselines(sim_population *p, const float *responses, int count)
{
    float zeros[MAX_CELL_FILTERS] = {0};
    for (int i = 0; i < p->cfg.neurons; i++) {
        sim_cell *c = &p->cells[i];
        if (!(c->baseline > 0.0f))
            continue;
        p->gray_drive[i] = (float)drive_of(p, i, zeros, NULL);
        int row = p->first_filter[i] + filters_of(c->type);
        double mean = 0.0;
        for (int b = 0; b < count; b++)
            mean += suppressive_amplitude(responses + (size_t)b * p->n_filters + row) / count;
        c->offset = 0.0f; /* the baseline takes its place */
        c->suppression = mean > 1e-12 ? (float)(BASELINE_SUPPRESSION * c->baseline / mean) : 0.0f;
    }
}

/* Normalized and surround cells' semi-saturation s² is the mean pool energy over natural
 * images, so that typical images sit mid-way up the contrast response. Then
 * each gain is set so the cell's mean rate over natural images equals a
 * target drawn log-uniformly in TARGET_RATE_MIN..TARGET_RATE_MAX. */
static int calibrate(sim_population *p, model_rng *rng, char *err)
{
    int n = p->cfg.neurons, pixels = p->cfg.height * p->cfg.width;
    int count = CALIBRATION_PIXELS / pixels;
    count = count > CALIBRATION_MAX_IMAGES ? CALIBRATION_MAX_IMAGES
            : count < CALIBRATION_MIN_IMAGES ? CALIBRATION_MIN_IMAGES : count;
    float *images = malloc((size_t)count * pixels * sizeof(float));
    float *responses = malloc((size_t)count * p->n_filters * sizeof(float));
    double *mean_drive = calloc((size_t)n, sizeof(double));
    if (!images || !responses || !mean_drive) {
        free(images);
        free(responses);
        free(mean_drive);
        return model_fail(err, "simulate.c: out of memory calibrating %d cells", n);
    }
    sim_natural_images(images, count, p->cfg.height, p->cfg.width, model_rng_stream(p->cfg.seed, 1));
    filter_responses(p, images, count, responses);
    for (int i = 0; i < n; i++) {
        sim_cell_type type = p->cells[i].type;
        if (type != SIM_NORMALIZED && type != SIM_SURROUND)
            continue;
        double e = 0.0;
        for (int b = 0; b < count; b++)
            e += pool_energy(responses + (size_t)b * p->n_filters, p->first_filter[i],
                             filters_of(type));
        p->semi_sat[i] = (float)(e / count + 1e-12);
    }
    for (int b = 0; b < count; b++)
        for (int i = 0; i < n; i++)
            mean_drive[i] += cell_drive(p, i, responses + (size_t)b * p->n_filters) / count;
    for (int i = 0; i < n; i++) {
        sim_cell *c = &p->cells[i];
        double target = TARGET_RATE_MIN * pow(TARGET_RATE_MAX / TARGET_RATE_MIN,
                                              model_rng_uniform(rng));
        /* A cell that nothing drives keeps a constant rate. */
        c->gain = mean_drive[i] > 1e-12 ? (float)((target - c->offset) / mean_drive[i]) : 0.0f;
        if (c->gain == 0.0f)
            c->offset = (float)target;
    }
    calibrate_baselines(p, responses, count);
    free(images);
    free(responses);
    free(mean_drive);
    return 0;
}

int sim_population_create(sim_population **out, const sim_config *c, char *err)
{
    *out = NULL;
    if (validate_config(c, err))
        return 1;
    sim_population *p = calloc(1, sizeof *p);
    if (!p) {
        return model_fail(err, "simulate.c: out of memory");
    }
    p->cfg = *c;
    int n = c->neurons, pixels = c->height * c->width;
    p->cells = calloc((size_t)n, sizeof *p->cells);
    p->first_filter = calloc((size_t)n, sizeof *p->first_filter);
    p->semi_sat = calloc((size_t)n, sizeof *p->semi_sat);
    p->gray_drive = calloc((size_t)n, sizeof *p->gray_drive);
    model_rng rng;
    model_rng_seed(&rng, c->seed);
    if (p->cells && p->first_filter && p->semi_sat && p->gray_drive) {
        assign_types(p->cells, c, &rng);
        assign_baselines(p->cells, c);
        for (int i = 0; i < n; i++) {
            draw_tuning(&p->cells[i], c->height, c->width, &rng);
            if (p->cells[i].type == SIM_CONJUNCTION ||
                p->cells[i].type == SIM_ENERGY_CONJUNCTION)
                draw_second_subunit(&p->cells[i], c->height, c->width, &rng);
            else if (p->cells[i].type == SIM_CURVATURE)
                draw_arc(&p->cells[i], &rng);
            else if (p->cells[i].type == SIM_TEXTURE)
                draw_texture(&p->cells[i], &rng);
            else if (p->cells[i].type == SIM_DEEP)
                draw_deep(&p->cells[i], &rng);
            p->first_filter[i] = p->n_filters;
            p->n_filters += cell_filters(&p->cells[i]);
        }
        p->filters = malloc((size_t)p->n_filters * pixels * sizeof(float));
    }
    int deep = 0;
    for (int i = 0; p->cells && i < n; i++)
        deep |= p->cells[i].type == SIM_DEEP;
    if (!p->filters || (deep && make_deep_network(p))) {
        model_fail(err, "simulate.c: out of memory for %d cells of %d×%d", n, c->height, c->width);
        sim_population_destroy(p);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        float *rows = p->filters + (size_t)p->first_filter[i] * pixels;
        if (p->cells[i].type == SIM_DEEP)
            make_deep_filters(rows, p, &p->cells[i], c->height, c->width);
        else
            make_cell_filters(rows, &p->cells[i], c->height, c->width);
        if (p->cells[i].baseline > 0.0f)
            make_suppressive_filters(rows + (size_t)filters_of(p->cells[i].type) * pixels,
                                     &p->cells[i], c->height, c->width);
    }
    if (calibrate(p, &rng, err)) {
        sim_population_destroy(p);
        return 1;
    }
    *out = p;
    return 0;
}

void sim_population_destroy(sim_population *p)
{
    if (!p)
        return;
    free(p->cells);
    free(p->first_filter);
    free(p->semi_sat);
    free(p->gray_drive);
    free(p->filters);
    free(p->deep_kernels);
    free(p->deep_weights);
    free(p);
}

int sim_population_neurons(const sim_population *p) { return p->cfg.neurons; }

static const char *const type_names[SIM_CELL_TYPES] = {
    "simple",      "complex",  "normalized", "conjunction", "energy-conjunction",
    "end-stopped", "surround", "curvature",  "texture", "deep"};

const char *sim_cell_type_name(int type)
{
    return type >= 0 && type < SIM_CELL_TYPES ? type_names[type] : "?";
}

int sim_cell_type_of_name(const char *name)
{
    for (int t = 0; t < SIM_CELL_TYPES; t++)
        if (!strcmp(name, type_names[t]))
            return t;
    return -1;
}

float *sim_config_fraction(sim_config *c, int type)
{
    switch (type) {
    case SIM_SIMPLE:
        return &c->fraction_simple;
    case SIM_COMPLEX:
        return &c->fraction_complex;
    case SIM_CONJUNCTION:
        return &c->fraction_conjunction;
    case SIM_ENERGY_CONJUNCTION:
        return &c->fraction_energy_conjunction;
    case SIM_END_STOPPED:
        return &c->fraction_end_stopped;
    case SIM_SURROUND:
        return &c->fraction_surround;
    case SIM_CURVATURE:
        return &c->fraction_curvature;
    case SIM_TEXTURE:
        return &c->fraction_texture;
    case SIM_DEEP:
        return &c->fraction_deep;
    }
    return NULL; /* normalized cells are the rest */
}

/* Fixed before any setting was tuned (docs/ground-truth.md): the two zoo
 * families least like the cells the loop was designed on, one of each kind
 * of mechanism the zoo adds (normalization by local contrast; a second-order
 * filter-rectify-filter cascade); and deep cells, held out from the moment
 * they were added, before anything was measured on them. */
int sim_family_held_out(int type)
{
    return type == SIM_SURROUND || type == SIM_TEXTURE || type == SIM_DEEP;
}

float sim_population_gradient(const sim_population *p, int neuron, const float *image,
                              float *gradient)
{
    int pixels = p->cfg.height * p->cfg.width, count = cell_filters(&p->cells[neuron]);
    const float *filters = p->filters + (size_t)p->first_filter[neuron] * pixels;
    float r[MAX_CELL_FILTERS];
    double d[MAX_CELL_FILTERS] = {0};
    cblas_sgemv(CblasRowMajor, CblasNoTrans, count, pixels, 1.0f, filters, pixels, image, 1,
                0.0f, r, 1);
    double rate = rate_of(p, neuron, r, d);
    for (int i = 0; i < pixels; i++)
        gradient[i] = 0.0f;
    for (int j = 0; j < count; j++)
        cblas_saxpy(pixels, (float)d[j], filters + (size_t)j * pixels, 1, gradient, 1);
    return (float)rate;
}

void sim_population_preferred_pattern(const sim_population *p, int neuron, float *out)
{
    int pixels = p->cfg.height * p->cfg.width;
    const sim_cell *c = &p->cells[neuron];
    const float *filters = p->filters + (size_t)p->first_filter[neuron] * pixels;
    int rows[MAX_CELL_FILTERS], n = 0;
    if (c->type == SIM_DEEP) { /* the rows the unit weighs positively, by their weights */
        const float *w = p->deep_weights + (size_t)c->unit * FILTERS_DEEP;
        for (int i = 0; i < pixels; i++)
            out[i] = 0.0f;
        for (int j = 0; j < FILTERS_DEEP; j++)
            if (w[j] > 0.0f)
                cblas_saxpy(pixels, w[j], filters + (size_t)j * pixels, 1, out, 1);
        return;
    }
    switch (c->type) {
    case SIM_SIMPLE:
    case SIM_COMPLEX:
    case SIM_NORMALIZED:
    case SIM_END_STOPPED:
    case SIM_SURROUND:
        rows[n++] = 0;
        break;
    case SIM_CONJUNCTION:
        rows[n++] = 0;
        rows[n++] = 1;
        break;
    case SIM_ENERGY_CONJUNCTION:
        rows[n++] = 0;
        rows[n++] = 2;
        break;
    case SIM_CURVATURE:
        for (int k = 0; k < 3; k++)
            rows[n++] = k;
        break;
    case SIM_TEXTURE:
        /* the carrier at the profile's peak only: carriers at neighbouring
         * positions, each in its own phase, would cancel each other */
        rows[0] = 0;
        for (int k = 1; k < TEXTURE_POSITIONS; k++)
            if (texture_weight(c, k) > texture_weight(c, rows[0] / 2))
                rows[0] = 2 * k;
        n = 1;
        break;
    case SIM_DEEP: /* returned above */
        break;
    }
    for (int i = 0; i < pixels; i++)
        out[i] = 0.0f;
    for (int j = 0; j < n; j++)
        cblas_saxpy(pixels, 1.0f, filters + (size_t)rows[j] * pixels, 1, out, 1);
}

const sim_cell *sim_population_cell(const sim_population *p, int n)
{
    if (n < 0 || n >= p->cfg.neurons)
        return NULL;
    return &p->cells[n];
}

/* ------------------------------------------------------------------------ */
/* Simulated recordings. */

void simulate_options_default(simulate_options *o)
{
    memset(o, 0, sizeof *o);
    sim_config_default(&o->population);
    o->train_images = 4000;
    o->validation_fraction = 0.1f;
    o->test_images = 100;
    o->test_repeats = 10;
    o->images = SIM_IMAGES_SYNTHETIC;
    o->photo_folder = NULL;
    o->seed = 1;
}

static int validate_options(const simulate_options *o, char *err)
{
    if (o->train_images < 0 || o->test_images < 0) {
        return model_fail(err, "simulate_options: train_images %d and test_images %d must be >= 0",
                          o->train_images, o->test_images);
    }
    if (o->test_repeats < 1) {
        return model_fail(err, "simulate_options.test_repeats %d must be >= 1", o->test_repeats);
    }
    if (!(o->validation_fraction >= 0.0f && o->validation_fraction < 1.0f)) {
        return model_fail(err, "simulate_options.validation_fraction %g outside [0,1)",
                          (double)o->validation_fraction);
    }
    long long trials = o->train_images + (long long)o->test_images * o->test_repeats;
    if (trials < 1 || trials > 100000000) {
        return model_fail(err, "simulate_options: %lld trials outside 1..100000000", trials);
    }
    if (o->images != SIM_IMAGES_SYNTHETIC && o->images != SIM_IMAGES_NOISE &&
        o->images != SIM_IMAGES_PHOTOS) {
        return model_fail(err, "simulate_options.images %d unknown", (int)o->images);
    }
    if (o->images == SIM_IMAGES_PHOTOS && !o->photo_folder) {
        return model_fail(err, "simulate_options: photographs wanted but no folder given");
    }
    return 0;
}

/* How many of the training images go to validation: at least one whenever a
 * share is asked for and two or more images exist, so early stopping works. */
static int validation_count(const simulate_options *o)
{
    int v = (int)lround(o->validation_fraction * o->train_images);
    if (v == 0 && o->validation_fraction > 0.0f && o->train_images >= 2)
        v = 1;
    return v;
}

/* Trial order: training images once each (validation last), then the test
 * images in rounds, each round showing every test image once. Distinct images
 * are numbered 0.. in order of first appearance; that number is the id. */
static void lay_out_trials(const simulate_options *o, const float *distinct, dataset *d)
{
    int pixels = d->height * d->width, train = o->train_images;
    int first_validation = train - validation_count(o);
    for (int t = 0; t < d->trials; t++) {
        int image = t < train ? t : train + (t - train) % o->test_images;
        memcpy(d->images + (size_t)t * pixels, distinct + (size_t)image * pixels,
               (size_t)pixels * sizeof(float));
        d->image_ids[t] = image;
        d->tiers[t] = t < first_validation ? TIER_TRAIN : t < train ? TIER_VALIDATION : TIER_TEST;
    }
}

int simulate_dataset(const simulate_options *o, dataset *out, char *err)
{
    memset(out, 0, sizeof *out);
    if (validate_options(o, err))
        return 1;
    sim_population *p;
    if (sim_population_create(&p, &o->population, err))
        return 1;
    const sim_config *c = &o->population;
    int distinct = o->train_images + o->test_images;
    int trials = o->train_images + o->test_images * o->test_repeats;
    float *images = malloc((size_t)(distinct ? distinct : 1) * c->height * c->width *
                           sizeof(float));
    if (!images || dataset_alloc(out, trials, c->height, c->width, c->neurons)) {
        free(images);
        sim_population_destroy(p);
        dataset_free(out);
        memset(out, 0, sizeof *out);
        return model_fail(err, "simulate.c: out of memory for %d trials", trials);
    }
    uint64_t image_seed = model_rng_stream(o->seed, 2);
    if (o->images == SIM_IMAGES_NOISE) {
        white_noise_images(images, distinct, c->height, c->width, image_seed);
    } else if (o->images == SIM_IMAGES_PHOTOS) {
        if (photo_patches(o->photo_folder, distinct, c->height, c->width, image_seed, images,
                          err)) {
            free(images);
            sim_population_destroy(p);
            dataset_free(out);
            return 1;
        }
    } else {
        sim_natural_images(images, distinct, c->height, c->width, image_seed);
    }
    lay_out_trials(o, images, out);
    free(images);
    model_rng rng;
    model_rng_seed(&rng, model_rng_stream(o->seed, 3));
    sim_population_sample(p, out->images, trials, &rng, out->responses);
    sim_population_destroy(p);
    return 0;
}
