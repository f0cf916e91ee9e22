/* synthesis_space.c: the stimulus space every MEI and control lives in (mean
 * luminance fixed, RMS contrast within a budget, pixels in the display's
 * range) and the Gaussian blur that preconditions pixel gradients. */
#include "synthesis/synthesis.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Accept a mean this close to the target as exact (float pixels summed in
 * double land within ~1e-7 of it). */
#define MEAN_TOLERANCE 1e-6
#define OFFSET_ITERATIONS 100
#define SCALE_ITERATIONS 40

float stimulus_mean(const float *image, int pixels)
{
    double s = 0.0;
    for (int i = 0; i < pixels; i++)
        s += image[i];
    return (float)(s / pixels);
}

float stimulus_rms_contrast(const float *image, int pixels)
{
    double mean = stimulus_mean(image, pixels), ss = 0.0;
    for (int i = 0; i < pixels; i++)
        ss += (image[i] - mean) * (image[i] - mean);
    return (float)sqrt(ss / pixels);
}

static int compare_floats(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

float stimulus_median_contrast(const float *images, int count, int pixels)
{
    if (count < 1)
        return 0.0f;
    float *c = malloc((size_t)count * sizeof(float));
    if (!c)
        return 0.0f;
    for (int i = 0; i < count; i++)
        c[i] = stimulus_rms_contrast(images + (size_t)i * pixels, pixels);
    qsort(c, (size_t)count, sizeof(float), compare_floats);
    float median = count % 2 ? c[count / 2] : 0.5f * (c[count / 2 - 1] + c[count / 2]);
    free(c);
    return median;
}

static float clip01(double v)
{
    return v < 0.0 ? 0.0f : v > 1.0 ? 1.0f : (float)v;
}

/* Mean of clip(a + s·d) and how many pixels are not clipped. */
static double clipped_mean(const float *d, int n, double a, double s, int *unclipped)
{
    double sum = 0.0;
    int k = 0;
    for (int i = 0; i < n; i++) {
        double v = a + s * d[i];
        if (v <= 0.0)
            continue;
        if (v >= 1.0) {
            sum += 1.0;
            continue;
        }
        sum += v;
        k++;
    }
    *unclipped = k;
    return sum / n;
}

/* The offset a with mean(clip(a + s·d)) = mu: the mean is nondecreasing and
 * piecewise linear in a, so Newton's method (slope = unclipped share)
 * safeguarded by bisection on a bracket converges exactly. */
static double solve_offset(const float *d, int n, double s, double mu)
{
    float dmin = d[0], dmax = d[0];
    for (int i = 1; i < n; i++) {
        dmin = d[i] < dmin ? d[i] : dmin;
        dmax = d[i] > dmax ? d[i] : dmax;
    }
    double lo = -s * dmax, hi = 1.0 - s * dmin, a = mu;
    for (int it = 0; it < OFFSET_ITERATIONS; it++) {
        int k;
        double err = clipped_mean(d, n, a, s, &k) - mu;
        if (fabs(err) < 0.1 * MEAN_TOLERANCE)
            break;
        if (err > 0)
            hi = a;
        else
            lo = a;
        double next = k > 0 ? a - err * n / k : 0.5 * (lo + hi);
        a = (next > lo && next < hi) ? next : 0.5 * (lo + hi);
    }
    return a;
}

/* y = clip(a(s) + s·d) and its RMS contrast. */
static double place(const float *d, int n, double s, double mu, float *y)
{
    double a = solve_offset(d, n, s, mu);
    for (int i = 0; i < n; i++)
        y[i] = clip01(a + s * d[i]);
    return stimulus_rms_contrast(y, n);
}

/* Largest s in [lo, hi] with contrast(y(s)) ≤ c, assuming y(lo) is within
 * the budget. Contrast grows with s, piecewise smoothly, and without
 * clipping linearly: regula falsi on contrast(s) − c (Illinois variant, so
 * a bent stretch does not stall one end) finds it in a few evaluations where
 * bisection took ~25, each a few passes over the image; that search was half
 * of `mei`'s time. It stops once y(lo) is within CONTRAST_TOLERANCE of the
 * budget or the bracket is 1e-7 wide. g_lo and g_hi are the contrasts'
 * excess at lo and hi, known by the caller. Leaves y at the answer. */
#define CONTRAST_TOLERANCE 1e-6
static void fit_scale(const float *d, int n, double lo, double g_lo, double hi, double g_hi,
                      const stimulus_budget *b, float *y, double at)
{
    double c = b->contrast, mu = b->mean_luminance; /* y holds y(at) on entry */
    /* The secant's weights: the true values, halved at an end kept twice. */
    double w_lo = g_lo, w_hi = g_hi;
    int kept = 0; /* the end the last step kept: -1 lo, +1 hi */
    for (int it = 0; it < SCALE_ITERATIONS && hi - lo > 1e-7 * hi; it++) {
        if (g_lo <= 0.0 && g_lo >= -CONTRAST_TOLERANCE * c)
            break;
        double s = w_hi > w_lo ? lo - w_lo * (hi - lo) / (w_hi - w_lo) : 0.5 * (lo + hi);
        if (!(s > lo && s < hi))
            s = 0.5 * (lo + hi);
        double g = place(d, n, s, mu, y) - c;
        at = s;
        if (g <= 0.0) {
            lo = s, g_lo = w_lo = g;
            if (kept == +1)
                w_hi *= 0.5;
            kept = +1;
        } else {
            hi = s, g_hi = w_hi = g;
            if (kept == -1)
                w_lo *= 0.5;
            kept = -1;
        }
    }
    if (at != lo)
        place(d, n, lo, mu, y);
}

static int in_space(const float *x, int n, const stimulus_budget *b)
{
    for (int i = 0; i < n; i++)
        if (!(x[i] >= 0.0f && x[i] <= 1.0f))
            return 0;
    return fabs(stimulus_mean(x, n) - b->mean_luminance) <= MEAN_TOLERANCE &&
           stimulus_rms_contrast(x, n) <= b->contrast;
}

/* Deviations from the mean, written to d; returns their RMS. */
static double deviations(const float *x, int n, float *d)
{
    double m = stimulus_mean(x, n), ss = 0.0;
    for (int i = 0; i < n; i++) {
        d[i] = (float)(x[i] - m);
        ss += (double)d[i] * d[i];
    }
    return sqrt(ss / n);
}

void stimulus_constrain(float *image, int pixels, const stimulus_budget *b)
{
    if (in_space(image, pixels, b))
        return;
    float *d = malloc((size_t)pixels * sizeof(float));
    if (!d) { /* cannot fail gracefully here: fall back to flat, which is in the space */
        for (int i = 0; i < pixels; i++)
            image[i] = b->mean_luminance;
        return;
    }
    double sd = deviations(image, pixels, d);
    /* Clipping is 1-Lipschitz, so it never raises the variance: at
     * s = budget/sd the result is within the budget. */
    double lo = sd > b->contrast ? b->contrast / sd : 1.0;
    double c = b->contrast, mu = b->mean_luminance;
    double g_hi = place(d, pixels, 1.0, mu, image) - c;
    if (g_hi > 0.0 && lo < 1.0) {
        double g_lo = place(d, pixels, lo, mu, image) - c;
        fit_scale(d, pixels, lo, g_lo, 1.0, g_hi, b, image, lo);
    }
    free(d);
}

void stimulus_render_at_budget(float *image, int pixels, const stimulus_budget *b)
{
    float *d = malloc((size_t)pixels * sizeof(float));
    if (!d) {
        for (int i = 0; i < pixels; i++)
            image[i] = b->mean_luminance;
        return;
    }
    double sd = deviations(image, pixels, d);
    if (sd <= 0.0) {
        for (int i = 0; i < pixels; i++)
            image[i] = b->mean_luminance;
        free(d);
        return;
    }
    /* y(0) is flat (contrast 0); grow the scale until clipping stops the
     * contrast short of the budget or it reaches it, keeping the last scale
     * within it as the search's lower end. */
    double c = b->contrast, mu = b->mean_luminance, lo = 0.0, g_lo = -c;
    double hi = c / sd, g_hi = place(d, pixels, hi, mu, image) - c;
    for (int it = 0; it < 20 && g_hi < 0.0; it++) {
        lo = hi, g_lo = g_hi;
        hi *= 2.0;
        g_hi = place(d, pixels, hi, mu, image) - c;
    }
    if (g_hi > 0.0)
        fit_scale(d, pixels, lo, g_lo, hi, g_hi, b, image, hi);
    free(d);
}

/* ------------------------------------------------------------------------ */
/* Gaussian blur. */

#define BLUR_MAX_RADIUS 64

static int blur_kernel(float sigma, float *k)
{
    int r = (int)ceil(3.0 * sigma);
    r = r > BLUR_MAX_RADIUS ? BLUR_MAX_RADIUS : r;
    double sum = 0.0;
    for (int i = -r; i <= r; i++)
        sum += k[i + r] = (float)exp(-0.5 * i * i / ((double)sigma * sigma));
    for (int i = 0; i <= 2 * r; i++)
        k[i] = (float)(k[i] / sum);
    return r;
}

/* One line of n samples `stride` apart (a row: 1, a column: the width)
 * convolved with the kernel k of radius r, cut at the line's ends. */
static void blur_line(const float *in, float *out, int n, int stride, const float *k, int r)
{
    for (int i = 0; i < n; i++) {
        int lo = i - r < 0 ? 0 : i - r, hi = i + r >= n ? n - 1 : i + r;
        float s = 0.0f;
        for (int j = lo; j <= hi; j++)
            s += k[j - i + r] * in[j * stride];
        out[i * stride] = s;
    }
}

void stimulus_blur(const float *in, float *out, float *scratch, int height, int width,
                   float sigma)
{
    if (sigma <= 0.0f) {
        memmove(out, in, sizeof(float) * (size_t)height * width);
        return;
    }
    float k[2 * BLUR_MAX_RADIUS + 1];
    int r = blur_kernel(sigma, k);
    for (int y = 0; y < height; y++) /* along rows */
        blur_line(in + y * width, scratch + y * width, width, 1, k, r);
    for (int x = 0; x < width; x++) /* along columns */
        blur_line(scratch + x, out + x, height, width, k, r);
}
