/* readout.c: per-neuron readouts from the core's feature map.
 *
 * Gaussian readout: each neuron samples the map bilinearly at one position.
 * Factorized readout: each neuron pools the map with a full spatial mask,
 * which is a matrix product and goes to BLAS.
 *
 * Determinism: results must not depend on the thread count, so no sum is
 * ever split between threads. Work on one batch item (dfeatures, dpos) is
 * parallel over the batch; sums over the batch (dweight, dbias) are parallel
 * over neurons, each adding its batch items in order.
 */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------------ */
/* Gaussian readout */

/* Where one neuron samples the map: the four neighbouring pixels (as offsets
 * into one channel), their bilinear weights, and d(pixel)/d(pos) per axis
 * (zero where the position was clamped, since the sample no longer moves). */
typedef struct bilinear_tap {
    size_t i00, i01, i10, i11;
    float w00, w01, w10, w11;
    float fx, fy;         /* fractional parts, for the gradient */
    float dix_dx, diy_dy; /* pixels per unit of position */
} bilinear_tap;

/* One axis: map p in [-1,1] to a pixel coordinate (align corners), clamp it
 * into the map, and split it into a left index and a fraction. */
static void bilinear_axis(float p, int size, int *i0, int *i1, float *frac, float *dpix)
{
    float half = 0.5f * (float)(size - 1);
    float pix = (p + 1.0f) * half;
    *dpix = half;
    if (!(pix > 0.0f)) { /* also catches NaN */
        pix = 0.0f;
        *dpix = 0.0f;
    } else if (pix > (float)(size - 1)) {
        pix = (float)(size - 1);
        *dpix = 0.0f;
    }
    int left = (int)floorf(pix);
    if (left > size - 2)
        left = size - 2 < 0 ? 0 : size - 2; /* the last pixel is a fraction 1 of its left pair */
    *i0 = left;
    *i1 = left + 1 < size ? left + 1 : left;
    *frac = pix - (float)left;
}

static bilinear_tap bilinear_tap_at(const float *pos, int H, int W)
{
    int x0, x1, y0, y1;
    bilinear_tap t;
    bilinear_axis(pos[0], W, &x0, &x1, &t.fx, &t.dix_dx);
    bilinear_axis(pos[1], H, &y0, &y1, &t.fy, &t.diy_dy);
    t.i00 = (size_t)y0 * W + x0;
    t.i01 = (size_t)y0 * W + x1;
    t.i10 = (size_t)y1 * W + x0;
    t.i11 = (size_t)y1 * W + x1;
    t.w00 = (1.0f - t.fy) * (1.0f - t.fx);
    t.w01 = (1.0f - t.fy) * t.fx;
    t.w10 = t.fy * (1.0f - t.fx);
    t.w11 = t.fy * t.fx;
    return t;
}

void gaussian_readout_tap(const float *pos, int H, int W, int *x0, int *x1, int *y0, int *y1,
                          float w[4])
{
    bilinear_tap t = bilinear_tap_at(pos, H, W);
    *x0 = (int)(t.i00 % (size_t)W);
    *x1 = (int)(t.i01 % (size_t)W);
    *y0 = (int)(t.i00 / (size_t)W);
    *y1 = (int)(t.i10 / (size_t)W);
    w[0] = t.w00;
    w[1] = t.w01;
    w[2] = t.w10;
    w[3] = t.w11;
}

static float bilinear_sample(const float *map, const bilinear_tap *t)
{
    return t->w00 * map[t->i00] + t->w01 * map[t->i01] + t->w10 * map[t->i10] +
           t->w11 * map[t->i11];
}

void gaussian_readout_forward(float *out, const float *features, const float *pos,
                              const float *weight, const float *bias,
                              int B, int C, int H, int W, int N)
{
    size_t HW = (size_t)H * W;
    /* (b, n) pairs are split between threads, not just batch items: MEI
     * synthesis runs one image at a time. Each output is one thread's sum. */
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int n = 0; n < N; n++) {
            const float *fb = features + (size_t)b * C * HW;
            bilinear_tap t = bilinear_tap_at(pos + ((size_t)b * N + n) * 2, H, W);
            const float *wn = weight + (size_t)n * C;
            float acc = 0.0f;
            for (int c = 0; c < C; c++)
                acc += wn[c] * bilinear_sample(fb + c * HW, &t);
            out[(size_t)b * N + n] = bias[n] + acc;
        }
    }
}

/* Gradients that belong to one batch item: its feature map and positions.
 * `samples_b` (N×C, may be NULL) receives the bilinear samples, which the
 * weight gradient needs, so they are gathered only once. */
