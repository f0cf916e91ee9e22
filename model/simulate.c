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
 *   surround    [L + a L_f]₊ / (1 + √E_⊥ / c)  on an annulus around the RF
 *               (envelope exp(−(r − 2.2σ)² / 2(0.5σ)²)): L_f the response of
 *               the cell's own carrier there (orientation, frequency and
 *               phase continued), a = 0.3, and E_⊥ the energy of the
 *               orthogonal quadrature pair there, c its mean amplitude over
 *               natural images: a simple cell whose surround facilitates
 *               when it completes the centre's pattern and suppresses when it
 *               disrupts it (Fu et al. 2023), silent to its surround alone
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
 * (stimulus/controls.c). */
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
#define FILTERS_SURROUND 4
#define SURROUND_FACILITATION 0.3
/* The surround cells' annulus: radius and width in units of σ. */
#define SURROUND_RADIUS 2.2
#define SURROUND_WIDTH 0.5
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
    float *semi_sat;     /* cells: s² of normalized cells, the surround's mean
                            amplitude c of surround cells (0 for others) */
    float *filters;      /* n_filters × H·W, row-major */
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
        snprintf(err, MODEL_ERR_SIZE, "sim_config.neurons %d outside 1..100000", c->neurons);
        return 1;
    }
    if (c->height < 4 || c->width < 4 || c->height > 1024 || c->width > 1024) {
        snprintf(err, MODEL_ERR_SIZE, "sim_config image size %d×%d outside 4..1024", c->height,
                 c->width);
        return 1;
    }
    float fs = c->fraction_simple, fc = c->fraction_complex, fj = c->fraction_conjunction;
    float fe = c->fraction_energy_conjunction, fu = c->fraction_surround;
    if (!(fs >= 0.0f && fc >= 0.0f && fj >= 0.0f && fe >= 0.0f && fu >= 0.0f &&
          fs + fc + fj + fe + fu <= 1.0f + 1e-6f)) {
        snprintf(err, MODEL_ERR_SIZE,
                 "sim_config fractions simple %g, complex %g, conjunction %g, "
                 "energy-conjunction %g and surround %g must be >= 0 and sum to <= 1",
                 (double)fs, (double)fc, (double)fj, (double)fe, (double)fu);
        return 1;
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
    case SIM_SURROUND:
        return FILTERS_SURROUND;
    case SIM_NORMALIZED:
        break;
    }
    return FILTERS_NORMALIZED;
}

/* How many of n cells a fraction makes, at most `room`. */
static int share_of(float fraction, int n, int room)
{
    int k = (int)lround(fraction * n);
    return k > room ? room : k;
}

