/* divnorm.c: divisive normalization of the core's feature map (layers.h).
 * Each channel is divided by the square root of a semi-saturation constant
 * plus a weighted, spatially pooled energy of all channels: the canonical
 * computation of Heeger (1992) and Carandini & Heeger (2012), the division
 * by local contrast that surround-suppressed and normalized cells do and a
 * stack of convolutions and ELUs can only approximate. The pool is a fixed
 * Gaussian (separable, zero outside the map); the channel weights and the
 * constants are learned. */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

int divnorm_pool_radius(float pool_sigma) { return (int)ceilf(3.0f * pool_sigma); }

/* The pool's taps g[-r..r] (2r + 1 floats), summing to 1. */
static void pool_taps(float *g, int r, float sigma)
{
    double sum = 0.0;
    for (int k = -r; k <= r; k++)
        sum += exp(-0.5 * (double)k * k / ((double)sigma * sigma));
    for (int k = -r; k <= r; k++)
        g[k + r] = (float)(exp(-0.5 * (double)k * k / ((double)sigma * sigma)) / sum);
}

/* map (H×W) blurred in place by the separable pool; line holds H·W floats.
 * Symmetric taps and zero padding make the blur its own adjoint, which the
 * backward pass relies on. Tap by tap over the rows' valid ranges: no branch
 * in the inner loops, which the compiler vectorizes (each pixel still sums
 * its taps in the order k = −r..r). */
static void pool_blur(float *map, float *line, const float *g, int r, int H, int W)
{
    memset(line, 0, (size_t)H * W * sizeof *line);
    for (int y = 0; y < H; y++) {
        const float *in = map + (size_t)y * W;
        float *out = line + (size_t)y * W;
        for (int k = -r; k <= r; k++) {
            int lo = k < 0 ? -k : 0, hi = k > 0 ? W - k : W;
            float t = g[k + r];
            for (int x = lo; x < hi; x++)
                out[x] += t * in[x + k];
        }
    }
    memset(map, 0, (size_t)H * W * sizeof *map);
    for (int y = 0; y < H; y++) {
        float *out = map + (size_t)y * W;
        for (int k = -r; k <= r; k++) {
            if (y + k < 0 || y + k >= H)
                continue;
            const float *in = line + (size_t)(y + k) * W;
            float t = g[k + r];
            for (int x = 0; x < W; x++)
                out[x] += t * in[x];
        }
    }
}

void divnorm_forward(float *out, float *save_q, float *save_d, float *scratch, const float *in,
                     const float *w, const float *a, int B, int C, int H, int W,
                     float pool_sigma)
{
    int HW = H * W, r = divnorm_pool_radius(pool_sigma);
    size_t CHW = (size_t)C * HW;
    float *g = scratch, *line = scratch + 2 * r + 1, *u = line + HW; /* u: C×C */
    pool_taps(g, r, pool_sigma);
    for (int i = 0; i < C * C; i++)
        u[i] = w[i] * w[i]; /* non-negative weights: the denominator stays positive */
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * CHW;
        float *q = save_q + (size_t)b * CHW, *d = save_d + (size_t)b * CHW;
        for (size_t i = 0; i < CHW; i++)
            q[i] = x[i] * x[i];
        for (int c = 0; c < C; c++)
            pool_blur(q + (size_t)c * HW, line, g, r, H, W);
        for (int c = 0; c < C; c++) {
            float base = a[c] * a[c] + DIVNORM_EPS;
            for (int p = 0; p < HW; p++)
                d[(size_t)c * HW + p] = base;
        }
        /* d += u · q: the channels' pooled energies mixed, one GEMM an image */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, HW, C, 1.0f, u, C, q, HW,
                    1.0f, d, HW);
        float *y = out + (size_t)b * CHW;
        for (size_t i = 0; i < CHW; i++)
            y[i] = x[i] / sqrtf(d[i]);
    }
}

/* With D the saved denominator's square and y = x / √D:
 *   ∂L/∂D = −½ · dy · y / D,
 *   ∂L/∂a[c] = Σ ∂L/∂D[c] · 2a[c],  ∂L/∂w[c][c'] = Σ ∂L/∂D[c] · Q[c'] · 2w[c][c'],
 *   ∂L/∂x = dy / √D + 2x · pool(Σ_c u[c][c'] ∂L/∂D[c])   (the pool is self-adjoint). */
void divnorm_backward(float *din, float *dw, float *da, float *scratch, const float *dout,
                      const float *in, const float *out, const float *save_q,
                      const float *save_d, const float *w, const float *a, int B, int C, int H,
                      int W, float pool_sigma)
{
    int HW = H * W, r = divnorm_pool_radius(pool_sigma);
    size_t CHW = (size_t)C * HW;
    float *g = scratch, *line = scratch + 2 * r + 1, *u = line + HW, *mix = u + C * C;
    float *dd = mix + C * C, *dq = dd + CHW; /* C×HW each: one image's */
    pool_taps(g, r, pool_sigma);
    for (int i = 0; i < C * C; i++)
        u[i] = w[i] * w[i];
    for (int b = 0; b < B; b++) {
        const float *x = in + (size_t)b * CHW, *y = out + (size_t)b * CHW;
        const float *dy = dout + (size_t)b * CHW, *q = save_q + (size_t)b * CHW;
        const float *d = save_d + (size_t)b * CHW;
        for (size_t i = 0; i < CHW; i++)
            dd[i] = -0.5f * dy[i] * y[i] / d[i];
        if (da)
            for (int c = 0; c < C; c++) {
                double s = 0.0;
                for (int p = 0; p < HW; p++)
                    s += dd[(size_t)c * HW + p];
                da[c] += (float)(2.0 * a[c] * s);
            }
        if (dw) { /* mix = dd · qᵀ (C×C) */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, C, C, HW, 1.0f, dd, HW, q, HW,
                        0.0f, mix, C);
            for (int i = 0; i < C * C; i++)
                dw[i] += 2.0f * w[i] * mix[i];
        }
        if (!din)
            continue;
        /* dq = uᵀ · dd: each channel's share of every denominator it feeds */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C, HW, C, 1.0f, u, C, dd, HW, 0.0f,
                    dq, HW);
        for (int c = 0; c < C; c++)
            pool_blur(dq + (size_t)c * HW, line, g, r, H, W);
        float *dx = din + (size_t)b * CHW;
        for (size_t i = 0; i < CHW; i++)
            dx[i] = dy[i] / sqrtf(d[i]) + 2.0f * x[i] * dq[i];
    }
}

size_t divnorm_scratch_size(int C, int H, int W, float pool_sigma)
{
    size_t HW = (size_t)H * W, CHW = (size_t)C * HW;
    return (size_t)(2 * divnorm_pool_radius(pool_sigma) + 1) + HW + 2 * (size_t)C * C + 2 * CHW;
}