static void gaussian_backward_item(float *dfeat_b, float *dpos_b, float *samples_b,
                                   const float *dout_b, const float *feat_b, const float *pos_b,
                                   const float *weight, int C, int H, int W, int N)
{
    size_t HW = (size_t)H * W;
    if (dfeat_b)
        memset(dfeat_b, 0, sizeof(float) * C * HW);
    for (int n = 0; n < N; n++) {
        bilinear_tap t = bilinear_tap_at(pos_b + (size_t)n * 2, H, W);
        const float *wn = weight + (size_t)n * C;
        float g = dout_b[n], slope_x = 0.0f, slope_y = 0.0f;
        /* An objective of a few neurons (MEI synthesis) leaves most g zero:
         * with only dfeat asked for, such a neuron adds nothing. */
        if (g == 0.0f && !dpos_b && !samples_b)
            continue;
        for (int c = 0; c < C; c++) {
            const float *m = feat_b + c * HW;
            float f00 = m[t.i00], f01 = m[t.i01], f10 = m[t.i10], f11 = m[t.i11];
            /* The sample is bilinear: its slope along x is the difference of
             * the column pairs, blended along y (and vice versa). */
            slope_x += wn[c] * ((1.0f - t.fy) * (f01 - f00) + t.fy * (f11 - f10));
            slope_y += wn[c] * ((1.0f - t.fx) * (f10 - f00) + t.fx * (f11 - f01));
            if (samples_b)
                samples_b[(size_t)n * C + c] =
                    t.w00 * f00 + t.w01 * f01 + t.w10 * f10 + t.w11 * f11;
            if (dfeat_b) {
                float *d = dfeat_b + c * HW, gw = g * wn[c];
                d[t.i00] += gw * t.w00;
                d[t.i01] += gw * t.w01;
                d[t.i10] += gw * t.w10;
                d[t.i11] += gw * t.w11;
            }
        }
        if (dpos_b) {
            dpos_b[2 * n] = g * slope_x * t.dix_dx;
            dpos_b[2 * n + 1] = g * slope_y * t.diy_dy;
        }
    }
}

/* dweight and dbias for neurons [n0, n1): batch items are added in order, so
 * the result does not depend on how neurons are split between threads.
 * Samples come from `samples` (B×N×C) when given, else are gathered again. */
static void gaussian_backward_params(float *dweight, float *dbias, const float *samples,
                                     const float *dout, const float *features, const float *pos,
                                     int n0, int n1, int B, int C, int H, int W, int N)
{
    size_t HW = (size_t)H * W;
    for (int b = 0; b < B; b++) {
        const float *fb = features + (size_t)b * C * HW;
        for (int n = n0; n < n1; n++) {
            float g = dout[(size_t)b * N + n];
            if (dbias)
                dbias[n] += g;
            if (!dweight)
                continue;
            float *dw = dweight + (size_t)n * C;
            if (samples) {
                const float *s = samples + ((size_t)b * N + n) * C;
                for (int c = 0; c < C; c++)
                    dw[c] += g * s[c];
            } else {
                bilinear_tap t = bilinear_tap_at(pos + ((size_t)b * N + n) * 2, H, W);
                for (int c = 0; c < C; c++)
                    dw[c] += g * bilinear_sample(fb + c * HW, &t);
            }
        }
    }
}

/* dfeatures alone for a small batch, split by channel so both threads work
 * at batch 1 (an input gradient). Every element still adds its neurons in
 * order, so the result is the same as gaussian_backward_item's. */
static int gaussian_backward_features_by_channel(float *dfeatures, const float *dout,
                                                 const float *pos, const float *weight,
                                                 int B, int C, int H, int W, int N)
{
    size_t HW = (size_t)H * W;
    bilinear_tap *taps = malloc(sizeof *taps * (size_t)B * N); /* shared by all channels */
    if (!taps)
        return 1;
    for (size_t i = 0; i < (size_t)B * N; i++)
        taps[i] = bilinear_tap_at(pos + i * 2, H, W);
#pragma omp parallel for collapse(2) schedule(static)
    for (int b = 0; b < B; b++) {
        for (int c = 0; c < C; c++) {
            float *d = dfeatures + ((size_t)b * C + c) * HW;
            memset(d, 0, sizeof(float) * HW);
            for (int n = 0; n < N; n++) {
                const bilinear_tap *t = &taps[(size_t)b * N + n];
                float gw = dout[(size_t)b * N + n] * weight[(size_t)n * C + c];
                if (gw == 0.0f)
                    continue; /* most neurons, for a one-neuron objective */
                d[t->i00] += gw * t->w00;
                d[t->i01] += gw * t->w01;
                d[t->i10] += gw * t->w10;
                d[t->i11] += gw * t->w11;
            }
        }
    }
    free(taps);
    return 0;
}