/* Types in a shuffled order so that a neuron's index says nothing of it. */
static void assign_types(sim_cell *cells, const sim_config *c, model_rng *rng)
{
    int n = c->neurons;
    int simple = share_of(c->fraction_simple, n, n);
    int complex_ = share_of(c->fraction_complex, n, n - simple);
    int conjunction = share_of(c->fraction_conjunction, n, n - simple - complex_);
    int energy = share_of(c->fraction_energy_conjunction, n, n - simple - complex_ - conjunction);
    int surround = share_of(c->fraction_surround, n,
                            n - simple - complex_ - conjunction - energy);
    int before_surround = simple + complex_ + conjunction + energy;
    for (int i = 0; i < n; i++)
        cells[i].type = i < simple                                   ? SIM_SIMPLE
                        : i < simple + complex_                       ? SIM_COMPLEX
                        : i < simple + complex_ + conjunction          ? SIM_CONJUNCTION
                        : i < simple + complex_ + conjunction + energy ? SIM_ENERGY_CONJUNCTION
                        : i < before_surround + surround               ? SIM_SURROUND
                                                                      : SIM_NORMALIZED;
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

/* A zero-mean, unit-norm Gabor carrier (the cell's frequency, orientation +
 * turn, phase + shift) on the surround cells' annulus around the cell's
 * centre. */
static void make_annulus_gabor(float *out, const sim_cell *cell, double turn, double shift,
                               int height, int width)
{
    double radius = SURROUND_RADIUS * cell->sigma, w = SURROUND_WIDTH * cell->sigma;
    double ct = cos(cell->orientation + turn), st = sin(cell->orientation + turn);
    double env_sum = 0.0, carrier_sum = 0.0, norm = 0.0;
    int pixels = height * width;
    for (int pass = 0; pass < 2; pass++) {
        double dc = env_sum > 0.0 ? carrier_sum / env_sum : 0.0;
        for (int i = 0; i < pixels; i++) {
            double dx = i % width - cell->x, dy = i / width - cell->y;
            double r = hypot(dx, dy) - radius, env = exp(-r * r / (2.0 * w * w));
            double carrier = cos(2.0 * M_PI * cell->frequency * (dx * ct + dy * st) +
                                 cell->phase + shift);
            if (pass == 0) {
                env_sum += env;
                carrier_sum += env * carrier;
            } else {
                out[i] = (float)(env * (carrier - dc));
                norm += (double)out[i] * out[i];
            }
        }
    }
    float scale = norm > 0.0 ? (float)(1.0 / sqrt(norm)) : 0.0f;
    for (int i = 0; i < pixels; i++)
        out[i] *= scale;
}

/* A cell's filters: its own (phase φ), then the quadrature partner, then for
 * normalized cells the pairs at the other pool orientations; for conjunction
 * cells its own, then the second subunit's; for energy-conjunction cells its
 * own pair, then the second subunit's pair (phases φ₂, φ₂ + π/2). */
static void make_cell_filters(float *out, const sim_cell *cell, int height, int width)
{
    int pixels = height * width;
    if (cell->type == SIM_SURROUND) { /* own, its continuation, the orthogonal pair */
        make_gabor(out, cell, cell->orientation, cell->phase, height, width);
        make_annulus_gabor(out + pixels, cell, 0.0, 0.0, height, width);
        make_annulus_gabor(out + 2 * (size_t)pixels, cell, M_PI / 2, 0.0, height, width);
        make_annulus_gabor(out + 3 * (size_t)pixels, cell, M_PI / 2, M_PI / 2, height, width);
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

/* ------------------------------------------------------------------------ */
/* Responses. */

static double pool_energy(const float *r, int first)
{
    double e = 0.0;
    for (int j = 0; j < FILTERS_NORMALIZED; j++)
        e += (double)r[first + j] * r[first + j];
    return e;
}

/* A surround cell's orthogonal annulus amplitude √E_⊥. */
static double surround_amplitude(const float *r, int first)
{
    return sqrt((double)r[first + 2] * r[first + 2] + (double)r[first + 3] * r[first + 3]);
}

/* A cell's drive from one image's filter responses `r`. */
static double cell_drive(const sim_population *p, int n, const float *r)
{
    int first = p->first_filter[n];
    double l = r[first];
    switch (p->cells[n].type) {
    case SIM_SIMPLE:
        return l > 0.0 ? pow(l, SIMPLE_EXPONENT) : 0.0;
    case SIM_COMPLEX: {
        double e = l * l + (double)r[first + 1] * r[first + 1];
        return pow(e, COMPLEX_EXPONENT);
    }
    case SIM_NORMALIZED:
        return l > 0.0 ? l / sqrt(p->semi_sat[n] + pool_energy(r, first)) : 0.0;
    case SIM_CONJUNCTION: {
        double l2 = r[first + 1];
        return l > 0.0 && l2 > 0.0 ? sqrt(l * l2) : 0.0;
    }
    case SIM_ENERGY_CONJUNCTION: {
        double e = l * l + (double)r[first + 1] * r[first + 1];
        double e2 = (double)r[first + 2] * r[first + 2] + (double)r[first + 3] * r[first + 3];
        return pow(e * e2, 0.25);
    }
    case SIM_SURROUND: {
        double centre = l + SURROUND_FACILITATION * r[first + 1];
        return centre > 0.0 ? centre / (1.0 + surround_amplitude(r, first) / p->semi_sat[n])
                            : 0.0;
    }
    }
    return 0.0;
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
                out[i] = (float)(p->cells[i].offset + p->cells[i].gain * cell_drive(p, i, r));
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

/* Normalized cells' semi-saturation s² is the mean pool energy over natural
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
        snprintf(err, MODEL_ERR_SIZE, "simulate.c: out of memory calibrating %d cells", n);
        return 1;
    }
    sim_natural_images(images, count, p->cfg.height, p->cfg.width, model_rng_stream(p->cfg.seed, 1));
    filter_responses(p, images, count, responses);
    for (int i = 0; i < n; i++) {
        if (p->cells[i].type != SIM_NORMALIZED)
            continue;
        double e = 0.0;
        for (int b = 0; b < count; b++)
            e += pool_energy(responses + (size_t)b * p->n_filters, p->first_filter[i]);
        p->semi_sat[i] = (float)(e / count + 1e-12);
    }
    for (int i = 0; i < n; i++) { /* before the drives: surround cells divide by it */
        if (p->cells[i].type != SIM_SURROUND)
            continue;
        double a = 0.0;
        for (int b = 0; b < count; b++)
            a += surround_amplitude(responses + (size_t)b * p->n_filters, p->first_filter[i]);
        p->semi_sat[i] = (float)(a / count + 1e-12);
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
        snprintf(err, MODEL_ERR_SIZE, "simulate.c: out of memory");
        return 1;
    }
    p->cfg = *c;
    int n = c->neurons, pixels = c->height * c->width;
    p->cells = calloc((size_t)n, sizeof *p->cells);
    p->first_filter = calloc((size_t)n, sizeof *p->first_filter);
    p->semi_sat = calloc((size_t)n, sizeof *p->semi_sat);
    model_rng rng;
    model_rng_seed(&rng, c->seed);
    if (p->cells && p->first_filter && p->semi_sat) {
        assign_types(p->cells, c, &rng);
        for (int i = 0; i < n; i++) {
            draw_tuning(&p->cells[i], c->height, c->width, &rng);
            if (p->cells[i].type == SIM_CONJUNCTION ||
                p->cells[i].type == SIM_ENERGY_CONJUNCTION)
                draw_second_subunit(&p->cells[i], c->height, c->width, &rng);
            p->first_filter[i] = p->n_filters;
            p->n_filters += filters_of(p->cells[i].type);
        }
        p->filters = malloc((size_t)p->n_filters * pixels * sizeof(float));
    }
    if (!p->filters) {
        snprintf(err, MODEL_ERR_SIZE, "simulate.c: out of memory for %d cells of %d×%d", n,
                 c->height, c->width);
        sim_population_destroy(p);
        return 1;
    }
    for (int i = 0; i < n; i++)
        make_cell_filters(p->filters + (size_t)p->first_filter[i] * pixels, &p->cells[i],
                          c->height, c->width);
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
    free(p->filters);
    free(p);
}

int sim_population_neurons(const sim_population *p) { return p->cfg.neurons; }

const char *sim_cell_type_name(int type)
{
    static const char *const names[SIM_CELL_TYPES] = {"simple", "complex", "normalized",
                                                      "conjunction", "energy-conjunction", "surround"};
    return type >= 0 && type < SIM_CELL_TYPES ? names[type] : "?";
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
        snprintf(err, MODEL_ERR_SIZE,
                 "simulate_options: train_images %d and test_images %d must be >= 0",
                 o->train_images, o->test_images);
        return 1;
    }
    if (o->test_repeats < 1) {
        snprintf(err, MODEL_ERR_SIZE, "simulate_options.test_repeats %d must be >= 1",
                 o->test_repeats);
        return 1;
    }
    if (!(o->validation_fraction >= 0.0f && o->validation_fraction < 1.0f)) {
        snprintf(err, MODEL_ERR_SIZE, "simulate_options.validation_fraction %g outside [0,1)",
                 (double)o->validation_fraction);
        return 1;
    }
    long long trials = o->train_images + (long long)o->test_images * o->test_repeats;
    if (trials < 1 || trials > 100000000) {
        snprintf(err, MODEL_ERR_SIZE, "simulate_options: %lld trials outside 1..100000000",
                 trials);
        return 1;
    }
    if (o->images != SIM_IMAGES_SYNTHETIC && o->images != SIM_IMAGES_NOISE &&
        o->images != SIM_IMAGES_PHOTOS) {
        snprintf(err, MODEL_ERR_SIZE, "simulate_options.images %d unknown", (int)o->images);
        return 1;
    }
    if (o->images == SIM_IMAGES_PHOTOS && !o->photo_folder) {
        snprintf(err, MODEL_ERR_SIZE, "simulate_options: photographs wanted but no folder given");
        return 1;
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
        snprintf(err, MODEL_ERR_SIZE, "simulate.c: out of memory for %d trials", trials);
        return 1;
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