void gaussian_readout_backward(float *dfeatures, float *dpos, float *dweight, float *dbias,
                               const float *dout, const float *features, const float *pos,
                               const float *weight, int B, int C, int H, int W, int N)
{
    size_t HW = (size_t)H * W;
    /* Scratch for the samples; without it (no memory, or no per-item pass)
     * the weight gradient gathers them itself: slower, same result. */
    float *samples = NULL;
    if (dweight && (dfeatures || dpos))
        samples = malloc(sizeof(float) * (size_t)B * N * C);
    if (dfeatures && !dpos && !dweight && !dbias && B < 8 &&
        gaussian_backward_features_by_channel(dfeatures, dout, pos, weight, B, C, H, W, N) == 0) {
        /* done: the small-batch input-gradient path */
    } else if (dfeatures || dpos) {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < B; b++)
            gaussian_backward_item(dfeatures ? dfeatures + (size_t)b * C * HW : NULL,
                                   dpos ? dpos + (size_t)b * N * 2 : NULL,
                                   samples ? samples + (size_t)b * N * C : NULL,
                                   dout + (size_t)b * N, features + (size_t)b * C * HW,
                                   pos + (size_t)b * N * 2, weight, C, H, W, N);
    }
    if (dweight || dbias) {
        /* Each thread takes a contiguous block of neurons and walks the batch
         * in the outer loop, so one feature map at a time stays in cache. */
#pragma omp parallel
        {
            int thread = 0, threads = 1;
#ifdef _OPENMP
            thread = omp_get_thread_num();
            threads = omp_get_num_threads();
#endif
            int n0 = (int)((long)N * thread / threads);
            int n1 = (int)((long)N * (thread + 1) / threads);
            gaussian_backward_params(dweight, dbias, samples, dout, features, pos, n0, n1,
                                     B, C, H, W, N);
        }
    }
    free(samples);
}

/* ------------------------------------------------------------------------ */
/* Factorized readout
 *
 * Stacking the batch turns the pooling into one matrix product: the features
 * are a (B·C)×HW matrix F, and P = mask · Fᵀ is N×(B·C), so `pooled` is laid
 * out N×B×C: pooled[n][b][c] = Σ_s mask[n][s] · F[b][c][s]. One large GEMM is
 * much faster than B thin ones. */

void factorized_readout_forward(float *out, float *pooled, const float *features,
                                const float *mask, const float *weight, const float *bias,
                                int B, int C, int HW, int N)
{
    int BC = B * C;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, BC, HW, 1.0f, mask, HW,
                features, HW, 0.0f, pooled, BC);
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++) {
        const float *wn = weight + (size_t)n * C;
        for (int b = 0; b < B; b++) {
            const float *p = pooled + (size_t)n * BC + (size_t)b * C;
            float acc = 0.0f;
            for (int c = 0; c < C; c++)
                acc += wn[c] * p[c];
            out[(size_t)b * N + n] = bias[n] + acc;
        }
    }
}

/* Fallback when the scratch cannot be allocated: the same gradients, one
 * (n, b) pair at a time, without BLAS. Slow, but never a crash. */
static void factorized_backward_direct(float *dfeatures, float *dmask, const float *dout,
                                       const float *features, const float *mask,
                                       const float *weight, int B, int C, int HW, int N)
{
    if (dfeatures)
        memset(dfeatures, 0, sizeof(float) * (size_t)B * C * HW);
    for (int n = 0; n < N; n++) {
        for (int b = 0; b < B; b++) {
            float g = dout[(size_t)b * N + n];
            for (int c = 0; c < C; c++) {
                float gw = g * weight[(size_t)n * C + c];
                const float *f = features + ((size_t)b * C + c) * HW;
                for (int s = 0; s < HW; s++) {
                    if (dmask)
                        dmask[(size_t)n * HW + s] += gw * f[s];
                    if (dfeatures)
                        dfeatures[((size_t)b * C + c) * HW + s] += gw * mask[(size_t)n * HW + s];
                }
            }
        }
    }
}

void factorized_readout_backward(float *dfeatures, float *dmask, float *dweight, float *dbias,
                                 const float *dout, const float *pooled, const float *features,
                                 const float *mask, const float *weight,
                                 int B, int C, int HW, int N)
{
    int BC = B * C;
    if (dweight || dbias) {
#pragma omp parallel for schedule(static)
        for (int n = 0; n < N; n++) {
            float *dw = dweight ? dweight + (size_t)n * C : NULL;
            for (int b = 0; b < B; b++) {
                float g = dout[(size_t)b * N + n];
                if (dbias)
                    dbias[n] += g;
                if (!dw)
                    continue;
                const float *p = pooled + (size_t)n * BC + (size_t)b * C;
                for (int c = 0; c < C; c++)
                    dw[c] += g * p[c];
            }
        }
    }
    if (!dfeatures && !dmask)
        return;
    /* dP[n][b][c] = dout[b][n] · weight[n][c], laid out like `pooled`. */
    float *dpooled = malloc(sizeof(float) * (size_t)N * BC);
    if (!dpooled) {
        factorized_backward_direct(dfeatures, dmask, dout, features, mask, weight, B, C, HW, N);
        return;
    }
#pragma omp parallel for schedule(static)
    for (int n = 0; n < N; n++)
        for (int b = 0; b < B; b++)
            for (int c = 0; c < C; c++)
                dpooled[(size_t)n * BC + (size_t)b * C + c] =
                    dout[(size_t)b * N + n] * weight[(size_t)n * C + c];
    /* P = mask · Fᵀ, so dmask += dP · F and dF = dPᵀ · mask. */
    if (dmask)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, HW, BC, 1.0f, dpooled, BC,
                    features, HW, 1.0f, dmask, HW);
    if (dfeatures)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, BC, HW, N, 1.0f, dpooled, BC,
                    mask, HW, 0.0f, dfeatures, HW);
    free(dpooled);
}
